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

use super::expect::{compare, OptExpect, PacketExpect, Seen};
use super::parse;
use super::rows::{match_set, FdExpect, SocketExpect, Window};
use super::run::{Observation, Observed};
use super::{Case, ItemKind};
use crate::fds::FdRow;
use crate::lab::Side;
use crate::packet::TcpOption;
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
                packets_body(alts, s, &at, &mut warnings)
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
/// blank lines where they stand. Whether anything changed.
fn replace_body(lines: &mut Vec<String>, header: usize, body: &[String]) -> bool {
    let range = body_range(lines, header);
    let is_body = |l: &str| !l.trim().is_empty() && !l.trim().starts_with('#');
    let old: Vec<&str> = lines[range.clone()]
        .iter()
        .map(String::as_str)
        .filter(|l| is_body(l))
        .map(str::trim)
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
        if is_body(l) {
            out.extend(new.next());
        } else {
            out.push(l.clone());
        }
    }
    out.extend(new);
    lines.splice(range, out);
    true
}

/// A packets block's new body, or None to keep it as written: a block of
/// alternatives one of which matched encodes a race and stays whole.
fn packets_body(
    alts: &[Vec<PacketExpect>],
    seen: &[Seen],
    at: &str,
    warnings: &mut Vec<String>,
) -> Option<Vec<String>> {
    let matched = alts.iter().position(|a| compare(a, seen).is_none());
    if alts.len() > 1 {
        if matched.is_some() {
            return None;
        }
        warnings.push(format!(
            "{at}: none of the block's {} alternatives matched; recorded the {} packets observed as its only form (the alternatives were dropped: if the kernel's timing decides between forms, write them back with `or`)",
            alts.len(),
            seen.len()
        ));
    }
    // The lines that say which fields to keep: the matching alternative,
    // else the one that agrees the longest.
    let model = match matched {
        Some(k) => &alts[k],
        None => alts
            .iter()
            .rev()
            .max_by_key(|a| compare(a, seen).map_or(usize::MAX, |d| d.index))
            .expect("a block has an alternative"),
    };
    if seen.is_empty() {
        return Some(vec!["none".into()]);
    }
    Some(
        seen.iter()
            .enumerate()
            .map(|(i, s)| packet_line(s, model.get(i)))
            .collect(),
    )
}

/// One packet in the case notation: `FROM > TO  [FLAGS]  ` then seq (when
/// tcpdump shows it), ack (when ACK is set), options (only where the
/// original line named them) and length (when not 0, or when the original
/// line said `length 0`: on a bare ACK it is what says "no data"). Never
/// the window.
pub fn packet_line(s: &Seen, model: Option<&PacketExpect>) -> String {
    let flags = format!("[{}]", s.flags);
    let mut t = format!("{} > {}  {flags:<6}", s.from, s.to);
    if !t.ends_with(' ') {
        t.push(' ');
    }
    let mut fields = s.seq_ack_fields();
    if let Some(named) = model.and_then(|m| m.options.as_ref()) {
        fields.push(format!("options [{}]", options(&s.options, named)));
    }
    if s.len > 0 || model.is_some_and(|m| m.length.is_some()) {
        fields.push(format!("length {}", s.len));
    }
    t.push_str(&fields.join(", "));
    t.trim_end().to_string()
}

/// Option names in order; values only for mss (1460 on the lab's veth,
/// whatever the kernel) and where the original line pinned one.
fn options(observed: &[TcpOption], named: &[OptExpect]) -> String {
    let items: Vec<String> = observed
        .iter()
        .enumerate()
        .map(|(i, o)| {
            // The original's option of the same name and occurrence.
            let nth = observed[..i]
                .iter()
                .filter(|p| p.name() == o.name())
                .count();
            let pinned = named.iter().filter(|e| opt_name(e) == o.name()).nth(nth);
            match (o, pinned) {
                (TcpOption::Mss(v), _) => format!("mss {v}"),
                (TcpOption::Wscale(v), Some(OptExpect::Wscale(Some(_)))) => format!("wscale {v}"),
                (TcpOption::Ts { val, ecr }, Some(OptExpect::Ts { val: pv, ecr: pe })) => {
                    let mut t = "TS".to_string();
                    if pv.is_some() {
                        t += &format!(" val {val}");
                    }
                    if pe.is_some() {
                        t += &format!(" ecr {ecr}");
                    }
                    t
                }
                (o, _) => o.name().to_string(),
            }
        })
        .collect();
    items.join(",")
}

fn opt_name(o: &OptExpect) -> &'static str {
    match o {
        OptExpect::Nop => "nop",
        OptExpect::SackOk => "sackOK",
        OptExpect::Sack => "sack",
        OptExpect::Mss(_) => "mss",
        OptExpect::Wscale(_) => "wscale",
        OptExpect::Ts { .. } => "TS",
    }
}

/// Rows in the order to write them, each with the expected row whose style
/// it takes: the rows still matched in their old order, then the new ones
/// (styled after an unmatched old row that `like` picks, if any).
fn ordered<'a, E, O>(
    expected: &'a [E],
    observed: &'a [O],
    fits: impl Fn(&E, &O) -> bool,
    like: impl Fn(&E, &O) -> bool,
) -> Vec<(&'a O, Option<&'a E>)> {
    let owner = super::rows::pairing(expected, observed, fits);
    let mut out = Vec::new();
    for (ei, e) in expected.iter().enumerate() {
        if let Some(oi) = owner.iter().position(|o| *o == Some(ei)) {
            out.push((&observed[oi], Some(e)));
        }
    }
    let mut unmatched: Vec<usize> = (0..expected.len())
        .filter(|e| !owner.contains(&Some(*e)))
        .collect();
    for (oi, o) in observed.iter().enumerate() {
        if owner[oi].is_some() {
            continue;
        }
        let style = unmatched
            .iter()
            .position(|e| like(&expected[*e], o))
            .map(|k| &expected[unmatched.remove(k)]);
        out.push((o, style));
    }
    out
}

/// The client's ephemeral port: any port of the client's address that is
/// not the case's.
fn ephemeral(a: &SocketAddr, port: u16) -> bool {
    let client = IpAddr::V4(Side::Client.addr());
    let ip = match a.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    ip == client && a.port() != port && a.port() != 0
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
    rows
}

/// `STATE [R S] LOCAL PEER [timer ...]`: queues where the old row had them
/// (or, for a new row, where every old row did), the old timer window while
/// it still holds, `timer timewait 58s..60s` for a fresh TIME-WAIT, no
/// other timer.
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
                .map(|(_, w)| format!("timer {}", w.trim()));
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
    t
}

fn fds_body(expected: &[FdExpect], observed: &[FdRow], port: u16) -> Vec<String> {
    let rows: Vec<String> = ordered(expected, observed, |e, o| e.matches(o), |e, o| e.fd == o.fd)
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
            compare(&alts[0], s).map(|d| d.reason)
        }
        (ItemKind::Sockets { rows, .. }, Observation::Sockets(s)) => {
            let (missing, extra) = match_set(rows, s, |e, o| e.matches(o));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::{Family, Timer};
    use rstest::rstest;
    use std::path::Path;

    const PORT: u16 = 11111;
    const EPH: u16 = 46764;

    fn seen(from: Side, flags: &str, seq: u32, ack: u32, len: u32) -> Seen {
        Seen {
            from,
            to: if from == Side::Client {
                Side::Server
            } else {
                Side::Client
            },
            flags: flags.parse().unwrap(),
            seq,
            ack,
            win: 502,
            len,
            options: Vec::new(),
        }
    }

    fn with_opts(mut s: Seen, options: Vec<TcpOption>) -> Seen {
        s.options = options;
        s
    }

    fn sock(state: TcpState, local: &str, peer: &str) -> SocketRow {
        SocketRow {
            state,
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
            recv_q: 0,
            send_q: if state == TcpState::Listen { 10 } else { 0 },
            timer: None,
            inode: 1,
            uid: 0,
            ifindex: 0,
            cookie: 7,
            v6only: local.starts_with('['),
        }
    }

    fn time_wait(left_ms: u64) -> SocketRow {
        let mut r = sock(
            TcpState::TimeWait,
            &format!("192.168.2.105:{EPH}"),
            "192.168.2.100:11111",
        );
        r.timer = Some(Timer {
            kind: TimerKind::TimeWait,
            left: Duration::from_millis(left_ms),
            retrans: 0,
        });
        r.inode = 0;
        r
    }

    fn fd(fd: i32, state: TcpState, local: &str, peer: &str) -> FdRow {
        let local: SocketAddr = local.parse().unwrap();
        FdRow {
            fd,
            mode: 'u',
            family: Family::of(&local),
            local,
            peer: peer.parse().unwrap(),
            state,
            inode: 100 + fd as u64,
        }
    }

    fn case_of(text: &str) -> Case {
        parse::parse(Path::new("cases/x.case"), text).unwrap()
    }

    /// The observations, by the order of the blocks in the file.
    fn observe(text: &str, what: Vec<Observation>) -> Vec<Observed> {
        let case = case_of(text);
        let blocks: Vec<usize> = case
            .items
            .iter()
            .filter(|i| {
                matches!(
                    i.kind,
                    ItemKind::Packets(_)
                        | ItemKind::Sockets { .. }
                        | ItemKind::Fds { .. }
                        | ItemKind::Syscalls { .. }
                )
            })
            .map(|i| i.line)
            .collect();
        assert_eq!(blocks.len(), what.len(), "one observation per block");
        blocks
            .into_iter()
            .zip(what)
            .map(|(line, what)| Observed { line, what })
            .collect()
    }

    fn rec(text: &str, what: &[Observed]) -> Recorded {
        record(&case_of(text), text, what)
    }

    fn handshake() -> Vec<Seen> {
        let ts = |val, ecr| TcpOption::Ts { val, ecr };
        vec![
            with_opts(
                seen(Side::Client, "S", 0, 0, 0),
                vec![
                    TcpOption::Mss(1460),
                    TcpOption::SackOk,
                    ts(891790063, 0),
                    TcpOption::Nop,
                    TcpOption::Wscale(10),
                ],
            ),
            with_opts(
                seen(Side::Server, "S.", 0, 1, 0),
                vec![
                    TcpOption::Mss(1460),
                    TcpOption::SackOk,
                    ts(4011, 891790063),
                    TcpOption::Nop,
                    TcpOption::Wscale(7),
                ],
            ),
            with_opts(
                seen(Side::Client, ".", 1, 1, 0),
                vec![TcpOption::Nop, TcpOption::Nop, ts(891790064, 4011)],
            ),
        ]
    }

    fn release3() -> Vec<Seen> {
        vec![
            seen(Side::Client, "F.", 1, 1, 0),
            seen(Side::Server, "F.", 1, 2, 0),
            seen(Side::Client, ".", 2, 2, 0),
        ]
    }

    fn release4() -> Vec<Seen> {
        vec![
            seen(Side::Client, "F.", 1, 1, 0),
            seen(Side::Server, ".", 1, 2, 0),
            seen(Side::Server, "F.", 1, 2, 0),
            seen(Side::Client, ".", 2, 2, 0),
        ]
    }

    /// Like cases/teardown.case, with blocks that are wrong in every way
    /// record mode mends.
    const TEARDOWN_LIKE: &str = "\
# Ctrl+C on the client after the handshake: the client closes first.
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
packets
  client > server  [S]   seq 0, win 64240, options [mss,sackOK,TS ecr 0,nop,wscale 9], length 0
  server > client  [S.]  seq 0, ack 1
  # the third packet
  client > server  [.]   ack 9
fds server
  3u IPv6 TCP *:11111 (LISTEN)
  fd 5 IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)
client ^C

# The release.
packets
  client > server  [F.]  seq 1, ack 1
  server > client  [R.]  seq 1, ack 2
sockets client
  TIME-WAIT 0 0 192.168.2.105:* 192.168.2.100:11111 timer timewait 10s..20s
sockets server
  LISTEN 0.0.0.0:11111 0.0.0.0:*
  ESTAB 192.168.2.100:11111 192.168.2.105:*
# the end
";

    const TEARDOWN_RECORDED: &str = "\
# Ctrl+C on the client after the handshake: the client closes first.
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
packets
  client > server  [S]   seq 0, options [mss 1460,sackOK,TS ecr 0,nop,wscale 10], length 0
  server > client  [S.]  seq 0, ack 1
  # the third packet
  client > server  [.]   ack 1
fds server
  3u IPv6 TCP *:11111 (LISTEN)
  fd 5 IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)
  4u IPv4 TCP *:11111 (LISTEN)
client ^C

# The release.
packets
  client > server  [F.]  seq 1, ack 1
  server > client  [F.]  seq 1, ack 2
  client > server  [.]   ack 2
sockets client
  TIME-WAIT 0 0 192.168.2.105:* 192.168.2.100:11111 timer timewait 58s..60s
sockets server
  LISTEN 0.0.0.0:11111 0.0.0.0:*
  LISTEN [::]:11111 [::]:*
# the end
";

    fn teardown_observed() -> Vec<Observation> {
        vec![
            Observation::Packets(handshake()),
            Observation::Fds(vec![
                fd(3, TcpState::Listen, "[::]:11111", "[::]:0"),
                fd(4, TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"),
                fd(
                    5,
                    TcpState::Established,
                    "192.168.2.100:11111",
                    &format!("192.168.2.105:{EPH}"),
                ),
            ]),
            Observation::Packets(release3()),
            Observation::Sockets(vec![time_wait(59_870)]),
            Observation::Sockets(vec![
                sock(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"),
                sock(TcpState::Listen, "[::]:11111", "[::]:0"),
            ]),
        ]
    }

    #[test]
    fn rewrites_blocks_and_keeps_everything_else() {
        let obs = observe(TEARDOWN_LIKE, teardown_observed());
        let r = rec(TEARDOWN_LIKE, &obs);
        assert_eq!(r.text, TEARDOWN_RECORDED);
        assert_eq!(r.changed, 5);
        assert_eq!(r.warnings, Vec::<String>::new());
        // Every line outside the block bodies is the old one.
        let keep = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with("  ") || l.trim_start().starts_with('#'))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(keep(&r.text), keep(TEARDOWN_LIKE));
    }

    #[rstest]
    #[case::teardown_like(TEARDOWN_LIKE, teardown_observed())]
    #[case::recorded(TEARDOWN_RECORDED, teardown_observed())]
    #[case::alternatives_none_matched(ALTS, vec![Observation::Packets(vec![seen(Side::Client, "R.", 1, 1, 0)])])]
    #[case::data(
        "server $ nc -kl 11111\npackets\n  client > server  [P.]  seq 1:7, ack 1, win 502, options [nop,nop,TS val 1 ecr 2], length 6\n  server > client  [.]   ack 7, length 0\n",
        vec![Observation::Packets(vec![
            with_opts(seen(Side::Client, "P.", 1, 1, 6), vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Ts { val: 77, ecr: 88 }]),
            seen(Side::Server, ".", 1, 7, 0),
        ])]
    )]
    #[case::no_trailing_newline(
        "server $ nc -kl 11111\nsockets client\n  ESTAB 0 0 192.168.2.105:* 192.168.2.100:11111",
        vec![Observation::Sockets(vec![])]
    )]
    fn recording_twice_changes_nothing(#[case] text: &str, #[case] what: Vec<Observation>) {
        let obs = observe(text, what.clone());
        let once = rec(text, &obs);
        assert!(
            once.warnings.iter().all(|w| !w.contains("does not hold")),
            "{:?}",
            once.warnings
        );
        let obs2 = observe(&once.text, what);
        let twice = rec(&once.text, &obs2);
        assert_eq!(twice.text, once.text);
        assert_eq!(twice.changed, 0);
    }

    const ALTS: &str = "\
server $ nc -kl 11111
client ^C
packets
  client > server  [F.]  seq 1, ack 1
  server > client  [F.]  seq 1, ack 2
  client > server  [.]   ack 2
  or
  client > server  [F.]  seq 1, ack 1
  server > client  [.]   ack 2
  server > client  [F.]  seq 1, ack 2
  client > server  [.]   ack 2
";

    #[rstest]
    #[case::first(release3())]
    #[case::second(release4())]
    fn alternatives_kept_when_one_matched(#[case] packets: Vec<Seen>) {
        let obs = observe(ALTS, vec![Observation::Packets(packets)]);
        let r = rec(ALTS, &obs);
        assert_eq!(r.text, ALTS);
        assert_eq!(r.changed, 0);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn alternatives_dropped_with_a_warning_when_none_matched() {
        let obs = observe(
            ALTS,
            vec![Observation::Packets(vec![seen(
                Side::Client,
                "R.",
                1,
                1,
                0,
            )])],
        );
        let r = rec(ALTS, &obs);
        assert_eq!(
            r.text,
            "server $ nc -kl 11111\nclient ^C\npackets\n  client > server  [R.]  seq 1, ack 1\n"
        );
        assert_eq!(r.changed, 1);
        assert_eq!(r.warnings.len(), 1);
        assert!(
            r.warnings[0].starts_with("cases/x.case:3: none of the block's 2 alternatives matched")
                && r.warnings[0].contains("alternatives were dropped"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn ephemeral_ports_become_stars() {
        let text = "server $ nc -kl 11111\nsockets server\n  none\nsockets client\n  none\nfds client\n  none\nfds server\n  none\n";
        let obs = observe(
            text,
            vec![
                Observation::Sockets(vec![
                    sock(
                        TcpState::Established,
                        "192.168.2.100:11111",
                        &format!("192.168.2.105:{EPH}"),
                    ),
                    sock(
                        TcpState::Established,
                        "[::ffff:192.168.2.100]:11111",
                        &format!("[::ffff:192.168.2.105]:{EPH}"),
                    ),
                ]),
                Observation::Sockets(vec![sock(
                    TcpState::Established,
                    &format!("192.168.2.105:{EPH}"),
                    "192.168.2.100:11111",
                )]),
                Observation::Fds(vec![fd(
                    3,
                    TcpState::Established,
                    &format!("192.168.2.105:{EPH}"),
                    "192.168.2.100:11111",
                )]),
                Observation::Fds(vec![fd(
                    5,
                    TcpState::Established,
                    "192.168.2.100:11111",
                    &format!("192.168.2.105:{EPH}"),
                )]),
            ],
        );
        let r = rec(text, &obs);
        assert_eq!(
            r.text,
            "server $ nc -kl 11111
sockets server
  ESTAB 192.168.2.100:11111 192.168.2.105:*
  ESTAB [::ffff:192.168.2.100]:11111 [::ffff:192.168.2.105]:*
sockets client
  ESTAB 192.168.2.105:* 192.168.2.100:11111
fds client
  3u IPv4 TCP 192.168.2.105:*->192.168.2.100:11111 (ESTABLISHED)
fds server
  5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)
"
        );
        assert!(!r.text.contains(&EPH.to_string()));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn the_case_port_on_the_client_is_not_ephemeral() {
        // A server on the client's address: its port is the case's, kept.
        let a: SocketAddr = "192.168.2.105:11111".parse().unwrap();
        assert_eq!(ss_addr(&a, false, PORT), "192.168.2.105:11111");
        let b: SocketAddr = format!("192.168.2.105:{EPH}").parse().unwrap();
        assert_eq!(ss_addr(&b, false, PORT), "192.168.2.105:*");
    }

    #[rstest]
    #[case::bare_names(
        "[mss,sackOK,TS,nop,wscale]",
        "options [mss 1460,sackOK,TS,nop,wscale]"
    )]
    #[case::pinned_wscale(
        "[mss 1460,sackOK,TS,nop,wscale 7]",
        "options [mss 1460,sackOK,TS,nop,wscale 10]"
    )]
    #[case::pinned_ecr(
        "[mss 1460,sackOK,TS ecr 5,nop,wscale]",
        "options [mss 1460,sackOK,TS ecr 0,nop,wscale]"
    )]
    #[case::pinned_val("[TS val 1]", "options [mss 1460,sackOK,TS val 891790063,nop,wscale]")]
    #[case::empty("[]", "options [mss 1460,sackOK,TS,nop,wscale]")]
    fn kernel_dependent_values_only_where_pinned(#[case] named: &str, #[case] want: &str) {
        let text = format!("packets\n  client > server  [S]  seq 0, win 1, options {named}\n");
        let obs = observe(
            &text,
            vec![Observation::Packets(vec![handshake()[0].clone()])],
        );
        let r = rec(&text, &obs);
        let line = r.text.lines().nth(1).unwrap();
        assert_eq!(line, format!("  client > server  [S]   seq 0, {want}"));
        assert!(!line.contains("win"));
    }

    #[test]
    fn kernel_dependent_values_never_written_unasked() {
        let text = "packets\n  client > server  [S]  seq 0\n  server > client  [S.]  seq 0, ack 1, options [nop]\n  client > server  [.]  ack 1\n";
        let obs = observe(text, vec![Observation::Packets(handshake())]);
        let r = rec(text, &obs);
        assert_eq!(
            r.text,
            "packets\n  client > server  [S]   seq 0\n  server > client  [S.]  seq 0, ack 1, options [mss 1460,sackOK,TS,nop,wscale]\n  client > server  [.]   ack 1\n"
        );
        for v in ["win", "502", "891790063", "4011", "wscale 7", "val", "ecr"] {
            assert!(!r.text.contains(v), "{v} in {}", r.text);
        }
    }

    #[test]
    fn time_wait_keeps_a_window_that_holds_and_others_lose_timers() {
        let text = "server $ nc -kl 11111\nsockets client\n  TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 timer timewait 1min..60s\n  FIN-WAIT-2 192.168.2.105:* 192.168.2.100:11111\n";
        let mut fw2 = sock(
            TcpState::FinWait2,
            &format!("192.168.2.105:{}", EPH + 1),
            "192.168.2.100:11111",
        );
        fw2.timer = Some(Timer {
            kind: TimerKind::TimeWait,
            left: Duration::from_secs(59),
            retrans: 0,
        });
        let mut tw = time_wait(60_000);
        tw.timer.as_mut().unwrap().left = Duration::from_secs(60);
        let obs = observe(text, vec![Observation::Sockets(vec![fw2, tw])]);
        let r = rec(text, &obs);
        assert_eq!(r.text, text);
        assert_eq!(r.changed, 0);
    }

    #[test]
    fn failed_syscalls_are_left_as_written_and_reported() {
        let text = "trace server\nserver $ nc -kl 11111\nsyscalls server\n  accept(4, ...) = 6\n";
        let obs = observe(
            text,
            vec![Observation::Syscalls(Some(
                "cases/x.case:4: system calls of `nc -kl 11111` on server: no `accept(4, ...) = 6`"
                    .into(),
            ))],
        );
        let r = rec(text, &obs);
        assert_eq!(r.text, text);
        assert_eq!(r.changed, 0);
        assert_eq!(r.warnings.len(), 1);
        assert!(
            r.warnings[0].contains("left as written"),
            "{:?}",
            r.warnings
        );
    }

    #[rstest]
    #[case::ack(".", "client > server  [.]   seq 1:4, ack 1, length 3")]
    #[case::psh_ack("P.", "client > server  [P.]  seq 1:4, ack 1, length 3")]
    #[case::fin_psh_ack("FP.", "client > server  [FP.] seq 1:4, ack 1, length 3")]
    #[case::six_wide("FPU.", "client > server  [FP.U] seq 1:4, ack 1, length 3")]
    #[case::seven_wide("FPUE.", "client > server  [FP.UE] seq 1:4, ack 1, length 3")]
    fn flags_are_padded_to_six_and_never_touch_the_fields(#[case] flags: &str, #[case] want: &str) {
        let s = seen(Side::Client, flags, 1, 1, 3);
        assert_eq!(packet_line(&s, None), want);
    }
}
