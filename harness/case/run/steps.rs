//! Running one step: start, type, signal, ^D, prints, exits, trace, wait,
//! and the blocks, each dispatched to where it is checked.

use std::path::PathBuf;
use std::time::Instant;

use super::super::rows::show_duration;
use super::super::{Interrupt, Item, ItemKind};
use super::session::{Session, StepError};
use crate::host::{Process, Spawn};
use crate::lab::Side;

impl Session<'_> {
    pub(super) fn step(&mut self, item: &Item) -> Result<(), StepError> {
        let line = item.line;
        match &item.kind {
            ItemKind::Start { host, argv } => self.start(line, *host, argv),
            ItemKind::Type { host, text } => {
                self.latest(*host, line)?
                    .type_line(text)
                    .map_err(|e| StepError::at(line, e.to_string()))?;
                self.settle(line)
            }
            ItemKind::Eof { host } => {
                self.latest(*host, line)?.close_stdin();
                self.settle(line)
            }
            ItemKind::Signal { host, signal } => {
                let deadline = self.deadline();
                let p = self.latest(*host, line)?;
                p.signal(signal.signal())
                    .map_err(|e| StepError::at(line, e.to_string()))?;
                match signal {
                    s if s.ends_it() => {
                        p.wait_exit(deadline).map_err(|e| {
                            StepError::at(line, format!("after {}: {e}", signal.key()))
                        })?;
                    }
                    Interrupt::Stop => wait_state(p, true, deadline)
                        .map_err(|e| StepError::at(line, format!("after ^Z: {e}")))?,
                    Interrupt::Continue => wait_state(p, false, deadline)
                        .map_err(|e| StepError::at(line, format!("after fg: {e}")))?,
                    _ => {}
                }
                self.settle(line)
            }
            ItemKind::Exits { host, code, within } => self.exits(line, *host, *code, *within),
            ItemKind::Prints { host, text } => {
                let deadline = self.deadline();
                let p = self.latest(*host, line)?;
                if !p.wait_stdout_line(text, deadline) {
                    return Err(StepError::at(
                        line,
                        format!(
                            "`{}` did not print the line {text:?}; its stdout: {}",
                            p.label(),
                            p.stdout()
                        ),
                    ));
                }
                Ok(())
            }
            ItemKind::PrintsNothing { host } => {
                self.settle(line)?;
                let p = self.latest(*host, line)?;
                // The program sleeps: whatever it printed is in its pipe,
                // if not yet in our file.
                p.catch_up_output();
                let out = p.stdout();
                if !out.is_empty() {
                    return Err(StepError::at(
                        line,
                        format!(
                            "`{}` printed output where nothing was expected yet; its stdout: {out}",
                            p.label()
                        ),
                    ));
                }
                Ok(())
            }
            ItemKind::Packets(alts) => self.packets(line, alts),
            ItemKind::PacketsEach { count, alts } => self.packets_each(line, *count, alts),
            ItemKind::Repeat { times, steps } => self.repeat(line, *times, steps),
            ItemKind::Trace { host } => {
                self.commands.traced.push(*host);
                Ok(())
            }
            ItemKind::Sockets { host, rows } => self.sockets(line, *host, rows),
            ItemKind::Fds { host, rows } => self.fds(line, *host, rows),
            ItemKind::Syscalls { host, calls } => self.syscalls(line, *host, calls),
            ItemKind::Wait {
                host,
                row,
                gone,
                at,
            } => self.wait(line, *host, row, *gone, *at),
            ItemKind::Send { host, spec } => self.send(line, *host, spec),
            ItemKind::SendIcmp { host, kind } => self.send_icmp(line, *host, *kind),
            ItemKind::Fault(rule) => self.fault(line, rule),
            ItemKind::Heal { direction } => self.heal(line, *direction),
            ItemKind::Netem { direction, link } => self.netem(line, *direction, link),
            ItemKind::Sysctl { host, name, value } => self.sysctl(line, *host, name, value),
            ItemKind::Route { host, metric } => crate::route::set(&self.lab, *host, *metric)
                .map_err(|e| StepError::at(line, e.to_string())),
        }
    }
}

impl Session<'_> {
    /// `HOST exits [CODE] [within DUR]`: its end (pidfd), under DUR (and
    /// the run's timing tolerance) or the run's deadline.
    fn exits(
        &mut self,
        line: usize,
        host: Side,
        code: Option<i32>,
        within: Option<std::time::Duration>,
    ) -> Result<(), StepError> {
        let deadline = match within {
            Some(d) => super::limits::capped(
                Instant::now(),
                d.saturating_add(self.opts.tolerance.0),
                self.clock.end,
            ),
            None => self.deadline(),
        };
        let tol = self.opts.tolerance;
        let p = self.latest(host, line)?;
        let status = p.wait_exit(deadline).map_err(|e| match within {
            Some(d) if !tol.is_zero() => StepError::at(
                line,
                format!("{e} (within {}{})", show_duration(d), tol.note()),
            ),
            _ => StepError::at(line, e.to_string()),
        })?;
        if let Some(want) = code {
            if status.code() != Some(want) {
                return Err(StepError::at(
                    line,
                    format!(
                        "`{}` ended with {status}, expected exit status {want}",
                        p.label()
                    ),
                ));
            }
        }
        self.settle(line)
    }

    /// `HOST $ COMMAND`: `nc` is the nc under test, anything else is looked
    /// up on PATH; `$NC` in a word is the nc under test too, for pipelines:
    /// `server $ sh -c '$NC -l 11111 | sha256sum'`.
    fn start(&mut self, line: usize, host: Side, argv: &[String]) -> Result<(), StepError> {
        let program = if argv[0] == "nc" {
            self.opts.nc.clone()
        } else {
            PathBuf::from(&argv[0])
        };
        let nc = self.opts.nc.display().to_string();
        let spawn = Spawn {
            program,
            args: argv[1..]
                .iter()
                .map(|a| a.replace("$NC", &nc).into())
                .collect(),
            label: argv.join(" "),
            trace: self.commands.traced.contains(&host),
        };
        let stem = (self.opts.out_dir).join(format!("{}.line{line}.{host}", self.case.name));
        let p = Process::spawn_keeping_output(self.lab.netns(host), &spawn, Some(&stem))
            .map_err(|e| StepError::at(line, e.to_string()))?;
        self.commands.procs.push((host, p));
        self.settle(line)
    }
}

/// What the ladder writes beside a host for an action: the command, or the
/// key pressed.
pub(super) fn ladder_step(kind: &ItemKind) -> Option<(Side, String)> {
    match kind {
        ItemKind::Start { host, argv } => Some((*host, argv.join(" "))),
        ItemKind::Type { host, text } => Some((*host, format!("types {text}"))),
        ItemKind::Signal { host, signal } => Some((*host, signal.key().to_string())),
        ItemKind::Eof { host } => Some((*host, "^D".into())),
        _ => None,
    }
}

/// Waits until the process is stopped (state T), or no longer stopped,
/// looking at /proc under the deadline, quickly at first.
fn wait_state(p: &Process, stopped: bool, deadline: Instant) -> Result<(), String> {
    let mut backoff = super::pace::Backoff::new();
    loop {
        let state = p.state();
        if (state == "T") == stopped {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "`{}` (pid {}) did not {} (state {state})",
                p.label(),
                p.pid(),
                if stopped { "stop" } else { "resume" }
            ));
        }
        let pause = backoff
            .pause()
            .min(deadline.saturating_duration_since(Instant::now()));
        std::thread::sleep(pause); // the pause of this wait, backing off
    }
}
