//! What playing a case produced, for whoever reads it (the runner, record
//! mode, the report): the outcome of a passing run, with what each block
//! observed and the run's events on the capture's clock; or the failure,
//! with its cause. `run/` makes these; nothing here plays or draws.

use std::path::PathBuf;
use std::time::Duration;

use super::expect::Seen;
use crate::fds::FdRow;
use crate::lab::Side;
use crate::packet::Packet;
use crate::sockets::SocketRow;

/// What one expectation block saw when it was judged, by the line of its
/// header: what `record` rewrites the block from.
#[derive(Clone, Debug)]
pub struct Observed {
    pub line: usize,
    pub what: Observation,
}

#[derive(Clone, Debug)]
pub enum Observation {
    /// The packets the block was held against (for a block that ends the
    /// case, every packet after the previous block).
    Packets(Vec<Seen>),
    /// A `packets × N` block's connections, each numbered from its own
    /// ISNs, in the order they began.
    Connections(Vec<Vec<Seen>>),
    /// The host's TCP sockets (ss).
    Sockets(Vec<SocketRow>),
    /// The TCP descriptors of the host's latest command (lsof).
    Fds(Vec<FdRow>),
    /// A syscalls block: None when it held, else the failure text (only in
    /// record mode does a run go on after one).
    Syscalls(Option<String>),
}

/// What a passing run saw.
#[derive(Debug)]
pub struct Outcome {
    pub packets: Vec<Packet>,
    pub pcap: PathBuf,
    /// Steps as they ran, with their time since the start.
    pub log: Vec<String>,
    /// Steps and socket states on the capture's clock, for the ladder.
    pub events: Vec<Timed>,
    /// What each expectation block observed, in the order they ran.
    pub observed: Vec<Observed>,
}

/// Why a case failed, as fields: the case file and the line the failure is
/// attributed to, what stopped the run, what went wrong; and the whole text
/// a person reads (`file:line: ` and that, then what the run showed).
#[derive(Debug)]
pub struct Failure {
    pub path: PathBuf,
    pub line: usize,
    pub cause: Cause,
    /// What went wrong, after `file:line: ` (its first line, a note under
    /// it, the detail).
    pub message: String,
    pub text: String,
}

/// What stopped a failed run, as far as it decides what a person can do
/// next: only a block that did not hold can be mended by recording the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The lab, the capture, sock_diag or the process watch could not be
    /// set up.
    Setup,
    /// The case's time limit: a wait window beyond it, or used up.
    TimeLimit,
    /// A `packets`, `sockets` or `fds` block did not hold what was seen.
    Block,
    /// A `packets` block did not hold, and TCP went to a port the case
    /// does not capture meanwhile: the program or `port N` is wrong.
    StrayTraffic,
    /// A `syscalls` block did not hold (never recorded: a whole strace is
    /// too noisy to be an expectation).
    Syscalls,
    /// A fault rule acted on no packet by its `heal` or the end.
    RuleIdle,
    /// A step did not happen as written: an exit status, a line printed, a
    /// wait, the lab settling, a command that could not start.
    Step,
    /// libpcap dropped packets: nothing seen can be trusted.
    Capture,
}

impl Cause {
    /// Whether recording the run (TCPLAB_RECORD=1) can make the case pass:
    /// record mode rewrites `packets`, `sockets` and `fds` blocks only.
    pub fn recordable(self) -> bool {
        self == Cause::Block
    }
}

impl Failure {
    /// A failure at `path:line` whose text is its message alone.
    pub(crate) fn new(
        path: &std::path::Path,
        line: usize,
        cause: Cause,
        message: String,
    ) -> Failure {
        Failure {
            text: format!("{}:{line}: {message}\n", path.display()),
            path: path.to_path_buf(),
            line,
            cause,
            message,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Something that happened during a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A packet, by its index in the capture's packets (those the ladder's
    /// `draw` is given). Packets no event names are placed by their own
    /// time stamps.
    Packet(usize),
    /// A packet a fault rule dropped, at its own time stamp: its arrow
    /// stops short of the receiver and ends in `x`.
    Dropped(usize),
    /// A packet a fault rule held back (delayed, reordered), placed when it
    /// was let through, where it arrived; `note` follows its name.
    Arrived { packet: usize, note: String },
    /// A packet a `sends` step injected, at its own time stamp: drawn
    /// with `~` (`~~~ RST ~~~>`), since no kernel sent it.
    Injected(usize),
    /// What was done on a host: `nc -kl 11111`, `^C`, `types hello`.
    Step { side: Side, text: String },
    /// What a host's socket became: `ESTABLISHED`, `TIME-WAIT 60s`.
    State { side: Side, text: String },
}

/// An event and when it happened (since the Unix epoch, as `Packet::ts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    pub at: Duration,
    pub event: Event,
}
