//! The suite: one libtest-mimic trial per file in cases/, named after it,
//! plus self-tests that pin what a failure looks like and that a panicking
//! case leaves nothing behind.
//!
//! `cargo test` runs everything; `cargo test -- teardown` filters;
//! `cargo test -- --list` lists. TCPLAB_SHOW=1 prints what each passing case
//! observed (what `make case` shows). TCPLAB_RECORD=1 rewrites each case
//! run from what it observed instead of judging it (`make record`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use tcplab::case::run::{self, Options};
use tcplab::case::{parse, record};
use tcplab::report::coverage::Coverage;
use tcplab::report::html::{self, CaseReport, RunInfo};
use tcplab::report::{ladder, summary, tcpdump};

mod selftest;

/// cases/, or the directory TCPLAB_CASES names (the self-tests run the
/// runner on their own small cases this way).
fn cases_dir() -> PathBuf {
    match std::env::var_os("TCPLAB_CASES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("cases"),
    }
}

/// `*.case` files of a directory, sorted.
fn case_files(dir: &Path) -> Vec<PathBuf> {
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

/// Paths shown relative to the repository, as a person would type them.
fn shown(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn options() -> Result<Options, String> {
    let nc = match std::env::var("NC") {
        Ok(name) if !name.is_empty() && name != "nc" => which(&name).ok_or_else(|| {
            format!("NC={name}: no such program on PATH (install it, e.g. `apt-get install ncat`)")
        })?,
        _ => PathBuf::from(env!("CARGO_BIN_EXE_nc")),
    };
    let deadline = std::env::var("TCPLAB_DEADLINE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis);
    let record = std::env::var_os("TCPLAB_RECORD").is_some_and(|v| !v.is_empty() && v != "0");
    Ok(Options {
        nc,
        out_dir: Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("tcplab"),
        deadline,
        record,
    })
}

fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// One line saying what is missing and how to run, or None when the lab
/// can be built here.
fn precondition() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(
            "tcplab: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for namespaces, CAP_NET_RAW for capture): \
             run `make test`, or `cargo test` with sudo available (the cargo runner calls `sudo -E`)"
                .into(),
        );
    }
    if !Path::new("/proc/self/ns/net").exists() {
        return Some(
            "tcplab: this kernel has no network namespaces (CONFIG_NET_NS): cases cannot run here"
                .into(),
        );
    }
    None
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    if let Err(e) = tcplab::interrupt::install() {
        eprintln!("tcplab: {e}");
        return ExitCode::FAILURE;
    }
    let files = case_files(&cases_dir());
    if files.is_empty() {
        eprintln!(
            "tcplab: no case files (*.case) in {}: nothing to run is an error, not a pass",
            cases_dir().display()
        );
        return ExitCode::FAILURE;
    }
    let listing = args.list;
    if !listing {
        if let Some(why) = precondition() {
            eprintln!("{why}");
            return ExitCode::FAILURE;
        }
    }
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tcplab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let show = std::env::var_os("TCPLAB_SHOW").is_some_and(|v| v != "0");
    let differential = opts.nc != Path::new(env!("CARGO_BIN_EXE_nc"));
    let mut trials: Vec<Trial> = Vec::new();
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        if differential {
            // A case pinning a documented difference from ncat is left out
            // of a run with another nc, and the run says so.
            let ours_only = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| parse::parse(&shown(&file), &t).ok())
                .and_then(|c| c.ours_only);
            if let Some(why) = ours_only {
                if !listing {
                    eprintln!(
                        "tcplab: {name} not run with NC={}: {why}",
                        opts.nc.display()
                    );
                }
                continue;
            }
        }
        let opts = opts.clone();
        trials.push(Trial::test(name, move || run_case(&file, &opts, show)));
    }
    // The self-tests pin failures: recording has nothing to do with them.
    if std::env::var_os("TCPLAB_CASES").is_none() && !opts.record {
        trials.extend(selftest::trials(&opts));
    }
    selftest::quiet_deliberate_panic();
    if listing {
        return libtest_mimic::run(&args, trials).exit_code();
    }
    // The host namespace must come out of the run exactly as it went in.
    let before = match tcplab::hostnet::snapshot() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcplab: cannot read the host's links, addresses and routes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = format!("{} UTC", utc_now());
    let clock = std::time::Instant::now();
    let conclusion = libtest_mimic::run(&args, trials);
    write_run_report(&opts, &started, clock.elapsed().as_secs_f64());
    match tcplab::hostnet::snapshot() {
        Ok(after) => {
            let changed = tcplab::hostnet::diff(&before, &after);
            if !changed.is_empty() {
                eprintln!("tcplab: the host namespace changed during the run (links, addresses or routes):");
                for l in changed {
                    eprintln!("  {l}");
                }
                return ExitCode::FAILURE;
            }
        }
        Err(e) => {
            eprintln!(
                "tcplab: cannot read the host's links, addresses and routes after the run: {e}"
            );
            return ExitCode::FAILURE;
        }
    }
    conclusion.exit_code()
}

/// Every case's report, for the run's HTML page and Markdown summary.
static REPORTS: Mutex<Vec<CaseReport>> = Mutex::new(Vec::new());

/// The TCP states the passing cases asserted (report::coverage).
static COVERAGE: Mutex<Coverage> = Mutex::new(Coverage::new());

fn run_case(file: &Path, opts: &Options, show: bool) -> Result<(), Failed> {
    let started = std::time::Instant::now();
    let mut report = CaseReport {
        name: file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        file: shown(file).display().to_string(),
        ..Default::default()
    };
    let result = play_case(file, opts, show, &mut report);
    record_timing(file, started.elapsed(), result.is_ok());
    report.passed = result.is_ok();
    report.seconds = started.elapsed().as_secs_f64();
    report.failure = result.as_ref().err().map(|e| e.to_string());
    REPORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(report);
    result.map_err(|text| Failed::from(colour(&text)))
}

/// The failure text with its first line in bold and the `>>` divergence
/// lines in red, when the output is a terminal and NO_COLOR is not set;
/// unchanged otherwise (pipes, CI logs, files).
fn colour(text: &str) -> String {
    use std::io::IsTerminal;
    let wanted = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    if !wanted {
        return text.to_string();
    }
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("\x1b[1m{l}\x1b[0m")
            } else if l.trim_start().starts_with(">>") {
                format!("\x1b[31m{l}\x1b[0m")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes index.html and summary.md beside the captures (target/tcplab/),
/// so the page links each .pcap by its name.
fn write_run_report(opts: &Options, started: &str, seconds: f64) {
    let mut cases = std::mem::take(&mut *REPORTS.lock().unwrap_or_else(|e| e.into_inner()));
    // The self-tests' child runners (TCPLAB_CASES) must not overwrite the
    // report of the run that started them.
    if cases.is_empty() || std::env::var_os("TCPLAB_CASES").is_some() {
        return;
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    let run = RunInfo {
        started: started.to_string(),
        nc: opts.nc.display().to_string(),
        kernel: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        seconds,
    };
    match (
        html::write_html(&opts.out_dir, &run, &cases),
        summary::write_markdown(&opts.out_dir, &run, &cases),
    ) {
        (Ok(page), Ok(md)) => {
            let coverage = COVERAGE.lock().unwrap_or_else(|e| e.into_inner()).clone();
            eprintln!("tcplab: {coverage}");
            let _ = coverage.append_to(&md);
            run::hand_back(&page);
            run::hand_back(&md);
            eprintln!(
                "tcplab: report {} (summary {})",
                shown(&page).display(),
                shown(&md).display()
            );
        }
        (Err(e), _) | (_, Err(e)) => eprintln!(
            "tcplab: cannot write the run report in {}: {e}",
            opts.out_dir.display()
        ),
    }
}

/// With TCPLAB_TIMINGS=FILE, appends `case<TAB>seconds<TAB>ok|FAILED` for
/// each case run: `make soak` reads it for its table.
fn record_timing(file: &Path, took: Duration, ok: bool) {
    let Some(path) = std::env::var_os("TCPLAB_TIMINGS") else {
        return;
    };
    let name = file.file_stem().unwrap_or_default().to_string_lossy();
    let line = format!(
        "{name}\t{:.4}\t{}\n",
        took.as_secs_f64(),
        if ok { "ok" } else { "FAILED" }
    );
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}

fn play_case(
    file: &Path,
    opts: &Options,
    show: bool,
    report: &mut CaseReport,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", shown(file).display()))?;
    let case = parse::parse(&shown(file), &text).map_err(|e| e.to_string())?;
    report.pcap = Some(format!("{}.pcap", case.name));
    let outcome = run::run(&case, opts).map_err(|f| {
        if opts.record {
            return f.0;
        }
        format!(
            "{}\n  to record this run as the new expectation: TCPLAB_RECORD=1 cargo test -- --exact {name}   (or: make record NAME={name})",
            f.0.trim_end(),
            name = case.name
        )
    })?;
    report.ladder = ladder::draw(
        &outcome.packets,
        &outcome.events,
        &ladder::LadderOptions::default(),
    );
    report.packets = tcpdump::lines(&outcome.packets);
    report.log = outcome.log.clone();
    if opts.record {
        return write_recorded(file, &case, &text, &outcome);
    }
    // Our packet lines must be tcpdump's, to the character.
    let same = tcpdump::cross_check(&outcome.pcap, &outcome.packets).map_err(|e| {
        format!(
            "{}: our packet lines differ from tcpdump's: {e}",
            shown(file).display()
        )
    })?;
    if show {
        print!("{}", render(&case.name, &outcome, same));
    }
    COVERAGE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(&case, &outcome.observed);
    Ok(())
}

/// Record mode: rewrites the case file from what the run observed, and
/// says what changed. The trial passes once the file is written.
fn write_recorded(
    file: &Path,
    case: &tcplab::case::Case,
    text: &str,
    outcome: &run::Outcome,
) -> Result<(), String> {
    let rec = record::record(case, text, &outcome.observed);
    if rec.text != text {
        std::fs::write(file, &rec.text)
            .map_err(|e| format!("{}: cannot write: {e}", shown(file).display()))?;
    }
    let mut t = String::new();
    for w in &rec.warnings {
        t += &format!("warning: {w}\n");
    }
    t += &format!(
        "recorded {} ({} blocks changed)\n",
        shown(file).display(),
        rec.changed
    );
    print!("{t}");
    Ok(())
}

/// What `make case` prints for a passing case: the steps as they ran, the
/// ladder, and the packets as tcpdump prints them.
fn render(name: &str, o: &run::Outcome, same: usize) -> String {
    let mut t = format!("\n== {name}: steps\n");
    for l in &o.log {
        t += &format!("  {l}\n");
    }
    t += &format!("\n== {name}: the exchange, drawn from the capture\n\n");
    t += &ladder::draw(&o.packets, &o.events, &ladder::LadderOptions::default());
    t += &format!(
        "\n== {name}: {} packets on the server's veth, as `tcpdump -nn -r {}` prints them ({same} lines identical)\n",
        o.packets.len(),
        shown(&o.pcap).display()
    );
    for l in tcpdump::lines(&o.packets) {
        t += &format!("  {l}\n");
    }
    t
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, for the report's header.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // SAFETY: gmtime_r fills the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::gmtime_r(&secs, &mut tm) };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}
