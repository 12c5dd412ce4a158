//! The kernel matrix's report: the same tests on several kernels, a
//! column each (`ci/kernels`, README "Other kernels").
//!
//! `ci/kernels` boots each kernel in a VM whose guest runs the test
//! binaries built on the host; each boot leaves a run folder like any
//! run's (`results/<case>.json` from the case runner) plus:
//!
//! ```text
//! runs/<id>/kernel.json        what booted and how: label, release, KVM or TCG, times, what went wrong
//! runs/<id>/libtest/NAME.txt   a test binary's output (unit-tcplab, unit-nc, cases)
//! runs/<id>/libtest/NAME.rc    and its exit status
//! runs/<id>/libtest/NAME.skipped  tests the matrix left out there, NAME<TAB>reason (under TCG: ci/kernels.d/tcg-skips)
//! ```
//!
//! [`Matrix::read`] turns those folders into rows (each case, the
//! self-tests together, each unit-test binary) and columns (each kernel),
//! a [`Cell`] at each crossing: passed, failed with its file:line, skipped
//! with its reason, or not run; `render` prints it as HTML, Markdown and
//! text. A case's verdict is the case runner's own (its libtest line);
//! its result file adds the failure text.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ReportError;
use super::libtest::{self, Outcome};
use super::results::{self, CaseResult};

pub mod render;

/// The file `ci/kernels` writes in a kernel's run folder.
pub const KERNEL_FILE: &str = "kernel.json";
/// The folder of the test binaries' outputs.
pub const LIBTEST_DIR: &str = "libtest";
/// The case runner's output there (`cases.txt`); the others are unit tests.
const CASES_BINARY: &str = "cases";

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
}

/// One kernel's column: its run folder read.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The run's id (its folder's name).
    pub run: String,
    pub kernel: KernelInfo,
    pub cases: Vec<CaseResult>,
    pub binaries: Vec<Binary>,
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
        }))
    }

    fn binary(&self, name: &str) -> Option<&Binary> {
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

/// A row of the matrix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Row {
    /// A case file: `teardown`.
    Case(String),
    /// The case runner's self-tests (`selftest::...`), together.
    Selftests,
    /// A unit-test binary: `unit-tcplab`.
    Unit(String),
}

impl Row {
    pub fn title(&self) -> String {
        match self {
            Row::Case(n) => n.clone(),
            Row::Selftests => "self-tests".into(),
            Row::Unit(b) => binary_title(b),
        }
    }
}

/// How a row went on a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    Skipped,
    /// Not run there (the kernel did not boot, the runner stopped early).
    Absent,
}

/// One crossing: the verdict and what the table shows (`pass`, `FAIL
/// cases/x.case:3`, `skipped: needs ...`, `588 passed, 4 ignored`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub verdict: Verdict,
    pub text: String,
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
}

/// The kernels' columns and the rows they hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Matrix {
    /// The matrix of the run folders among `dirs` that a `ci/kernels`
    /// boot made; None if none did.
    pub fn read(dirs: &[PathBuf]) -> Result<Option<Matrix>, ReportError> {
        let mut columns = Vec::new();
        for d in dirs {
            columns.extend(Column::read(d)?);
        }
        Ok((!columns.is_empty()).then(|| Matrix::of(columns)))
    }

    pub fn of(columns: Vec<Column>) -> Matrix {
        let mut cases = std::collections::BTreeSet::new();
        let mut units = std::collections::BTreeSet::new();
        let mut selftests = false;
        for c in &columns {
            match c.binary(CASES_BINARY) {
                Some(b) => {
                    for t in &b.output.tests {
                        match t.name.contains("::") {
                            true => selftests = true,
                            false => {
                                cases.insert(t.name.clone());
                            }
                        }
                    }
                }
                None => cases.extend(c.cases.iter().map(|r| r.name.clone())),
            }
            units.extend(c.units().map(|b| b.name.clone()));
        }
        let mut rows: Vec<Row> = cases.into_iter().map(Row::Case).collect();
        if selftests {
            rows.push(Row::Selftests);
        }
        rows.extend(units.into_iter().map(Row::Unit));
        Matrix { columns, rows }
    }

    /// The crossing of `row` and column `col`.
    pub fn cell(&self, row: &Row, col: &Column) -> Cell {
        let absent = |why: &str| Cell {
            verdict: Verdict::Absent,
            text: col
                .trouble()
                .map_or(why.to_string(), |_| "not run".to_string()),
        };
        match row {
            Row::Case(name) => {
                let result = col.cases.iter().find(|r| &r.name == name);
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
                // The runner leaves a skipped case out as an ignored trial;
                // its result file says why.
                let outcome = match outcome {
                    Some(Outcome::Ignored(None)) => {
                        Some(Outcome::Ignored(result.and_then(|r| r.skipped.clone())))
                    }
                    o => o,
                };
                match outcome {
                    Some(Outcome::Passed) => cell(Verdict::Passed, "pass"),
                    Some(Outcome::Ignored(why)) => cell(
                        Verdict::Skipped,
                        &format!("skipped: {}", why.as_deref().unwrap_or("ignored")),
                    ),
                    Some(Outcome::Failed) => {
                        let at = self
                            .failures_of(col)
                            .into_iter()
                            .find(|f| &f.test == name)
                            .and_then(|f| f.at);
                        cell(Verdict::Failed, &format!("FAIL {}", at.unwrap_or_default()))
                    }
                    None => absent("not run"),
                }
            }
            Row::Selftests => match col.binary(CASES_BINARY) {
                None => absent("not run"),
                Some(b) => counts(b, |t| t.name.contains("::")),
            },
            Row::Unit(name) => match col.binary(name) {
                None => absent("not run"),
                Some(b) => counts(b, |_| true),
            },
        }
    }

    /// Every failed test of column `col`, with where and why.
    pub fn failures_of(&self, col: &Column) -> Vec<Failure> {
        let mut v = Vec::new();
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
                v.push(Failure {
                    kernel: col.kernel.label.clone(),
                    test,
                    at,
                    why,
                });
            }
            if !b.clean() && b.output.count(|o| *o == Outcome::Failed) == 0 {
                v.push(Failure {
                    kernel: col.kernel.label.clone(),
                    test: binary_title(&b.name),
                    at: None,
                    why: match (b.output.result.is_some(), b.exit) {
                        (false, Some(rc)) => {
                            format!("ended before its summary line, exit status {rc}")
                        }
                        (false, None) => "ended before its summary line, no exit status".into(),
                        (true, Some(rc)) => format!("exit status {rc}"),
                        (true, None) => "no exit status".into(),
                    },
                });
            }
        }
        if let Some(t) = col.trouble() {
            v.push(Failure {
                kernel: col.kernel.label.clone(),
                test: "the VM".into(),
                at: None,
                why: t,
            });
        }
        v
    }

    /// Every failure, column by column.
    pub fn failures(&self) -> Vec<Failure> {
        self.columns
            .iter()
            .flat_map(|c| self.failures_of(c))
            .collect()
    }

    /// Every case skipped at run time, with its reason: (kernel label,
    /// case, reason). Only the case runner skips at run time; a unit
    /// test's `ignored` is its `#[ignore]`, the same on every kernel, and
    /// only counted in its row.
    pub fn skipped(&self) -> Vec<(String, String, String)> {
        let mut v = Vec::new();
        for col in &self.columns {
            for t in col
                .binary(CASES_BINARY)
                .map_or(&[][..], |b| &b.output.tests)
            {
                if let Outcome::Ignored(why) = &t.outcome {
                    // The runner's reason is in the case's result file.
                    let from_result = col
                        .cases
                        .iter()
                        .find(|r| r.name == t.name)
                        .and_then(|r| r.skipped.clone());
                    let why = why.clone().or(from_result);
                    let why = why.unwrap_or_else(|| "ignored".to_string());
                    v.push((col.kernel.label.clone(), t.name.clone(), why));
                }
            }
            for b in &col.binaries {
                for (t, why) in &b.skipped {
                    let test = format!("{}: {t}", binary_title(&b.name));
                    v.push((col.kernel.label.clone(), test, why.clone()));
                }
            }
        }
        v
    }

    /// Tests passed, failed and skipped (as [`Matrix::skipped`]) over
    /// every kernel; a kernel that did not boot or finish, or a binary
    /// that ended early, counts as one failure.
    pub fn totals(&self) -> (usize, usize, usize) {
        let passed = self
            .columns
            .iter()
            .flat_map(|c| &c.binaries)
            .map(|b| b.output.count(|o| *o == Outcome::Passed))
            .sum();
        (passed, self.failures().len(), self.skipped().len())
    }

    pub fn failed(&self) -> bool {
        self.totals().1 > 0
    }
}

/// `unit-tcplab` -> `unit tests: tcplab`; `cases` -> `the case runner`.
fn binary_title(name: &str) -> String {
    match name {
        CASES_BINARY => "the case runner".into(),
        unit => format!("unit tests: {}", unit.trim_start_matches("unit-")),
    }
}

fn cell(verdict: Verdict, text: &str) -> Cell {
    Cell {
        verdict,
        text: text.trim().to_string(),
    }
}

/// A cell counting the tests of `b` that `pick` selects: `21 passed`,
/// `3 failed, 585 passed, 4 ignored`.
fn counts(b: &Binary, pick: impl Fn(&libtest::Test) -> bool) -> Cell {
    let mine: Vec<&libtest::Test> = b.output.tests.iter().filter(|t| pick(t)).collect();
    let n = |f: &dyn Fn(&Outcome) -> bool| mine.iter().filter(|t| f(&t.outcome)).count();
    let (passed, failed) = (n(&|o| *o == Outcome::Passed), n(&|o| *o == Outcome::Failed));
    let ignored = n(&|o| matches!(o, Outcome::Ignored(_)));
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    parts.push(format!("{passed} passed"));
    if ignored > 0 {
        parts.push(format!("{ignored} ignored"));
    }
    if !b.skipped.is_empty() {
        parts.push(format!("{} skipped", b.skipped.len()));
    }
    let mut text = parts.join(", ");
    let verdict = if failed > 0 {
        text = format!("FAIL {text}");
        Verdict::Failed
    } else if !b.clean() && b.name != CASES_BINARY {
        // The case runner's own end is told apart in its failures.
        text = format!("FAIL (did not finish) {text}");
        Verdict::Failed
    } else {
        Verdict::Passed
    };
    cell(verdict, &text)
}

#[cfg(test)]
mod tests;
