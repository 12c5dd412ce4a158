//! Which case files a run plays, where its output goes, and how paths are
//! shown: relative to the folder a person would type them from.

use std::path::{Path, PathBuf};

use super::error::SuiteError;

/// Where paths are shown from: the package's folder under `cargo test`
/// (what a failure's `tcp-cases/echo.case:12` is relative to), the
/// working folder for the `tcplab` command.
#[derive(Clone, Debug)]
pub struct Place {
    pub base: PathBuf,
}

impl Place {
    /// The package's folder when cargo or nextest runs the process
    /// (CARGO_MANIFEST_DIR at run time), else the working folder.
    pub fn of_process() -> Place {
        let base = std::env::var_os("CARGO_MANIFEST_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        Place { base }
    }

    /// `path` relative to the base when it is beneath it (and the base is
    /// not `/`), else as given.
    pub fn shown(&self, path: &Path) -> PathBuf {
        if self.base.parent().is_none() {
            return path.to_path_buf();
        }
        match path.strip_prefix(&self.base) {
            Ok(p) if p.as_os_str().is_empty() => PathBuf::from("."),
            Ok(p) => p.to_path_buf(),
            Err(_) => path.to_path_buf(),
        }
    }

    /// A relative path as the user meant it: from the base.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
}

/// A relative path as the user meant it: from the folder they typed the
/// command in ($PWD; cargo runs tests in the package's folder, so
/// `TCPLAB_CASES=my-cases cargo test --manifest-path ...` from another
/// repository means that repository's my-cases), unless only the
/// process's working folder has it.
pub fn from_where_typed(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from) else {
        return p;
    };
    let typed = pwd.join(&p);
    if typed.exists() || !p.exists() {
        typed
    } else {
        p
    }
}

/// `*.case` files of a directory, sorted.
pub fn case_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "case"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The case files of `sources` (folders of `*.case` files, or case files),
/// in the order given, each folder's sorted. Every case becomes a test of
/// its file's name, so two files of one name are an error, as are a
/// missing source and no case at all (nothing to run is not a pass).
pub fn collect(sources: &[PathBuf], place: &Place) -> Result<Vec<PathBuf>, SuiteError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for src in sources {
        if src.is_dir() {
            files.extend(case_files(src));
        } else if src.exists() {
            files.push(src.clone());
        } else if src.extension().is_some_and(|x| x == "case") {
            return Err(SuiteError::NoCaseFile(place.shown(src)));
        } else {
            return Err(SuiteError::NoCaseFolder(place.shown(src)));
        }
    }
    if files.is_empty() {
        return Err(SuiteError::NoCases(
            sources.iter().map(|s| place.shown(s)).collect(),
        ));
    }
    let mut unique: Vec<PathBuf> = Vec::new();
    for f in files {
        match unique.iter().find(|g| g.file_stem() == f.file_stem()) {
            Some(g) if *g == f => {}
            Some(g) => {
                return Err(SuiteError::SameName {
                    name: name_of(&f),
                    first: place.shown(g),
                    second: place.shown(&f),
                })
            }
            None => unique.push(f),
        }
    }
    Ok(unique)
}

/// A case's test name: its file's name without `.case`.
pub fn name_of(file: &Path) -> String {
    file.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// What the table of runs says the cases came from: the sources as shown.
pub fn label(sources: &[PathBuf], place: &Place) -> String {
    sources
        .iter()
        .map(|s| place.shown(s).display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The output root when nothing names one: `tcplab/` in the cargo target
/// folder holding this test binary (the nearest parent cargo marks as
/// its own, [`is_target_dir`]: target/debug/deps/x -> target), else under the system's
/// temporary folder.
pub fn default_out() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .skip(1)
        .find(|d| is_target_dir(d))
        .map(|t| t.join("tcplab"))
        .unwrap_or_else(|| std::env::temp_dir().join("tcplab"))
}

/// Cargo's target folder: it holds `.rustc_info.json` from the first
/// build on, and `CACHEDIR.TAG` when cargo made the folder itself (not
/// when something else had, e.g. `.ci/run`'s installers making
/// target/ci-tools first, as on a fresh clone in CI).
fn is_target_dir(d: &Path) -> bool {
    d.join("CACHEDIR.TAG").is_file() || d.join(".rustc_info.json").is_file()
}

/// The output root: TCPLAB_OUT (relative: from where the command was
/// typed), else `fallback`, else [`default_out`].
pub fn out_root(fallback: Option<&Path>) -> PathBuf {
    match std::env::var_os("TCPLAB_OUT").filter(|v| !v.is_empty()) {
        Some(dir) => from_where_typed(PathBuf::from(dir)),
        None => fallback.map_or_else(default_out, Path::to_path_buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(what: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tcplab-files-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn folders_and_files_give_their_cases_and_a_name_twice_is_refused() {
        let d = scratch("collect");
        let (a, b) = (d.join("a"), d.join("b"));
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).unwrap();
        }
        for f in ["a/one.case", "a/two.case", "a/notes.txt", "b/two.case"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        let place = Place { base: d.clone() };
        let got = collect(&[a.clone(), b.join("two.case")], &place);
        let e = got.unwrap_err().to_string();
        assert!(
            e.starts_with("two cases named two: a/two.case and b/two.case"),
            "{e}"
        );
        let got = collect(&[b.join("two.case"), a.join("one.case")], &place).unwrap();
        assert_eq!(got, [b.join("two.case"), a.join("one.case")]);
        let e = collect(&[d.join("nothing")], &place)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "the case folder nothing is not there");
        let e = collect(&[b.join("three.case")], &place)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "the case file b/three.case is not there");
        std::fs::remove_file(b.join("two.case")).unwrap();
        let e = collect(&[b], &place).unwrap_err().to_string();
        assert!(e.starts_with("no case files (*.case) in b:"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_default_output_is_in_the_target_folder_of_the_binary() {
        // This unit test runs from target/debug/deps/tcplab-HASH.
        let out = default_out();
        assert!(out.ends_with("tcplab"), "{}", out.display());
        assert!(is_target_dir(out.parent().unwrap()), "{}", out.display());
    }
}
