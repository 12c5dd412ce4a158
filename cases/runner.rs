//! The suite: one libtest-mimic trial per file in cases/, named after it,
//! plus self-tests that pin what a failure looks like and that a panicking
//! case leaves nothing behind.
//!
//! `cargo test` runs everything; `cargo test -- handshake teardown` runs
//! the cases either word matches (libtest's whole command line: see
//! tcplab::cli); `cargo test -- --list` lists. TCPLAB_SHOW=1 prints what
//! each passing case observed (what `make case` shows). TCPLAB_RECORD=1
//! rewrites each case run from what it observed instead of judging it
//! (`make record`). Each run writes into its own folder (see
//! `tcplab::report::runs` and the `sink` module).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use tcplab::case::run::{self, Options};
use tcplab::case::{parse, record, Implementation};
use tcplab::report::coverage;
use tcplab::report::results::CaseResult;
use tcplab::report::{ladder, many};
use tcplab::tcpdump;

mod selftest;
mod selftest_cli;
mod selftest_requires;
mod sink;

/// The package's folder: where cargo or nextest says it is at run time
/// (an archive's tests run on another machine), else where it was built.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Our nc: nextest names it at run time (NEXTEST_BIN_EXE_nc, right in an
/// extracted archive), cargo when building.
fn our_nc() -> PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_nc")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_nc")), PathBuf::from)
}

/// cases/, or the directory TCPLAB_CASES names: a user's own cases, or
/// the self-tests' small cases.
fn cases_dir() -> PathBuf {
    match std::env::var_os("TCPLAB_CASES").filter(|v| !v.is_empty()) {
        Some(dir) => from_where_typed(PathBuf::from(dir)),
        None => manifest_dir().join("cases"),
    }
}

/// A relative path as the user meant it: from the folder they typed the
/// command in ($PWD; cargo runs tests in the package's folder, so
/// `TCPLAB_CASES=my-cases cargo test --manifest-path ...` from another
/// repository means that repository's my-cases), unless only the package's
/// folder has it.
fn from_where_typed(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from) else {
        return p;
    };
    let typed = pwd.join(&p);
    if typed.exists() || !p.exists() {
        typed
    } else {
        p
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
    path.strip_prefix(manifest_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn options() -> Result<Options, String> {
    let nc = match std::env::var("NC") {
        Ok(name) if !name.is_empty() && name != "nc" => which(&name).ok_or_else(|| {
            format!("NC={name}: no such program on PATH (install it, e.g. `apt-get install ncat`)")
        })?,
        _ => our_nc(),
    };
    let deadline = run::limits::deadline_from_env()?;
    let record = std::env::var_os("TCPLAB_RECORD").is_some_and(|v| !v.is_empty() && v != "0");
    // Any nc but ours is the differential run's: a case's `ncat:` items
    // are its, `ours:` items are skipped.
    let implementation = if nc == our_nc() {
        Implementation::Ours
    } else {
        Implementation::Ncat
    };
    Ok(Options {
        nc,
        implementation,
        kernel: tcplab::kernel::Kernel::running(),
        // The run's own folder, set once the run is opened (sink::open).
        out_dir: sink::out_root(),
        deadline,
        case_timeout: run::limits::case_timeout_from_env()?,
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
    let (mut args, selection) = tcplab::cli::parse(std::env::args_os());
    // First of all: no lab is made until it is taken.
    let before = (!args.list).then(host_before);
    if let Err(e) = tcplab::interrupt::install() {
        eprintln!("tcplab: {e}");
        return ExitCode::FAILURE;
    }
    let dir = cases_dir();
    if !dir.is_dir() {
        eprintln!(
            "tcplab: the case folder {} is not there (TCPLAB_CASES names a folder of *.case files)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let files = case_files(&dir);
    if files.is_empty() {
        eprintln!(
            "tcplab: no case files (*.case) in {}: nothing to run is an error, not a pass",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let listing = args.list;
    let files = match listing {
        true => files,
        false => longest_first(files, |name| selection.keeps(name)),
    };
    if !listing {
        if let Some(why) = precondition() {
            eprintln!("{why}");
            return ExitCode::FAILURE;
        }
    }
    let mut opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tcplab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let differential = opts.implementation == Implementation::Ncat;
    // Captures and results go to this run's own folder; listing writes
    // nothing.
    let sink = match (!listing).then(|| sink::Sink::open(&opts, differential)) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("tcplab: {e}");
            return ExitCode::FAILURE;
        }
        None => sink::Sink::listing(),
    };
    opts.out_dir = sink.dir().to_path_buf();
    let ignore_note = !listing && !args.ignored && !args.include_ignored;
    let mut trials = case_trials(files, &opts, &sink, |name| {
        ignore_note && selection.keeps(name)
    });
    // The self-tests pin failures: recording has nothing to do with them.
    if std::env::var_os("TCPLAB_CASES").is_none() && !opts.record {
        trials.extend(selftest::trials(&opts));
    }
    selftest::quiet_deliberate_panic();
    tcplab::cli::hand_over(&mut args, &selection, &trials);
    if listing {
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if tcplab::interrupt::await_teardown(std::time::Duration::from_secs(30)) {
        return ExitCode::FAILURE;
    }
    // The run's report is written while the host is read again.
    let report = std::thread::spawn(move || sink.assemble());
    let unchanged = host_unchanged(&before);
    let _ = report.join();
    let _ = std::fs::remove_dir_all(selftest::scratch_out());
    if !unchanged {
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

/// The files in the order their trials should start: the longest cases
/// first (libtest-mimic starts trials in the order given, two at a time
/// here), so a 61-second case does not start last and make the run wait
/// for it alone. A case's least duration is read from its file (the
/// latest start of its timing windows); only when the run keeps more than
/// one case, so a single case's start pays nothing for it.
fn longest_first(mut files: Vec<PathBuf>, kept: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let name = |f: &PathBuf| {
        f.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    if files.iter().filter(|f| kept(&name(f))).count() < 2 {
        return files;
    }
    let least = |f: &PathBuf| -> std::time::Duration {
        use tcplab::case::ItemKind;
        let Some(case) = parse::read(f, &shown(f))
            .ok()
            .and_then(|t| parse::parse(&shown(f), &t).ok())
        else {
            return std::time::Duration::ZERO;
        };
        let lows = case.items.iter().flat_map(|i| match &i.kind {
            ItemKind::Wait { at: Some(w), .. } => vec![w.lo],
            ItemKind::Packets(alts) | ItemKind::PacketsEach { alts, .. } => alts
                .iter()
                .flatten()
                .filter_map(|p| p.timing.map(|t| t.window().lo))
                .collect(),
            _ => vec![],
        });
        lows.max().unwrap_or_default()
    };
    let mut keyed: Vec<_> = files.drain(..).map(|f| (least(&f), f)).collect();
    keyed.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
    keyed.into_iter().map(|(_, f)| f).collect()
}

/// One trial per case file. A case the run leaves out is an ignored
/// trial (libtest's `--include-ignored` runs it anyway), decided when the
/// trials are listed so that a listing and a run agree: one pinning a
/// documented difference from ncat in a run with another nc (`ours-only`),
/// one needing what this kernel lacks (`requires ...`). Where `note` says
/// so (it would be ignored, not left out by a filter) the run says why and
/// its report shows the case as skipped with the reason.
fn case_trials(
    files: Vec<PathBuf>,
    opts: &Options,
    sink: &sink::Sink,
    note: impl Fn(&str) -> bool,
) -> Vec<Trial> {
    let show = std::env::var_os("TCPLAB_SHOW").is_some_and(|v| v != "0");
    files
        .into_iter()
        .map(|file| {
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            // Bounded and never blocking; a file that cannot be read or
            // parsed stays a trial, which fails on its own.
            let skipped = parse::read(&file, &shown(&file))
                .ok()
                .and_then(|t| parse::parse(&shown(&file), &t).ok())
                .and_then(|c| c.skipped(opts.implementation, &opts.kernel));
            if let Some(why) = skipped.as_ref().filter(|_| note(&name)) {
                match why.strip_prefix("ours-only: ") {
                    Some(reason) => eprintln!(
                        "tcplab: {name} ignored with NC={}: {reason} (--include-ignored runs it)",
                        opts.nc.display(),
                    ),
                    None => eprintln!("tcplab: {name} skipped: {why}"),
                }
                sink.skipped(&file, &shown(&file).display().to_string(), why);
            }
            let (opts, sink) = (opts.clone(), sink.clone());
            Trial::test(name, move || run_case(&file, &opts, show, &sink))
                .with_ignored_flag(skipped.is_some())
        })
        .collect()
}

/// The host's two snapshots before the run, once taken: its links,
/// addresses, routes, qdiscs and ruleset, and its sysctls.
#[derive(Clone, Default)]
struct Before {
    links: std::sync::Arc<std::sync::OnceLock<Vec<String>>>,
    sysctls: std::sync::Arc<std::sync::OnceLock<Vec<String>>>,
}

/// The host namespace must come out of the run exactly as it went in: its
/// links, addresses, routes, qdiscs and ruleset are read while the run
/// starts up, before any namespace is made (`netns::GATE`); its sysctls
/// (five times slower to read) just before this process writes its first
/// sysctl (`sysctl::before_first_write`), by runs that write one.
fn host_before() -> Before {
    let before = Before::default();
    let taken = before.links.clone();
    tcplab::netns::GATE.until(std::thread::spawn(move || {
        let snap = tcplab::hostnet::links()
            .map_err(|e| format!("cannot read the host's links, addresses and routes: {e}"))?;
        let _ = taken.set(snap);
        Ok(())
    }));
    let taken = before.sysctls.clone();
    tcplab::sysctl::before_first_write(move || {
        let _ = taken.set(tcplab::hostnet::sysctls());
        Ok(())
    });
    before
}

/// Whether the host namespace came out of the run exactly as it went in;
/// says what changed when it did not. Its sysctls are read again only when
/// this process wrote a sysctl (in a lab namespace: `sysctl::write`); the
/// CI's ci/check-host-untouched reads them all around every suite.
fn host_unchanged(before: &Option<Before>) -> bool {
    let sysctls_too = tcplab::sysctl::writes() > 0;
    if let Err(e) = tcplab::netns::GATE.pass() {
        eprintln!("tcplab: {e}");
        return false;
    }
    let Some(before) = before.as_ref() else {
        return false;
    };
    let Some(links) = before.links.get() else {
        return false;
    };
    let sysctls = match before.sysctls.get() {
        Some(s) => s.as_slice(),
        None if sysctls_too => return false,
        None => &[],
    };
    let after = std::thread::scope(|s| {
        let sysctls = s.spawn(|| sysctls_too.then(tcplab::hostnet::sysctls));
        let links = tcplab::hostnet::links();
        (links, sysctls.join().ok().flatten())
    });
    match after {
        (Ok(after_links), after_sysctls) => {
            let mut changed = tcplab::hostnet::diff(links, &after_links);
            if let Some(after_sysctls) = after_sysctls {
                changed.extend(tcplab::hostnet::diff(sysctls, &after_sysctls));
            }
            if !changed.is_empty() {
                eprintln!("tcplab: the host namespace changed during the run (links, addresses, routes, qdiscs, ruleset or sysctls):");
                for l in &changed {
                    eprintln!("  {l}");
                }
            }
            changed.is_empty()
        }
        (Err(e), _) => {
            eprintln!(
                "tcplab: cannot read the host's links, addresses and routes after the run: {e}"
            );
            false
        }
    }
}

fn run_case(file: &Path, opts: &Options, show: bool, sink: &sink::Sink) -> Result<(), Failed> {
    let started = std::time::Instant::now();
    let mut r = sink.result_for(file, &shown(file).display().to_string());
    let result = play_case(file, opts, show, &mut r);
    record_timing(file, started.elapsed(), result.is_ok());
    r.passed = result.is_ok();
    r.seconds = started.elapsed().as_secs_f64();
    r.failure = result.as_ref().err().map(|e| e.to_string());
    sink.write(&r);
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
    report: &mut CaseResult,
) -> Result<(), String> {
    let text = parse::read(file, &shown(file)).map_err(|e| e.to_string())?;
    let case = parse::parse(&shown(file), &text).map_err(|e| e.to_string())?;
    report.pcap = Some(format!("{}.pcap", case.name));
    let outcome = run::run(&case, opts).map_err(|f| {
        // Only a block that did not hold is mended by recording: a setup
        // error, a step, the time limit, a rule that never acted, traffic
        // on another port or an incomplete capture are not.
        if opts.record || !f.cause.recordable() {
            return f.text;
        }
        format!(
            "{}\n  to record this run as the new expectation: TCPLAB_RECORD=1 cargo test -- --exact {name}   (or: make record NAME={name})",
            f.text.trim_end(),
            name = case.name
        )
    })?;
    // Many connections: the first and the last in full, the rest counted.
    report.ladder = many::ladder(
        &outcome.packets,
        &outcome.events,
        &ladder::LadderOptions::default(),
    );
    report.packets = many::tcpdump_lines(&outcome.packets);
    report.log = outcome.log.clone();
    if opts.record {
        return write_recorded(file, &case, &text, &outcome);
    }
    // Our packet lines must be tcpdump's, to the character: a check of
    // tcplab itself, not of the case, so it runs where asked
    // (TCPLAB_TCPDUMP_CHECK=1: ci/test and the CI shards) and with `make
    // case`, which prints the count; a run of tcpdump per case (4 to 15
    // ms) stays out of everyday runs.
    let same = if show || tcpdump_check() {
        let n = tcpdump::cross_check(&outcome.pcap, &outcome.packets).map_err(|e| {
            format!(
                "{}: our packet lines differ from tcpdump's: {e}",
                shown(file).display()
            )
        })?;
        Some(n)
    } else {
        None
    };
    if let (true, Some(same)) = (show, same) {
        print!("{}", render(&case.name, &outcome, same));
    }
    // What counts is what ran: an item marked for the other nc did not.
    let played = tcplab::case::Case {
        items: case
            .items_played(opts.implementation, &opts.kernel)
            .cloned()
            .collect(),
        ..case.clone()
    };
    report.states = coverage::names(&coverage::states_of(&played, &outcome.observed));
    Ok(())
}

/// TCPLAB_TCPDUMP_CHECK=1: every passing case's packet lines are compared
/// with what `tcpdump -nn -r` prints for its capture.
fn tcpdump_check() -> bool {
    std::env::var_os("TCPLAB_TCPDUMP_CHECK").is_some_and(|v| !v.is_empty() && v != "0")
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
    t += &many::ladder(&o.packets, &o.events, &ladder::LadderOptions::default());
    t += &format!(
        "\n== {name}: {} packets on the server's veth, as `tcpdump -nn -r {}` prints them ({same} lines identical)\n",
        o.packets.len(),
        shown(&o.pcap).display()
    );
    for l in many::tcpdump_lines(&o.packets) {
        t += &format!("  {l}\n");
    }
    t
}
