//! What building or merging a run's report can fail on, as fields: a file
//! the system would not read or write (its path and errno, the harness's
//! `Error`), a file that is not what its folder says it holds, a run id
//! that cannot name a folder, an input that holds no run.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading, writing, locking or linking a file failed: what was being
    /// done to which path, with the errno.
    #[error(transparent)]
    System(#[from] crate::error::Error),
    /// A results/*.json or kernel.json that does not parse as one.
    #[error("{}: not a {what}: {source}", path.display())]
    NotA {
        path: PathBuf,
        /// `tcplab case result`, `kernel record`.
        what: &'static str,
        source: serde_json::Error,
    },
    /// TCPLAB_RUN_ID or NEXTEST_RUN_ID holds what cannot name a folder.
    #[error("{var}={id:?}: a run id names a folder: use letters, digits, '.', '_' and '-'")]
    RunId { var: &'static str, id: String },
    /// A merge input that is neither a run folder nor an output root.
    #[error(
        "{}: neither a run folder (results/*.json) nor an output root (runs/<id>/): {errno}",
        path.display()
    )]
    NotARun {
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    /// A merge whose inputs hold no case result and no kernel's column.
    #[error(
        "no case results in {} (a run writes them to runs/<id>/results/)",
        inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoResults { inputs: Vec<PathBuf> },
}

impl ReportError {
    /// An I/O failure on `path`, with its errno.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> ReportError {
        ReportError::System(crate::error::Error::io(path.display().to_string(), source))
    }
}
