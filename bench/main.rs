//! `make bench`: how fast tcplab is, as one table of side-by-side
//! measurements, printed and written to target/tcplab/bench.md.
//!
//! Rows: the lab up and down against `ip` commands; one case end to end
//! against a careful shell script doing the seed's experiment; where that
//! case's milliseconds go; N sequential connections in one case; the
//! suite's wall time and CPU. Pairs are measured alternately in one run,
//! and medians compared. `--quick` (make bench QUICK=1) leaves the 61 s
//! case time-wait-expiry out of the suite row and the 10,000-connection
//! row out of the scale rows.
//!
//! Needs root (cargo's runner ci/as-root elevates), the built suite (its
//! path in TCPLAB_CASES_BIN, which `make bench` sets, or found with
//! `cargo test --no-run`), and tcpdump, ncat, iproute2, perf.

mod ehash;
mod lab;
mod phases;
mod pieces;
mod proc;
mod scale;
mod stats;
mod suite;
mod table;
mod teardown;
mod trace;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use tcplab::error::Error;

use table::{Row, Table};

/// Where things are.
pub struct Env {
    /// The repository (bench/seed-experiment.sh is here).
    pub root: PathBuf,
    /// The suite's test binary: target/debug/deps/cases-HASH.
    pub cases_bin: PathBuf,
    /// The project's nc, which that binary runs for `nc`.
    pub nc_bin: PathBuf,
    /// target/tcplab: where the runner writes captures and reports.
    pub out_dir: PathBuf,
    /// target/tcplab/bench: the bench's own files (outputs, traces).
    pub work: PathBuf,
}

/// The suite's binary from cargo's JSON messages (the line of the
/// `cases` test target carries `"executable":"..."`).
fn cases_from_cargo(root: &Path) -> Result<PathBuf, Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(root)
        .args([
            "test",
            "--no-run",
            "--test",
            "cases",
            "--message-format=json",
        ])
        .output()
        .map_err(|e| Error::io(format!("run {cargo} test --no-run"), e))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"name\":\"cases\""))
        .filter_map(|l| l.split("\"executable\":\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .map(PathBuf::from)
        .next_back()
        .ok_or_else(|| {
            Error::msg(format!(
                "`cargo test --no-run --test cases` named no test binary: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        })
}

fn env() -> Result<Env, Error> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cases_bin = match std::env::var_os("TCPLAB_CASES_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => cases_from_cargo(&root)?,
    };
    if !cases_bin.is_file() {
        return Err(Error::msg(format!(
            "no test binary at {}",
            cases_bin.display()
        )));
    }
    // target/debug/deps/cases-HASH -> target/debug/tcplab-nc and target/tcplab.
    let profile_dir = cases_bin
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| Error::msg("the test binary is not under target/PROFILE/deps"))?;
    let nc_bin = profile_dir.join("tcplab-nc");
    if !nc_bin.is_file() {
        return Err(Error::msg(format!(
            "no nc at {} (cargo build --bins)",
            nc_bin.display()
        )));
    }
    let out_dir = profile_dir
        .parent()
        .ok_or_else(|| Error::msg("no target directory"))?
        .join("tcplab");
    let work = out_dir.join("bench");
    std::fs::create_dir_all(&work)
        .map_err(|e| Error::io(format!("mkdir {}", work.display()), e))?;
    Ok(Env {
        root,
        cases_bin,
        nc_bin,
        out_dir,
        work,
    })
}

/// The report files a suite run left: the bench's own case runs rewrite
/// them, so they are put back at the end.
const KEPT: [&str; 3] = ["summary.md", "index.html", "teardown.pcap"];

fn save(env: &Env) -> Vec<(PathBuf, Vec<u8>)> {
    KEPT.iter()
        .map(|f| env.out_dir.join(f))
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

fn first_line(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn header(env: &Env, quick: bool) -> Vec<String> {
    let uname = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let commit = Command::new("git")
        .args(["-C"])
        .arg(&env.root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    vec![
        format!(
            "{} UTC, commit {commit}{}",
            utc_now(),
            if quick { ", QUICK=1" } else { "" }
        ),
        format!(
            "Linux {uname}, {} × {}, {} RAM, load average at start {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            first_line("/proc/cpuinfo", "model name"),
            first_line("/proc/meminfo", "MemTotal"),
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        format!(
            "case runs: {} (the debug test build `cargo test` runs); `make bench` to reproduce",
            env.cases_bin.display()
        ),
    ]
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // SAFETY: gmtime_r fills the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::gmtime_r(&secs, &mut tm) };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
}

fn step(what: &str) -> Instant {
    eprintln!("bench: {what}");
    Instant::now()
}

fn run(env: &Env, quick: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    step("lab up + down: tcplab vs 11 ip commands, 20 + 20 alternated");
    let lab = match lab::row(20) {
        Ok((row, times)) => {
            rows.push(row);
            times
        }
        Err(e) => {
            rows.push(Row::failed("lab up + down", e));
            lab::LabTimes {
                up: vec![],
                down: vec![],
            }
        }
    };
    step("teardown vs bench/seed-experiment.sh, 10 + 10 alternated");
    let untraced = match teardown::row(env, 10) {
        Ok((row, ours)) => {
            rows.push(row);
            ours
        }
        Err(e) => {
            rows.push(Row::failed("one case end to end: `teardown`", e));
            vec![]
        }
    };
    step("phases: the library's pieces in-process, sock_diag dump cost, perf trace of teardown x5");
    let pieces = pieces::measure(5, &env.work, &env.nc_bin).unwrap_or_else(|e| {
        rows.push(Row::failed("in-process pieces", e));
        pieces::Pieces::default()
    });
    let ehash = ehash::measure()
        .map_err(|e| rows.push(Row::failed("sock_diag dump cost", e)))
        .ok();
    rows.extend(phases::rows(&phases::Inputs {
        env,
        rounds: 5,
        lab: &lab,
        pieces: &pieces,
        ehash: ehash.as_ref(),
        untraced: &untraced,
    }));
    let sizes: &[usize] = if quick {
        &[10, 100, 1000]
    } else {
        &[10, 100, 1000, 10_000]
    };
    step(&format!("scale: {sizes:?} sequential connections"));
    rows.extend(scale::rows(env, sizes));
    step(if quick {
        "the suite without time-wait-expiry"
    } else {
        "the suite (about 65 s: time-wait-expiry waits 61 s)"
    });
    rows.push(suite::row(env, quick));
    rows
}

fn main() -> ExitCode {
    // cargo bench passes --bench; QUICK=1 comes from make.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    if !nix::unistd::geteuid().is_root() {
        eprintln!("bench: needs root (namespaces, capture): run `make bench`, whose cargo runner elevates with sudo -E");
        return ExitCode::FAILURE;
    }
    let env = match env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let saved = save(&env);
    let started = Instant::now();
    let header = header(&env, quick);
    let rows = run(&env, quick);
    for (path, bytes) in saved {
        let _ = std::fs::write(path, bytes);
    }
    let table = Table {
        title: "tcplab bench".into(),
        header,
        rows,
        footer: vec![
            "Pairs were run alternately (a b a b ...) and their medians compared; ratio = tcplab / other.".into(),
            "Phase rows: share of the traced total. Scale rows: the ratio column holds the capture's drop counters (the kernel's, as libpcap reports them).".into(),
            format!("The bench took {}.", stats::show(started.elapsed())),
        ],
    };
    let md = table.markdown();
    print!("{md}");
    let file = env.out_dir.join("bench.md");
    if let Err(e) = std::fs::write(&file, &md) {
        eprintln!("bench: cannot write {}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    // Under sudo, files go back to the user (as the runner does with its
    // reports), so `cargo clean` needs no root afterwards.
    tcplab::case::run::hand_back(&file);
    if let Ok(dir) = std::fs::read_dir(&env.work) {
        for e in dir.flatten() {
            let p = e.path();
            if let Ok(sub) = std::fs::read_dir(&p) {
                sub.flatten()
                    .for_each(|f| tcplab::case::run::hand_back(&f.path()));
            }
            tcplab::case::run::hand_back(&p);
        }
    }
    eprintln!("bench: table written to {}", file.display());
    if table.rows.iter().any(|r| r.tcplab == "not measured") {
        eprintln!("bench: some rows could not be measured (see their notes)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
