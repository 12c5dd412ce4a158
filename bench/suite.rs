//! Row 5: the suite as a user runs it, `cargo test`: the library's unit
//! tests, nc's, then the cases binary (every case and self-test, two at a
//! time as libtest-mimic does on two cores); its wall time against its
//! longest case (the runner writes each case's time to TCPLAB_TIMINGS),
//! and the CPU it and its children burnt (cargo's own included). The test
//! binaries are already built by the time the bench runs.

use std::time::Duration;

use tcplab::error::Error;

use crate::proc::{clean_command, measure};
use crate::stats::show;
use crate::table::Row;
use crate::Env;

pub fn row(env: &Env, quick: bool) -> Row {
    let what = if quick {
        "the suite without time-wait-expiry (QUICK=1)"
    } else {
        "the suite"
    };
    match measure_suite(env, quick) {
        Ok(r) => Row {
            what: what.into(),
            ..r
        },
        Err(e) => Row::failed(what, e),
    }
}

fn measure_suite(env: &Env, quick: bool) -> Result<Row, Error> {
    let timings = env.work.join("suite.timings");
    let _ = std::fs::remove_file(&timings);
    let out = env.work.join("suite.out");
    // Cargo names itself to the programs it runs (CARGO).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = clean_command(std::path::Path::new(&cargo));
    cmd.current_dir(&env.root).arg("test");
    cmd.env("TCPLAB_TIMINGS", &timings);
    if quick {
        cmd.args(["--", "--skip", "time-wait-expiry"]);
    }
    let m = measure(&mut cmd, &out)?;
    let text = std::fs::read_to_string(&timings).unwrap_or_default();
    let (name, longest) = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?;
            let secs: f64 = f.next()?.parse().ok()?;
            Some((name.to_string(), secs))
        })
        .fold(
            ("none".to_string(), 0.0),
            |a, b| if b.1 > a.1 { b } else { a },
        );
    let longest = Duration::from_secs_f64(longest);
    let cases = text.lines().count();
    let verdict = if m.code == 0 {
        "passed".to_string()
    } else {
        format!("FAILED (exit {}, see {})", m.code, out.display())
    };
    Ok(Row {
        what: String::new(),
        tcplab: format!("{} wall", show(m.wall)),
        other: format!("longest case {name}: {}", show(longest)),
        ratio: format!("+{}", show(m.wall.saturating_sub(longest))),
        runs: "1".into(),
        note: format!(
            "`cargo test` in {} (unit tests, then {cases} cases + self-tests, {verdict}); CPU {} user + {} sys = {} (wait4 of cargo and its children); peak RSS {} MB",
            env.root.display(),
            show(m.user),
            show(m.sys),
            show(m.cpu()),
            m.maxrss_kb / 1024
        ),
    })
}
