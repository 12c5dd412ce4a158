//! Waiting for the lab to go quiet: `wait` steps, and the settle before a
//! block is judged.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::super::rows::{SocketExpect, Window};
use super::pace::{self, Backoff};
use super::session::{Session, StepError};
use crate::lab::Side;
use crate::sockets::{self, SocketRow};

impl Session<'_> {
    pub(super) fn wait(
        &mut self,
        line: usize,
        host: Side,
        row: &SocketExpect,
        gone: bool,
        at: Option<Window>,
    ) -> Result<(), StepError> {
        let since = self.clock.last_action;
        let tol = self.opts.tolerance;
        // The window as judged: the run's tolerance wider on both sides.
        let judged = at.map(|w| w.widened(tol.0));
        let deadline = match judged {
            Some(w) => super::limits::capped(
                since,
                w.hi.saturating_add(Duration::from_secs(1)),
                self.clock.end,
            ),
            None => self.deadline(),
        };
        let what = format!(
            "{} socket `{row}` on {host}",
            if gone { "the end of the" } else { "a" }
        );
        let mut backoff = Backoff::new();
        let mut seen = self.capture_ref().activity();
        loop {
            let rows = self.rows_of(line, host, row.wants_info())?;
            let present = rows.iter().any(|r| row.matches(r));
            if present != gone {
                let after = since.elapsed();
                if let Some(w) = at {
                    if !tol.holds(w, after) {
                        return Err(StepError::at(line, format!("waited for {what}: it came {} after the previous action, outside {w}{}", super::super::rows::show_duration(Duration::from_millis(after.as_millis() as u64)), tol.note())));
                    }
                }
                self.log.push(format!(
                    "{:>7.3}s  {line}: seen after {:.3}s",
                    self.clock.start.elapsed().as_secs_f64(),
                    after.as_secs_f64()
                ));
                return Ok(());
            }
            if Instant::now() >= deadline {
                let mut t = format!(
                    "timed out after {:.1}s waiting for {what}; sockets now:",
                    since.elapsed().as_secs_f64()
                );
                for r in &rows {
                    let _ = write!(t, "\n    {r}");
                }
                return Err(StepError::at(line, t));
            }
            let pause = match judged {
                Some(w) => pace::near_edges(w, since.elapsed()),
                None => backoff.pause(),
            };
            self.pause(pause, deadline, &mut seen, &mut backoff);
        }
    }

    /// Sleeps `pause` (not past `deadline`), woken early by a segment on
    /// the wire; a segment means things move: look quickly again.
    fn pause(&self, pause: Duration, deadline: Instant, seen: &mut u64, backoff: &mut Backoff) {
        let pause = pause.min(deadline.saturating_duration_since(Instant::now()));
        let now = self.capture_ref().wait_activity(*seen, pause);
        if now != *seen {
            *seen = now;
            backoff.reset();
        }
    }

    fn capture_ref(&self) -> &crate::capture::Capture {
        self.capture.as_ref().expect("capture lives until the end")
    }

    /// Waits until no socket of either host is in a state the kernel leaves
    /// by itself, no data is unacknowledged, and every process of the case
    /// (the commands, what they started, whatever else is in the hosts'
    /// namespaces: `procs::Watch`) sleeps in a system call or is gone; then
    /// reads the capture to its end. Looks at sock_diag and /proc under the
    /// deadline, quickly at first, then less often, and again at once when a
    /// segment goes by (`pace`).
    ///
    /// A sender waiting on a zero window counts as settled
    /// ([`sockets::zero_window`]): a stopped reader holds it there for as
    /// long as the case wants. Under fault rules, a socket that is not
    /// settled by itself counts as settled while it is waiting on a rule
    /// (`waiting_on_rule`): held in FIN-WAIT-1 by a dropped ACK, it stays
    /// there until its retransmission timer fires, and a `sockets` block
    /// must be able to see it. When the deadline passes, the message says
    /// of each socket why it held the lab or why it did not.
    pub(super) fn settle(&mut self, line: usize) -> Result<(), StepError> {
        let deadline = self.deadline();
        let faulty = !self.rules.written.is_empty();
        let mut backoff = Backoff::new();
        let mut seen = self.capture_ref().activity();
        loop {
            if faulty {
                self.capture
                    .as_mut()
                    .expect("capture lives until the end")
                    .poll()
                    .map_err(|e| StepError::at(line, e.to_string()))?;
                self.rules
                    .faults
                    .health()
                    .map_err(|e| StepError::at(line, e.to_string()))?;
            }
            // Listeners are always settled: the kernel need not walk them.
            let rows = self.dump(line, false)?;
            let quiet_sockets = rows.iter().all(|(_, r)| {
                r.iter().all(|row| {
                    sockets::settled(std::slice::from_ref(row))
                        || (faulty && self.waiting_on_rule(row))
                })
            });
            // Processes are looked at (procs::Watch) once sockets are quiet.
            let quiet_procs = quiet_sockets && self.commands.idle();
            if quiet_sockets && quiet_procs {
                break;
            }
            if Instant::now() >= deadline {
                let rows = self.dump(line, true).unwrap_or(rows);
                let mut why = format!(
                    "timed out after {:?} waiting for the lab to settle (sockets in stable states, every process waiting on the case)",
                    self.opts.deadline
                );
                for (side, r) in &rows {
                    for row in r {
                        let _ = write!(why, "\n    {side}: {row}{}", self.verdict(row, faulty));
                    }
                }
                for (side, p) in &self.commands.procs {
                    let _ = write!(
                        why,
                        "\n    {side}: `{}` pid {} {}",
                        p.label(),
                        p.pid(),
                        p.doing()
                    );
                }
                for b in self.commands.busy.iter().filter(|_| quiet_sockets) {
                    let _ = write!(why, "\n    {b}");
                }
                why += &self.rules_text();
                return Err(StepError::at(line, why));
            }
            let pause = backoff.pause();
            self.pause(pause, deadline, &mut seen, &mut backoff);
        }
        self.capture
            .as_mut()
            .expect("capture lives until the end")
            .poll()
            .map_err(|e| StepError::at(line, e.to_string()))?;
        Ok(())
    }

    /// What a settle that timed out says of a socket: why it is not
    /// settled, or why it counts as settled though data is unacknowledged
    /// (a zero window, a rule), so the reader sees which socket held the
    /// lab and which did not.
    fn verdict(&self, row: &SocketRow, faulty: bool) -> String {
        if sockets::zero_window(row) {
            return "   <- settled: waiting on a zero window (persist timer armed; only the peer's reader opens it)".into();
        }
        match sockets::unsettled(row) {
            None => String::new(),
            Some(_) if faulty && self.waiting_on_rule(row) => {
                "   <- settled: waiting on a rule".into()
            }
            Some(why) => format!("   <- not settled: {why}"),
        }
    }

    /// Both hosts' sockets; without `listeners`, all but the listening
    /// ones ([`crate::sockets::SockDiag::dump_connections`]).
    pub(super) fn dump(
        &self,
        line: usize,
        listeners: bool,
    ) -> Result<Vec<(Side, Vec<SocketRow>)>, StepError> {
        [Side::Client, Side::Server]
            .iter()
            .zip(&self.diag)
            .map(|(side, d)| {
                match listeners {
                    true => d.dump(),
                    false => d.dump_connections(),
                }
                .map(|r| (*side, r))
                .map_err(|e| StepError::at(line, e.to_string()))
            })
            .collect()
    }
}
