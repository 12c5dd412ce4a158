//! The seed's ladder diagram, drawn from a run: the client's line on the
//! left, the server's on the right, one row per packet or event in time
//! order.
//!
//! ```text
//!                        client                               server
//!                     192.168.2.105                        192.168.2.100
//!                           |                                    |<-- nc -kl 11111
//! nc 192.168.2.100 11111 -->|                                    |
//!                           |--------------- SYN --------------->|
//!                           |<------------- SYN+ACK -------------|
//!                           |--------------- ACK --------------->|  ESTABLISHED
//!                     ^C -->|                                    |
//!                           |--------------- FIN --------------->|
//!                           |<------------- FIN+ACK -------------|
//!                           |--------------- ACK --------------->|
//! ```
//!
//! Steps (what was done on a host) stand beside that host's line with an
//! arrow into it: left of the client's, right of the server's. States
//! stand there too, without the arrow; a state that follows a packet row
//! whose margin on that side is free goes on that row. A packet that is
//! not between the lab's two addresses is a note between the lines.
//!
//! What fault rules did shows too: a dropped packet's arrow stops short of
//! the receiver and ends in `x`; a delayed or reordered one is drawn where
//! it arrived (when the rule let it through), named so; a segment that
//! repeats sequence space already sent is labelled `(retransmission)`.
//! A segment a case injected is drawn with `~` (`~~~ RST ~~~>`): no
//! kernel sent it.
//!
//! The output has no times in it, so the same run draws the same text.
//! Every line fits `width` columns (counted in chars; long texts end in
//! `…`); widths under 40 are drawn as 40. A margin is at most 32 columns
//! wide, the space between the lines at least 30 (40 when there is room)
//! and as wide as the longest arrow text needs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::flow::{self, Isns};
use crate::lab::Side;
use crate::packet::{Endpoint, Packet, TcpFlags};
use crate::sockets::Family;

pub use crate::case::outcome::{Event, Timed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LadderOptions {
    /// Relative seq/ack inside the arrows: `PSH len 6 seq 1:7 ack 1 "11111\n"`.
    pub numbers: bool,
    /// Columns every line fits in (at least 40).
    pub width: usize,
}

impl Default for LadderOptions {
    fn default() -> LadderOptions {
        LadderOptions {
            numbers: false,
            width: 80,
        }
    }
}

/// The arrows' names for `packets`, in the order given (capture order),
/// drawn the way textbooks draw them: `SYN`, `SYN+ACK`, `ACK`, `FIN`,
/// `FIN+ACK`, `ACK`. A segment is `+ACK` only when its acknowledgment is
/// news: it acknowledges something its sender had not acknowledged before
/// (the first ACK of each direction, or a higher ack number than that
/// direction sent so far). So the client's `[F.]` after the handshake is
/// `FIN` (its ack repeats the handshake's) and the server's answering
/// `[F.]` is `FIN+ACK` (it acknowledges that FIN). A segment whose only
/// flag is an ACK stays `ACK`. The tcpdump lines beside a ladder keep the
/// exact flags. Data segments show their length and their bytes:
/// `PSH len 6 "11111\n"`.
pub fn labels(packets: &[Packet]) -> Vec<String> {
    let mut acked: HashMap<(std::net::SocketAddr, std::net::SocketAddr), u32> = HashMap::new();
    packets
        .iter()
        .map(|p| {
            let news = p.flags.contains(TcpFlags::ACK)
                && match acked.get(&(p.src, p.dst)) {
                    None => true,
                    // Sequence space wraps: later means ahead by less than 2^31.
                    Some(prev) => (p.ack.wrapping_sub(*prev) as i32) > 0,
                };
            if news {
                acked.insert((p.src, p.dst), p.ack);
            }
            label(p, news)
        })
        .collect()
}

/// One arrow's name: the flags' names, without ACK unless `ack_is_news`
/// (or ACK is the only flag), then for data `len N` and the first bytes.
pub fn label(p: &Packet, ack_is_news: bool) -> String {
    if let Some(icmp) = &p.icmp {
        // `ICMP frag-needed mtu 1400`: the case notation's words.
        return format!("ICMP {}", icmp.unreachable);
    }
    let flags = if ack_is_news || p.flags == TcpFlags::ACK {
        p.flags
    } else {
        TcpFlags::from_bits(p.flags.bits() & !TcpFlags::ACK.bits())
    };
    let mut s = flags.names();
    if !p.is_empty() {
        s.push_str(&format!(" len {}", p.len()));
    }
    s
}

/// The first bytes of a payload in double quotes, escaped as Rust escapes
/// a string (`\n`, `\x00`), ending in `…` when there are more.
pub fn bytes(payload: &[u8]) -> String {
    const SHOWN: usize = 16;
    let mut s = String::from("\"");
    for b in payload.iter().take(SHOWN) {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(*b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if payload.len() > SHOWN {
        s.push('…');
    }
    s.push('"');
    s
}

/// Relative numbers as the arrows show them: `seq 1:7 ack 1`, `seq 0`;
/// the ack only when the ACK flag is set.
pub fn numbers(p: &Packet, isns: &Isns) -> String {
    let seq = isns.seq(p);
    let mut s = if p.is_empty() {
        format!("seq {seq}")
    } else {
        format!("seq {seq}:{}", seq.wrapping_add(p.len()))
    };
    if p.flags.contains(TcpFlags::ACK) {
        s.push_str(&format!(" ack {}", isns.ack(p)));
    }
    s
}

const MIN_WIDTH: usize = 40;
/// Each margin holds at least half an address around its line.
const MIN_MARGIN: usize = 8;
/// Longer step and state texts are cut, so one long command does not push
/// the ladder off to the right.
const MAX_MARGIN: usize = 32;
const MIN_MID: usize = 30;
/// The space between the lines when the margins leave room for it.
const WIDE_MID: usize = 40;

/// What stands in a margin.
#[derive(Clone, Debug, Default)]
enum Margin {
    #[default]
    Empty,
    Step(String),
    State(String),
}

impl Margin {
    fn need(&self) -> usize {
        match self {
            Margin::Empty => 0,
            Margin::Step(t) => chars(t) + 4,
            Margin::State(t) => chars(t) + 2,
        }
    }

    /// Right-aligned against the client's line.
    fn left(&self, w: usize) -> String {
        let s = match self {
            Margin::Empty => String::new(),
            Margin::Step(t) => format!("{} -->", fit(t, w - 4)),
            Margin::State(t) => format!("{}  ", fit(t, w - 2)),
        };
        format!("{s:>w$}")
    }

    /// After the server's line.
    fn right(&self, w: usize) -> String {
        match self {
            Margin::Empty => String::new(),
            Margin::Step(t) => format!("<-- {}", fit(t, w - 4)),
            Margin::State(t) => format!("  {}", fit(t, w - 2)),
        }
    }
}

/// What stands between the lines.
#[derive(Clone, Debug)]
enum Mid {
    Empty,
    /// `to_server`: drawn left to right.
    Arrow {
        to_server: bool,
        text: String,
        /// Dropped on the way: stops short of the receiver in `x`.
        dropped: bool,
        /// Injected by the case: drawn with `~` instead of `-`.
        injected: bool,
    },
    Note(String),
}

impl Mid {
    fn need(&self) -> usize {
        match self {
            Mid::Empty => 0,
            Mid::Arrow { text, .. } => chars(text) + 6,
            Mid::Note(t) => chars(t) + 4,
        }
    }

    fn render(&self, m: usize) -> String {
        match self {
            Mid::Empty => " ".repeat(m),
            Mid::Arrow {
                to_server,
                text,
                dropped,
                injected,
            } => {
                let text = fit(text, m - 6);
                let dashes = m - chars(&text) - 2;
                // The head's side takes the odd dash, as in the seed.
                let (short, long) = (dashes / 2, dashes - dashes / 2);
                // A dropped packet's arrow ends in `x`, three columns short.
                let (head, stop) = match (*to_server, *dropped) {
                    (true, false) => (">".to_string(), 1),
                    (false, false) => ("<".to_string(), 1),
                    (true, true) => ("x   ".to_string(), 4),
                    (false, true) => ("   x".to_string(), 4),
                };
                let dash = if *injected { "~" } else { "-" };
                let long = dash.repeat(long.saturating_sub(stop));
                if *to_server {
                    format!("{} {text} {long}{head}", dash.repeat(short))
                } else {
                    format!("{head}{long} {text} {}", dash.repeat(short))
                }
            }
            Mid::Note(t) => {
                let t = format!("({})", fit(t, m - 4));
                let pad = m - chars(&t);
                format!("{}{t}{}", " ".repeat(pad / 2), " ".repeat(pad - pad / 2))
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Row {
    client: Margin,
    mid: Mid,
    server: Margin,
}

impl Row {
    fn free(&self, side: Side) -> bool {
        let m = match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        };
        matches!(m, Margin::Empty)
    }

    fn margin(&mut self, side: Side) -> &mut Margin {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }
}

/// The ladder of `packets` and `events`, merged by time: packets by `ts`,
/// events by `at`; at equal times steps come before packets (a step causes
/// them) and states after (a state follows them), each list keeping its
/// own order.
pub fn draw(packets: &[Packet], events: &[Timed], opts: &LadderOptions) -> String {
    let rows = rows(packets, events, opts);
    let w = opts.width.max(MIN_WIDTH);
    let need = |side: Side| {
        rows.iter()
            .map(|r| match side {
                Side::Client => r.client.need(),
                Side::Server => r.server.need(),
            })
            .chain([MIN_MARGIN])
            .max()
            .unwrap_or(MIN_MARGIN)
            .min(MAX_MARGIN)
    };
    let (lneed, rneed) = (need(Side::Client), need(Side::Server));
    let mneed = rows
        .iter()
        .map(|r| r.mid.need())
        .chain([MIN_MID])
        .max()
        .unwrap_or(MIN_MID);
    let (lw, m, rw) = if lneed + mneed + rneed + 2 <= w {
        let room = w - 2 - lneed - rneed;
        (lneed, mneed.max(WIDE_MID.min(room)), rneed)
    } else {
        let m = mneed.min(w - 2 - 2 * MIN_MARGIN);
        let rest = w - 2 - m;
        let (lw, rw) = if lneed + rneed <= rest || lneed <= rest / 2 {
            (lneed, rest - lneed)
        } else if rneed <= rest - rest / 2 {
            (rest - rneed, rneed)
        } else {
            (rest / 2, rest - rest / 2)
        };
        (lw, m, rw)
    };
    let (lx, rx) = (lw, lw + 1 + m);

    let mut out = String::new();
    let family = family_of(packets);
    for (a, b) in [
        (Side::Client.to_string(), Side::Server.to_string()),
        (
            Side::Client.ip(family).to_string(),
            Side::Server.ip(family).to_string(),
        ),
    ] {
        out.push_str(&centered(&[(lx, &a), (rx, &b)]));
        out.push('\n');
    }
    for r in &rows {
        let line = format!(
            "{}|{}|{}",
            r.client.left(lw),
            r.mid.render(m),
            r.server.right(rw)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn rows(packets: &[Packet], events: &[Timed], opts: &LadderOptions) -> Vec<Row> {
    let injected: Vec<bool> = (0..packets.len())
        .map(|i| events.iter().any(|e| e.event == Event::Injected(i)))
        .collect();
    let (isns, rexmit) = flow::of_kernels(packets, &injected);
    let labels = labels(packets);
    let auto = unnamed(packets, events);
    let timeline = timeline(packets, events, &auto);

    let mut rows: Vec<Row> = Vec::new();
    let blank = |mid| Row {
        client: Margin::Empty,
        mid,
        server: Margin::Empty,
    };
    for (_, _, _, event) in timeline {
        let (i, dropped, note) = match event {
            Event::Packet(i) => (Some(*i), false, None),
            Event::Dropped(i) | Event::Injected(i) => {
                (Some(*i), matches!(event, Event::Dropped(_)), None)
            }
            Event::Arrived { packet, note } => (Some(*packet), false, Some(note.as_str())),
            _ => (None, false, None),
        };
        if let Some(i) = i {
            let Some(p) = packets.get(i) else {
                rows.push(blank(Mid::Note(format!("no packet #{i}"))));
                continue;
            };
            let mut text = labels[i].clone();
            if opts.numbers && p.icmp.is_none() {
                text = format!("{text} {}", numbers(p, &isns));
            }
            if rexmit[i] {
                text += " (retransmission)";
            }
            if let Some(note) = note {
                text += &format!(" ({note})");
            }
            if !p.is_empty() {
                text = format!("{text} {}", bytes(&p.payload));
            }
            rows.push(blank(arrow(p, text, dropped, injected[i])));
            continue;
        }
        match event {
            Event::Packet(_) | Event::Dropped(_) | Event::Arrived { .. } | Event::Injected(_) => {}
            Event::Step { side, text } => {
                let mut r = blank(Mid::Empty);
                *r.margin(*side) = Margin::Step(one_line(text));
                rows.push(r);
            }
            Event::State { side, text } => {
                let state = Margin::State(one_line(text));
                match rows.last_mut() {
                    Some(r) if matches!(r.mid, Mid::Arrow { .. }) && r.free(*side) => {
                        *r.margin(*side) = state;
                    }
                    _ => {
                        let mut r = blank(Mid::Empty);
                        *r.margin(*side) = state;
                        rows.push(r);
                    }
                }
            }
        }
    }
    rows
}

/// Packets no event names: drawn at their capture time.
fn unnamed(packets: &[Packet], events: &[Timed]) -> Vec<Event> {
    let named: HashSet<usize> = events
        .iter()
        .filter_map(|e| match e.event {
            Event::Packet(i)
            | Event::Dropped(i)
            | Event::Arrived { packet: i, .. }
            | Event::Injected(i) => Some(i),
            _ => None,
        })
        .collect();
    (0..packets.len())
        .filter(|i| !named.contains(i))
        .map(Event::Packet)
        .collect()
}

/// Every event and packet in drawing order: (time, rank at equal times,
/// order within its list, event). A step comes before the packets it
/// causes, a state after those it follows.
fn timeline<'a>(
    packets: &[Packet],
    events: &'a [Timed],
    auto: &'a [Event],
) -> Vec<(Duration, u8, usize, &'a Event)> {
    let rank = |e: &Event| match e {
        Event::Step { .. } => 0,
        Event::Packet(_) | Event::Dropped(_) | Event::Arrived { .. } | Event::Injected(_) => 1,
        Event::State { .. } => 2,
    };
    let mut timeline: Vec<(Duration, u8, usize, &Event)> = events
        .iter()
        .enumerate()
        .map(|(k, e)| (e.at, rank(&e.event), k, &e.event))
        .collect();
    for (k, e) in auto.iter().enumerate() {
        let Event::Packet(i) = e else { unreachable!() };
        timeline.push((packets[*i].ts, 1, k, e));
    }
    timeline.sort_by_key(|(at, rank, k, _)| (*at, *rank, *k));
    timeline
}

/// The family the hosts spoke in, for the header's addresses: that of the
/// first packet between them (IPv4, the seed's, when there is none).
fn family_of(packets: &[Packet]) -> Family {
    packets
        .iter()
        .find(|p| Side::of(p.src.ip()).is_some() && Side::of(p.dst.ip()).is_some())
        .map_or(Family::Ipv4, |p| Family::of(&p.src))
}

/// The arrow of a packet between the lab's hosts; a note for any other.
fn arrow(p: &Packet, text: String, dropped: bool, injected: bool) -> Mid {
    match (Side::of(p.src.ip()), Side::of(p.dst.ip())) {
        (Some(a), Some(b)) if a != b => Mid::Arrow {
            to_server: a == Side::Client,
            text,
            dropped,
            injected,
        },
        _ => Mid::Note(format!("{} > {}: {text}", Endpoint(p.src), Endpoint(p.dst))),
    }
}

/// Texts centered on columns, left to right, never overlapping.
fn centered(items: &[(usize, &str)]) -> String {
    let mut s = String::new();
    for (col, t) in items {
        let start = col.saturating_sub(chars(t) / 2);
        let at = chars(&s);
        let start = if at == 0 { start } else { start.max(at + 1) };
        s.push_str(&" ".repeat(start - at));
        s.push_str(t);
    }
    s
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` in at most `n` columns, ending in `…` when cut.
fn fit(s: &str, n: usize) -> String {
    if chars(s) <= n {
        s.to_string()
    } else if n == 0 {
        String::new()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Control characters escaped, so a step is one row.
fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "ladder_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "ladder_faults_tests.rs"]
mod faults_tests;
