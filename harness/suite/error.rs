//! Why a run of cases cannot start, as fields: a setting that does not
//! parse, case files that are not there or share a name, a program a case
//! would start that cannot be, the run's folder or report, a file the
//! system refused (with its errno). The runner prints it after `tcplab: `.

use std::path::PathBuf;

use crate::error::{Error, Malformed};
use crate::report::error::ReportError;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// An environment setting that does not parse (TCPLAB_FAMILY,
    /// TCPLAB_DEADLINE_MS, TCPLAB_CASE_TIMEOUT, NC=...).
    #[error(transparent)]
    Setting(#[from] Malformed),
    /// A file or folder the system would not make, link or write (errno
    /// kept).
    #[error(transparent)]
    System(#[from] Error),
    /// The run's id or its report.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The run could not be played here at all (not root, no network
    /// namespaces): the line `options::precondition` says.
    #[error("{0}")]
    Precondition(String),
    #[error("the case file {} is not there", .0.display())]
    NoCaseFile(PathBuf),
    #[error("the case folder {} is not there", .0.display())]
    NoCaseFolder(PathBuf),
    /// Nothing to run is an error, not a pass.
    #[error(
        "no case files (*.case) in {}: nothing to run is an error, not a pass",
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoCases(Vec<PathBuf>),
    /// Two case files that would make tests of one name.
    #[error(
        "two cases named {name}: {} and {} (a case is a test named after its file; rename one)",
        first.display(),
        second.display()
    )]
    SameName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A program a test target names for its cases (`Runner::program`)
    /// named `nc`: that is tcplab's nc-equivalent.
    #[error("program {0}: `nc` in a case is tcplab's nc-equivalent (NC=PROGRAM runs the cases with another)")]
    ProgramIsNc(String),
    /// A program's name that is not one word without `/`.
    #[error("program {0:?}: a name a case starts is one word without `/`")]
    ProgramName(String),
    /// A program with no file at its path.
    #[error(
        "program {name}: {} is not there (build it first; under cargo test, env!(\"CARGO_BIN_EXE_{name}\") names it)",
        path.display()
    )]
    ProgramMissing { name: String, path: PathBuf },
}
