//! Reading the system calls of one traced run, as `perf script` prints
//! the syscall tracepoints `perf record -e syscalls:...` kept:
//!
//!     in-tcplab-14816 14837 [000]  1159.973788:     syscalls:sys_enter_socket: family: 0x00000011, ...
//!
//! thread name, thread id, CPU, time in seconds, event, arguments. The
//! tracepoints are written to a ring buffer in the kernel; the traced
//! program never stops for them (strace's ptrace stops tripled this
//! case's time, `perf trace` added about a third).

use tcplab::error::Error;

/// The tracepoints the phases are cut at.
pub const EVENTS: &[&str] = &[
    "syscalls:sys_exit_execve",
    "syscalls:sys_enter_unshare",
    "syscalls:sys_enter_socket",
    "syscalls:sys_enter_kill",
    "syscalls:sys_enter_umount",
    "syscalls:sys_enter_exit_group",
    "syscalls:sys_enter_sendto",
    "syscalls:sys_exit_sendto",
    "syscalls:sys_enter_clock_nanosleep",
];

/// One tracepoint hit.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub comm: String,
    pub tid: u32,
    /// Seconds, on perf's clock.
    pub at: f64,
    /// `sys_enter_socket`, `sys_exit_execve`, ...
    pub name: String,
    pub args: String,
}

/// Parses one line of `perf script`; None for anything else.
pub fn parse_line(line: &str) -> Option<Event> {
    // The CPU in brackets is the anchor: the thread name before it may hold
    // spaces.
    let open = line.find(" [")?;
    let close = open + line[open..].find("] ")?;
    let (comm, tid) = line[..open].trim().rsplit_once(char::is_whitespace)?;
    let rest = line[close + 2..].trim_start();
    let (at, rest) = rest.split_once(':')?;
    let rest = rest.trim_start();
    let (event, args) = rest
        .split_once(": ")
        .unwrap_or((rest.trim_end_matches(':'), ""));
    let name = event.strip_prefix("syscalls:")?;
    Some(Event {
        comm: comm.trim().to_string(),
        tid: tid.parse().ok()?,
        at: at.trim().parse().ok()?,
        name: name.to_string(),
        args: args.trim().to_string(),
    })
}

pub fn parse(text: &str) -> Vec<Event> {
    text.lines().filter_map(parse_line).collect()
}

/// The moments that bound a case's phases in one traced run, in ms since
/// the runner's exec.
#[derive(Clone, Debug)]
pub struct Marks {
    /// First unshare: Lab::create has swept and makes the parent namespace
    /// (after the host snapshot: no namespace is made before it).
    pub lab: f64,
    /// socket(AF_PACKET): the namespaces and the veth exist; the capture
    /// opens on the server's end while addresses and links go up.
    pub capture: f64,
    /// The first exec of a step's program: the lab and its observers are
    /// ready.
    pub first_step: f64,
    /// First kill after that: the steps have run, the capture is read to
    /// its end and closed, and the session kills what still runs.
    pub killed: f64,
    /// Last umount: the lab is gone.
    pub lab_gone: f64,
    /// tcpdump -r, the cross-check of our packet lines (only where
    /// TCPLAB_TCPDUMP_CHECK=1): exec and exit.
    pub tcpdump: Option<(f64, f64)>,
    /// The runner's exit_group.
    pub end: f64,
    /// sock_diag requests the runner sent while the steps ran, and the ms
    /// spent inside those sendto calls (the kernel walking its tables).
    pub diag_requests: usize,
    pub diag_ms: f64,
    /// Sleeps of the runner's poll loops while the steps ran.
    pub sleeps: usize,
}

fn arg(e: &Event, key: &str) -> Option<u64> {
    let v = e.args.split(&format!("{key}: ")).nth(1)?;
    let v = v.split([',', ' ']).next()?;
    u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
}

/// Finds the marks of a `cases --exact NAME` run recorded with [`EVENTS`].
pub fn marks(events: &[Event]) -> Result<Marks, Error> {
    let need = |v: Option<&Event>, what: &str| {
        v.map(|e| e.at)
            .ok_or_else(|| Error::msg(format!("perf: no {what} in the trace")))
    };
    let start = events
        .iter()
        .find(|e| e.name == "sys_exit_execve")
        .ok_or_else(|| Error::msg("perf: no exec of the runner in the trace"))?;
    let (t0, main_tid) = (start.at, start.tid);
    let socket = |family: u64, proto: Option<u64>| {
        events.iter().find(|e| {
            e.name == "sys_enter_socket"
                && arg(e, "family") == Some(family)
                && proto.is_none_or(|p| arg(e, "protocol") == Some(p))
        })
    };
    let lab = need(
        events.iter().find(|e| e.name == "sys_enter_unshare"),
        "unshare",
    )?;
    let capture = need(socket(libc::AF_PACKET as u64, None), "socket(AF_PACKET)")?;
    let first_step = need(
        events
            .iter()
            .find(|e| e.name == "sys_exit_execve" && e.tid != main_tid && e.at > capture),
        "exec of a step's program",
    )?;
    let tcpdump = events
        .iter()
        .rfind(|e| e.name == "sys_exit_execve" && e.comm == "tcpdump")
        .and_then(|exec| {
            let exit = events
                .iter()
                .find(|e| e.name == "sys_enter_exit_group" && e.tid == exec.tid)?;
            Some((exec.at, exit.at))
        });
    let lab_gone = need(
        events
            .iter()
            .rfind(|e| e.name == "sys_enter_umount" && tcpdump.is_none_or(|(x, _)| e.at < x)),
        "umount",
    )?;
    let killed = events
        .iter()
        .find(|e| e.name == "sys_enter_kill" && e.at > first_step && e.at < lab_gone)
        .map_or(lab_gone, |e| e.at);
    let end = need(
        events
            .iter()
            .find(|e| e.name == "sys_enter_exit_group" && e.tid == main_tid),
        "exit of the runner",
    )?;
    let steps = |e: &&Event| e.comm.starts_with("cases-") && e.at >= first_step && e.at <= killed;
    let mut entered: std::collections::HashMap<u32, f64> = Default::default();
    let (mut diag_requests, mut diag_s) = (0, 0.0);
    for e in events.iter().filter(steps) {
        match e.name.as_str() {
            "sys_enter_sendto" => {
                entered.insert(e.tid, e.at);
                diag_requests += 1;
            }
            "sys_exit_sendto" => {
                if let Some(t) = entered.remove(&e.tid) {
                    diag_s += e.at - t;
                }
            }
            _ => {}
        }
    }
    let ms = |t: f64| (t - t0) * 1e3;
    Ok(Marks {
        lab: ms(lab),
        capture: ms(capture),
        first_step: ms(first_step),
        killed: ms(killed),
        lab_gone: ms(lab_gone),
        tcpdump: tcpdump.map(|(a, b)| (ms(a), ms(b))),
        end: ms(end),
        diag_requests,
        diag_ms: diag_s * 1e3,
        sleeps: events
            .iter()
            .filter(steps)
            .filter(|e| e.name == "sys_enter_clock_nanosleep")
            .count(),
    })
}
