//! A run's options from its environment: which nc `nc` in a case runs,
//! the deadline of every wait, the case time limit, the timing tolerance,
//! record mode; and whether the lab can be built here at all.
//!
//! Our nc, the nc-equivalent, is a small binary of its own (`tcplab-nc`),
//! found without a tcplab checkout: where the package's tests name it
//! (the caller passes it), beside the running binary (`cargo install`
//! puts `tcplab` and `tcplab-nc` in one folder), or on PATH. Where none
//! is, a runner that can act as nc itself (a `harness = false` target's
//! `main`, the `tcplab` command: `suite::links::dispatch`) is it.

use std::path::{Path, PathBuf};

use crate::case::run::{self, Options};
use crate::case::Implementation;
use crate::error::Malformed;

/// The nc binary's name.
pub const NC_NAME: &str = "tcplab-nc";

/// Where our nc comes from for this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OurNc {
    /// A binary: the package's own (nextest or cargo names it), or
    /// `tcplab-nc` beside this binary or on PATH.
    Binary(PathBuf),
    /// This binary, started under the name `tcplab-nc` (a link in the
    /// run's folder): see `super::nc`.
    ItSelf,
    /// None: a case that starts `nc` fails saying how to get one.
    Missing,
}

/// Our nc: `explicit` (the package's own build), else `tcplab-nc` beside
/// this binary (or, for a test binary in `target/PROFILE/deps/`, in
/// `target/PROFILE/`, where cargo puts a package's binaries), else (when
/// `can_be_nc`) this binary itself, else `tcplab-nc` on PATH.
pub fn our_nc(explicit: Option<&Path>, can_be_nc: bool) -> OurNc {
    if let Some(p) = explicit {
        return OurNc::Binary(p.to_path_buf());
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let mut near = vec![dir.join(NC_NAME)];
    if dir.file_name().is_some_and(|n| n == "deps") {
        near.extend(dir.parent().map(|p| p.join(NC_NAME)));
    }
    let beside = near.into_iter().find(|p| p.is_file());
    if let Some(p) = beside {
        return OurNc::Binary(p);
    }
    if can_be_nc {
        return OurNc::ItSelf;
    }
    which(NC_NAME).map_or(OurNc::Missing, OurNc::Binary)
}

/// The run's options. `ours` is our nc (a path; for [`OurNc::ItSelf`]
/// the link made once the run's folder exists); NC in the environment,
/// other than `nc`, names another nc for the differential run.
pub fn options(ours: &Path, out_dir: PathBuf, record: bool) -> Result<Options, Malformed> {
    let nc = match std::env::var("NC") {
        Ok(name) if !name.is_empty() && name != "nc" => which(&name).ok_or_else(|| {
            Malformed::new(
                format!(
                    "NC={name}: no such program on PATH (install it, e.g. `apt-get install ncat`)"
                ),
                "",
            )
        })?,
        _ => ours.to_path_buf(),
    };
    let deadline = run::limits::deadline_from_env()?;
    let record =
        record || std::env::var_os("TCPLAB_RECORD").is_some_and(|v| !v.is_empty() && v != "0");
    // Any nc but ours is the differential run's: a case's `ncat:` items
    // are its, `ours:` items are skipped.
    let implementation = if nc == ours {
        Implementation::Ours
    } else {
        Implementation::Ncat
    };
    Ok(Options {
        nc,
        implementation,
        family: crate::case::family::from_env()?,
        kernel: crate::kernel::Kernel::running(),
        out_dir,
        deadline,
        case_timeout: run::limits::case_timeout_from_env()?,
        tolerance: run::limits::tolerance_from_env()?,
        record,
    })
}

/// A program as the shell finds it: a path when it has a `/`, else the
/// first file of that name in PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// What a runner that is not root says to do, after what it needs.
pub const ROOT_HINT: &str =
    "run it as root, or where sudo is installed (it then runs itself through \
     `sudo -E`; TCPLAB_NO_SUDO=1 stops that)";

/// One line saying what is missing and how to run (`hint`), or None when
/// the lab can be built here.
pub fn precondition(hint: &str) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(format!(
            "tcplab: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for namespaces, CAP_NET_RAW for capture): {hint}"
        ));
    }
    if !Path::new("/proc/self/ns/net").exists() {
        return Some(
            "tcplab: this kernel has no network namespaces (CONFIG_NET_NS): cases cannot run here"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_nc_wins_and_a_runner_can_be_its_own() {
        let p = Path::new("/x/tcplab-nc");
        assert_eq!(our_nc(Some(p), true), OurNc::Binary(p.to_path_buf()));
        // The unit tests' binary (target/debug/deps/) has the package's
        // tcplab-nc in target/debug/ once it is built.
        let built = std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join(NC_NAME);
        let want = match built.is_file() {
            true => OurNc::Binary(built),
            false => OurNc::ItSelf,
        };
        assert_eq!(our_nc(None, true), want);
    }

    #[test]
    fn which_finds_a_program_on_path_and_takes_a_path_as_is() {
        assert_eq!(which("/no/such"), Some(PathBuf::from("/no/such")));
        assert!(which("sh").is_some_and(|p| p.is_file()));
        assert_eq!(which("no-such-program-tcplab"), None);
    }
}
