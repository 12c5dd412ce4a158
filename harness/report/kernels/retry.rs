//! The kernel matrix's retries (`ci/kernels --retries N`, README "Other
//! kernels"). Under QEMU's TCG, a vCPU thread descheduled for ~100 ms on
//! a loaded host can stretch one measured time past its window and fail
//! one test in one boot (rto-backoff's first `rto 200ms..260ms` saw 316
//! after a 117 ms stall in the handshake). With retries, `ci/kernels`
//! boots that kernel again with only the tests that failed (`--only`
//! their exact names, [`to_retry`]), as a run of its own (`<id>-retry1`)
//! whose kernel.json says `"retry_of": "<id>"`; up to N rounds, each for
//! what still fails.
//!
//! Here a retry's column is folded into the column of the run it retries
//! ([`fold`]): a test that failed and then passed on a retry is
//! [`Verdict::Flaky`](super::Verdict::Flaky), no failure but listed under
//! a heading of its own with its first failure, as cargo-nextest's
//! `--retries` reports a test FLAKY; one that failed on every retry stays
//! failed, its retries' failures kept beside the first. Nothing is
//! hidden: the retry's run folder is in the report beside the original's,
//! and JUnit gets the first failure as a `<flakyFailure>` ([`attempts`]).

use std::collections::HashMap;

use super::column::{binary_title, case_outcome, raw_failures, Column, Failure, CASES_BINARY};
use crate::report::libtest::Outcome;
use crate::report::results::CaseResult;

/// A test that failed, then passed when run again on the same kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flaky {
    /// Its first failure (`kernel` the original run's label).
    pub first: Failure,
    /// The label of the retry it passed in: `6.1 (retry 1)`.
    pub passed_in: String,
}

/// How a failed test's retries went.
#[derive(Debug)]
pub enum Again<'a> {
    /// None of the column's retries ran it.
    NotRetried,
    /// The last retry that ran it passed it.
    Passed(&'a Column),
    /// The retries that ran it, the last of which did not pass it.
    Failed(Vec<&'a Column>),
}

/// `columns` with each that retries another (kernel.json's `retry_of`)
/// folded into that one's `retries`, in the order they ran (`-retry1`
/// before `-retry2`). A retry whose run is not among them stays a column
/// of its own, as it is.
pub fn fold(columns: Vec<Column>) -> Vec<Column> {
    let (mut firsts, retries): (Vec<Column>, Vec<Column>) = columns
        .into_iter()
        .partition(|c| c.kernel.retry_of.is_none());
    for r in retries {
        let of = r.kernel.retry_of.clone().unwrap_or_default();
        match firsts.iter_mut().find(|c| c.run == of) {
            Some(c) => c.retries.push(r),
            None => firsts.push(r),
        }
    }
    for c in &mut firsts {
        c.retries
            .sort_by(|a, b| (a.run.len(), &a.run).cmp(&(b.run.len(), &b.run)));
    }
    firsts
}

/// How test `name` of binary `bin` went in column `col` alone.
fn outcome(col: &Column, bin: &str, name: &str) -> Option<Outcome> {
    if bin == CASES_BINARY {
        return case_outcome(col, name);
    }
    Some(col.binary(bin)?.output.test(name)?.outcome.clone())
}

/// How the retries of column `col` went for test `name` of binary `bin`.
pub fn again<'a>(col: &'a Column, bin: &str, name: &str) -> Again<'a> {
    let ran: Vec<(&Column, Outcome)> = col
        .retries
        .iter()
        .filter_map(|r| Some((r, outcome(r, bin, name)?)))
        .collect();
    match ran.last() {
        None => Again::NotRetried,
        Some((r, Outcome::Passed)) => Again::Passed(r),
        Some(_) => Again::Failed(ran.into_iter().map(|(r, _)| r).collect()),
    }
}

/// The failures of test `name` of binary `bin` in the retries of `col`.
pub(super) fn failures_again(col: &Column, bin: &str, name: &str) -> Vec<Failure> {
    col.retries
        .iter()
        .flat_map(raw_failures)
        .filter(|raw| raw.is(bin, name))
        .map(|raw| raw.failure)
        .collect()
}

/// The tests of column `col` that failed, then passed on a retry.
pub(super) fn flaky_of(col: &Column) -> Vec<Flaky> {
    raw_failures(col)
        .into_iter()
        .filter_map(|raw| {
            let (bin, name) = raw.test?;
            match again(col, &bin, &name) {
                Again::Passed(r) => Some(Flaky {
                    first: raw.failure,
                    passed_in: r.kernel.label.clone(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// What a retry of a run would run again ([`to_retry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToRetry {
    /// The exact names of the tests that failed there, each once; none if
    /// none failed.
    Tests(Vec<String>),
    /// Something failed there that is not a test (the VM did not boot or
    /// finish, a binary ended early), as the report says it: running tests
    /// again would not clear it, so no retry is made.
    Not(String),
}

/// What a retry of run `col` runs again (`tcplab-report failed RUN`).
pub fn to_retry(col: &Column) -> ToRetry {
    if let Some(t) = col.trouble() {
        return ToRetry::Not(t);
    }
    if let Some(why) = col
        .binaries
        .iter()
        .find_map(|b| Some(format!("{}: {}", binary_title(&b.name), b.trouble()?)))
    {
        return ToRetry::Not(why);
    }
    let mut names: Vec<String> = Vec::new();
    for t in col.binaries.iter().flat_map(|b| &b.output.tests) {
        if t.outcome == Outcome::Failed && !names.contains(&t.name) {
            names.push(t.name.clone());
        }
    }
    ToRetry::Tests(names)
}

/// `results` (every run's case results, `run` set) grouped as attempts
/// at one test: a case's result in a run, then its results in that run's
/// retries (as [`fold`] put them in `columns`, a matrix's), in order. A
/// result of any other run is an attempt alone.
pub fn attempts<'a>(columns: &[Column], results: &'a [CaseResult]) -> Vec<Vec<&'a CaseResult>> {
    // A retry's run id -> (the run it retries, its place among them).
    let mut of: HashMap<&str, (&str, usize)> = HashMap::new();
    for c in columns {
        for (i, r) in c.retries.iter().enumerate() {
            of.insert(&r.run, (&c.run, i + 1));
        }
    }
    let mut groups: Vec<Vec<(usize, &CaseResult)>> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for r in results {
        let (run, place) = of.get(r.run.as_str()).copied().unwrap_or((&r.run, 0));
        let i = *index.entry((&r.name, run)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push((place, r));
    }
    groups
        .into_iter()
        .map(|mut g| {
            g.sort_by_key(|(place, _)| *place);
            g.into_iter().map(|(_, r)| r).collect()
        })
        .collect()
}
