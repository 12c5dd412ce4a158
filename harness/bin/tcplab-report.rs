//! `tcplab-report merge --out DIR RUN...`: one report from several runs'
//! results, as CI's last job makes it from its shards. Each RUN is a run
//! folder (`target/tcplab/runs/<id>`, holding `results/*.json`) or an
//! output root (`target/tcplab`, every run under its `runs/`). Writes
//! DIR/index.html, DIR/summary.md and the runs' captures under
//! DIR/runs/<id>/. Needs no root and no lab: it only reads files.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: tcplab-report merge --out DIR RUN_FOLDER_OR_OUTPUT_ROOT...";

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
    let (out, inputs) = match args.as_slice() {
        [cmd, flag, out, inputs @ ..]
            if cmd == "merge" && flag == "--out" && !inputs.is_empty() =>
        {
            (
                PathBuf::from(out),
                inputs.iter().map(PathBuf::from).collect::<Vec<_>>(),
            )
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match tcplab::report::runs::merge(&out, &inputs) {
        Ok((page, n)) => {
            eprintln!(
                "tcplab-report: {n} cases from {} input(s): {} and {}",
                inputs.len(),
                page.display(),
                out.join("summary.md").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tcplab-report: {e}");
            ExitCode::FAILURE
        }
    }
}
