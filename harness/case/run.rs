//! Playing a case in a fresh lab: each step, then the waits that make it
//! deterministic (the lab settled, the capture read to the end), then the
//! expectations held against what the kernel showed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::calls::CallExpect;
use super::expect::{compare, PacketExpect, Seen};
use super::rows::{match_set, SocketExpect, Window};
use super::{Case, Interrupt, Item, ItemKind};
use crate::capture::Capture;
use crate::fds::{self, FdRow};
use crate::host::{Process, Spawn};
use crate::lab::{Lab, Side};
use crate::packet::Packet;
use crate::report::ladder::{Event, Timed};
use crate::report::sidebyside::{self, Arrow};
use crate::sockets::{self, SockDiag, SocketRow};

/// How cases are run: which nc, where files go, how long a wait may take.
#[derive(Clone, Debug)]
pub struct Options {
    /// What `nc` in a case runs: the project's nc, or another (NC=ncat).
    pub nc: PathBuf,
    /// Where `<case>.pcap` is written.
    pub out_dir: PathBuf,
    /// The deadline of every wait.
    pub deadline: Duration,
    /// Record mode (TCPLAB_RECORD=1): a block that does not hold is not a
    /// failure; what it observed is kept in `Outcome::observed` and the run
    /// goes on, so `record` can rewrite the case from it.
    pub record: bool,
}

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

impl Outcome {
    /// The packets in the case notation, one per line.
    pub fn packet_lines(&self) -> Vec<String> {
        Seen::all(&self.packets)
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

/// Why a case failed: the whole text a person reads, `file:line:` first.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn run(case: &Case, opts: &Options) -> Result<Outcome, Failure> {
    let at = |line: usize| format!("{}:{}", case.path.display(), line);
    let lab = Lab::new(&case.name).map_err(|e| Failure(format!("{}: lab: {e}", at(1))))?;
    let pcap = opts.out_dir.join(format!("{}.pcap", case.name));
    let capture = Capture::open(
        lab.netns(Side::Server),
        Side::Server.iface(),
        &format!("tcp port {}", case.port),
        &pcap,
    )
    .map_err(|e| Failure(format!("{}: capture: {e}", at(1))))?;
    let diag = [Side::Client, Side::Server].map(|s| {
        SockDiag::open(lab.netns(s)).map_err(|e| Failure(format!("{}: sock_diag: {e}", at(1))))
    });
    let [dc, ds] = diag;
    let mut s = Session {
        case,
        opts,
        procs: Vec::new(),
        capture: Some(capture),
        diag: [dc?, ds?],
        claimed: 0,
        block_start: 0,
        start: Instant::now(),
        last_action: Instant::now(),
        traced: Vec::new(),
        log: Vec::new(),
        events: Vec::new(),
        observed: Vec::new(),
        pcap,
        lab,
    };
    let result = s.play();
    let packets = s
        .capture
        .as_ref()
        .map(|c| c.packets().to_vec())
        .unwrap_or_default();
    let finished = s.capture.take().map(|c| c.finish());
    hand_back(&s.pcap);
    let mut text = match result {
        Ok(()) => String::new(),
        Err((line, msg)) => format!("{}: {msg}\n", at(line)),
    };
    match finished {
        Some(Ok(sum)) if sum.dropped > 0 || sum.if_dropped > 0 => {
            let _ = writeln!(
                text,
                "{}: the capture is incomplete: libpcap dropped {} packets ({} by the interface); the trace cannot be trusted",
                at(1),
                sum.dropped,
                sum.if_dropped
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(text, "{}: capture: {e}", at(1));
        }
        _ => {}
    }
    if text.is_empty() {
        return Ok(Outcome {
            packets,
            pcap: s.pcap.clone(),
            log: std::mem::take(&mut s.log),
            events: std::mem::take(&mut s.events),
            observed: std::mem::take(&mut s.observed),
        });
    }
    let _ = writeln!(text, "  steps run:");
    for l in &s.log {
        let _ = writeln!(text, "    {l}");
    }
    for (side, p) in &s.procs {
        let err = p.stderr();
        if !err.trim().is_empty() {
            let _ = writeln!(
                text,
                "  stderr of `{}` on {side}: {}",
                p.label(),
                err.trim_end()
            );
        }
    }
    if !packets.is_empty() {
        let _ = writeln!(text, "  the whole capture, as tcpdump -nn -r prints it:");
        for l in crate::report::tcpdump::lines(&packets) {
            let _ = writeln!(text, "    {l}");
        }
    }
    let _ = writeln!(
        text,
        "  capture: {}  (read it with: tcpdump -nn -r {})",
        s.pcap.display(),
        s.pcap.display()
    );
    Err(Failure(text))
}

/// A step's failure: the line it is attributed to and what went wrong.
type StepError = (usize, String);

struct Session<'a> {
    case: &'a Case,
    opts: &'a Options,
    // Field order is drop order: processes die before the lab goes.
    procs: Vec<(Side, Process)>,
    capture: Option<Capture>,
    diag: [SockDiag; 2],
    /// Packets already claimed by earlier `packets` blocks.
    claimed: usize,
    /// Where the latest block's packets began.
    block_start: usize,
    start: Instant,
    /// When the latest action (start, type, signal, ^D) began: time
    /// windows count from here.
    last_action: Instant,
    /// Hosts whose commands run under ptrace (`trace HOST`).
    traced: Vec<Side>,
    log: Vec<String>,
    events: Vec<Timed>,
    /// What each block observed (see `Outcome::observed`).
    observed: Vec<Observed>,
    pcap: PathBuf,
    lab: Lab,
}

impl Session<'_> {
    fn play(&mut self) -> Result<(), StepError> {
        let items = &self.case.items;
        for item in items {
            self.log.push(format!(
                "{:>7.3}s  {}: {}",
                self.start.elapsed().as_secs_f64(),
                item.line,
                item.kind
            ));
            if item.kind.is_action() {
                self.last_action = Instant::now();
                if let Some((side, text)) = ladder_step(&item.kind) {
                    self.events.push(Timed {
                        at: now(),
                        event: Event::Step { side, text },
                    });
                }
            }
            self.step(item)?;
        }
        // The case is over when the lab settles; only then is "no more
        // packets" judged for a block that ends the case.
        let last = items.last().expect("a parsed case has items");
        self.settle(last.line)?;
        if let ItemKind::Packets(alts) = &last.kind {
            let seen = self.seen();
            if seen.len() > self.claimed {
                let block = &seen[self.block_start..];
                self.observe(last.line, Observation::Packets(block.to_vec()));
                let failure = self.block_failure(alts, block, last.line);
                return self.judged(failure);
            }
        }
        Ok(())
    }

    /// Keeps what the block at `line` observed, replacing an earlier
    /// observation of the same block.
    fn observe(&mut self, line: usize, what: Observation) {
        self.observed.retain(|o| o.line != line);
        self.observed.push(Observed { line, what });
    }

    /// A block that does not hold: the case fails, except in record mode,
    /// where its observation is what counts and the run goes on.
    fn judged(&self, failure: StepError) -> Result<(), StepError> {
        if self.opts.record {
            Ok(())
        } else {
            Err(failure)
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.opts.deadline
    }

    fn latest(&mut self, host: Side, line: usize) -> Result<&mut Process, StepError> {
        self.procs
            .iter_mut()
            .rev()
            .find(|(s, _)| *s == host)
            .map(|(_, p)| p)
            .ok_or((line, format!("no command was started on {host}")))
    }

    fn step(&mut self, item: &Item) -> Result<(), StepError> {
        let line = item.line;
        match &item.kind {
            ItemKind::Start { host, argv } => {
                let program = if argv[0] == "nc" {
                    self.opts.nc.clone()
                } else {
                    PathBuf::from(&argv[0])
                };
                let spawn = Spawn {
                    program,
                    args: argv[1..].iter().map(Into::into).collect(),
                    label: argv.join(" "),
                    trace: self.traced.contains(host),
                };
                let p = Process::spawn(self.lab.netns(*host), &spawn)
                    .map_err(|e| (line, e.to_string()))?;
                self.procs.push((*host, p));
                self.settle(line)
            }
            ItemKind::Type { host, text } => {
                self.latest(*host, line)?
                    .type_line(text)
                    .map_err(|e| (line, e.to_string()))?;
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
                    .map_err(|e| (line, e.to_string()))?;
                match signal {
                    Interrupt::Int | Interrupt::Quit => {
                        p.wait_exit(deadline)
                            .map_err(|e| (line, format!("after {}: {e}", signal.key())))?;
                    }
                    Interrupt::Stop => wait_state(p, true, deadline)
                        .map_err(|e| (line, format!("after ^Z: {e}")))?,
                    Interrupt::Continue => wait_state(p, false, deadline)
                        .map_err(|e| (line, format!("after fg: {e}")))?,
                }
                self.settle(line)
            }
            ItemKind::Exits { host, code } => {
                let deadline = self.deadline();
                let p = self.latest(*host, line)?;
                let status = p.wait_exit(deadline).map_err(|e| (line, e.to_string()))?;
                if let Some(want) = code {
                    if status.code() != Some(*want) {
                        return Err((
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
            ItemKind::Prints { host, text } => {
                let deadline = self.deadline();
                let p = self.latest(*host, line)?;
                if !p.wait_stdout_line(text, deadline) {
                    return Err((
                        line,
                        format!(
                            "`{}` did not print the line {text:?}; its stdout: {:?}",
                            p.label(),
                            p.stdout()
                        ),
                    ));
                }
                Ok(())
            }
            ItemKind::Packets(alts) => self.packets(line, alts),
            ItemKind::Trace { host } => {
                self.traced.push(*host);
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
        }
    }

    fn rows_of(&self, line: usize, host: Side) -> Result<Vec<SocketRow>, StepError> {
        let i = Side::ALL
            .iter()
            .position(|s| *s == host)
            .expect("two sides");
        self.diag[i].dump().map_err(|e| (line, e.to_string()))
    }

    fn sockets(
        &mut self,
        line: usize,
        host: Side,
        expected: &[SocketExpect],
    ) -> Result<(), StepError> {
        self.settle(line)?;
        let observed = self.rows_of(line, host)?;
        self.observe(line, Observation::Sockets(observed.clone()));
        let (missing, extra) = match_set(expected, &observed, |e, o| e.matches(o));
        if missing.is_empty() && extra.is_empty() {
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
                self.events.push(Timed {
                    at: now(),
                    event: Event::State { side: host, text },
                });
            }
            return Ok(());
        }
        let shown: Vec<String> = observed.iter().map(|r| r.to_string()).collect();
        self.judged(set_failure(
            &format!("sockets on {host}"),
            line,
            expected.iter().map(|e| (e.line, e.to_string())).collect(),
            &missing,
            &format!("observed (ss -tan -o in the {host} namespace)"),
            shown,
            &extra,
        ))
    }

    fn fds(
        &mut self,
        line: usize,
        host: Side,
        expected: &[super::rows::FdExpect],
    ) -> Result<(), StepError> {
        self.settle(line)?;
        let rows = self.rows_of(line, host)?;
        let p = self.latest(host, line)?;
        let (pid, label) = (p.pid(), p.label().to_string());
        let observed: Vec<FdRow> = fds::socket_fds(pid, &rows)
            .map_err(|e| (line, format!("fds of `{label}` (pid {pid}): {e}")))?;
        self.observe(line, Observation::Fds(observed.clone()));
        let (missing, extra) = match_set(expected, &observed, |e, o| e.matches(o));
        if missing.is_empty() && extra.is_empty() {
            return Ok(());
        }
        self.judged(set_failure(
            &format!("descriptors of `{label}` on {host}"),
            line,
            expected.iter().map(|e| (e.line, e.to_string())).collect(),
            &missing,
            &format!("observed (lsof -nP -i -p {pid}, from /proc and sock_diag)"),
            observed.iter().map(|r| r.to_string()).collect(),
            &extra,
        ))
    }

    fn syscalls(
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
            .map(|(l, msg)| format!("{}:{l}: {msg}", self.case.path.display()));
        self.observe(line, Observation::Syscalls(failure));
        match result {
            Ok(()) => Ok(()),
            Err(e) => self.judged(e),
        }
    }

    /// Whether the calls of the host's latest command hold the block.
    fn calls_hold(
        &mut self,
        line: usize,
        host: Side,
        expected: &[CallExpect],
    ) -> Result<(), StepError> {
        let p = self.latest(host, line)?;
        let label = p.label().to_string();
        let records = p.syscalls();
        if !p.traced() {
            return Err((
                line,
                format!(
                    "`{label}` on {host} is not traced: write `trace {host}` before starting it"
                ),
            ));
        }
        let mut next = 0;
        for (i, e) in expected.iter().enumerate() {
            let found = records[next..].iter().position(|r| {
                e.matches(&r.name, &r.args, r.ret, crate::syscalls::errno_name(r.ret))
            });
            match found {
                Some(k) => next += k + 1,
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
                    return Err((e.line, t.trim_end().to_string()));
                }
            }
        }
        Ok(())
    }

    fn wait(
        &mut self,
        line: usize,
        host: Side,
        row: &SocketExpect,
        gone: bool,
        at: Option<Window>,
    ) -> Result<(), StepError> {
        let since = self.last_action;
        let deadline = match at {
            Some(w) => since + w.hi + Duration::from_secs(1),
            None => self.deadline(),
        };
        let what = format!(
            "{} socket `{row}` on {host}",
            if gone { "the end of the" } else { "a" }
        );
        loop {
            let rows = self.rows_of(line, host)?;
            let present = rows.iter().any(|r| row.matches(r));
            if present != gone {
                let after = since.elapsed();
                if let Some(w) = at {
                    if !w.contains(after) {
                        return Err((line, format!("waited for {what}: it came {} after the previous action, outside {w}", super::rows::show_duration(Duration::from_millis(after.as_millis() as u64)))));
                    }
                }
                self.log.push(format!(
                    "{:>7.3}s  {line}: seen after {:.3}s",
                    self.start.elapsed().as_secs_f64(),
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
                return Err((line, t));
            }
            std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
        }
    }

    /// Waits until no socket of either host is in a state the kernel leaves
    /// by itself, no data is unacknowledged, and every command sleeps in a
    /// system call or is gone; then reads the capture to its end. Polls
    /// sock_diag and /proc every millisecond under the deadline.
    fn settle(&mut self, line: usize) -> Result<(), StepError> {
        let deadline = self.deadline();
        loop {
            let rows = self.dump(line)?;
            let quiet_sockets = rows.iter().all(|(_, r)| sockets::settled(r));
            let quiet_procs = self.procs.iter_mut().all(|(_, p)| p.is_idle());
            if quiet_sockets && quiet_procs {
                break;
            }
            if Instant::now() >= deadline {
                let mut why = format!(
                    "timed out after {:?} waiting for the lab to settle (sockets in stable states, commands asleep)",
                    self.opts.deadline
                );
                for (side, r) in &rows {
                    for row in r {
                        let _ = write!(why, "\n    {side}: {row}");
                    }
                }
                for (side, p) in &self.procs {
                    let _ = write!(
                        why,
                        "\n    {side}: `{}` pid {} state {}",
                        p.label(),
                        p.pid(),
                        p.state()
                    );
                }
                return Err((line, why));
            }
            std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
        }
        self.capture
            .as_mut()
            .expect("capture lives until the end")
            .poll()
            .map_err(|e| (line, e.to_string()))?;
        Ok(())
    }

    fn dump(&self, line: usize) -> Result<Vec<(Side, Vec<SocketRow>)>, StepError> {
        [Side::Client, Side::Server]
            .iter()
            .zip(&self.diag)
            .map(|(side, d)| {
                d.dump()
                    .map(|r| (*side, r))
                    .map_err(|e| (line, e.to_string()))
            })
            .collect()
    }

    fn seen(&self) -> Vec<Seen> {
        Seen::all(
            self.capture
                .as_ref()
                .expect("capture lives until the end")
                .packets(),
        )
    }

    fn packets(&mut self, line: usize, alts: &[Vec<PacketExpect>]) -> Result<(), StepError> {
        let deadline = self.deadline();
        let wanted = alts.iter().map(Vec::len).min().unwrap_or(0);
        // Settled means nothing is in flight; a block that wants more than
        // has come may be waiting on a timer (a retransmission), so keep
        // reading until the deadline.
        loop {
            self.settle(line)?;
            let have = self.seen().len().saturating_sub(self.claimed);
            let left = deadline.saturating_duration_since(Instant::now());
            if have >= wanted || left.is_zero() {
                break;
            }
            self.capture
                .as_ref()
                .expect("capture lives until the end")
                .wait_readable(left);
        }
        let seen = self.seen();
        let block = &seen[self.claimed..];
        self.block_start = self.claimed;
        self.claimed = seen.len();
        self.observe(line, Observation::Packets(block.to_vec()));
        match alts.iter().position(|alt| compare(alt, block).is_none()) {
            Some(k) if alts.len() > 1 => {
                let first = alts[k].first().map_or(line, |p| p.line);
                self.log.push(format!(
                    "{:>7.3}s  {line}: matched alternative {} of {} (from line {first})",
                    self.start.elapsed().as_secs_f64(),
                    k + 1,
                    alts.len()
                ));
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                let failure = self.block_failure(alts, block, line);
                self.judged(failure)
            }
        }
    }

    /// The failure of a block, attributed to the line of the first packet
    /// that differs (the block's line when a packet is missing or extra).
    fn block_failure(&self, alts: &[Vec<PacketExpect>], seen: &[Seen], line: usize) -> StepError {
        // Of several alternatives, show the one that agrees the longest.
        let Some((expected, d)) = alts
            .iter()
            .filter_map(|alt| compare(alt, seen).map(|d| (alt, d)))
            .rev()
            .max_by_key(|(_, d)| d.index)
        else {
            return (line, "packets agree".into());
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
                len: e.length,
            })
            .collect();
        let arrows_o: Vec<Arrow> = seen
            .iter()
            .map(|s| Arrow {
                from: s.from,
                flags: s.flags,
                len: Some(s.len),
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
        (at_line, t.trim_end().to_string())
    }
}

/// Wall-clock time, on the same clock as libpcap's time stamps.
fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// What the ladder writes beside a host for an action: the command, or the
/// key pressed.
fn ladder_step(kind: &ItemKind) -> Option<(Side, String)> {
    match kind {
        ItemKind::Start { host, argv } => Some((*host, argv.join(" "))),
        ItemKind::Type { host, text } => Some((*host, format!("types {text}"))),
        ItemKind::Signal { host, signal } => Some((*host, signal.key().to_string())),
        ItemKind::Eof { host } => Some((*host, "^D".into())),
        _ => None,
    }
}

/// Waits until the process is stopped (state T), or no longer stopped,
/// polling /proc under the deadline.
fn wait_state(p: &Process, stopped: bool, deadline: Instant) -> Result<(), String> {
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
        std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
    }
}

/// A set block's failure: expected rows with `>>` on those nothing matched,
/// observed rows with `>>` on those nothing expected; attributed to the
/// first unmatched expected row's line, or to the block.
fn set_failure(
    what: &str,
    block_line: usize,
    expected: Vec<(usize, String)>,
    missing: &[usize],
    observed_title: &str,
    observed: Vec<String>,
    extra: &[usize],
) -> StepError {
    let line = missing.first().map_or(block_line, |i| expected[*i].0);
    let mut t = format!(
        "{what} differ: {} expected row(s) unmatched, {} observed row(s) unexpected\n  expected:\n",
        missing.len(),
        extra.len()
    );
    for (i, (_, e)) in expected.iter().enumerate() {
        let _ = writeln!(
            t,
            "  {} {e}",
            if missing.contains(&i) { ">>" } else { "  " }
        );
    }
    if expected.is_empty() {
        let _ = writeln!(t, "     (none)");
    }
    let _ = writeln!(t, "  {observed_title}:");
    for (i, o) in observed.iter().enumerate() {
        let _ = writeln!(t, "  {} {o}", if extra.contains(&i) { ">>" } else { "  " });
    }
    if observed.is_empty() {
        let _ = writeln!(t, "     (none)");
    }
    (line, t.trim_end().to_string())
}

/// Files written as root under sudo go back to the user who ran sudo, so
/// `cargo clean` works without root afterwards.
pub fn hand_back(path: &std::path::Path) {
    let (Ok(uid), Ok(gid)) = (std::env::var("SUDO_UID"), std::env::var("SUDO_GID")) else {
        return;
    };
    let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.parse::<u32>()) else {
        return;
    };
    for p in [Some(path), path.parent()].into_iter().flatten() {
        let _ = std::os::unix::fs::chown(p, Some(uid), Some(gid));
    }
}
