//! The runner's command line against libtest's own: a matrix of argument
//! lists, each given to this runner (on cases/selftest/names, fixtures
//! named like the real cases) and to a plain `#[test]` binary with the
//! same test names (`time-wait` is `time_wait` there), must select the
//! same tests: the same names listed, the same names run with the same
//! verdicts, the same `running N tests` and `test result:` counts.
//!
//! The libtest binary is generated and compiled here with the toolchain
//! that runs the suite (`$CARGO`'s rustc), once per set of names: it is a
//! fixture, not a test of anything, so it is no target of the package
//! that `cargo test` would run beside the cases.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::Failed;

use super::{case_files, cases_dir};

/// Argument lists checked with `--list` appended (cheap), then with the
/// tests run. `fds` is the ours-only fixture: ignored in this runner (NC
/// is set) and `#[ignore]` in libtest's; `syn-retries` needs a kernel no
/// one runs, and is ignored the same way.
const LISTED: &[&[&str]] = &[
    &[],
    &["handshake"],
    &["handshake", "teardown"],
    &["handshake", "teardown", "fds"],
    &["--skip", "time-wait"],
    &["--skip", "time-wait", "--skip=data"],
    &["--exact", "handshake", "teardown"],
    &["--exact", "time-wait"],
    &[
        "--exact",
        "--skip",
        "time-wait",
        "time-wait",
        "time-wait-expiry",
    ],
    &["time", "--skip", "expiry"],
    &["data", "--test-threads", "1", "handshake"],
    &["nothing-matches"],
    &["--ignored"],
    &["--include-ignored", "data"],
    &["--format", "terse"],
    &["--format", "terse", "--ignored"],
    &["--", "teardown"],
];

const RUN: &[&[&str]] = &[
    &["handshake", "teardown"],
    &["--exact", "handshake", "time-wait"],
    &["--skip", "time-wait", "--skip", "data"],
    &["--ignored"],
    &["--include-ignored", "--skip", "time"],
    &["--exact", "handshake", "--nocapture"],
    &["-q", "--test-threads", "1", "teardown", "fds"],
];

pub fn command_line_selects_as_libtest_does() -> Result<(), Failed> {
    let fixtures = cases_dir().join("selftest/names");
    let names: Vec<(String, bool)> = case_files(&fixtures)
        .iter()
        .map(|f| {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            // Ignored: ours-only (NC is set), or needing what no kernel
            // has (the fixtures' `requires` are never met).
            let ignored = std::fs::read_to_string(f)
                .map(|t| {
                    t.lines()
                        .any(|l| l.starts_with("ours-only") || l.starts_with("requires "))
                })
                .unwrap_or(false);
            (name, ignored)
        })
        .collect();
    if names.is_empty() {
        return Err(format!("no fixtures in {}", fixtures.display()).into());
    }
    let twin = libtest_twin(&names)?;
    let out = scratch("cli");
    let ours = |args: &[String]| -> Result<std::process::Output, Failed> {
        super::selftest::inner_runner(&out)?
            .args(args)
            .env("TCPLAB_CASES", &fixtures)
            // A stand-in nc: the fixtures never start nc, and another nc
            // than ours makes the ours-only fixture an ignored trial.
            .env("NC", "/bin/true")
            .output()
            .map_err(|e| format!("run the runner: {e}").into())
    };
    let libtest = |args: &[String]| -> Result<std::process::Output, Failed> {
        Command::new(&twin)
            .args(args.iter().map(|a| twin_arg(a)))
            .output()
            .map_err(|e| format!("run {}: {e}", twin.display()).into())
    };
    let mut checked = 0;
    for (list, lists) in [(true, LISTED), (false, RUN)] {
        for args in lists {
            let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            if list {
                args.push("--list".into());
            }
            let (a, b) = (ours(&args)?, libtest(&args)?);
            let (sa, sb) = (seen(&a, list, true), seen(&b, list, false));
            if sa != sb || a.status.code() != b.status.code() {
                return Err(format!(
                    "`{}`: this runner and libtest differ\n  ours (exit {:?}): {sa:?}\n  libtest (exit {:?}): {sb:?}\nour stderr:\n{}",
                    args.join(" "),
                    a.status.code(),
                    b.status.code(),
                    String::from_utf8_lossy(&a.stderr)
                )
                .into());
            }
            checked += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    if checked != LISTED.len() + RUN.len() {
        return Err(format!("only {checked} argument lists were compared").into());
    }
    Ok(())
}

/// What a test binary's stdout says it selected, in libtest's names:
/// listed names (list mode), or `name verdict` lines and the `running`
/// and `test result:` lines without their time (run mode), sorted, since
/// threads finish in any order.
fn seen(out: &std::process::Output, list: bool, ours: bool) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let name = |n: &str| {
        if ours {
            n.trim().replace('-', "_")
        } else {
            n.trim().to_string()
        }
    };
    let mut v: Vec<String> = stdout
        .lines()
        .filter_map(|l| {
            if list {
                return l.strip_suffix(": test").map(name);
            }
            if let Some(result) = l.strip_prefix("test result: ") {
                return Some(format!(
                    "result: {}",
                    result.split("; finished").next().unwrap_or(result)
                ));
            }
            if l.starts_with("running ") {
                return Some(l.to_string());
            }
            let (n, verdict) = l.strip_prefix("test ")?.split_once(" ... ")?;
            let verdict = verdict.split([',', ' ']).next().unwrap_or(verdict);
            Some(format!("{} {verdict}", name(n)))
        })
        .collect();
    v.sort();
    v
}

/// An argument as libtest's twin takes it: names with `_` for `-`;
/// options stay as they are.
fn twin_arg(a: &str) -> String {
    if let Some(v) = a.strip_prefix("--skip=") {
        format!("--skip={}", v.replace('-', "_"))
    } else if a.starts_with('-') {
        a.to_string()
    } else {
        a.replace('-', "_")
    }
}

/// A folder under target/tmp for this process.
fn scratch(what: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tcplab-selftest-{what}-{}", std::process::id()))
}

/// The rustc of the toolchain that runs the suite: `$RUSTC`, else the one
/// beside `$CARGO` (cargo and nextest set it for test binaries), else the
/// first on PATH.
fn rustc() -> PathBuf {
    if let Some(r) = std::env::var_os("RUSTC") {
        return r.into();
    }
    if let Some(c) = std::env::var_os("CARGO") {
        let beside = Path::new(&c).with_file_name("rustc");
        if beside.is_file() {
            return beside;
        }
    }
    "rustc".into()
}

/// A libtest binary with one empty `#[test]` per name (`-` as `_`),
/// `#[ignore]` where the fixture is ours-only; compiled once per set of
/// names and kept under target/tmp.
fn libtest_twin(names: &[(String, bool)]) -> Result<PathBuf, Failed> {
    let mut src = String::from(
        "//! Generated by tcplab's selftest_cli: libtest's selection is the reference.\n",
    );
    for (n, ignored) in names {
        if *ignored {
            src.push_str("#[ignore]\n");
        }
        src.push_str(&format!("#[test]\nfn {}() {{}}\n", n.replace('-', "_")));
    }
    let key = src.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tcplab-libtest-twin");
    let bin = dir.join(format!("twin-{key:016x}"));
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join(format!("build-{}", std::process::id()));
    let file = tmp.with_extension("rs");
    std::fs::write(&file, &src).map_err(|e| format!("{}: {e}", file.display()))?;
    let rustc = rustc();
    let out = Command::new(&rustc)
        .args(["--edition", "2021", "--test", "-C", "debuginfo=0", "-o"])
        .arg(&tmp)
        .arg(&file)
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} to build the libtest reference: {e} (set RUSTC to a rustc)",
                rustc.display()
            )
        })?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        return Err(format!(
            "{} could not build the libtest reference: {}",
            rustc.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    std::fs::rename(&tmp, &bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    Ok(bin)
}
