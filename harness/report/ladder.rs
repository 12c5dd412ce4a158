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
//!                           |------------- FIN+ACK ------------->|
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

use std::collections::HashSet;
use std::time::Duration;

use crate::flow::{self, Isns};
use crate::lab::Side;
use crate::packet::{Endpoint, Packet, TcpFlags};

/// Something that happened during a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A packet, by its index in the `packets` given to [`draw`]. Packets
    /// no event names are placed by their own time stamps.
    Packet(usize),
    /// A packet a fault rule dropped, at its own time stamp: its arrow
    /// stops short of the receiver and ends in `x`.
    Dropped(usize),
    /// A packet a fault rule held back (delayed, reordered), placed when it
    /// was let through, where it arrived; `note` follows its name.
    Arrived { packet: usize, note: String },
    /// A packet a `sends` step injected, at its own time stamp: drawn
    /// with `~` (`~~~ RST ~~~>`), since no kernel sent it.
    Injected(usize),
    /// What was done on a host: `nc -kl 11111`, `^C`, `types hello`.
    Step { side: Side, text: String },
    /// What a host's socket became: `ESTABLISHED`, `TIME-WAIT 60s`.
    State { side: Side, text: String },
}

/// An event and when it happened (since the Unix epoch, as `Packet::ts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    pub at: Duration,
    pub event: Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LadderOptions {
    /// Relative seq/ack inside the arrows: `PSH+ACK len 6 seq 1:7 ack 1`.
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

/// The arrow's name for a packet: its flags' names, and the payload's
/// length when there is one: `SYN`, `SYN+ACK`, `PSH+ACK len 6`.
pub fn label(p: &Packet) -> String {
    let mut s = p.flags.names();
    if !p.is_empty() {
        s.push_str(&format!(" len {}", p.len()));
    }
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
    for (a, b) in [
        (Side::Client.to_string(), Side::Server.to_string()),
        (
            Side::Client.addr().to_string(),
            Side::Server.addr().to_string(),
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
    let auto: Vec<Event> = (0..packets.len())
        .filter(|i| !named.contains(i))
        .map(Event::Packet)
        .collect();
    // (time, rank at equal times, order within its list, event): a step
    // comes before the packets it causes, a state after those it follows.
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
            let mut text = label(p);
            if opts.numbers {
                text = format!("{text} {}", numbers(p, &isns));
            }
            if rexmit[i] {
                text += " (retransmission)";
            }
            if let Some(note) = note {
                text += &format!(" ({note})");
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
mod tests {
    use super::*;
    use rstest::rstest;

    const C: &str = "192.168.2.105:43068";
    const S: &str = "192.168.2.100:11111";
    const T0: u64 = 1_700_000_000;

    fn at(ms: u64) -> Duration {
        Duration::from_secs(T0) + Duration::from_millis(ms)
    }

    fn pkt(ms: u64, src: &str, dst: &str, flags: &str, seq: u32, ack: u32, len: usize) -> Packet {
        Packet {
            ts: at(ms),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            flags: flags.parse().unwrap(),
            seq,
            ack,
            win: 502,
            options: vec![],
            payload: vec![b'x'; len],
        }
    }

    fn step(ms: u64, side: Side, text: &str) -> Timed {
        Timed {
            at: at(ms),
            event: Event::Step {
                side,
                text: text.into(),
            },
        }
    }

    fn state(ms: u64, side: Side, text: &str) -> Timed {
        Timed {
            at: at(ms),
            event: Event::State {
                side,
                text: text.into(),
            },
        }
    }

    const CI: u32 = 2_190_574_322;
    const SI: u32 = 3_451_519_765;

    /// The seed's teardown: handshake, ^C on the client, three-packet close.
    fn teardown() -> (Vec<Packet>, Vec<Timed>) {
        let packets = vec![
            pkt(10, C, S, "S", CI, 0, 0),
            pkt(11, S, C, "S.", SI, CI + 1, 0),
            pkt(12, C, S, ".", CI + 1, SI + 1, 0),
            pkt(30, C, S, "F.", CI + 1, SI + 1, 0),
            pkt(31, S, C, "F.", SI + 1, CI + 2, 0),
            pkt(32, C, S, ".", CI + 2, SI + 2, 0),
        ];
        let events = vec![
            step(0, Side::Server, "nc -kl 11111"),
            step(5, Side::Client, "nc 192.168.2.100 11111"),
            step(20, Side::Client, "^C"),
        ];
        (packets, events)
    }

    const TEARDOWN: &str = r"
                       client                               server
                    192.168.2.105                        192.168.2.100
                          |                                    |<-- nc -kl 11111
nc 192.168.2.100 11111 -->|                                    |
                          |--------------- SYN --------------->|
                          |<------------- SYN+ACK -------------|
                          |--------------- ACK --------------->|
                    ^C -->|                                    |
                          |------------- FIN+ACK ------------->|
                          |<------------- FIN+ACK -------------|
                          |--------------- ACK --------------->|
";

    #[test]
    fn teardown_ladder() {
        let (packets, events) = teardown();
        let got = draw(&packets, &events, &LadderOptions::default());
        assert_eq!(got, &TEARDOWN[1..], "\n{got}");
    }

    /// An injected segment is drawn with `~`, both ways; it neither
    /// renumbers the connection (a crafted SYN) nor makes the kernel's
    /// answer a retransmission.
    #[test]
    fn injected_segments_are_drawn_with_tildes() {
        let (mut packets, events) = teardown();
        packets.truncate(3);
        packets.push(pkt(40, C, S, "S", CI + 9, 0, 0));
        packets.push(pkt(41, S, C, ".", SI + 1, CI + 1, 0));
        packets.push(pkt(42, S, C, "R", SI + 1, 0, 0));
        let mut events: Vec<Timed> = events.into_iter().take(2).collect();
        for i in [3, 5] {
            events.push(Timed {
                at: packets[i].ts,
                event: Event::Injected(i),
            });
        }
        let opts = LadderOptions {
            numbers: true,
            ..LadderOptions::default()
        };
        let got = draw(&packets, &events, &opts);
        let rows: Vec<&str> = got.lines().skip(7).map(str::trim).collect();
        assert_eq!(
            rows,
            [
                "|~~~~~~~~~~~~ SYN seq 9 ~~~~~~~~~~~~>|",
                "|<--------- ACK seq 1 ack 1 ---------|",
                "|<~~~~~~~~~~~~ RST seq 1 ~~~~~~~~~~~~|",
            ],
            "\n{got}"
        );
    }

    /// Events are merged by time whatever order they are given in.
    #[test]
    fn events_in_any_order() {
        let (packets, mut events) = teardown();
        events.reverse();
        assert_eq!(
            draw(&packets, &events, &LadderOptions::default()),
            &TEARDOWN[1..]
        );
    }

    #[test]
    fn numbers_and_states() {
        let packets = vec![
            pkt(10, C, S, "S", CI, 0, 0),
            pkt(11, S, C, "S.", SI, CI + 1, 0),
            pkt(12, C, S, ".", CI + 1, SI + 1, 0),
            pkt(20, C, S, "P.", CI + 1, SI + 1, 6),
            pkt(21, S, C, ".", SI + 1, CI + 7, 0),
            pkt(30, S, C, "R.", SI + 1, CI + 7, 0),
        ];
        let events = vec![
            step(0, Side::Server, "nc -kl 11111"),
            state(1, Side::Server, "LISTEN"),
            step(5, Side::Client, "nc 192.168.2.100 11111"),
            state(12, Side::Server, "ESTABLISHED"),
            state(13, Side::Client, "ESTABLISHED"),
            step(19, Side::Client, "types 11111"),
            step(29, Side::Server, "kill nc"),
            state(31, Side::Client, "CLOSED"),
        ];
        let got = draw(
            &packets,
            &events,
            &LadderOptions {
                numbers: true,
                width: 80,
            },
        );
        let want = r"
                       client                               server
                    192.168.2.105                        192.168.2.100
                          |                                    |<-- nc -kl 11111
                          |                                    |  LISTEN
nc 192.168.2.100 11111 -->|                                    |
                          |------------ SYN seq 0 ------------>|
                          |<------- SYN+ACK seq 0 ack 1 -------|
             ESTABLISHED  |--------- ACK seq 1 ack 1 --------->|  ESTABLISHED
           types 11111 -->|                                    |
                          |--- PSH+ACK len 6 seq 1:7 ack 1 --->|
                          |<--------- ACK seq 1 ack 7 ---------|
                          |                                    |<-- kill nc
                  CLOSED  |<------- RST+ACK seq 1 ack 7 -------|
";
        assert_eq!(got, &want[1..], "\n{got}");
    }

    /// A packet not between client and server is a note; an event naming a
    /// packet places it, and the packet is not drawn twice.
    #[test]
    fn notes_and_named_packets() {
        let packets = vec![
            pkt(10, C, S, "S", CI, 0, 0),
            pkt(11, "10.0.0.9:80", "10.0.0.7:5", "R", 1, 0, 0),
        ];
        let events = vec![
            Timed {
                at: at(0),
                event: Event::Packet(0),
            },
            Timed {
                at: at(1),
                event: Event::Packet(9),
            },
        ];
        let got = draw(&packets, &events, &LadderOptions::default());
        let body: Vec<&str> = got.lines().skip(2).collect();
        assert_eq!(body.len(), 3, "\n{got}");
        assert!(body[0].contains("- SYN -"), "\n{got}");
        assert!(body[1].contains("(no packet #9)"), "\n{got}");
        assert!(
            body[2].contains("(10.0.0.9.80 > 10.0.0.7.5: RST)"),
            "\n{got}"
        );
    }

    #[rstest]
    #[case(40)]
    #[case(60)]
    #[case(80)]
    #[case(120)]
    fn lines_fit_and_arrows_point_the_right_way(#[case] width: usize) {
        let (packets, mut events) = teardown();
        events.push(step(
            25,
            Side::Client,
            "a step written on the client side that is far too long to fit anywhere",
        ));
        events.push(state(40, Side::Client, "TIME-WAIT 60s"));
        for numbers in [false, true] {
            let got = draw(&packets, &events, &LadderOptions { numbers, width });
            for l in got.lines() {
                assert!(
                    chars(l) <= width,
                    "{} > {width} columns: {l:?}\n{got}",
                    chars(l)
                );
            }
            // "|--- SYN --->|" and "|<-- SYN+ACK ---|"; not "^C -->|"
            // nor "|<-- nc -kl 11111".
            let to_server = |l: &str| l.contains("|-") && l.contains("->|");
            let to_client = |l: &str| l.contains("|<-") && l.contains("-|");
            let arrows: Vec<&str> = got
                .lines()
                .filter(|l| to_server(l) || to_client(l))
                .collect();
            assert_eq!(arrows.len(), packets.len(), "\n{got}");
            for (l, p) in arrows.iter().zip(&packets) {
                let right = Side::of(p.src.ip()) == Some(Side::Client);
                assert_eq!(to_server(l), right, "{l}");
                assert_eq!(to_client(l), !right, "{l}");
                assert!(l.contains(&label(p)), "{l}");
            }
            assert!(got.contains("…"), "\n{got}");
        }
    }

    #[rstest]
    #[case("S", 0, "SYN")]
    #[case("S.", 0, "SYN+ACK")]
    #[case(".", 0, "ACK")]
    #[case("P.", 6, "PSH+ACK len 6")]
    #[case("F.", 0, "FIN+ACK")]
    #[case("R.", 0, "RST+ACK")]
    fn labels(#[case] flags: &str, #[case] len: usize, #[case] want: &str) {
        assert_eq!(label(&pkt(0, C, S, flags, 1, 1, len)), want);
    }
}

#[cfg(test)]
#[path = "ladder_faults_tests.rs"]
mod faults_tests;
