//! The loop over a case's items: each step or block played in turn (the
//! items of the other implementation or kernel skipped and logged), and at
//! the end, once the lab has settled, the last block judged again with
//! what came after it and every rule held to have acted.

use super::super::expect::compare;
use super::super::{Item, ItemKind};
use super::clock::now;
use super::session::{Session, StepError};
use super::steps::ladder_step;
use crate::case::outcome::{Cause, Event, Observation, Observed, Timed};

impl Session<'_> {
    pub(super) fn play(&mut self) -> Result<(), StepError> {
        let (nc, family, kernel) = (
            self.opts.implementation,
            self.opts.family,
            &self.opts.kernel,
        );
        let mut last = None;
        for item in &self.case.items {
            if let Some(why) = item.skipped(nc, family, kernel) {
                self.log.push(format!(
                    "{:>7.3}s  {}: {item}  (skipped: {why})",
                    self.clock.start.elapsed().as_secs_f64(),
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
            let why = self.case.skipped(nc, family, kernel).unwrap_or_default();
            return Err(StepError::at(
                1,
                format!("nothing of the case plays here: {why}"),
            ));
        };
        self.settle(last.line)?;
        if let ItemKind::Packets(alts) = &last.kind {
            let seen = self.seen();
            if seen.len() > self.position.claimed {
                // Packets came after the block was judged: it holds only
                // if one of its forms is the whole of them (a form with
                // more packets than the one first matched).
                let block = &self.block_of(&seen, self.position.block_start);
                self.observe(last.line, Observation::Packets(block.to_vec()));
                match alts
                    .iter()
                    .position(|a| compare(a, block, self.opts.tolerance).is_none())
                {
                    Some(k) => self.log_timings(&alts[k], block),
                    None => {
                        let failure = self.block_failure(alts, block, last.line);
                        let note = self.stray_note();
                        let cause = super::packets::cause(&note);
                        self.judged(cause, failure.noted(note))?;
                    }
                }
            }
        }
        if let ItemKind::PacketsEach { count, alts } = &last.kind {
            if self.captured().len() > self.position.claimed {
                // Packets came after the block was judged: judged again
                // with them.
                self.position.claimed = self.captured().len();
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
                self.clock.start.elapsed().as_secs_f64(),
                item.line
            ));
        }
        if item.kind.is_action() {
            self.clock.acted();
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
            Err(failure.because(cause))
        }
    }
}
