//! The `tcplab` command (harness/bin/tcplab.rs): folders of cases run the
//! way `cargo test` runs tcplab's own, with no checkout and no cargo.
//!
//! ```text
//! tcplab run [DIR|FILE...] [FILTER...] [libtest options]
//! tcplab record [DIR|FILE...] [FILTER...]
//! tcplab list [DIR|FILE...] [FILTER...]
//! tcplab merge --out DIR RUN...
//! tcplab new NAME
//! tcplab kernels [KERNEL...]     (ci/kernels of a tcplab checkout)
//! ```
//!
//! `run`, `record` and `list` hand the cases and libtest's command line to
//! [`crate::Runner`]: the same selection, output, report and JUnit as
//! `cargo test`. Not root, `run` and `record` run themselves through
//! `sudo -E` first (as a test target does), PATH kept.

mod kernels;
mod merge;
mod new;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command as Cli};

pub use new::STARTER;

const ABOUT: &str = "TCP's life cycle as assertable cases: each case file runs in two network \
namespaces of its own (client 192.168.2.105, server 192.168.2.100) with real processes and a capture.";

const AFTER: &str = "\
A DIR is a folder of *.case files, a FILE one case; with none, the working folder. Every other
word is a filter, as `cargo test` takes them (a case runs when any filter is part of its name;
--exact: the whole name), and libtest's options pass through: --skip NAME, --exact, --ignored,
--include-ignored, --test-threads N, -q, --nocapture, --list; `--format junit` prints JUnit
XML on stdout (the run's lines go to stderr). After `--`, every word is a filter.

Each run writes its captures, results, report (index.html, summary.md) and junit.xml into
$TCPLAB_OUT/runs/<id>/ (default: ~/.cache/tcplab). NC=ncat runs the cases with another nc.";

fn command() -> Cli {
    let passthrough = |name: &'static str, help: &'static str| {
        Cli::new(name)
            .about(help)
            .override_usage(format!("tcplab {name} [DIR|FILE...] [FILTER...] [OPTIONS]"))
            .arg(
                Arg::new("args")
                    .value_name("DIR|FILE|FILTER|OPTION")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true)
                    .value_parser(clap::value_parser!(OsString))
                    .action(ArgAction::Append),
            )
    };
    Cli::new("tcplab")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER)
        .subcommand_required(true)
        .subcommand(
            passthrough("run", "Run cases, as `cargo test` does")
                .disable_help_flag(true)
                .after_help(AFTER),
        )
        .subcommand(
            passthrough(
                "record",
                "Run cases and rewrite their blocks from what they observed",
            )
            .disable_help_flag(true),
        )
        .subcommand(
            passthrough("list", "List the cases, as `cargo test -- --list` does")
                .disable_help_flag(true),
        )
        .subcommand(merge::command())
        .subcommand(new::command())
        .subcommand(
            passthrough(
                "kernels",
                "tcplab's own suite on other kernels, each booted in a VM (ci/kernels of a checkout)",
            )
            .override_usage("tcplab kernels [KERNEL...] [--jobs N] [--repeat N]   (ci/kernels --help)")
            .disable_help_flag(true),
        )
}

/// The `tcplab` command's `main`.
pub fn main() -> ExitCode {
    // Started as tcplab-nc (a link to this binary): be nc, and nothing
    // else first.
    if let Some(code) = crate::suite::nc_dispatch() {
        return code;
    }
    let m = command().get_matches();
    let (sub, m) = m.subcommand().expect("subcommand_required");
    let rest = || -> Vec<OsString> {
        m.get_many::<OsString>("args")
            .map(|v| v.cloned().collect())
            .unwrap_or_default()
    };
    match sub {
        "run" | "record" | "list" if wants_help(&rest()) => {
            let _ = command()
                .find_subcommand_mut(sub)
                .map(|c| c.print_long_help());
            ExitCode::SUCCESS
        }
        "run" => cases(Kind::Run, rest()),
        "record" => cases(Kind::Record, rest()),
        "list" => cases(Kind::List, rest()),
        "merge" => merge::main(m),
        "kernels" => kernels::main(rest()),
        "new" => new::main(m),
        other => unreachable!("subcommand {other}"),
    }
}

/// `-h` or `--help` before any `--`.
fn wants_help(args: &[OsString]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Run,
    Record,
    List,
}

/// `run`, `record`, `list`: the sources taken out of the words, the rest
/// given to the runner as libtest's command line.
fn cases(kind: Kind, words: Vec<OsString>) -> ExitCode {
    let (sources, mut libtest) = split(words);
    if kind == Kind::List {
        libtest.push("--list".into());
    } else {
        // The output goes where the user who typed the command looks,
        // also once sudo has changed HOME.
        if std::env::var_os("TCPLAB_OUT").is_none_or(|v| v.is_empty()) {
            std::env::set_var("TCPLAB_OUT", default_out());
        }
        let argv: Vec<OsString> = std::env::args_os().collect();
        if let Some(why) = crate::suite::elevate_through_sudo(&argv) {
            eprintln!("tcplab: {why}");
        }
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    if sources.is_empty() && crate::suite::files::case_files(&cwd).is_empty() {
        // `tcplab run tcp-cases` before the folder exists: the word was
        // taken as a filter; say so rather than "no case files in .".
        let words: Vec<_> = libtest
            .iter()
            .map(|w| w.to_string_lossy())
            .filter(|w| !w.starts_with('-'))
            .collect();
        if !words.is_empty() {
            eprintln!(
                "tcplab: no case files (*.case) in {}, and no file or folder named {}: \
                 give the folder of your cases (`tcplab new DIR/NAME` writes a first one)",
                cwd.display(),
                words.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let sources = if sources.is_empty() {
        vec![cwd.clone()]
    } else {
        sources.iter().map(|s| cwd.join(s)).collect()
    };
    let typed: Vec<String> = sources
        .iter()
        .map(|s| shown(s, &cwd).display().to_string())
        .collect();
    let mut argv = vec![OsString::from("tcplab")];
    argv.extend(libtest);
    let mut runner = crate::Runner::new(sources[0].clone())
        .base(cwd.clone())
        .args(argv)
        .record(kind == Kind::Record)
        .root_hint("run it as root, or install sudo (tcplab then runs itself through `sudo -E`)")
        .record_hint(format!(
            "tcplab record {} --exact {{name}}",
            typed.join(" ")
        ));
    for s in &sources[1..] {
        runner = runner.cases(s.clone());
    }
    runner.main()
}

/// `path` relative to `cwd` when beneath it.
fn shown(path: &Path, cwd: &Path) -> PathBuf {
    if cwd.parent().is_none() {
        return path.to_path_buf();
    }
    match path.strip_prefix(cwd) {
        Ok(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Ok(p) => p.to_path_buf(),
        Err(_) => path.to_path_buf(),
    }
}

/// The words of `run`: a word that names a file or folder, holds a `/`
/// or ends in `.case` is a source (a mistyped folder is an error, never
/// a filter that matches nothing); an option (and the value of one that
/// takes it) and any other word are libtest's, a word after `--` always.
fn split(words: Vec<OsString>) -> (Vec<PathBuf>, Vec<OsString>) {
    let mut sources = Vec::new();
    let mut libtest = Vec::new();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let s = w.to_string_lossy().into_owned();
        if s == "--" {
            libtest.push(w);
            libtest.extend(it.by_ref());
            break;
        }
        if s.len() > 1 && s.starts_with('-') {
            let valued = crate::cli::takes_value(&s);
            libtest.push(w);
            if valued {
                libtest.extend(it.next());
            }
        } else if s.ends_with(".case") || s.contains('/') || Path::new(&w).exists() {
            sources.push(PathBuf::from(w));
        } else {
            libtest.push(w);
        }
    }
    (sources, libtest)
}

/// The output root of the command: `$XDG_CACHE_HOME/tcplab`, else
/// `~/.cache/tcplab` of the user who typed it (SUDO_UID's under sudo),
/// else under the system's temporary folder.
fn default_out() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("tcplab");
    }
    let sudo_home = crate::report::runs::sudo_owner()
        .and_then(|(uid, _)| nix::unistd::User::from_uid(uid.into()).ok().flatten())
        .map(|u| u.dir);
    sudo_home
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
        .filter(|h| h.is_absolute())
        .map(|h| h.join(".cache").join("tcplab"))
        .unwrap_or_else(|| std::env::temp_dir().join("tcplab"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<OsString> {
        w.iter().map(OsString::from).collect()
    }

    #[test]
    fn sources_filters_and_options_are_told_apart() {
        // The package's folder holds cases/ and Cargo.toml (cargo runs unit
        // tests there).
        let (sources, libtest) = split(words(&[
            "cases",
            "teardown",
            "--skip",
            "cases",
            "x.case",
            "--test-threads",
            "1",
            "no/such/folder",
            "--",
            "Cargo.toml",
        ]));
        assert_eq!(
            sources,
            [
                PathBuf::from("cases"),
                PathBuf::from("x.case"),
                PathBuf::from("no/such/folder")
            ]
        );
        assert_eq!(
            libtest,
            words(&[
                "teardown",
                "--skip",
                "cases",
                "--test-threads",
                "1",
                "--",
                "Cargo.toml"
            ])
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        command().debug_assert();
    }
}
