//! The set blocks: `sockets`, `fds`, `syscalls` checked against what the
//! kernel shows.

use std::fmt::Write as _;

use super::super::calls::CallExpect;
use super::super::rows::{match_counted, match_set, SocketExpect};
use super::clock::now;
use super::failure::set_failure;
use super::session::{Session, StepError};
use crate::case::outcome::{Cause, Observation};
use crate::case::outcome::{Event, Timed};
use crate::fds::{self, FdRow};
use crate::lab::Side;
use crate::sockets::SocketRow;

impl Session<'_> {
    /// The host's sockets; with `info`, each with what `ss -ti` shows.
    pub(super) fn rows_of(
        &self,
        line: usize,
        host: Side,
        info: bool,
    ) -> Result<Vec<SocketRow>, StepError> {
        let i = Side::ALL
            .iter()
            .position(|s| *s == host)
            .expect("two sides");
        let diag = &self.diag[i];
        match info {
            true => diag.dump_info(),
            false => diag.dump(),
        }
        .map_err(|e| StepError::at(line, e.to_string()))
    }

    pub(super) fn sockets(
        &mut self,
        line: usize,
        host: Side,
        expected: &[SocketExpect],
    ) -> Result<(), StepError> {
        self.settle(line)?;
        let info = expected.iter().any(SocketExpect::wants_info);
        let observed = self.rows_of(line, host, info)?;
        self.observe(line, Observation::Sockets(observed.clone()));
        let (short, extra) = match_counted(expected, |e| e.count, &observed, |e, o| e.matches(o));
        if short.is_empty() && extra.is_empty() {
            self.state_events(host, &observed);
            return Ok(());
        }
        let shown: Vec<String> = observed.iter().map(|r| r.to_string()).collect();
        let missing: Vec<usize> = short.iter().map(|(e, _)| *e).collect();
        let rows = expected.iter().enumerate().map(|(i, e)| {
            let got = short.iter().find(|(s, _)| *s == i).map(|(_, got)| *got);
            let text = match got {
                Some(got) if e.count > 1 => format!("{e}   ({got} of {} seen)", e.count),
                _ => e.to_string(),
            };
            (e.line, text)
        });
        self.judged(
            Cause::Block,
            set_failure(
                &format!("sockets on {host}"),
                line,
                rows.collect(),
                &missing,
                &format!(
                    "observed ({} in the {host} namespace)",
                    if info { "ss -tanoiO" } else { "ss -tan -o" }
                ),
                shown,
                &extra,
            ),
        )
    }

    /// The ladder's note of each socket state a sockets block saw (not
    /// LISTEN): alike ones once, with their number (`1000 × TIME-WAIT
    /// 59s`).
    fn state_events(&mut self, host: Side, observed: &[SocketRow]) {
        let mut texts: Vec<(String, usize)> = Vec::new();
        for r in observed
            .iter()
            .filter(|r| r.state != crate::sockets::TcpState::Listen)
        {
            let text = match &r.timer {
                Some(t) if r.state == crate::sockets::TcpState::TimeWait => {
                    format!("{} {}s", r.state, t.left.as_secs())
                }
                _ => r.state.to_string(),
            };
            match texts.iter_mut().find(|(t, _)| *t == text) {
                Some((_, n)) => *n += 1,
                None => texts.push((text, 1)),
            }
        }
        for (text, n) in texts {
            let text = if n > 1 {
                format!("{n} × {text}")
            } else {
                text
            };
            self.events.push(Timed {
                at: now(),
                event: Event::State { side: host, text },
            });
        }
    }

    pub(super) fn fds(
        &mut self,
        line: usize,
        host: Side,
        expected: &[super::super::rows::FdExpect],
    ) -> Result<(), StepError> {
        self.settle(line)?;
        let rows = self.rows_of(line, host, false)?;
        let p = self.latest(host, line)?;
        let (pid, label) = (p.pid(), p.label().to_string());
        let observed: Vec<FdRow> = fds::socket_fds(pid, &rows)
            .map_err(|e| StepError::at(line, format!("fds of `{label}` (pid {pid}): {e}")))?;
        self.observe(line, Observation::Fds(observed.clone()));
        let (missing, extra) = match_set(expected, &observed, |e, o| e.matches(o));
        if missing.is_empty() && extra.is_empty() {
            return Ok(());
        }
        self.judged(
            Cause::Block,
            set_failure(
                &format!("descriptors of `{label}` on {host}"),
                line,
                expected.iter().map(|e| (e.line, e.to_string())).collect(),
                &missing,
                &format!("observed (lsof -nP -i -p {pid}, from /proc and sock_diag)"),
                observed.iter().map(|r| r.to_string()).collect(),
                &extra,
            ),
        )
    }

    pub(super) fn syscalls(
        &mut self,
        line: usize,
        host: Side,
        expected: &[CallExpect],
    ) -> Result<(), StepError> {
        self.settle(line)?;
        self.latest(host, line)?;
        let result = self.calls_hold(line, host, expected);
        let failure = result
            .as_ref()
            .err()
            .map(|e| format!("{}:{}: {}", self.case.path.display(), e.line, e.shown()));
        self.observe(line, Observation::Syscalls(failure));
        match result {
            Ok(()) => Ok(()),
            // Not recorded: record mode leaves a syscalls block as written.
            Err(e) => self.judged(Cause::Syscalls, e),
        }
    }

    /// Whether the calls of the host's latest command hold the block.
    pub(super) fn calls_hold(
        &mut self,
        line: usize,
        host: Side,
        expected: &[CallExpect],
    ) -> Result<(), StepError> {
        let p = self.latest(host, line)?;
        let label = p.label().to_string();
        let records = p.syscalls();
        if !p.traced() {
            return Err(StepError::at(
                line,
                format!(
                    "`{label}` on {host} is not traced: write `trace {host}` before starting it"
                ),
            ));
        }
        let mut next = 0;
        let since = self.clock.last_action;
        for (i, e) in expected.iter().enumerate() {
            let found = records[next..].iter().position(|r| {
                e.matches(&r.name, &r.args, r.ret, crate::syscalls::errno_name(r.ret))
            });
            match found {
                Some(k) => {
                    next += k + 1;
                    if let Some(late) = e.at.and_then(|w| {
                        returned_outside(w, &records[next - 1], since, self.opts.tolerance)
                    }) {
                        let mut t = format!("system calls of `{label}` on {host}: `{e}` {late}\n  observed (ptrace):\n");
                        for (j, r) in records.iter().enumerate() {
                            let _ =
                                writeln!(t, "  {} {r}", if j + 1 == next { ">>" } else { "  " });
                        }
                        return Err(StepError::at(e.line, t.trim_end().to_string()));
                    }
                }
                None => {
                    let mut t = format!(
                        "system calls of `{label}` on {host}: no `{e}` after the calls matched so far (line {} of the block)\n  expected, in order:\n",
                        i + 1
                    );
                    for (j, e) in expected.iter().enumerate() {
                        let _ = writeln!(t, "  {} {e}", if i == j { ">>" } else { "  " });
                    }
                    let _ = writeln!(
                        t,
                        "  observed (ptrace; the first {next} matched up to the `<<` mark):"
                    );
                    for (j, r) in records.iter().enumerate() {
                        let _ = writeln!(t, "  {} {r}", if j + 1 == next { "<<" } else { "  " });
                    }
                    return Err(StepError::at(e.line, t.trim_end().to_string()));
                }
            }
        }
        Ok(())
    }
}

/// Why a call that returned at `r.returned` is outside `window` widened
/// by `tol` (counted from `since`, the latest action's start), or None.
fn returned_outside(
    window: crate::notation::Window,
    r: &crate::syscalls::Record,
    since: std::time::Instant,
    tol: crate::notation::duration::Tolerance,
) -> Option<String> {
    match r.returned.checked_duration_since(since) {
        Some(t) if tol.holds(window, t) => None,
        Some(t) => Some(format!(
            "returned {:.3}s after the latest action began, outside {window}{}",
            t.as_secs_f64(),
            tol.note()
        )),
        None => Some(format!(
            "returned {:.3}s before the latest action began, outside {window}{}",
            since.duration_since(r.returned).as_secs_f64(),
            tol.note()
        )),
    }
}
