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
//! self-tests together, each unit-test binary) and columns (each kernel,
//! `column` reads one), a [`Cell`] at each crossing: passed, failed with
//! its file:line, skipped with its reason, flaky (failed, then passed on
//! a retry: `retry`, `ci/kernels --retries`), or not run; `render`
//! prints it as HTML, Markdown and text. A case's verdict is the case
//! runner's own (its libtest line); its result file adds the failure
//! text.

use std::path::PathBuf;

use super::error::ReportError;
use super::libtest::{self, Outcome};

mod column;
pub mod render;
pub mod retry;

pub use column::{Binary, Column, Failure, KernelInfo, KERNEL_FILE, LIBTEST_DIR};
pub use retry::Flaky;

use column::{binary_title, case_outcome, raw_failures, CASES_BINARY};

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
    /// Failed, then passed when the kernel matrix ran it again there
    /// (`ci/kernels --retries`): not a failure, but said.
    Flaky,
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

    /// The matrix of `columns`, each retry folded into the column of the
    /// run it retries ([`retry::fold`]).
    pub fn of(columns: Vec<Column>) -> Matrix {
        let columns = retry::fold(columns);
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
            Row::Case(name) => match case_outcome(col, name) {
                Some(Outcome::Passed) => cell(Verdict::Passed, "pass"),
                Some(Outcome::Ignored(why)) => cell(
                    Verdict::Skipped,
                    &format!("skipped: {}", why.as_deref().unwrap_or("ignored")),
                ),
                Some(Outcome::Failed) => failed_case(col, name),
                None => absent("not run"),
            },
            Row::Selftests => match col.binary(CASES_BINARY) {
                None => absent("not run"),
                Some(b) => counts(col, b, |t| t.name.contains("::")),
            },
            Row::Unit(name) => match col.binary(name) {
                None => absent("not run"),
                Some(b) => counts(col, b, |_| true),
            },
        }
    }

    /// Every failure of column `col` that stands, with where and why: a
    /// test that failed and passed on a retry is not one (see
    /// [`Matrix::flaky`]); one that failed again carries its retries'
    /// failures in `again`. What kept a retry itself from running (its VM,
    /// a binary that ended early) is one of its own.
    pub fn failures_of(&self, col: &Column) -> Vec<Failure> {
        let mut v = Vec::new();
        for raw in raw_failures(col) {
            let Some((bin, test)) = &raw.test else {
                v.push(raw.failure);
                continue;
            };
            match retry::again(col, bin, test) {
                retry::Again::Passed(_) => {}
                retry::Again::NotRetried => v.push(raw.failure),
                retry::Again::Failed(_) => v.push(Failure {
                    again: retry::failures_again(col, bin, test),
                    ..raw.failure
                }),
            }
        }
        for r in &col.retries {
            let own = raw_failures(r).into_iter().filter(|raw| raw.test.is_none());
            v.extend(own.map(|raw| raw.failure));
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

    /// Every test that failed and then passed on a retry, column by column.
    pub fn flaky(&self) -> Vec<Flaky> {
        self.columns.iter().flat_map(retry::flaky_of).collect()
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

    /// Tests passed (the first time), failed, skipped (as
    /// [`Matrix::skipped`]) and flaky over every kernel; a kernel that
    /// did not boot or finish, or a binary that ended early, counts as one
    /// failure.
    pub fn totals(&self) -> Totals {
        let passed = self
            .columns
            .iter()
            .flat_map(|c| &c.binaries)
            .map(|b| b.output.count(|o| *o == Outcome::Passed))
            .sum();
        Totals {
            passed,
            failed: self.failures().len(),
            skipped: self.skipped().len(),
            flaky: self.flaky().len(),
        }
    }

    /// Anything failed for good (a flaky test does not count).
    pub fn failed(&self) -> bool {
        self.totals().failed > 0
    }
}

/// What the matrix adds up to: `1854 passed, 0 failed, 8 skipped, 1 flaky`
/// (the flaky count only when there is one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Failed, then passed on a retry; not among `passed` nor `failed`.
    pub flaky: usize,
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Totals {
            passed,
            failed,
            skipped,
            flaky,
        } = self;
        write!(f, "{passed} passed, {failed} failed, {skipped} skipped")?;
        if *flaky > 0 {
            write!(f, ", {flaky} flaky")?;
        }
        Ok(())
    }
}

/// The cell of case `name`, failed in column `col`: where, and how its
/// retries went (`pass on retry (FAIL cases/x.case:15 first)`).
fn failed_case(col: &Column, name: &str) -> Cell {
    let at = raw_failures(col)
        .into_iter()
        .find(|r| r.is(CASES_BINARY, name))
        .and_then(|r| r.failure.at)
        .map_or("FAIL".to_string(), |at| format!("FAIL {at}"));
    match retry::again(col, CASES_BINARY, name) {
        retry::Again::Passed(_) => cell(Verdict::Flaky, &format!("pass on retry ({at} first)")),
        retry::Again::Failed(n) if n.len() == 1 => {
            cell(Verdict::Failed, &format!("{at}, again on retry"))
        }
        retry::Again::Failed(n) => cell(
            Verdict::Failed,
            &format!("{at}, again on {} retries", n.len()),
        ),
        retry::Again::NotRetried => cell(Verdict::Failed, &at),
    }
}

fn cell(verdict: Verdict, text: &str) -> Cell {
    Cell {
        verdict,
        text: text.trim().to_string(),
    }
}

/// A cell counting the tests of `b` (in column `col`) that `pick`
/// selects: `21 passed`, `3 failed, 585 passed, 4 ignored`, `817 passed,
/// 1 flaky` (failed, then passed on a retry).
fn counts(col: &Column, b: &Binary, pick: impl Fn(&libtest::Test) -> bool) -> Cell {
    let (mut passed, mut failed, mut flaky, mut ignored) = (0, 0, 0, 0);
    for t in b.output.tests.iter().filter(|t| pick(t)) {
        match &t.outcome {
            Outcome::Passed => passed += 1,
            Outcome::Ignored(_) => ignored += 1,
            Outcome::Failed => match retry::again(col, &b.name, &t.name) {
                retry::Again::Passed(_) => flaky += 1,
                _ => failed += 1,
            },
        }
    }
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    parts.push(format!("{passed} passed"));
    if flaky > 0 {
        parts.push(format!("{flaky} flaky"));
    }
    if ignored > 0 {
        parts.push(format!("{ignored} ignored"));
    }
    if !b.skipped.is_empty() {
        parts.push(format!("{} skipped", b.skipped.len()));
    }
    let text = parts.join(", ");
    // The case runner's own end is told apart in its failures.
    let (verdict, text) = if failed > 0 {
        (Verdict::Failed, format!("FAIL {text}"))
    } else if b.trouble().is_some() && b.name != CASES_BINARY {
        (Verdict::Failed, format!("FAIL (did not finish) {text}"))
    } else if flaky > 0 {
        (Verdict::Flaky, text)
    } else {
        (Verdict::Passed, text)
    };
    cell(verdict, &text)
}

#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod tests;
