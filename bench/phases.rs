//! Rows 3: where one case's milliseconds go. The runner exposes no phases,
//! so the real `cases --exact teardown` process is traced from outside with
//! `perf record` on syscall tracepoints (no ptrace stops), and its phases
//! are cut at system calls that only one phase makes ([`crate::trace`]). Beside it, the library's
//! pieces timed one by one in this process ([`crate::pieces`]) and the
//! cost of one sock_diag dump ([`crate::ehash`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tcplab::error::Error;

use crate::ehash::Ehash;
use crate::lab::LabTimes;
use crate::pieces::Pieces;
use crate::proc::{clean_command, measure};
use crate::stats::{median, ratio, share, show};
use crate::table::Row;
use crate::trace::{self, Marks};
use crate::Env;

/// perf, where root finds it (sudo's secure_path has /usr/bin).
pub fn perf() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/bin", "/usr/sbin"])
        .map(|d| Path::new(d).join("perf"))
        .find(|p| p.is_file());
    found
}

fn traced_once(env: &Env, perf: &Path, n: usize) -> Result<Marks, Error> {
    let data = env.work.join("teardown.perf.data");
    let mut cmd = clean_command(perf);
    cmd.args(["record", "-q", "-o"])
        .arg(&data)
        .args(["-e", &trace::EVENTS.join(","), "--"])
        .arg(&env.cases_bin)
        .args(["--exact", "teardown"]);
    let out = env.work.join("teardown.perf.out");
    let m = measure(&mut cmd, &out)?;
    if m.code != 0 {
        let why = std::fs::read_to_string(&out).unwrap_or_default();
        return Err(Error::msg(format!(
            "perf record of teardown failed (exit {}): {}",
            m.code,
            why.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
        )));
    }
    let script = std::process::Command::new(perf)
        .arg("script")
        .arg("-i")
        .arg(&data)
        .output()
        .map_err(|e| Error::io("perf script", e))?;
    let text = String::from_utf8_lossy(&script.stdout);
    let file = env.work.join(format!("teardown.perf-script.{n}.txt"));
    let _ = std::fs::write(&file, text.as_bytes());
    let _ = std::fs::remove_file(&data);
    trace::marks(&trace::parse(&text)).map_err(|e| Error::msg(format!("{e} ({})", file.display())))
}

/// Everything the phase rows are made of.
pub struct Inputs<'a> {
    pub env: &'a Env,
    pub rounds: usize,
    pub lab: &'a LabTimes,
    pub pieces: &'a Pieces,
    pub ehash: Option<&'a Ehash>,
    /// Untraced whole-process times of the same case (row 2).
    pub untraced: &'a [Duration],
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0) / 1e3)
}

pub fn rows(inp: &Inputs) -> Vec<Row> {
    let Some(perf) = perf() else {
        return vec![Row::failed(
            "phases of one case",
            "perf not found (Debian: apt-get install linux-perf; ci/install-deps --bench)",
        )];
    };
    let mut marks = Vec::new();
    for n in 0..inp.rounds {
        match traced_once(inp.env, &perf, n) {
            Ok(m) => marks.push(m),
            Err(e) => return vec![Row::failed("phases of one case", e)],
        }
    }
    let p = inp.pieces;
    let med =
        |f: &dyn Fn(&Marks) -> f64| median(&marks.iter().map(|m| ms(f(m))).collect::<Vec<_>>());
    let total = med(&|m| m.end);
    let runs = format!("{} traced", marks.len());
    let phase = |what: &str, d: Duration, note: String| Row {
        what: format!("phase: {what}"),
        tcplab: show(d),
        other: String::new(),
        ratio: share(d, total),
        runs: runs.clone(),
        note,
    };
    let start = med(&|m| m.lab).saturating_sub(p.sweep);
    let requests = median(
        &marks
            .iter()
            .map(|m| Duration::from_secs(m.diag_requests as u64))
            .collect::<Vec<_>>(),
    )
    .as_secs();
    let sleeps = median(
        &marks
            .iter()
            .map(|m| Duration::from_secs(m.sleeps as u64))
            .collect::<Vec<_>>(),
    )
    .as_secs();
    let checked = marks.iter().filter(|m| m.tcpdump.is_some()).count();
    let cross_check = med(&|m| m.tcpdump.map_or(0.0, |(_, exit)| exit - m.lab_gone));
    let report_from = |m: &Marks| m.tcpdump.map_or(m.lab_gone, |(_, exit)| exit);
    let mut rows = vec![
        phase("process start", start, "exec → the first namespace: loading, arguments, case list, the host snapshot (no namespace is made before it), test thread, case parse".into()),
        phase("leftover sweep", p.sweep, format!("sweep_stale() in-process ({} names in /run/netns)", tcplab::netns::list().len())),
        phase("lab: namespaces and veth", med(&|m| m.capture - m.lab), format!("unshare → socket(AF_PACKET): the parent namespace (once a process), both namespaces at once, the veth; in-process Lab::new {}", show(median(&inp.lab.up)))),
        phase("lab up, observers open", med(&|m| m.first_step - m.capture), format!("socket(AF_PACKET) → the first step's exec: the capture opens (in-process Capture::open {}) while addresses and links go up and the sock_diag sockets open (in-process {})", show(p.capture_open), show(p.diag_open))),
        phase("run: steps and settles", med(&|m| m.killed - m.first_step), format!(
            "the first step's exec → first kill: the steps, every settle, the capture read to its end and its file closed (in-process Capture::finish {}); {requests} sock_diag requests taking {} in the kernel, {sleeps} poll sleeps",
            show(p.capture_finish), show(med(&|m| m.diag_ms))
        )),
        phase("run: programs killed, lab deleted", med(&|m| m.lab_gone - m.killed), format!("first kill → last umount; in-process lab drop {}", show(median(&inp.lab.down)))),
        phase("observers: tcpdump -r cross-check", cross_check, if checked == 0 {
            "not run: only where TCPLAB_TCPDUMP_CHECK=1 (ci/test, the CI shards, make case)".into()
        } else {
            format!("tcpdump exec → exit, in {checked} of the traced runs")
        }),
        phase("report + exit", med(&|m| m.end - report_from(m)), "results, HTML + Markdown report while the host is read again, exit".into()),
    ];
    let untraced = median(inp.untraced);
    rows.push(Row {
        what: "phases: total under perf record".into(),
        tcplab: show(total),
        other: format!("{} untraced (row 2)", show(untraced)),
        ratio: ratio(total, untraced),
        runs,
        note: "perf record -e syscalls:sys_{enter,exit}_...: exec of the runner → its exit_group; the traced runs' own files are in target/tcplab/bench/".into(),
    });
    if let Some(e) = inp.ehash {
        rows.push(dump_row(p, e));
    }
    rows
}

/// What one settle iteration costs in the kernel, and what a table of
/// the namespace's own would cost.
fn dump_row(p: &Pieces, e: &Ehash) -> Row {
    let iter_cpu = p.dump_cpu * 2;
    let busy = iter_cpu.as_secs_f64() / (iter_cpu.as_secs_f64() + 1e-3);
    Row {
        what: "sock_diag dump (IPv4+IPv6) of an empty namespace".into(),
        tcplab: format!("{} wall, {} CPU (shared table)", show(e.shared.0), show(e.shared.1)),
        other: format!(
            "{} wall, {} CPU (private table of {} buckets)",
            show(e.private.0),
            show(e.private.1),
            e.private_buckets
        ),
        ratio: ratio(e.shared.0, e.private.0),
        runs: "50 + 50".into(),
        note: format!(
            "host table: {} buckets, walked by every dump of a namespace that shares it (tcplab's before); SockDiag::dump of a lab namespace in-process {} wall / {} CPU; one look of a settle dumps both hosts: {} CPU, {:.0} % of a core if a settle looked every 1 ms (it looks every 0.25 ms for 5 ms, then backs off to 4 ms); its /proc look at each command's tree (procs::Watch::busy): {}",
            e.host_buckets,
            show(p.dump),
            show(p.dump_cpu),
            show(iter_cpu),
            busy * 100.0,
            show(p.idle_check)
        ),
    }
}
