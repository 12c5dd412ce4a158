//! Running folders of cases as tests: the machinery behind `cargo test` of
//! tcplab's own suite, a `harness = false` target of your own
//! ([`Runner`], [`main`]), the `tcplab` command, and one case at a time
//! for rstest's `#[files]` ([`run_case`]).
//!
//! Every way gives the same thing: each case file a test named after it,
//! libtest's command line (several filters, `--skip`, `--exact`,
//! `--list` as cargo-nextest drives it: `crate::cli`), a failure's text
//! (`file:line`, what differed, the side-by-side ladder), and a run folder
//! with the captures and the report (`report::runs`), JUnit XML among
//! them.

mod elevate;
pub mod error;
pub mod files;
mod host_check;
mod links;
mod one;
pub mod options;
pub mod play;
mod run;
pub mod sink;
mod trials;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use libtest_mimic::Trial;

use crate::case::run::Options;
use run::Config;

pub use elevate::through_sudo as elevate_through_sudo;
pub use links::dispatch as nc_dispatch;
pub use one::{run_case, run_case_out, Outcome};

/// A folder (or several) of case files as the tests of a `harness =
/// false` test target: what `cargo test` runs for the target, with
/// libtest's whole command line. [`main`] is the short form.
///
/// ```no_run
/// // tests/tcp.rs, with in Cargo.toml:
/// //   [[test]]
/// //   name = "tcp"
/// //   harness = false
/// fn main() -> std::process::ExitCode {
///     tcplab::Runner::new("tcp-cases")
///         // `server $ echo-service --port 11111` in a case runs this
///         // package's binary, wherever cargo built it.
///         .program("echo-service", env!("CARGO_BIN_EXE_echo-service"))
///         .main()
/// }
/// ```
///
/// (`no_run`: a case needs root and network namespaces, which a doc-test
/// run has no business asking for; the crate's doc-tests are off anyway,
/// so this example is compiled by `examples/echo-service`'s own tests.)
pub struct Runner {
    c: Config,
}

impl Runner {
    /// The cases in `cases`: a folder of `*.case` files or one case file;
    /// a relative path is from the package's folder (where `Cargo.toml`
    /// is, under `cargo test`), else from the working folder.
    pub fn new(cases: impl Into<PathBuf>) -> Runner {
        Runner {
            c: Config {
                sources: vec![cases.into()],
                programs: Vec::new(),
                out: None,
                nc: None,
                base: None,
                args: None,
                record: false,
                extra: None,
                root_hint: options::ROOT_HINT.into(),
                record_hint: None,
            },
        }
    }

    /// Another folder or case file, run beside the first (case names must
    /// stay unique: each is a test).
    pub fn cases(mut self, more: impl Into<PathBuf>) -> Runner {
        self.c.sources.push(more.into());
        self
    }

    /// `name` in a case (`server $ NAME ARGS`, or inside `sh -c '...'`)
    /// runs `path`: typically `env!("CARGO_BIN_EXE_<bin>")`, the binary of
    /// your package that cargo built for this test. Other names are looked
    /// up on PATH as usual.
    pub fn program(mut self, name: impl Into<String>, path: impl Into<PathBuf>) -> Runner {
        self.c.programs.push((name.into(), path.into()));
        self
    }

    /// Where runs go when TCPLAB_OUT does not say: by default `tcplab/` in
    /// the cargo target folder holding the test binary.
    pub fn out(mut self, root: impl Into<PathBuf>) -> Runner {
        self.c.out = Some(root.into());
        self
    }

    /// Runs the cases (or lists them, with `--list`) as libtest would run
    /// tests, prints libtest's lines, writes the run's report, and returns
    /// the exit status for `main` to return. Not root: runs itself
    /// through `sudo -E` where sudo is installed.
    ///
    /// Call it first thing in `main`: when a case starts `nc`, this very
    /// binary is started as tcplab's nc (unless a `tcplab-nc` is beside
    /// it), and must not do anything else first.
    pub fn main(self) -> ExitCode {
        if let Some(code) = links::dispatch() {
            return code;
        }
        run::main(self.c)
    }

    /// The package's own nc binary (tcplab's test targets).
    #[doc(hidden)]
    pub fn nc(mut self, path: impl Into<PathBuf>) -> Runner {
        self.c.nc = Some(path.into());
        self
    }

    /// What paths are shown relative to (default: the package's folder at
    /// run time, else the working folder).
    #[doc(hidden)]
    pub fn base(mut self, base: impl Into<PathBuf>) -> Runner {
        self.c.base = Some(base.into());
        self
    }

    /// The command line, program name first (default: this process's).
    #[doc(hidden)]
    pub fn args(mut self, argv: Vec<OsString>) -> Runner {
        self.c.args = Some(argv);
        self
    }

    /// Record mode whatever TCPLAB_RECORD says (`tcplab record`).
    #[doc(hidden)]
    pub fn record(mut self, on: bool) -> Runner {
        self.c.record = on;
        self
    }

    /// Trials run beside the cases (tcplab's self-tests).
    #[doc(hidden)]
    pub fn with_trials(mut self, f: impl FnOnce(&Options) -> Vec<Trial> + 'static) -> Runner {
        self.c.extra = Some(Box::new(f));
        self
    }

    /// What the one line of a run that is not root says to do.
    #[doc(hidden)]
    pub fn root_hint(mut self, hint: impl Into<String>) -> Runner {
        self.c.root_hint = hint.into();
        self
    }

    /// What a failure says to type to record the run instead (`{name}`:
    /// the case's name).
    #[doc(hidden)]
    pub fn record_hint(mut self, hint: impl Into<String>) -> Runner {
        self.c.record_hint = Some(hint.into());
        self
    }
}

/// The cases in `cases` (a folder of `*.case` files, relative to the
/// package's folder) as the tests of a `harness = false` test target:
/// `Runner::new(cases).main()`.
///
/// ```no_run
/// // tests/tcp.rs; Cargo.toml: [[test]] name = "tcp", harness = false
/// fn main() -> std::process::ExitCode {
///     tcplab::main("tcp-cases")
/// }
/// ```
///
/// Then `cargo test` runs every case, `cargo test --test tcp -- echo`
/// those whose name holds `echo`, and `cargo nextest run` one process per
/// case. (`no_run`: see [`Runner`].)
pub fn main(cases: impl Into<PathBuf>) -> ExitCode {
    Runner::new(cases).main()
}
