//! Record mode: a case file's expectations rewritten from what a run
//! observed (`TCPLAB_RECORD=1`), so `git diff` shows what changed.
//!
//! Only block bodies change: comments, blank lines, steps and directives
//! are copied byte for byte. `packets`, `sockets HOST` and `fds HOST`
//! blocks are written from their observations by rules that leave out what
//! differs between runs and kernels (ephemeral ports, windows, timestamp
//! and window-scale values), so a recorded case passes when run again and
//! recording it again changes nothing. `syscalls` blocks are never
//! recorded (a whole strace is too noisy to be an expectation): one that
//! failed is left as written and reported.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::expect::compare;
use super::outcome::{Observation, Observed};
use super::parse;
use super::rows::{match_counted, match_set, FdExpect, SocketExpect, Window};
use super::{Case, ItemKind};
use crate::fds::FdRow;
use crate::lab::Side;
use crate::notation::duration::Tolerance;
use crate::sockets::{SocketRow, TcpState, TimerKind};

/// A case file rewritten from a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The new text of the file.
    pub text: String,
    /// How many blocks' bodies differ from the old text.
    pub changed: usize,
    /// What a person must know: alternatives dropped, syscalls blocks that
    /// failed (left as written), a block the notation could not record.
    pub warnings: Vec<String>,
}

/// The window written for a TIME-WAIT socket recorded without one: the
/// timer is 60 s and the blocks are judged within moments of the close.
const TIME_WAIT_WINDOW: &str = "timer timewait 58s..60s";

/// Rewrites `text` (the file `case` was parsed from) with each block's body
/// replaced by what `observed` says it saw.
pub fn record(case: &Case, text: &str, observed: &[Observed]) -> Recorded {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let mut warnings = Vec::new();
    let mut changed = 0;
    // From the last block up, so the line numbers of those above hold.
    for item in case.items.iter().rev() {
        let Some(seen) = observed.iter().rev().find(|o| o.line == item.line) else {
            continue;
        };
        let at = format!("{}:{}", case.path.display(), item.line);
        let body = match (&item.kind, &seen.what) {
            (ItemKind::Packets(alts), Observation::Packets(s)) => {
                packets::packets_body(alts, s, &at, &lines, &mut warnings)
            }
            (ItemKind::PacketsEach { count, alts }, Observation::Connections(c)) => {
                each::each_body(alts, *count, c, &at, &lines, &mut warnings)
            }
            (ItemKind::Sockets { rows, .. }, Observation::Sockets(s)) => {
                Some(sockets_body(rows, s, case.port, &lines))
            }
            (ItemKind::Fds { rows, .. }, Observation::Fds(s)) => Some(fds_body(rows, s, case.port)),
            (ItemKind::Syscalls { .. }, Observation::Syscalls(Some(failure))) => {
                warnings.push(format!(
                    "{failure}\n  (syscalls blocks are not recorded: {at} is left as written)"
                ));
                None
            }
            _ => None,
        };
        let Some(body) = body else { continue };
        if let Some(why) = holds(case, &item.kind, &seen.what, &body) {
            warnings.push(format!(
                "{at}: the recorded block does not hold against what was observed ({why}); it is written anyway, look at it"
            ));
        }
        if replace_body(&mut lines, item.line, &body) {
            changed += 1;
        }
    }
    warnings.reverse();
    Recorded {
        text: lines.join("\n"),
        changed,
        warnings,
    }
}

/// The 0-based indexes of a block's body: from the line after its header
/// (1-based `header`) to its last indented line; comments and blank lines
/// between them belong to it, those after its last line do not.
fn body_range(lines: &[String], header: usize) -> std::ops::Range<usize> {
    let mut end = header;
    for (i, raw) in lines.iter().enumerate().skip(header) {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            end = i + 1;
        } else {
            break;
        }
    }
    header..end
}

/// Puts `body` in place of the block's body lines, keeping its comments and
/// blank lines where they stand, and a line's trailing comment where the
/// line itself stays. Whether anything changed.
fn replace_body(lines: &mut Vec<String>, header: usize, body: &[String]) -> bool {
    let range = body_range(lines, header);
    let is_body = |l: &str| !l.trim().is_empty() && !l.trim().starts_with('#');
    let old: Vec<&str> = lines[range.clone()]
        .iter()
        .map(String::as_str)
        .filter(|l| is_body(l))
        .map(|l| parse::without_comment(l.trim()))
        .collect();
    if old == body.iter().map(String::as_str).collect::<Vec<_>>() {
        return false;
    }
    let cr = if lines[header - 1].ends_with('\r') {
        "\r"
    } else {
        ""
    };
    let mut new = body.iter().map(|b| format!("  {b}{cr}"));
    let mut out = Vec::new();
    for l in &lines[range.clone()] {
        if !is_body(l) {
            out.push(l.clone());
            continue;
        }
        match new.next() {
            Some(n) if n.trim() == parse::without_comment(l.trim()) => out.push(l.clone()),
            n => out.extend(n),
        }
    }
    out.extend(new);
    lines.splice(range, out);
    true
}

/// Rows in the order to write them, each with the expected row whose style
/// it takes: the rows still matched in their old order, then the new ones
/// (styled after an unmatched old row that `like` picks, if any).
fn ordered<'a, E, O>(
    expected: &'a [E],
    count: impl Fn(&E) -> usize,
    observed: &'a [O],
    fits: impl Fn(&E, &O) -> bool + Copy,
    like: impl Fn(&E, &O) -> bool,
) -> Vec<(&'a O, Option<&'a E>)> {
    let fits_alike = fits;
    let counts: Vec<usize> = expected.iter().map(count).collect();
    let owner = super::rows::pairing_counted(expected, &counts, observed, fits_alike);
    let mut out = Vec::new();
    for (ei, e) in expected.iter().enumerate() {
        for (oi, _) in owner.iter().enumerate().filter(|(_, o)| **o == Some(ei)) {
            out.push((&observed[oi], Some(e)));
        }
    }
    // Rows still to be had of each expected row (a counted row may be short).
    let mut short: Vec<usize> = (0..expected.len())
        .map(|e| counts[e].saturating_sub(owner.iter().filter(|o| **o == Some(e)).count()))
        .collect();
    for (oi, o) in observed.iter().enumerate() {
        if owner[oi].is_some() {
            continue;
        }
        // A row still short takes it; else a counted row alike (its count
        // is what changed).
        let style = match (0..expected.len()).find(|e| short[*e] > 0 && like(&expected[*e], o)) {
            Some(e) => {
                short[e] -= 1;
                Some(&expected[e])
            }
            None => (0..expected.len())
                .find(|e| counts[*e] > 1 && fits_alike(&expected[*e], o))
                .map(|e| &expected[e]),
        };
        out.push((o, style));
    }
    out
}

/// The client's ephemeral port: any port of the client's address (in
/// either family) that is not the case's.
fn ephemeral(a: &SocketAddr, port: u16) -> bool {
    let ip = match a.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    Side::of(ip) == Some(Side::Client) && a.port() != port && a.port() != 0
}

/// An address as ss prints it, with `*` for port 0 and the ephemeral port.
fn ss_addr(a: &SocketAddr, v6only: bool, port: u16) -> String {
    let ip = match a.ip() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) if v6.is_unspecified() && !v6only => "*".into(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    if a.port() == 0 || ephemeral(a, port) {
        format!("{ip}:*")
    } else {
        format!("{ip}:{}", a.port())
    }
}

fn sockets_body(
    expected: &[SocketExpect],
    observed: &[SocketRow],
    port: u16,
    lines: &[String],
) -> Vec<String> {
    let all_queues = !expected.is_empty() && expected.iter().all(|e| e.queues.is_some());
    let rows: Vec<String> = ordered(
        expected,
        |e| e.count,
        observed,
        |e, o| e.matches(o),
        |e, o| e.state == o.state,
    )
    .into_iter()
    .map(|(o, e)| socket_row(o, e, all_queues, port, lines))
    .collect();
    if rows.is_empty() {
        return vec!["none".into()];
    }
    let counted = expected.iter().any(|e| e.count > 1);
    counted_rows(rows, counted)
}

/// Alike rows as one `N × ROW`, where the block counted rows already or
/// ten or more are alike (a thousand TIME-WAIT sockets are one line).
fn counted_rows(rows: Vec<String>, counted: bool) -> Vec<String> {
    let mut alike: Vec<(String, usize)> = Vec::new();
    for r in rows {
        match alike.iter_mut().find(|(a, _)| *a == r) {
            Some((_, n)) => *n += 1,
            None => alike.push((r, 1)),
        }
    }
    let mut out = Vec::new();
    for (r, n) in alike {
        if n > 1 && (counted || n >= 10) {
            out.push(format!("{n} × {r}"));
        } else {
            out.extend(std::iter::repeat_n(r, n));
        }
    }
    out
}

/// `STATE [R S] LOCAL PEER [timer ...] [ss -ti fields]`: queues where the
/// old row had them (or, for a new row, where every old row did), the old
/// timer window while it still holds, `timer timewait 58s..60s` for a fresh
/// TIME-WAIT, no other timer; the `ss -ti` fields the old row named
/// ([`info::fields`]), no others.
fn socket_row(
    o: &SocketRow,
    e: Option<&SocketExpect>,
    all_queues: bool,
    port: u16,
    lines: &[String],
) -> String {
    let mut t = o.state.ss_name().to_string();
    if e.map_or(all_queues, |e| e.queues.is_some()) {
        t += &format!(" {} {}", o.recv_q, o.send_q);
    }
    t += &format!(
        " {} {}",
        ss_addr(&o.local, o.v6only, port),
        ss_addr(&o.peer, o.v6only, port)
    );
    let old = e.and_then(|e| Some((e, e.timer?)));
    let holds = |kind: Option<TimerKind>, w: Window| {
        o.timer
            .as_ref()
            .is_some_and(|t| kind.is_none_or(|k| k == t.kind) && w.contains(t.left))
    };
    match old {
        Some((e, (kind, w))) if holds(kind, w) => {
            // The old window as it was written (`1min` stays `1min`).
            let written = lines
                .get(e.line.wrapping_sub(1))
                .and_then(|l| l.split_once(" timer "))
                .and_then(|(_, w)| {
                    // Up to the window: `ss -ti` fields may follow it.
                    let words: Vec<&str> = w.split_whitespace().collect();
                    let end = words.iter().position(|w| w.contains(".."))?;
                    Some(format!("timer {}", words[..=end].join(" ")))
                });
            let shown = match kind {
                Some(k) => format!("timer {} {w}", k.ss_name()),
                None => format!("timer {w}"),
            };
            t += " ";
            t += &written.unwrap_or(shown);
        }
        _ if o.state == TcpState::TimeWait
            && holds(
                Some(TimerKind::TimeWait),
                Window {
                    lo: Duration::from_secs(58),
                    hi: Duration::from_secs(60),
                },
            ) =>
        {
            t += " ";
            t += TIME_WAIT_WINDOW;
        }
        _ => {}
    }
    t += &info::fields(e.map_or(&[], |e| &e.info), o);
    t
}

fn fds_body(expected: &[FdExpect], observed: &[FdRow], port: u16) -> Vec<String> {
    let rows: Vec<String> = ordered(
        expected,
        |_| 1,
        observed,
        |e, o| e.matches(o),
        |e, o| e.fd == o.fd,
    )
    .into_iter()
    .map(|(o, e)| fd_row(o, e, port))
    .collect();
    if rows.is_empty() {
        return vec!["none".into()];
    }
    rows
}

/// lsof's notation (FdRow's Display) with the ephemeral port as `*`, in the
/// old row's `fd N` or `Nu` style.
fn fd_row(o: &FdRow, e: Option<&FdExpect>, port: u16) -> String {
    let mut r = o.clone();
    for a in [&mut r.local, &mut r.peer] {
        if ephemeral(a, port) {
            a.set_port(0);
        }
    }
    let t = r.to_string();
    match e {
        Some(e) if e.mode.is_none() => {
            let prefix = format!("{}{}", r.fd, r.mode);
            format!("fd {} {}", r.fd, t[prefix.len()..].trim_start())
        }
        _ => t,
    }
}

/// Why the recorded body would not hold against the observation, or None.
fn holds(case: &Case, kind: &ItemKind, seen: &Observation, body: &[String]) -> Option<String> {
    let head = match kind {
        ItemKind::Packets(_) => "packets".to_string(),
        ItemKind::PacketsEach { count, .. } => format!("packets × {count}"),
        ItemKind::Sockets { host, .. } => format!("sockets {host}"),
        ItemKind::Fds { host, .. } => format!("fds {host}"),
        _ => return None,
    };
    let mut text = format!("{head}\n");
    for b in body {
        text += &format!("  {b}\n");
    }
    let parsed = match parse::parse(&case.path, &text) {
        Ok(c) => c,
        Err(e) => return Some(e.to_string()),
    };
    match (&parsed.items[0].kind, seen) {
        (ItemKind::Packets(alts), Observation::Packets(s)) => {
            compare(&alts[0], s, Tolerance::NONE).map(|d| d.reason)
        }
        (ItemKind::PacketsEach { alts, .. }, Observation::Connections(conns)) => conns
            .iter()
            .position(|c| {
                alts.iter()
                    .all(|a| compare(a, c, Tolerance::NONE).is_some())
            })
            .map(|i| format!("connection {} matches none of the forms", i + 1)),
        (ItemKind::Sockets { rows, .. }, Observation::Sockets(s)) => {
            let (missing, extra) = match_counted(rows, |e| e.count, s, |e, o| e.matches(o));
            (!missing.is_empty() || !extra.is_empty()).then(|| {
                format!(
                    "{} row(s) unmatched, {} unexpected",
                    missing.len(),
                    extra.len()
                )
            })
        }
        (ItemKind::Fds { rows, .. }, Observation::Fds(s)) => {
            let (missing, extra) = match_set(rows, s, |e, o| e.matches(o));
            (!missing.is_empty() || !extra.is_empty()).then(|| {
                format!(
                    "{} row(s) unmatched, {} unexpected",
                    missing.len(),
                    extra.len()
                )
            })
        }
        _ => None,
    }
}

mod each;
mod family;
mod info;
mod packets;

pub use family::in_case_words;
#[cfg(test)]
mod tests;
mod timing;
