//! What `Runner::main` does, in order: the command line; root
//! (through sudo); the host's state before; the case files; the run's
//! folder, options and program links; one trial per case; libtest-mimic;
//! the report, JUnit, and the proof the host was left as it was.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::case::Implementation;
use crate::report::{junit, runs};

use super::error::SuiteError;
use super::files::{self, Place};
use super::options::{self, OurNc, NC_NAME};
use super::play::{show_from_env, Player};
use super::sink::Sink;
use super::{elevate, host_check, links, trials};

/// Self-tests and other trials a runner adds beside its cases, made once
/// the run's options are known.
pub(super) type Extra = Box<dyn FnOnce(&crate::case::run::Options) -> Vec<libtest_mimic::Trial>>;

/// What a [`super::Runner`] was told.
pub(super) struct Config {
    pub sources: Vec<PathBuf>,
    pub programs: Vec<(String, PathBuf)>,
    pub out: Option<PathBuf>,
    pub nc: Option<PathBuf>,
    pub base: Option<PathBuf>,
    pub args: Option<Vec<std::ffi::OsString>>,
    pub record: bool,
    pub extra: Option<Extra>,
    pub root_hint: String,
    pub record_hint: Option<String>,
}

/// Prints `tcplab: {e}` and fails.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("tcplab: {e}");
    ExitCode::FAILURE
}

pub(super) fn main(mut r: Config) -> ExitCode {
    // A command line of its own (the `tcplab` command's) comes from a
    // process that has seen to root itself.
    let own = r.args.is_none();
    let argv = r
        .args
        .take()
        .unwrap_or_else(|| std::env::args_os().collect());
    let (rest, junit_out) = crate::cli::take_junit(argv.clone());
    let (mut args, selection) = crate::cli::parse(rest);
    let listing = args.list;
    if !listing && own {
        if let Some(why) = elevate::through_sudo(&argv) {
            eprintln!("tcplab: {why}");
        }
    }
    // First of all: no lab is made until it is taken.
    let before = (!listing).then(host_check::host_before);
    if let Err(e) = crate::interrupt::install() {
        return fail(e);
    }
    let place = Place {
        base: r.base.take().unwrap_or_else(|| Place::of_process().base),
    };
    let sources: Vec<PathBuf> = r.sources.iter().map(|s| place.resolve(s)).collect();
    let files = match files::collect(&sources, &place) {
        Ok(f) if listing => f,
        Ok(f) => trials::longest_first(f, &place, |name| selection.keeps(name)),
        Err(e) => return fail(e),
    };
    if !listing {
        if let Some(why) = options::precondition(&r.root_hint) {
            eprintln!("{why}");
            return ExitCode::FAILURE;
        }
    }
    let (player, nc_itself) = match prepare(&mut r, &place, &sources, listing) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if !listing {
        if let Err(e) = link_programs(&r, &player.sink, nc_itself) {
            return fail(e);
        }
    }
    let ignore_note = !listing && !args.ignored && !args.include_ignored;
    let mut trials = trials::case_trials(files, &player, |name| selection.keeps(name), ignore_note);
    if let Some(extra) = r.extra.take() {
        trials.extend(extra(&player.opts));
    }
    crate::cli::hand_over(&mut args, &selection, &trials);
    if listing {
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let xml_to = match junit_out.then(stdout_for_xml).transpose() {
        Ok(x) => x,
        Err(e) => return fail(format!("--format junit: {e}")),
    };
    let conclusion = libtest_mimic::run(&args, trials);
    if crate::interrupt::await_teardown(std::time::Duration::from_secs(30)) {
        return ExitCode::FAILURE;
    }
    // The run's report is written while the host is read again.
    let sink = player.sink.clone();
    let report = std::thread::spawn(move || sink.assemble(false));
    let unchanged = host_check::host_unchanged(&before);
    let run_dir = report.join().ok().flatten();
    write_junit(run_dir.as_deref(), xml_to, &files::label(&sources, &place));
    if !unchanged {
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

/// The run's options, folder and player; whether our nc is this binary.
fn prepare(
    r: &mut Config,
    place: &Place,
    sources: &[PathBuf],
    listing: bool,
) -> Result<(Player, bool), SuiteError> {
    let ours = options::our_nc(r.nc.as_deref(), true);
    // This binary as nc is a link named tcplab-nc put first on PATH.
    let ours_path = match &ours {
        OurNc::Binary(p) => p.clone(),
        OurNc::ItSelf | OurNc::Missing => PathBuf::from(NC_NAME),
    };
    let root = files::out_root(r.out.as_deref());
    let mut opts = options::options(&ours_path, root.clone(), r.record)?;
    let differential = opts.implementation == Implementation::Ncat;
    // Captures and results go to this run's own folder; listing writes
    // nothing.
    let sink = if listing {
        Sink::listing(&root, place)
    } else {
        Sink::open(
            &opts,
            differential,
            &root,
            files::label(sources, place),
            place,
        )?
    };
    opts.out_dir = sink.dir().to_path_buf();
    if !listing && !opts.tolerance.is_zero() {
        eprintln!(
            "tcplab: every timing window is judged {} wider on both sides ({}={})",
            opts.tolerance,
            crate::notation::duration::TOLERANCE_ENV,
            crate::notation::duration::show(opts.tolerance.0)
        );
    }
    let record_hint = r.record_hint.take().unwrap_or_else(|| {
        format!(
            "TCPLAB_RECORD=1 cargo test --test {} -- --exact {{name}}",
            test_target()
        )
    });
    let player = Player {
        opts,
        place: place.clone(),
        sink,
        show: show_from_env(),
        record_hint,
    };
    Ok((player, ours == OurNc::ItSelf))
}

/// The links of `Runner::program` and, when our nc is this binary, its
/// own, in the run's `bin/`, first on PATH.
fn link_programs(r: &Config, sink: &Sink, nc_itself: bool) -> Result<(), SuiteError> {
    let mut wanted = r.programs.clone();
    for (name, path) in &wanted {
        if name == "nc" || name == NC_NAME {
            return Err(SuiteError::ProgramIsNc(name.clone()));
        }
        if !links::valid_name(name) {
            return Err(SuiteError::ProgramName(name.clone()));
        }
        if !path.is_file() {
            return Err(SuiteError::ProgramMissing {
                name: name.clone(),
                path: path.clone(),
            });
        }
    }
    if nc_itself {
        wanted.push(links::itself_as_nc()?);
    }
    Ok(links::make(&sink.dir().join("bin"), &wanted)?)
}

/// This test target's name, as `cargo test --test NAME` takes it: the
/// binary's name without cargo's `-HASH`.
fn test_target() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem,
    }
}

/// `--format junit`: the XML goes to stdout, and everything libtest
/// prints to stderr instead, so `... --format junit > junit.xml` holds
/// the XML alone while the run shows on the terminal. Returns the
/// original stdout.
fn stdout_for_xml() -> std::io::Result<std::fs::File> {
    std::io::stdout().flush()?;
    // SAFETY: dup and dup2 on the process's own standard descriptors;
    // the duplicate is owned by the File returned.
    unsafe {
        let saved = libc::dup(1);
        if saved < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let saved = std::fs::File::from(OwnedFd::from_raw_fd(saved));
        if libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(saved)
    }
}

/// The run's JUnit XML (`runs/<id>/junit.xml`, of every process of the
/// run) to `--format junit`'s stdout and to TCPLAB_JUNIT=FILE; a process
/// that ran no case writes an empty suite.
fn write_junit(run_dir: Option<&Path>, stdout: Option<std::fs::File>, label: &str) {
    let path = std::env::var_os("TCPLAB_JUNIT").filter(|v| !v.is_empty());
    if stdout.is_none() && path.is_none() {
        return;
    }
    let xml = run_dir
        .and_then(|d| std::fs::read_to_string(d.join(runs::JUNIT)).ok())
        .unwrap_or_else(|| junit::xml(label, &[]));
    if let Some(mut out) = stdout {
        let _ = std::io::stdout().flush();
        if let Err(e) = out.write_all(xml.as_bytes()) {
            eprintln!("tcplab: --format junit: writing stdout: {e}");
        }
    }
    if let Some(p) = path.map(|p| files::from_where_typed(PathBuf::from(p))) {
        match std::fs::write(&p, &xml) {
            Ok(()) => runs::hand_back(&p),
            Err(e) => eprintln!("tcplab: TCPLAB_JUNIT={}: {e}", p.display()),
        }
    }
}
