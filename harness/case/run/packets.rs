//! `packets` blocks: the capture's segments since the last block, held
//! against the expected lists.

use std::fmt::Write as _;
use std::time::Instant;

use super::super::expect::{awaits_more, compare, Mark, PacketExpect, Seen, Timing};
use super::session::{Session, StepError};
use super::sidebyside::{self, Arrow};
use crate::case::outcome::{Cause, Observation};

impl Session<'_> {
    /// Every captured packet, marked with what rules did to it.
    pub(super) fn seen(&self) -> Vec<Seen> {
        let packets = self.captured();
        let mut marks = self.marks(packets);
        self.mark_injected(&mut marks);
        Seen::all_marked(packets, &marks)
    }

    /// The packets of a block (from `start` on), timed from the latest
    /// action for `at` windows.
    pub(super) fn block_of(&self, seen: &[Seen], start: usize) -> Vec<Seen> {
        let mut block = seen[start.min(seen.len())..].to_vec();
        for s in &mut block {
            s.ctx.since_action = s.ctx.ts.checked_sub(self.clock.last_action_at);
        }
        block
    }

    /// Waits until `wanted` packets past the claimed ones have come, or
    /// the deadline. Settled means nothing is in flight; a block that
    /// wants more than has come may be waiting on a timer (a
    /// retransmission), so it keeps reading until the deadline.
    pub(super) fn await_packets(
        &mut self,
        line: usize,
        deadline: Instant,
        wanted: usize,
    ) -> Result<(), StepError> {
        loop {
            self.settle(line)?;
            let have = self.captured().len().saturating_sub(self.position.claimed);
            let left = deadline.saturating_duration_since(Instant::now());
            if have >= wanted || left.is_zero() {
                return Ok(());
            }
            self.capture
                .as_ref()
                .expect("capture lives until the end")
                .wait_readable(left);
        }
    }

    /// Waits (settling) until a packet comes past those captured now, or
    /// the deadline: true when one came.
    pub(super) fn more(&mut self, line: usize, deadline: Instant) -> Result<bool, StepError> {
        let have = self.captured().len();
        let wanted = (have + 1).saturating_sub(self.position.claimed);
        self.await_packets(line, deadline, wanted)?;
        Ok(self.captured().len() > have)
    }

    pub(super) fn packets(
        &mut self,
        line: usize,
        alts: &[Vec<PacketExpect>],
    ) -> Result<(), StepError> {
        let deadline = self.deadline();
        let wanted = alts.iter().map(Vec::len).min().unwrap_or(0);
        self.await_packets(line, deadline, wanted)?;
        let mut seen = self.seen();
        // The start of a longer alternative: wait for the rest.
        while awaits_more(
            alts,
            &self.block_of(&seen, self.position.claimed),
            self.opts.tolerance,
        ) && self.more(line, deadline)?
        {
            seen = self.seen();
        }
        let block = &self.block_of(&seen, self.position.claimed);
        self.position.block_start = self.position.claimed;
        self.position.claimed = seen.len();
        self.observe(line, Observation::Packets(block.to_vec()));
        let strays = self.stray_note();
        if let Some(note) = &strays {
            self.log.push(format!(
                "{:>7.3}s  {line}: {}",
                self.clock.start.elapsed().as_secs_f64(),
                note.trim()
            ));
        }
        let matched = alts
            .iter()
            .position(|alt| compare(alt, block, self.opts.tolerance).is_none());
        if let Some(k) = matched {
            self.log_timings(&alts[k], block);
        }
        match matched {
            Some(k) if alts.len() > 1 => {
                let first = alts[k].first().map_or(line, |p| p.line);
                self.log.push(format!(
                    "{:>7.3}s  {line}: matched alternative {} of {} (from line {first})",
                    self.clock.start.elapsed().as_secs_f64(),
                    k + 1,
                    alts.len()
                ));
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                let failure = self.block_failure(alts, block, line);
                self.judged(cause(&strays), failure.noted(strays))
            }
        }
    }

    /// For each timed line of a block that held, when its packet came: the
    /// run log shows how much of its window the kernel used.
    pub(super) fn log_timings(&mut self, expected: &[PacketExpect], block: &[Seen]) {
        for (e, s) in expected.iter().zip(block) {
            let (what, took) = match e.timing {
                Some(Timing::After(_)) => ("after the previous packet", s.ctx.gap),
                Some(Timing::At(_)) => ("after the latest action", s.ctx.since_action),
                None => continue,
            };
            if let (Some(t), Some(timing)) = (took, e.timing) {
                self.log.push(format!(
                    "{:>7.3}s  {}: came {:.3}s {what} ({timing})",
                    self.clock.start.elapsed().as_secs_f64(),
                    e.line,
                    t.as_secs_f64()
                ));
            }
        }
    }

    /// The TCP segments on other ports since the previous block, as one
    /// line (None when there were none): a case whose program uses another
    /// port than the one captured sees its mistake here, not as "captured 0".
    pub(super) fn stray_note(&mut self) -> Option<String> {
        let capture = self.capture.as_ref().expect("capture lives until the end");
        let strays = capture
            .strays()
            .get(self.position.strays_claimed..)
            .unwrap_or_default();
        self.position.strays_claimed = capture.strays().len();
        let ports = crate::capture::stray_ports(strays);
        if ports.is_empty() {
            return None;
        }
        let shown: Vec<String> = ports.iter().take(3).map(|p| p.to_string()).collect();
        let more = match ports.len() {
            n if n > 3 => format!(" and {} more ports", n - 3),
            _ => String::new(),
        };
        Some(format!(
            "  meanwhile TCP traffic went to port {}{more}, which this case does not capture: it captures port {} (`port N` as the first line sets it)",
            shown.join(", port "),
            self.case.port
        ))
    }

    /// The failure of a block, attributed to the line of the first packet
    /// that differs (the block's line when a packet is missing or extra).
    pub(super) fn block_failure(
        &self,
        alts: &[Vec<PacketExpect>],
        seen: &[Seen],
        line: usize,
    ) -> StepError {
        // Of several alternatives, show the one that agrees the longest.
        let Some((expected, d)) = alts
            .iter()
            .filter_map(|alt| compare(alt, seen, self.opts.tolerance).map(|d| (alt, d)))
            .rev()
            .max_by_key(|(_, d)| d.index)
        else {
            return StepError::at(line, "packets agree");
        };
        let expected = expected.as_slice();
        let at_line = expected.get(d.index).map_or(line, |e| e.line);
        let mut t = format!(
            "packets differ at packet {} of the block: {}\n",
            d.index + 1,
            d.reason
        );
        if alts.len() > 1 {
            let _ = writeln!(
                t,
                "  none of the block's {} alternatives matched; the closest is shown",
                alts.len()
            );
        }
        let arrows_e: Vec<Arrow> = expected
            .iter()
            .map(|e| Arrow {
                from: e.from,
                flags: e.flags,
                icmp: e.icmp,
                len: e.length,
                injected: e.mark == Some(Mark::Injected),
                dropped: e.mark == Some(Mark::Dropped),
            })
            .collect();
        let arrows_o: Vec<Arrow> = seen
            .iter()
            .map(|s| Arrow {
                from: s.from,
                flags: s.flags,
                icmp: s.icmp,
                len: Some(s.len),
                injected: s.ctx.marked.is_some_and(|m| m.mark == Mark::Injected),
                dropped: s.ctx.marked.is_some_and(|m| m.mark == Mark::Dropped),
            })
            .collect();
        let title = format!("{}:{line}", self.case.path.display());
        t += &sidebyside::render(&title, &arrows_e, &arrows_o, d.index);
        let _ = writeln!(t, "  expected ({}:{line}):", self.case.path.display());
        for (i, e) in expected.iter().enumerate() {
            let _ = writeln!(t, "  {} {e}", if i == d.index { ">>" } else { "  " });
        }
        if expected.is_empty() {
            let _ = writeln!(t, "     (no packets)");
        }
        let _ = writeln!(t, "  observed:");
        for (i, s) in seen.iter().enumerate() {
            let _ = writeln!(t, "  {} {s}", if i == d.index { ">>" } else { "  " });
        }
        if seen.is_empty() {
            let _ = writeln!(t, "     (no packets)");
        }
        StepError::at(at_line, t.trim_end())
    }
}

/// Why a packets block failed: traffic went to a port the case does not
/// capture (recording the run would only write down what is missing), or
/// the block itself.
pub(super) fn cause(strays: &Option<String>) -> Cause {
    match strays {
        Some(_) => Cause::StrayTraffic,
        None => Cause::Block,
    }
}
