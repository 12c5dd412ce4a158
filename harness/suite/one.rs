//! One case file as one test of a plain libtest target: what rstest's
//! `#[files("tcp-cases/*.case")]` needs, one test per file, `cargo test`
//! filtering by its name.
//!
//! The first case of a process opens its run (the same folder and report
//! as [`crate::Runner`]'s); each case writes its result and rebuilds the
//! run's report, since a libtest target has no "after the last test".
//! libtest's threads already run when the first case starts, so no
//! signal thread is installed: a run stopped by Ctrl+C leaves its
//! namespaces for the next run's sweep, as a SIGKILLed run does.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::case::{parse, Item, ItemKind};

use super::error::SuiteError;
use super::files::{self, Place};
use super::options::{self, OurNc, NC_NAME};
use super::play::{show_from_env, Player};
use super::sink::Sink;

/// What became of one case: [`run_case`]'s answer.
#[derive(Clone, Debug)]
pub struct Outcome {
    name: String,
    failure: Option<String>,
    skipped: Option<String>,
    report: Option<PathBuf>,
}

impl Outcome {
    /// Whether the case held.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// Why it did not: `tcp-cases/echo.case:12: packets differ ...` and
    /// the side-by-side ladder, as `cargo test` of a `main` target prints
    /// it.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Why the case was not played, when this kernel lacks what it
    /// `requires` (or it is `ours-only` with NC set): the report shows it
    /// skipped. libtest has no skip at run time, so [`Outcome::assert_passed`]
    /// lets it through, saying why on stderr.
    pub fn skipped(&self) -> Option<&str> {
        self.skipped.as_deref()
    }

    /// The case's name (its file's name without `.case`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run's report (`index.html` in its folder, beside the
    /// captures), once one was written.
    pub fn report(&self) -> Option<&Path> {
        self.report.as_deref()
    }

    /// Panics with the failure text when the case did not hold: the way
    /// a test says so.
    #[track_caller]
    pub fn assert_passed(&self) {
        if let Some(why) = &self.skipped {
            eprintln!("tcplab: {} skipped: {why}", self.name);
        }
        if let Some(text) = &self.failure {
            let report = self
                .report
                .as_ref()
                .map(|p| format!("\n  report: {}", p.display()))
                .unwrap_or_default();
            panic!("{text}{report}");
        }
    }
}

/// Runs the case in `path` in a lab of its own and says how it went.
///
/// ```no_run
/// // tests/tcp.rs (a plain test target); dev-dependencies: tcplab, rstest
/// use std::path::PathBuf;
///
/// #[rstest::rstest]
/// fn tcp(#[files("tcp-cases/*.case")] case: PathBuf) {
///     tcplab::run_case(&case).assert_passed();
/// }
/// ```
///
/// One test per case file, named after it (`tcp::case_1_echo_case`), so
/// `cargo test echo` picks it. rstest reads the folder when the test
/// target is compiled: a `build.rs` with
/// `println!("cargo::rerun-if-changed=tcp-cases");` makes a new case file
/// a new test. (`no_run`: a case needs root and network namespaces.)
///
/// Needs root: run `sudo -E cargo test`, or make `sudo -E` cargo's runner
/// (`[target.'cfg(target_os = "linux")'] runner = "sudo -E"` in
/// `.cargo/config.toml`). A case that starts `nc` needs `tcplab-nc`, the
/// nc-equivalent: on PATH (`cargo install` of tcplab puts it beside
/// `tcplab`), or NC=ncat; a [`crate::main`] target carries its own.
pub fn run_case(path: impl AsRef<Path>) -> Outcome {
    let name = files::name_of(path.as_ref());
    let shared = match SHARED.get_or_init(open) {
        Ok(s) => s,
        Err(e) => {
            return Outcome {
                name,
                failure: Some(e.to_string()),
                skipped: None,
                report: None,
            }
        }
    };
    let file = shared.player.place.resolve(path.as_ref());
    if let Some(why) = needs_missing_nc(&file, shared) {
        return Outcome {
            name,
            failure: Some(why),
            skipped: None,
            report: None,
        };
    }
    let skipped = skipped(&file, shared);
    let result = match &skipped {
        Some(why) => {
            let shown = shared.player.place.shown(&file).display().to_string();
            shared.player.sink.skipped(&file, &shown, why);
            Ok(())
        }
        None => shared.player.play(&file),
    };
    let report = shared
        .player
        .sink
        .assemble(true)
        .map(|d| d.join("index.html"));
    Outcome {
        name,
        failure: result.err(),
        skipped,
        report,
    }
}

/// Why this run leaves the case out (see `crate::case::Case::skipped`).
fn skipped(file: &Path, shared: &Shared) -> Option<String> {
    let opts = &shared.player.opts;
    let shown = shared.player.place.shown(file);
    parse::read(file, &shown)
        .ok()
        .and_then(|t| parse::parse(&shown, &t).ok())?
        .skipped(opts.implementation, opts.family, &opts.kernel)
}

/// The process's run, opened by its first case.
struct Shared {
    player: Player,
    nc_missing: bool,
}

static SHARED: OnceLock<Result<Shared, SuiteError>> = OnceLock::new();

/// The output root [`run_case`] uses, over TCPLAB_OUT, if set before the
/// process's first case: tcplab's own rstest target keeps its runs apart
/// from the suite's this way, also where TCPLAB_OUT names the suite's
/// (ci/kernels' guests, CI's shards).
static OUT: OnceLock<PathBuf> = OnceLock::new();

/// Sets [`OUT`]; later calls change nothing.
#[doc(hidden)]
pub fn run_case_out(root: impl Into<PathBuf>) {
    let _ = OUT.set(root.into());
}

fn open() -> Result<Shared, SuiteError> {
    if let Some(why) = options::precondition(
        "run `sudo -E cargo test`, or make `sudo -E` cargo's runner for this package \
         (in .cargo/config.toml: [target.'cfg(target_os = \"linux\")'] runner = \"sudo -E\")",
    ) {
        return Err(SuiteError::Precondition(why));
    }
    let place = Place::of_process();
    let ours = options::our_nc(None, false);
    let ours_path = match &ours {
        OurNc::Binary(p) => p.clone(),
        _ => PathBuf::from(NC_NAME),
    };
    let root = OUT.get().cloned().unwrap_or_else(|| files::out_root(None));
    let mut opts = options::options(&ours_path, root.clone(), false)?;
    let differential = opts.implementation == crate::case::Implementation::Ncat;
    let label = Path::new(&std::env::args_os().next().unwrap_or_default())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sink = Sink::open(&opts, differential, &root, label, &place)?;
    opts.out_dir = sink.dir().to_path_buf();
    Ok(Shared {
        player: Player {
            opts,
            place,
            sink,
            show: show_from_env(),
            record_hint: "TCPLAB_RECORD=1 cargo test -- {name}".into(),
        },
        nc_missing: ours == OurNc::Missing && !differential,
    })
}

/// When the case starts our nc and there is none: what to do about it.
fn needs_missing_nc(file: &Path, shared: &Shared) -> Option<String> {
    if !shared.nc_missing {
        return None;
    }
    let shown = shared.player.place.shown(file);
    let case = parse::read(file, &shown)
        .ok()
        .and_then(|t| parse::parse(&shown, &t).ok())?;
    let line = starts_nc(&case.items)?;
    Some(format!(
        "{}:{line}: starts `nc`, tcplab's nc-equivalent, and this test binary has none: \
         put `tcplab-nc` on PATH (`cargo install` of tcplab installs it), set NC=ncat, \
         or run the folder from a `harness = false` target with tcplab::main, which carries its own",
        shown.display()
    ))
}

/// The line of the first step (in a `repeat` too) that starts our nc.
fn starts_nc(items: &[Item]) -> Option<usize> {
    items.iter().find_map(|i| match &i.kind {
        ItemKind::Start { argv, .. }
            if argv[0] == "nc" || argv.iter().any(|a| a.contains("$NC")) =>
        {
            Some(i.line)
        }
        ItemKind::Repeat { steps, .. } => starts_nc(steps),
        _ => None,
    })
}
