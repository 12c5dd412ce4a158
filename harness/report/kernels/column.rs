//! One kernel's column of the matrix: a boot's run folder read
//! (kernel.json, each test binary's output under libtest/, the cases'
//! result files), and what failed in it by itself, its retries not looked
//! at (`retry` folds those in).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::error::ReportError;
use crate::report::libtest::{self, Outcome};
use crate::report::results::{self, CaseResult};

/// The file `ci/kernels` writes in a kernel's run folder.
pub const KERNEL_FILE: &str = "kernel.json";
/// The folder of the test binaries' outputs.
pub const LIBTEST_DIR: &str = "libtest";
/// The case runner's output there (`cases.txt`); the others are unit tests.
pub(super) const CASES_BINARY: &str = "cases";

/// What `ci/kernels` says of one boot (`kernel.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelInfo {
    /// As the user asked for it: `6.1`, a package, a path, `host`.
    pub label: String,
    pub spec: String,
    /// The image's release (what `uname -r` says in the guest).
    pub release: String,
    /// Where the image came from: `linux-image-6.1.0-57-cloud-amd64 (cached)`.
    pub source: String,
    /// `KVM` or `TCG`.
    pub accel: Option<String>,
    /// Why not KVM, when TCG.
    pub accel_note: Option<String>,
    pub booted: bool,
    /// The guest ran every test binary.
    pub finished: bool,
    pub boot_seconds: Option<f64>,
    pub seconds: Option<f64>,
    /// What went wrong, if anything did (did not boot, timed out ...).
    pub note: Option<String>,
    /// The run id of the boot this one retries (`ci/kernels --retries`):
    /// it ran only the tests that failed there, and its column is folded
    /// into that boot's (see `retry`).
    pub retry_of: Option<String>,
}

/// A test binary's output in a kernel's run.
#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    /// `unit-tcplab`, `unit-nc`, `cases`.
    pub name: String,
    pub exit: Option<i32>,
    pub output: libtest::Output,
    /// Tests the matrix left out of this binary's run, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Binary {
    /// It ran to its `test result:` line and exited 0.
    pub fn clean(&self) -> bool {
        self.exit == Some(0) && self.output.result.is_some()
    }

    /// What went wrong with the binary itself rather than with a test of
    /// it: it ended before its summary line, or it exited non-zero (or
    /// with no status) though no test failed. None if it is clean or its
    /// failed tests explain its exit status.
    pub fn trouble(&self) -> Option<String> {
        let failed = self.output.count(|o| *o == Outcome::Failed) > 0;
        match (self.output.result.is_some(), self.exit) {
            (false, Some(rc)) => Some(format!("ended before its summary line, exit status {rc}")),
            (false, None) => Some("ended before its summary line, no exit status".into()),
            (true, Some(0)) => None,
            (true, _) if failed => None,
            (true, Some(rc)) => Some(format!("exit status {rc}")),
            (true, None) => Some("no exit status".into()),
        }
    }
}

/// One kernel's column: its run folder read.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The run's id (its folder's name).
    pub run: String,
    pub kernel: KernelInfo,
    pub cases: Vec<CaseResult>,
    pub binaries: Vec<Binary>,
    /// The boots that retried this one's failed tests (kernel.json's
    /// `retry_of` naming this run), in the order they ran.
    pub retries: Vec<Column>,
}

impl Column {
    /// The column of run folder `dir`, or None if no `ci/kernels` boot
    /// made it (no kernel.json).
    pub fn read(dir: &Path) -> Result<Option<Column>, ReportError> {
        let kfile = dir.join(KERNEL_FILE);
        let text = match std::fs::read(&kfile) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ReportError::io(&kfile, e)),
        };
        let kernel: KernelInfo =
            serde_json::from_slice(&text).map_err(|source| ReportError::NotA {
                path: kfile.clone(),
                what: "kernel record",
                source,
            })?;
        let mut binaries = Vec::new();
        let ldir = dir.join(LIBTEST_DIR);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&ldir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        names.sort();
        for p in names {
            let name = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).map_err(|e| ReportError::io(&p, e))?;
            let exit = std::fs::read_to_string(p.with_extension("rc"))
                .ok()
                .and_then(|s| s.trim().parse().ok());
            let skipped = std::fs::read_to_string(p.with_extension("skipped"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .map(|(t, why)| (t.to_string(), why.to_string()))
                .collect();
            binaries.push(Binary {
                name,
                exit,
                output: libtest::parse(&String::from_utf8_lossy(&bytes)),
                skipped,
            });
        }
        Ok(Some(Column {
            run: dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            kernel,
            cases: results::read_all(dir)?,
            binaries,
            retries: Vec::new(),
        }))
    }

    pub(super) fn binary(&self, name: &str) -> Option<&Binary> {
        self.binaries.iter().find(|b| b.name == name)
    }

    /// The unit-test binaries (all but the case runner's).
    pub fn units(&self) -> impl Iterator<Item = &Binary> {
        self.binaries.iter().filter(|b| b.name != CASES_BINARY)
    }

    /// What kept the whole column from running, if anything did.
    pub fn trouble(&self) -> Option<String> {
        let k = &self.kernel;
        if !k.booted {
            return Some(format!(
                "did not boot: {}",
                k.note.as_deref().unwrap_or("no word from the guest")
            ));
        }
        (!k.finished).then(|| {
            format!(
                "did not finish: {}",
                k.note.as_deref().unwrap_or("the guest stopped early")
            )
        })
    }
}

/// One failed test, for the list under the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The column's label.
    pub kernel: String,
    pub test: String,
    /// FILE:LINE, where the text says.
    pub at: Option<String>,
    /// The failure text's first line.
    pub why: String,
    /// The same test's failures in the retries of its run, in order
    /// (`kernel` the retry's label): it failed each time.
    pub again: Vec<Failure>,
}

/// How case `name` went in column `col`: its libtest line, else its
/// result file; a skipped case's reason from its result file.
pub(super) fn case_outcome(col: &Column, name: &str) -> Option<Outcome> {
    let result = col.cases.iter().find(|r| r.name == name);
    let trial = col
        .binary(CASES_BINARY)
        .and_then(|b| b.output.test(name))
        .map(|t| t.outcome.clone());
    let outcome = trial.or_else(|| {
        result.map(|r| match (r.passed, &r.skipped) {
            (_, Some(why)) => Outcome::Ignored(Some(why.clone())),
            (true, None) => Outcome::Passed,
            (false, None) => Outcome::Failed,
        })
    });
    // The runner leaves a skipped case out as an ignored trial; its
    // result file says why.
    match outcome {
        Some(Outcome::Ignored(None)) => {
            Some(Outcome::Ignored(result.and_then(|r| r.skipped.clone())))
        }
        o => o,
    }
}

/// A failure of one column alone, its retries not looked at.
pub(super) struct Raw {
    /// The binary and the test's name in it, for a test's failure.
    pub(super) test: Option<(String, String)>,
    pub(super) failure: Failure,
}

impl Raw {
    pub(super) fn is(&self, bin: &str, name: &str) -> bool {
        self.test
            .as_ref()
            .is_some_and(|(b, t)| b == bin && t == name)
    }
}

/// Every failure of column `col` by itself: each failed test, each
/// binary's own trouble, the VM's.
pub(super) fn raw_failures(col: &Column) -> Vec<Raw> {
    let mut v = Vec::new();
    let label = &col.kernel.label;
    for b in &col.binaries {
        for t in b
            .output
            .tests
            .iter()
            .filter(|t| t.outcome == Outcome::Failed)
        {
            // A case's result file has its whole failure text.
            let from_result = (b.name == CASES_BINARY)
                .then(|| col.cases.iter().find(|r| r.name == t.name))
                .flatten()
                .and_then(|r| r.failure.clone());
            let text = from_result
                .or_else(|| t.failure.clone())
                .unwrap_or_default();
            let at = libtest::location(&text);
            // `cases/x.case:3: what` says where once, in `at`.
            let why = libtest::reason(&text);
            let why = at
                .as_deref()
                .and_then(|a| why.strip_prefix(a)?.strip_prefix(": "))
                .map_or(why.clone(), str::to_string);
            let test = match b.name.as_str() {
                CASES_BINARY => t.name.clone(),
                unit => format!("{}: {}", binary_title(unit), t.name),
            };
            v.push(Raw {
                test: Some((b.name.clone(), t.name.clone())),
                failure: failure(label, test, at, why),
            });
        }
        if let Some(why) = b.trouble() {
            v.push(Raw {
                test: None,
                failure: failure(label, binary_title(&b.name), None, why),
            });
        }
    }
    if let Some(t) = col.trouble() {
        v.push(Raw {
            test: None,
            failure: failure(label, "the VM".into(), None, t),
        });
    }
    v
}

fn failure(kernel: &str, test: String, at: Option<String>, why: String) -> Failure {
    Failure {
        kernel: kernel.to_string(),
        test,
        at,
        why,
        again: Vec::new(),
    }
}

/// `unit-tcplab` -> `unit tests: tcplab`; `cases` -> `the case runner`.
pub(super) fn binary_title(name: &str) -> String {
    match name {
        CASES_BINARY => "the case runner".into(),
        unit => format!("unit tests: {}", unit.trim_start_matches("unit-")),
    }
}
