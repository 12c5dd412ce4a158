//! `tcplab-report merge --out DIR RUN...`: one report from several runs'
//! results, as CI's last job makes it from its shards. Each RUN is a run
//! folder (`target/tcplab/runs/<id>`, holding `results/*.json`) or an
//! output root (`target/tcplab`, every run under its `runs/`). Writes
//! DIR/index.html, DIR/summary.md, DIR/junit.xml and the runs' captures
//! under `DIR/runs/<id>/`. Needs no root and no lab: it only reads files.
//! `tcplab merge --out DIR RUN...` is the same.
//!
//! `tcplab-report kernels --out DIR RUN...`: the same for the runs of the
//! kernel matrix (ci/kernels: a run folder per kernel, with kernel.json
//! and each test binary's output), with the kernel × case table first in
//! both pages; prints that table, and exits 1 if a kernel did not boot or
//! a test failed on one. A test that failed and then passed on a retry
//! (`ci/kernels --retries`) is flaky: listed, not a failure.
//!
//! `tcplab-report failed RUN`: the exact names of the tests that failed in
//! one kernel's run folder, one a line (what `ci/kernels --retries` runs
//! again); nothing if none failed. Exits 3, saying why on stderr, if
//! something failed there that is not a test (the VM did not boot or
//! finish, a binary ended early): a retry of tests would not clear it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tcplab::report::kernels::retry::ToRetry;

const USAGE: &str = "usage: tcplab-report merge|kernels --out DIR RUN_FOLDER_OR_OUTPUT_ROOT...\n       tcplab-report failed RUN_FOLDER";

/// `failed RUN`: see the module's doc.
fn failed(dir: &Path) -> ExitCode {
    let col = match tcplab::report::kernels::Column::read(dir) {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!(
                "tcplab-report: {}: not a kernel matrix run (no {})",
                dir.display(),
                tcplab::report::kernels::KERNEL_FILE
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("tcplab-report: {e}");
            return ExitCode::FAILURE;
        }
    };
    match tcplab::report::kernels::retry::to_retry(&col) {
        ToRetry::Tests(names) => {
            for n in names {
                println!("{n}");
            }
            ExitCode::SUCCESS
        }
        ToRetry::Not(why) => {
            eprintln!("tcplab-report: {}: {why}", dir.display());
            ExitCode::from(3)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "{USAGE}\n\n{}",
            include_str!("tcplab-report.rs")
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim_start())
                .collect::<Vec<_>>()
                .join("\n")
        );
        return ExitCode::SUCCESS;
    }
    if let [cmd, dir] = args.as_slice() {
        if cmd == "failed" {
            return failed(Path::new(dir));
        }
    }
    let (cmd, out, inputs) = match args.as_slice() {
        [cmd, flag, out, inputs @ ..]
            if (cmd == "merge" || cmd == "kernels") && flag == "--out" && !inputs.is_empty() =>
        {
            (
                cmd.as_str(),
                PathBuf::from(out),
                inputs.iter().map(PathBuf::from).collect::<Vec<_>>(),
            )
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let merged = match tcplab::report::runs::merge(&out, &inputs) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("tcplab-report: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pages = format!(
        "{}, {} and {}",
        merged.page.display(),
        out.join("summary.md").display(),
        out.join(tcplab::report::runs::JUNIT).display()
    );
    if cmd == "merge" {
        eprintln!(
            "tcplab-report: {} cases from {} input(s): {pages}",
            merged.cases,
            inputs.len()
        );
        return ExitCode::SUCCESS;
    }
    let Some(m) = merged.matrix else {
        eprintln!("tcplab-report: none of the runs is a kernel matrix run (no kernel.json in it)");
        return ExitCode::FAILURE;
    };
    print!("{}", tcplab::report::kernels::render::text(&m));
    println!("report: {pages}");
    if m.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
