//! The suite: one libtest-mimic trial per file in cases/, named after it,
//! plus self-tests that pin what a failure looks like and that a panicking
//! case leaves nothing behind.
//!
//! `cargo test` runs everything; `cargo test -- teardown` filters;
//! `cargo test -- --list` lists. TCPLAB_SHOW=1 prints what each passing case
//! observed (what `make case` shows).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use tcplab::case::parse;
use tcplab::case::run::{self, Options};
use tcplab::report::{ladder, tcpdump};

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
    Ok(Options {
        nc,
        out_dir: Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("tcplab"),
        deadline,
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
    if std::env::var_os("TCPLAB_CASES").is_none() {
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
    let conclusion = libtest_mimic::run(&args, trials);
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

fn run_case(file: &Path, opts: &Options, show: bool) -> Result<(), Failed> {
    let started = std::time::Instant::now();
    let result = play_case(file, opts, show);
    record_timing(file, started.elapsed(), result.is_ok());
    result
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

fn play_case(file: &Path, opts: &Options, show: bool) -> Result<(), Failed> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", shown(file).display()))?;
    let case = parse::parse(&shown(file), &text).map_err(|e| e.to_string())?;
    let outcome = run::run(&case, opts).map_err(|f| f.0)?;
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
