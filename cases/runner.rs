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
//! `tcplab::report::runs`). The machinery is the library's
//! (`tcplab::Runner`, what a user's `harness = false` target runs too);
//! this target names our nc, our folders, and adds the self-tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod selftest;
mod selftest_cli;
mod selftest_command;
mod selftest_requires;

/// The package's folder: where cargo or nextest says it is at run time
/// (an archive's tests run on another machine), else where it was built.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Our nc: nextest names it at run time (NEXTEST_BIN_EXE_tcplab-nc, right
/// in an extracted archive), cargo when building.
fn our_nc() -> PathBuf {
    ["NEXTEST_BIN_EXE_tcplab-nc", "NEXTEST_BIN_EXE_tcplab_nc"]
        .iter()
        .find_map(std::env::var_os)
        .map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_tcplab-nc")),
            PathBuf::from,
        )
}

/// cases/, or the directory TCPLAB_CASES names: a user's own cases, or
/// the self-tests' small cases.
fn cases_dir() -> PathBuf {
    match std::env::var_os("TCPLAB_CASES").filter(|v| !v.is_empty()) {
        Some(dir) => tcplab::suite::files::from_where_typed(PathBuf::from(dir)),
        None => manifest_dir().join("cases"),
    }
}

/// `*.case` files of a directory, sorted.
fn case_files(dir: &Path) -> Vec<PathBuf> {
    tcplab::suite::files::case_files(dir)
}

/// Paths shown relative to the repository, as a person would type them.
fn shown(path: &Path) -> PathBuf {
    tcplab::suite::files::Place {
        base: manifest_dir(),
    }
    .shown(path)
}

/// The output root's default: `tcplab/` in the target folder the runner
/// was built in (TCPLAB_OUT wins).
fn target_out() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("tcplab")
}

fn main() -> ExitCode {
    let dir = cases_dir();
    if !dir.is_dir() {
        eprintln!(
            "tcplab: the case folder {} is not there (TCPLAB_CASES names a folder of *.case files)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    if case_files(&dir).is_empty() {
        eprintln!(
            "tcplab: no case files (*.case) in {}: nothing to run is an error, not a pass",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    selftest::quiet_deliberate_panic();
    let code = tcplab::Runner::new(dir)
        .base(manifest_dir())
        .nc(our_nc())
        .out(target_out())
        .root_hint(
            "run `make test`, or `cargo test` with sudo available (the cargo runner calls `sudo -E`)",
        )
        .record_hint(
            "TCPLAB_RECORD=1 cargo test -- --exact {name}   (or: make record NAME={name})",
        )
        // The self-tests pin failures: recording has nothing to do with
        // them, nor has a user's folder.
        .with_trials(move |opts| {
            if std::env::var_os("TCPLAB_CASES").is_some() || opts.record {
                return Vec::new();
            }
            selftest::trials(opts)
        })
        .main();
    let _ = std::fs::remove_dir_all(selftest::scratch_out());
    code
}
