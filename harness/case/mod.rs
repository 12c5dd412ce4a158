//! Case files: what a case says (this module), how it is read (`parse`),
//! how observations are held against it (`expect`), and how it is played in
//! a lab (`run`).

pub mod calls;
pub mod error;
pub mod expect;
pub mod family;
pub mod info;
pub mod outcome;
pub mod parse;
pub mod record;
pub mod rows;
pub mod run;

use std::path::PathBuf;

use crate::faults::{Action, Direction, FlagMatch, Link, Rule, Which};
use crate::icmp::Unreachable;
use crate::inject::SegmentSpec;
use crate::kernel::{Kernel, Requirement};
use crate::lab::Side;
use crate::route::Metric;
use crate::sockets::Family;
use calls::CallExpect;
use expect::PacketExpect;
use rows::{FdExpect, SocketExpect, Window};

/// A parsed case file.
#[derive(Clone, Debug)]
pub struct Case {
    /// The file's stem: `teardown` for cases/teardown.case.
    pub name: String,
    pub path: PathBuf,
    /// The TCP port the capture filters on (`port N`; 11111 by default, the seed's).
    pub port: u16,
    /// `ours-only REASON`: the case pins a documented difference between
    /// the project's nc and ncat, so a differential run (NC=ncat) leaves it
    /// out and says why.
    pub ours_only: Option<String>,
    /// `ipv4-only REASON` (or `ipv6-only`): the case makes sense in one
    /// address family only, so a run in the other (`TCPLAB_FAMILY`) leaves
    /// it out and says why.
    pub family_only: Option<(Family, String)>,
    /// `requires sysctl NAME`, `requires kernel 6.5`, ...: what the whole
    /// case needs of the kernel; where one is missing the case is skipped
    /// with the reason (see [`Case::skipped`]).
    pub requires: Vec<Requirement>,
    pub items: Vec<Item>,
}

impl Case {
    /// The items a run with `nc` plays, in the file's order: the unmarked
    /// ones and those marked for `nc` (family and kernel marks aside: see
    /// [`Case::items_played`]).
    pub fn items_for(&self, nc: Implementation) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(move |i| i.applies_to(nc))
    }

    /// The items a run with `nc` in `family` on `kernel` plays, in the
    /// file's order.
    pub fn items_played<'a>(
        &'a self,
        nc: Implementation,
        family: Family,
        kernel: &'a Kernel,
    ) -> impl Iterator<Item = &'a Item> {
        self.items
            .iter()
            .filter(move |i| i.skipped(nc, family, kernel).is_none())
    }

    /// Why a run with `nc` in `family` on `kernel` leaves the whole case
    /// out, or None when it plays it: a difference from ncat it pins
    /// (`ours-only: REASON`), a family it is not for (`ipv4-only:
    /// REASON`), a requirement the kernel does not meet, or every step
    /// marked for another kernel.
    pub fn skipped(&self, nc: Implementation, family: Family, kernel: &Kernel) -> Option<String> {
        if let Some(why) = self
            .ours_only
            .as_ref()
            .filter(|_| nc != Implementation::Ours)
        {
            return Some(format!("ours-only: {why}"));
        }
        if let Some((only, why)) = self.family_only.as_ref().filter(|(f, _)| *f != family) {
            return Some(format!("{}-only: {why}", family_word(*only)));
        }
        if let Some(why) = self.requires.iter().find_map(|r| kernel.check(r).err()) {
            return Some(why.to_string());
        }
        if self.items_played(nc, family, kernel).next().is_none() {
            return Some(format!(
                "no step plays on kernel {}: each is marked for another kernel",
                kernel.release
            ));
        }
        None
    }
}

/// One step or expectation, with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub line: usize,
    /// `ours: STEP` or `ncat: STEP`: the item belongs to one
    /// implementation's behaviour and is skipped (and logged so) when the
    /// other one is under test; None for the items both run.
    pub only: Option<Implementation>,
    /// `ipv4: STEP` or `ipv6: STEP`: the item belongs to one address
    /// family (a syscall's sockaddr, the MSS a SYN offers) and is skipped
    /// in a run in the other (see [`family`]); None for the items both run.
    pub family: Option<Family>,
    /// `kernel>=6.5: STEP`, `sysctl NAME: STEP`, ...: the item is played
    /// only on a kernel that meets this, and logged as skipped elsewhere;
    /// None for the items every kernel plays.
    pub when: Option<Requirement>,
    pub kind: ItemKind,
}

/// Which nc a case runs against: the project's own, or a system ncat (a
/// differential run, `NC=ncat`). The runner knows which (it chose the
/// program); a case's `ours:` / `ncat:` marks are held against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    Ours,
    Ncat,
}

impl Implementation {
    /// The mark's word: `ours`, `ncat`.
    pub fn word(self) -> &'static str {
        match self {
            Implementation::Ours => "ours",
            Implementation::Ncat => "ncat",
        }
    }
}

impl std::fmt::Display for Implementation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// The word of an address family's mark: `ipv4`, `ipv6` (`ipv6: syscalls
/// client`; see [`family`]).
pub fn family_word(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

impl Item {
    /// Whether the item runs when `nc` is the implementation under test.
    pub fn applies_to(&self, nc: Implementation) -> bool {
        self.only.is_none_or(|only| only == nc)
    }

    /// Whether the item runs in a run in `family`.
    pub fn in_family(&self, family: Family) -> bool {
        self.family.is_none_or(|f| f == family)
    }

    /// Why a run with `nc` in `family` on `kernel` skips the item (`ncat
    /// only`, `ipv6 only`, `needs kernel 6.5 or later (this is 6.1.0)`), or
    /// None when it plays it.
    pub fn skipped(&self, nc: Implementation, family: Family, kernel: &Kernel) -> Option<String> {
        if let Some(only) = self.only.filter(|_| !self.applies_to(nc)) {
            return Some(format!("{only} only"));
        }
        if let Some(f) = self.family.filter(|_| !self.in_family(family)) {
            return Some(format!("{} only", family_word(f)));
        }
        kernel
            .check(self.when.as_ref()?)
            .err()
            .map(|m| m.to_string())
    }
}

impl std::fmt::Display for Item {
    /// The line as the case file writes it, marks included:
    /// `ncat: client ^D`, `ipv6: syscalls client (3 calls)`, `packets (3 lines)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(only) = self.only {
            write!(f, "{only}: ")?;
        }
        if let Some(when) = &self.when {
            write!(f, "{when}: ")?;
        }
        if let Some(family) = self.family {
            write!(f, "{}: ", family_word(family))?;
        }
        write!(f, "{}", self.kind)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `server $ nc -kl 11111`: start a command on a host.
    Start { host: Side, argv: Vec<String> },
    /// `client types 11111`: a line typed into the host's latest command.
    Type { host: Side, text: String },
    /// `client ^C` (SIGINT), `client ^\` (SIGQUIT), `server ^Z` (SIGTSTP),
    /// `server fg` (SIGCONT), `server kill -TERM` (and -KILL, -HUP, -USR1,
    /// -USR2: what `kill` from another terminal sends).
    Signal { host: Side, signal: Interrupt },
    /// `client ^D`: end of input.
    Eof { host: Side },
    /// `server prints 11111`: the command's stdout shows this line.
    Prints { host: Side, text: String },
    /// `server prints nothing`: the command's stdout is still empty once
    /// the lab has settled (e.g. data the kernel must not deliver).
    PrintsNothing { host: Side },
    /// `client exits 0`: the command ends (with this status, if given);
    /// `within 30s`: it may take that long (else the run's deadline).
    Exits {
        host: Side,
        code: Option<i32>,
        within: Option<std::time::Duration>,
    },
    /// A `packets` block: exactly these packets since the previous block.
    /// Usually one list; where the kernel's timing legitimately decides
    /// between forms, the alternatives, separated by `or` lines, each exact.
    Packets(Vec<Vec<PacketExpect>>),
    /// A `packets × N` block: the packets since the previous block are
    /// those of exactly N connections, each on its own client port, and
    /// each connection's packets, in order, are one of the alternatives
    /// (numbered relative to that connection's own ISNs).
    PacketsEach {
        count: usize,
        alts: Vec<Vec<PacketExpect>>,
    },
    /// `repeat N` and indented steps: those steps, in order, N times.
    Repeat { times: u32, steps: Vec<Item> },
    /// `trace server`: commands started on the host from here on run under
    /// ptrace, so a `syscalls` block can be held against them.
    Trace { host: Side },
    /// A `sockets HOST` block: exactly these TCP sockets in the host's
    /// namespace now (ss rows).
    Sockets { host: Side, rows: Vec<SocketExpect> },
    /// An `fds HOST` block: exactly these TCP descriptors in the host's
    /// latest command now (lsof rows).
    Fds { host: Side, rows: Vec<FdExpect> },
    /// A `syscalls HOST` block: these calls of the host's latest (traced)
    /// command, in this order, others allowed in between.
    Syscalls { host: Side, calls: Vec<CallExpect> },
    /// `wait HOST ROW [gone] [at WINDOW]`: until a socket matching ROW
    /// exists (or, with `gone`, none does); with a window, that moment must
    /// fall within it, counted from the start of the previous action.
    Wait {
        host: Side,
        row: SocketExpect,
        gone: bool,
        at: Option<Window>,
    },
    /// `client sends [R] seq rcv_nxt+1`: a crafted segment sent from the
    /// host's veth end as if its kernel had sent it (see `inject`).
    Send { host: Side, spec: SegmentSpec },
    /// `client sends icmp frag-needed mtu 1400`: an ICMP
    /// destination-unreachable message from the host to its peer, quoting
    /// the peer's latest segment (see `inject::icmp`).
    SendIcmp { host: Side, kind: Unreachable },
    /// `drop client > server [F.] first`, `delay ... by 300ms`, `reorder
    /// ...`: a deterministic fault rule, in force from this step until a
    /// `heal` or the end of the case. Its `origin` (file:line) is filled in
    /// when the case runs.
    Fault(Rule),
    /// `heal` (every rule of the lab) or `heal DIR` (those of that
    /// direction): the network behaves again.
    Heal { direction: Option<Direction> },
    /// `netem client > server loss 10% delay 20ms 5ms seed 1`: statistical
    /// faults on one direction (tc-netem's words), replacing the ones
    /// before; applied by the harness's verdict thread, not a qdisc.
    Netem { direction: Direction, link: Link },
    /// `client sysctl net.ipv4.tcp_rfc1337=1`: a sysctl in that host's
    /// namespace only.
    Sysctl {
        host: Side,
        name: String,
        value: String,
    },
    /// `server route rto_min 1s`, `server route window 65535`: a metric on the host's route to the
    /// lab's subnet, in its namespace only (`route`).
    Route { host: Side, metric: Metric },
}

/// The keys a terminal turns into signals, and the signals `kill` sends
/// from another terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// ^C
    Int,
    /// ^\
    Quit,
    /// ^Z: the terminal's stop (SIGTSTP); `HOST fg` resumes.
    Stop,
    /// `fg`: SIGCONT to a stopped command.
    Continue,
    /// `kill -TERM`: a service's request to shut down.
    Term,
    /// `kill -KILL`: no shutdown at all; the kernel closes what it held.
    Kill,
    /// `kill -HUP`, `kill -USR1`, `kill -USR2`: whatever the program
    /// makes of them (reload, reopen logs, ...).
    Hup,
    Usr1,
    Usr2,
}

impl ItemKind {
    /// Actions change the lab; expectations only look at it. Time windows
    /// count from the start of the latest action.
    pub fn is_action(&self) -> bool {
        matches!(
            self,
            ItemKind::Start { .. }
                | ItemKind::Type { .. }
                | ItemKind::Signal { .. }
                | ItemKind::Eof { .. }
                | ItemKind::Send { .. }
                | ItemKind::SendIcmp { .. }
                | ItemKind::Fault(_)
                | ItemKind::Heal { .. }
                | ItemKind::Netem { .. }
                | ItemKind::Sysctl { .. }
                | ItemKind::Route { .. }
        )
    }
}

impl Interrupt {
    pub fn signal(self) -> nix::sys::signal::Signal {
        match self {
            Interrupt::Int => nix::sys::signal::Signal::SIGINT,
            Interrupt::Quit => nix::sys::signal::Signal::SIGQUIT,
            Interrupt::Stop => nix::sys::signal::Signal::SIGTSTP,
            Interrupt::Continue => nix::sys::signal::Signal::SIGCONT,
            Interrupt::Term => nix::sys::signal::Signal::SIGTERM,
            Interrupt::Kill => nix::sys::signal::Signal::SIGKILL,
            Interrupt::Hup => nix::sys::signal::Signal::SIGHUP,
            Interrupt::Usr1 => nix::sys::signal::Signal::SIGUSR1,
            Interrupt::Usr2 => nix::sys::signal::Signal::SIGUSR2,
        }
    }

    /// Whether the step waits for the command to end: the signals whose
    /// default action ends it and that a program does not take as a
    /// request to do something else (^C, ^\\, TERM, KILL).
    pub fn ends_it(self) -> bool {
        matches!(
            self,
            Interrupt::Int | Interrupt::Quit | Interrupt::Term | Interrupt::Kill
        )
    }

    pub fn key(self) -> &'static str {
        match self {
            Interrupt::Int => "^C",
            Interrupt::Quit => "^\\",
            Interrupt::Stop => "^Z",
            Interrupt::Continue => "fg",
            Interrupt::Term => "kill -TERM",
            Interrupt::Kill => "kill -KILL",
            Interrupt::Hup => "kill -HUP",
            Interrupt::Usr1 => "kill -USR1",
            Interrupt::Usr2 => "kill -USR2",
        }
    }
}

/// A `prints` line's text as the case file writes it: in quotes where the
/// bare text would read as something else (`nothing`, a quoted line, blanks
/// at its ends, an empty line).
fn printed(text: &str) -> std::borrow::Cow<'_, str> {
    let quoted = text.len() >= 2 && text.starts_with('"') && text.ends_with('"');
    if text == "nothing" || text.is_empty() || quoted || text.trim() != text {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")).into()
    } else {
        text.into()
    }
}

impl std::fmt::Display for ItemKind {
    /// The step as the case file writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemKind::Start { host, argv } => write!(f, "{host} $ {}", argv.join(" ")),
            ItemKind::Type { host, text } => write!(f, "{host} types {text}"),
            ItemKind::Signal { host, signal } => write!(f, "{host} {}", signal.key()),
            ItemKind::Eof { host } => write!(f, "{host} ^D"),
            ItemKind::Prints { host, text } => write!(f, "{host} prints {}", printed(text)),
            ItemKind::PrintsNothing { host } => write!(f, "{host} prints nothing"),
            ItemKind::Exits { host, code, within } => {
                write!(f, "{host} exits")?;
                if let Some(c) = code {
                    write!(f, " {c}")?;
                }
                if let Some(d) = within {
                    write!(f, " within {}", rows::show_duration(*d))?;
                }
                Ok(())
            }
            ItemKind::PacketsEach { count, alts } if alts.len() == 1 => {
                write!(f, "packets × {count} ({} lines each)", alts[0].len())
            }
            ItemKind::PacketsEach { count, alts } => {
                write!(f, "packets × {count} ({} alternatives each)", alts.len())
            }
            ItemKind::Repeat { times, steps } => {
                write!(f, "repeat {times} ({} steps)", steps.len())
            }
            ItemKind::Packets(alts) if alts.len() == 1 => {
                write!(f, "packets ({} lines)", alts[0].len())
            }
            ItemKind::Packets(alts) => write!(f, "packets ({} alternatives)", alts.len()),
            ItemKind::Trace { host } => write!(f, "trace {host}"),
            ItemKind::Sockets { host, rows } => write!(f, "sockets {host} ({} rows)", rows.len()),
            ItemKind::Fds { host, rows } => write!(f, "fds {host} ({} rows)", rows.len()),
            ItemKind::Syscalls { host, calls } => {
                write!(f, "syscalls {host} ({} calls)", calls.len())
            }
            ItemKind::Wait {
                host,
                row,
                gone,
                at,
            } => {
                write!(f, "wait {host} {row}")?;
                if *gone {
                    f.write_str(" gone")?;
                }
                if let Some(w) = at {
                    write!(f, " at {w}")?;
                }
                Ok(())
            }
            ItemKind::Send { host, spec } => write!(f, "{host} sends {spec}"),
            ItemKind::SendIcmp { host, kind } => write!(f, "{host} sends icmp {kind}"),
            ItemKind::Fault(rule) => f.write_str(&rule_text(rule)),
            ItemKind::Heal { direction: None } => f.write_str("heal"),
            ItemKind::Heal { direction: Some(d) } => write!(f, "heal {d}"),
            ItemKind::Netem { direction, link } => write!(f, "netem {direction} {link}"),
            ItemKind::Sysctl { host, name, value } => write!(f, "{host} sysctl {name}={value}"),
            ItemKind::Route { host, metric } => write!(f, "{host} route {metric}"),
        }
    }
}

/// A rule in the case notation: `drop client > server [F.] first`,
/// `delay server > client [*] data #2..3 by 300ms`.
pub fn rule_text(rule: &Rule) -> String {
    let flags = match rule.flags {
        FlagMatch::Any => "[*]".to_string(),
        FlagMatch::Data => "[*] data".to_string(),
        other => other.to_string(),
    };
    let which = match rule.which {
        Which::Nth(1) => "first".to_string(),
        Which::Nth(n) => format!("#{n}"),
        Which::Range(a, b) => format!("#{a}..{b}"),
        Which::Every => "all".to_string(),
    };
    let (verb, by) = match rule.action {
        Action::Drop => ("drop", String::new()),
        Action::Delay(d) => ("delay", format!(" by {}", rows::show_duration(d))),
        Action::Reorder => ("reorder", String::new()),
        Action::Duplicate => ("duplicate", String::new()),
    };
    format!("{verb} {} {flags} {which}{by}", rule.direction)
}

#[cfg(test)]
mod many_tests;
#[cfg(test)]
mod tests;
