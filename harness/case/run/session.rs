//! The state of one case being played: the lab, its processes, the
//! capture, the observers, what was seen; and the loop over the steps.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::super::expect::compare;
use super::super::{Case, Item, ItemKind};
use super::steps::ladder_step;
use super::{now, Cause, Observation, Observed, Options};
use crate::capture::Capture;
use crate::case::outcome::{Event, Timed};
use crate::faults::{Faults, RuleId};
use crate::host::Process;
use crate::lab::{Lab, Side};
use crate::procs::{Busy, Root, Watch};
use crate::sockets::SockDiag;

/// A step's failure: the line it is attributed to and what went wrong.
pub(super) type StepError = (usize, String);

pub(super) struct Session<'a> {
    pub(super) case: &'a Case,
    pub(super) opts: &'a Options,
    // Field order is drop order: processes die before the lab goes.
    pub(super) procs: Vec<(Side, Process)>,
    pub(super) capture: Option<Capture>,
    pub(super) diag: [SockDiag; 2],
    /// Packets already claimed by earlier `packets` blocks.
    pub(super) claimed: usize,
    /// Where the latest block's packets began.
    pub(super) block_start: usize,
    /// Segments on other TCP ports already reported with a block.
    pub(super) strays_claimed: usize,
    pub(super) start: Instant,
    /// When the case's time limit runs out: no wait goes past it.
    pub(super) end: Instant,
    /// When the latest action (start, type, signal, ^D) began: time
    /// windows count from here.
    pub(super) last_action: Instant,
    /// The same moment on the capture's clock, for `at` windows.
    pub(super) last_action_at: Duration,
    /// Hosts whose commands run under ptrace (`trace HOST`).
    pub(super) traced: Vec<Side>,
    pub(super) log: Vec<String>,
    pub(super) events: Vec<Timed>,
    /// What each block observed (see `Outcome::observed`).
    pub(super) observed: Vec<Observed>,
    /// The segments `sends` steps injected, in order.
    pub(super) sent: Vec<super::inject::Sent>,
    pub(super) pcap: PathBuf,
    /// Fault rules: dropped before the lab (their threads hold its
    /// namespaces).
    pub(super) faults: Faults,
    /// Each rule and the line it was written on.
    pub(super) rules: Vec<(RuleId, usize)>,
    /// Every process of the case, beyond the commands (`procs`).
    pub(super) watch: Watch,
    /// What the latest look found awake besides the commands.
    pub(super) busy: Vec<Busy>,
    /// Why the run stopped, where the step that stopped it knows better
    /// than "a step failed" (a block that did not hold, a rule that never
    /// acted).
    pub(super) cause: Option<Cause>,
    pub(super) lab: Lab,
}

impl Session<'_> {
    pub(super) fn play(&mut self) -> Result<(), StepError> {
        let (nc, kernel) = (self.opts.implementation, &self.opts.kernel);
        let mut last = None;
        for item in &self.case.items {
            if let Some(why) = item.skipped(nc, kernel) {
                self.log.push(format!(
                    "{:>7.3}s  {}: {item}  (skipped: {why})",
                    self.start.elapsed().as_secs_f64(),
                    item.line
                ));
                continue;
            }
            last = Some(item);
            self.play_item(item, true)?;
        }
        // The case is over when the lab settles; only then is "no more
        // packets" judged for a block that ends the case.
        let Some(last) = last else {
            // The runner skips such a case; here only when told to run it.
            let why = self.case.skipped(nc, kernel).unwrap_or_default();
            return Err((1, format!("nothing of the case plays here: {why}")));
        };
        self.settle(last.line)?;
        if let ItemKind::Packets(alts) = &last.kind {
            let seen = self.seen();
            if seen.len() > self.claimed {
                // Packets came after the block was judged: it holds only
                // if one of its forms is the whole of them (a form with
                // more packets than the one first matched).
                let block = &self.block_of(&seen, self.block_start);
                self.observe(last.line, Observation::Packets(block.to_vec()));
                match alts.iter().position(|a| compare(a, block).is_none()) {
                    Some(k) => self.log_timings(&alts[k], block),
                    None => {
                        let (at, text) = self.block_failure(alts, block, last.line);
                        let note = self.stray_note();
                        let cause = super::packets::cause(&note);
                        self.judged(cause, (at, super::packets::with_note(text, note)))?;
                    }
                }
            }
        }
        if let ItemKind::PacketsEach { count, alts } = &last.kind {
            if self.captured().len() > self.claimed {
                // Packets came after the block was judged: judged again
                // with them.
                self.claimed = self.captured().len();
                self.judge_each(last.line, *count, alts)?;
            }
        }
        self.rules_all_acted()
    }

    /// One step or block; `shown`: logged, and drawn on the ladder (a
    /// repeat shows its first and last rounds only).
    pub(super) fn play_item(&mut self, item: &Item, shown: bool) -> Result<(), StepError> {
        if shown {
            // A kernel's form says why it played: `(played: kernel 6.18.44
            // is 6.5 or later)`.
            let why = item
                .when
                .as_ref()
                .and_then(|r| self.opts.kernel.check(r).ok())
                .map(|w| format!("  (played: {w})"))
                .unwrap_or_default();
            self.log.push(format!(
                "{:>7.3}s  {}: {item}{why}",
                self.start.elapsed().as_secs_f64(),
                item.line
            ));
        }
        if item.kind.is_action() {
            self.last_action = Instant::now();
            self.last_action_at = now();
            if let Some((side, text)) = ladder_step(&item.kind).filter(|_| shown) {
                self.events.push(Timed {
                    at: now(),
                    event: Event::Step { side, text },
                });
            }
        }
        self.step(item)
    }

    /// Keeps what the block at `line` observed, replacing an earlier
    /// observation of the same block.
    pub(super) fn observe(&mut self, line: usize, what: Observation) {
        self.observed.retain(|o| o.line != line);
        self.observed.push(Observed { line, what });
    }

    /// A block that does not hold: the case fails, for `cause`, except in
    /// record mode, where its observation is what counts and the run goes
    /// on.
    pub(super) fn judged(&mut self, cause: Cause, failure: StepError) -> Result<(), StepError> {
        if self.opts.record {
            Ok(())
        } else {
            self.cause = Some(cause);
            Err(failure)
        }
    }

    /// Every command asleep in a system call or gone, and so every process
    /// below them and any other in the hosts' namespaces (`procs::Watch`):
    /// a pipeline's nc, not only the shell that waits for it. A command
    /// that has exited is reaped here.
    pub(super) fn processes_asleep(&mut self) -> bool {
        let roots: Vec<Root> = self
            .procs
            .iter_mut()
            .filter_map(|(side, p)| {
                p.try_exit().is_none().then(|| Root {
                    side: *side,
                    pid: p.pid(),
                    traced: p.traced(),
                })
            })
            .collect();
        self.busy = self.watch.busy(&roots);
        self.busy.is_empty()
    }

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
        super::limits::capped(Instant::now(), self.opts.deadline, self.end)
    }

    pub(super) fn latest(&mut self, host: Side, line: usize) -> Result<&mut Process, StepError> {
        self.procs
            .iter_mut()
            .rev()
            .find(|(s, _)| *s == host)
            .map(|(_, p)| p)
            .ok_or((line, format!("no command was started on {host}")))
    }
}
