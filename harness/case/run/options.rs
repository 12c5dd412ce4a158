//! How cases are run, as the runner chose: which nc, family and kernel, where
//! files go, how long a wait and a case may take, how far a timing window
//! stretches, record mode.

use std::path::PathBuf;
use std::time::Duration;

use super::super::Implementation;

/// How cases are run: which nc, where files go, how long a wait may take.
#[derive(Clone, Debug)]
pub struct Options {
    /// What `nc` in a case runs: the project's nc, or another (NC=ncat).
    pub nc: PathBuf,
    /// Which implementation `nc` is, as the runner chose it: the items
    /// marked for the other one (`ours:`, `ncat:`) are skipped.
    pub implementation: Implementation,
    /// The address family the case is played in (`TCPLAB_FAMILY`): the
    /// lab's addresses in commands and rows stand for its hosts in this
    /// family, and items marked for the other (`ipv4:`, `ipv6:`) are
    /// skipped (see `case::family`).
    pub family: crate::sockets::Family,
    /// The kernel the run plays on: the items marked for other kernels
    /// (`kernel>=6.5:`, `sysctl NAME:`) are skipped.
    pub kernel: crate::kernel::Kernel,
    /// Where `<case>.pcap` is written.
    pub out_dir: PathBuf,
    /// The deadline of every wait.
    pub deadline: Duration,
    /// How much wider than written the windows of when something happened
    /// are judged (TCPLAB_TIME_TOLERANCE; [`crate::notation::duration::Tolerance`]).
    pub tolerance: crate::notation::duration::Tolerance,
    /// The most one case may take, all waits together
    /// ([`limits::case_timeout_from_env`]).
    pub case_timeout: Duration,
    /// Record mode (TCPLAB_RECORD=1): a block that does not hold is not a
    /// failure; what it observed is kept in `Outcome::observed` and the run
    /// goes on, so `record` can rewrite the case from it.
    pub record: bool,
}
