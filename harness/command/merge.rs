//! `tcplab merge --out DIR RUN...` (as `tcplab-report merge`, which CI's
//! workflow calls): one report from several runs' results, as CI's last
//! job makes it from its shards. Each RUN is a run folder
//! (`target/tcplab/runs/<id>`, holding `results/*.json`) or an output
//! root (`target/tcplab`, every run under its `runs/`). Writes
//! DIR/index.html, DIR/summary.md, DIR/junit.xml and the runs' captures
//! under `DIR/runs/<id>/`. Needs no root and no lab: it only reads files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command as Cli};

pub(super) fn command() -> Cli {
    Cli::new("merge")
        .about("Merge several runs' results (CI shards) into one report")
        .arg(
            Arg::new("out")
                .long("out")
                .value_name("DIR")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("Where the merged index.html, summary.md and junit.xml go"),
        )
        .arg(
            Arg::new("runs")
                .value_name("RUN_FOLDER_OR_OUTPUT_ROOT")
                .num_args(1..)
                .required(true)
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(PathBuf)),
        )
}

pub(super) fn main(m: &ArgMatches) -> ExitCode {
    let out = m.get_one::<PathBuf>("out").cloned().unwrap_or_default();
    let inputs: Vec<PathBuf> = m
        .get_many::<PathBuf>("runs")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    merge("tcplab", &out, &inputs)
}

/// Merges `inputs` into `out` and says so on stderr, as `prog`.
fn merge(prog: &str, out: &std::path::Path, inputs: &[PathBuf]) -> ExitCode {
    match crate::report::runs::merge(out, inputs) {
        Ok(m) => {
            eprintln!(
                "{prog}: {} cases from {} input(s): {}, {} and {}",
                m.cases,
                inputs.len(),
                m.page.display(),
                out.join("summary.md").display(),
                out.join(crate::report::runs::JUNIT).display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{prog}: {e}");
            ExitCode::FAILURE
        }
    }
}
