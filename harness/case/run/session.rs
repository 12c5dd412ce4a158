//! The state of one case being played, by what it holds: the case and how
//! it is run, the commands (`commands`), the capture and where the blocks
//! stand in it (`position`), the clocks (`clock`), the fault rules
//! (`rules`), the observers, and what the run has shown so far (log,
//! ladder events, what each block observed, why it stopped). The loop over
//! the steps is `play`'s; each step family adds its methods in its own
//! file.

use std::path::PathBuf;
use std::time::Instant;

use super::super::Case;
use super::clock::Clock;
use super::commands::Commands;
use super::options::Options;
use super::position::Position;
use super::rules::Rules;
use crate::capture::Capture;
use crate::case::outcome::{Observed, Timed};
use crate::host::Process;
use crate::lab::{Lab, Side};
use crate::sockets::SockDiag;

pub(super) use super::step_error::StepError;

pub(super) struct Session<'a> {
    pub(super) case: &'a Case,
    pub(super) opts: &'a Options,
    // Field order is drop order: processes die before the lab goes.
    pub(super) commands: Commands,
    pub(super) capture: Option<Capture>,
    pub(super) diag: [SockDiag; 2],
    pub(super) position: Position,
    pub(super) clock: Clock,
    pub(super) log: Vec<String>,
    pub(super) events: Vec<Timed>,
    /// What each block observed (see `Outcome::observed`).
    pub(super) observed: Vec<Observed>,
    pub(super) pcap: PathBuf,
    /// Dropped before the lab (their threads hold its namespaces).
    pub(super) rules: Rules,
    pub(super) lab: Lab,
}

impl Session<'_> {
    /// The packets captured so far.
    pub(super) fn captured(&self) -> &[crate::packet::Packet] {
        self.capture
            .as_ref()
            .expect("capture lives until the end")
            .packets()
    }

    /// The deadline of a wait starting now: the run's deadline, or the
    /// case's end if that comes first.
    pub(super) fn deadline(&self) -> Instant {
        super::limits::capped(Instant::now(), self.opts.deadline, self.clock.end)
    }

    /// The latest command started on `host`; an error at `line` when
    /// there is none.
    pub(super) fn latest(&mut self, host: Side, line: usize) -> Result<&mut Process, StepError> {
        self.commands
            .latest(host)
            .ok_or_else(|| StepError::at(line, format!("no command was started on {host}")))
    }
}
