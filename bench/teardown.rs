//! Row 2: one case end to end, whole process. The suite's binary running
//! `--exact teardown` against bench/seed-experiment.sh, which does the
//! seed's experiment with iproute2, tcpdump, ncat and ss; run alternately.

use std::cell::RefCell;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tcplab::error::Error;

use crate::proc::{clean_command, measure, Measured};
use crate::stats::{alternate, median, range, ratio, show};
use crate::table::Row;
use crate::Env;

/// Keeps a failed run's output beside the next run's: `X.out` becomes
/// `X.failed.out`.
fn kept(out: &Path) -> std::path::PathBuf {
    let to = out.with_extension("failed.out");
    let _ = std::fs::rename(out, &to);
    to
}

/// One `cases --exact NAME` run, whole process, as `cargo test` starts it.
pub fn case_once(env: &Env, name: &str) -> Result<Measured, Error> {
    let out = env.work.join(format!("{name}.out"));
    let mut cmd = clean_command(&env.cases_bin);
    cmd.args(["--exact", name]);
    let m = measure(&mut cmd, &out)?;
    if m.code != 0 {
        return Err(Error::msg(format!(
            "`{} --exact {name}` failed (exit {}); its output: {}",
            env.cases_bin.display(),
            m.code,
            kept(&out).display()
        )));
    }
    Ok(m)
}

fn script_once(env: &Env, script: &Path) -> Result<Measured, Error> {
    let out = env.work.join("seed-experiment.out");
    let m = measure(&mut Command::new(script), &out)?;
    if m.code != 0 {
        return Err(Error::msg(format!(
            "{} failed (exit {}): {}",
            script.display(),
            m.code,
            std::fs::read_to_string(kept(&out))
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or("no output")
        )));
    }
    Ok(m)
}

/// Runs `f`; when it fails, keeps the failure and runs it once more. The
/// kernel decides a rare form of the release (README, "Timing": in about
/// one run in a hundred a reset ends the client's TIME-WAIT), and the
/// script then rightly fails; one such run must not void the row.
fn retried(
    failures: &RefCell<Vec<Error>>,
    f: impl Fn() -> Result<Measured, Error>,
) -> Result<Measured, Error> {
    f().or_else(|e| {
        failures.borrow_mut().push(e);
        f()
    })
}

pub fn row(env: &Env, rounds: usize) -> Result<(Row, Vec<Duration>), Error> {
    let script = env.root.join("bench/seed-experiment.sh");
    let failures = RefCell::new(Vec::new());
    // Warm-up, not counted: page cache, the first namespace of the run.
    retried(&failures, || case_once(env, "teardown"))?;
    retried(&failures, || script_once(env, &script))?;
    let (mut cpu_a, mut cpu_b) = (Vec::new(), Vec::new());
    let (ours, theirs) = alternate(
        rounds,
        || {
            let m = retried(&failures, || case_once(env, "teardown"))?;
            cpu_a.push(m.cpu());
            Ok(m.wall)
        },
        || {
            let m = retried(&failures, || script_once(env, &script))?;
            cpu_b.push(m.cpu());
            Ok(m.wall)
        },
    )?;
    let failures = failures.into_inner();
    let failed = match failures.first() {
        None => String::new(),
        Some(first) => format!(
            "; {} run(s) failed and were run again, the first: {first}",
            failures.len()
        ),
    };
    let (m, o) = (median(&ours), median(&theirs));
    let row = Row {
        what: "one case end to end: `teardown`".into(),
        tcplab: format!("{} (cases --exact teardown, debug build)", show(m)),
        other: format!("{} (bench/seed-experiment.sh)", show(o)),
        ratio: ratio(m, o),
        runs: format!("{rounds} + {rounds}, alternated"),
        note: format!(
            "whole process, fork to reap; CPU user+sys {} vs {}; spread {} vs {}{failed}",
            show(median(&cpu_a)),
            show(median(&cpu_b)),
            range(&ours),
            range(&theirs)
        ),
    };
    Ok((row, ours))
}
