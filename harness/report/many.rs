//! A capture of many connections, told briefly: the first and the last
//! connection in full (ladder and tcpdump lines), and between them one line
//! saying how many connections showed which sequence of flags. A thousand
//! connections are 6,000 packet lines that nobody reads; the .pcap keeps
//! every one of them.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::ladder::{self, Event, LadderOptions, Timed};
use crate::packet::Packet;
use crate::tcpdump;

/// Captures with up to this many connections are shown whole.
pub const SHOWN_WHOLE: usize = 10;

/// The connections of a capture, as indexes into it, in the order they
/// began (a connection is its pair of address and port ends).
pub fn connections(packets: &[Packet]) -> Vec<Vec<usize>> {
    let mut order: Vec<Vec<usize>> = Vec::new();
    let mut at: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for (i, p) in packets.iter().enumerate() {
        let key = (p.src.min(p.dst), p.src.max(p.dst));
        let k = *at.entry(key).or_insert_with(|| {
            order.push(Vec::new());
            order.len() - 1
        });
        order[k].push(i);
    }
    order
}

/// The flags of a connection's packets as tcpdump writes them:
/// `[S] [S.] [.] [F.] [F.] [.]`.
fn form(packets: &[Packet], conn: &[usize]) -> String {
    conn.iter()
        .map(|&i| format!("[{}]", packets[i].flags))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line that stands for the connections between the first and the
/// last: `... 998 more connections (5990 packets): 990 × [S] [S.] [.] [F.]
/// [F.] [.], 8 × [S] [S.] [.] [F.] [.] [F.] [.] ...`.
fn middle(packets: &[Packet], conns: &[Vec<usize>]) -> String {
    let inner = &conns[1..conns.len() - 1];
    let mut forms: Vec<(String, usize)> = Vec::new();
    for c in inner {
        let f = form(packets, c);
        match forms.iter_mut().find(|(g, _)| *g == f) {
            Some((_, n)) => *n += 1,
            None => forms.push((f, 1)),
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.1));
    let shown: Vec<String> = forms.iter().map(|(f, n)| format!("{n} × {f}")).collect();
    format!(
        "... {} more connections ({} packets): {} ...",
        inner.len(),
        inner.iter().map(Vec::len).sum::<usize>(),
        shown.join(", ")
    )
}

/// `tcpdump -nn -r`'s lines for the capture: all of them, or, past
/// [`SHOWN_WHOLE`] connections, those of the first and the last connection
/// around one line for the rest (numbered as in the whole capture).
pub fn tcpdump_lines(packets: &[Packet]) -> Vec<String> {
    let all = tcpdump::lines(packets);
    let conns = connections(packets);
    if conns.len() <= SHOWN_WHOLE {
        return all;
    }
    let (first, last) = (&conns[0], &conns[conns.len() - 1]);
    let mut out: Vec<String> = first.iter().map(|&i| all[i].clone()).collect();
    out.push(middle(packets, &conns));
    out.extend(last.iter().map(|&i| all[i].clone()));
    out
}

/// The ladder of the capture: whole, or, past [`SHOWN_WHOLE`] connections,
/// the first connection's and the last one's (each with the steps and
/// states of its time) around one line for the rest.
pub fn ladder(packets: &[Packet], events: &[Timed], opts: &LadderOptions) -> String {
    let conns = connections(packets);
    if conns.len() <= SHOWN_WHOLE {
        return ladder::draw(packets, events, opts);
    }
    let (first, last) = (&conns[0], &conns[conns.len() - 1]);
    let end_of_first = packets[*first.last().expect("a connection has packets")].ts;
    let start_of_last = packets[last[0]].ts;
    let mut t = part(packets, first, events, |at| at <= end_of_first, opts);
    t += &format!("\n  {}\n\n", middle(packets, &conns));
    t += &part(packets, last, events, |at| at >= start_of_last, opts);
    t
}

/// The ladder of the packets `idx`, with the events `when` keeps (those
/// naming a packet, renumbered for the part, or dropped when it is not in
/// it).
fn part(
    packets: &[Packet],
    idx: &[usize],
    events: &[Timed],
    when: impl Fn(std::time::Duration) -> bool,
    opts: &LadderOptions,
) -> String {
    let sub: Vec<Packet> = idx.iter().map(|&i| packets[i].clone()).collect();
    let at = |i: usize| idx.iter().position(|&j| j == i);
    let kept: Vec<Timed> = events
        .iter()
        .filter_map(|e| {
            let event = match &e.event {
                Event::Packet(i) => Event::Packet(at(*i)?),
                Event::Dropped(i) => Event::Dropped(at(*i)?),
                Event::Injected(i) => Event::Injected(at(*i)?),
                Event::Arrived { packet, note } => Event::Arrived {
                    packet: at(*packet)?,
                    note: note.clone(),
                },
                Event::Step { .. } | Event::State { .. } if when(e.at) => e.event.clone(),
                _ => return None,
            };
            Some(Timed { at: e.at, event })
        })
        .collect();
    ladder::draw(&sub, &kept, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::TcpFlags;
    use std::time::Duration;

    fn exchange(port: u16, t0: u64) -> Vec<Packet> {
        let c: SocketAddr = format!("192.168.2.105:{port}").parse().unwrap();
        let s: SocketAddr = "192.168.2.100:11111".parse().unwrap();
        let f = |s: &str| s.parse::<TcpFlags>().unwrap();
        [
            (c, s, "S"),
            (s, c, "S."),
            (c, s, "."),
            (c, s, "F."),
            (s, c, "F."),
            (c, s, "."),
        ]
        .into_iter()
        .enumerate()
        .map(|(k, (src, dst, flags))| Packet {
            ts: Duration::from_micros(t0 + k as u64),
            src,
            dst,
            flags: f(flags),
            seq: 1000,
            ack: 2000,
            win: 64,
            options: vec![],
            payload: vec![],
        })
        .collect()
    }

    #[test]
    fn many_connections_show_the_first_and_the_last_and_count_the_rest() {
        let packets: Vec<Packet> = (0..50)
            .flat_map(|k| exchange(40000 + k, 100 * u64::from(k)))
            .collect();
        let lines = tcpdump_lines(&packets);
        assert_eq!(lines.len(), 13, "{lines:#?}");
        assert!(lines[0].contains(".40000 > "), "{}", lines[0]);
        assert_eq!(
            lines[6],
            "... 48 more connections (288 packets): 48 × [S] [S.] [.] [F.] [F.] [.] ..."
        );
        assert!(lines[12].contains(".40049"), "{}", lines[12]);
        let drawn = ladder(&packets, &[], &LadderOptions::default());
        assert_eq!(drawn.matches("SYN+ACK").count(), 2, "{drawn}");
        assert!(drawn.contains("48 more connections"), "{drawn}");
    }

    #[test]
    fn a_few_connections_are_shown_whole() {
        let packets: Vec<Packet> = (0..3)
            .flat_map(|k| exchange(40000 + k, 100 * u64::from(k)))
            .collect();
        assert_eq!(tcpdump_lines(&packets), tcpdump::lines(&packets));
        assert_eq!(
            ladder(&packets, &[], &LadderOptions::default()),
            ladder::draw(&packets, &[], &LadderOptions::default())
        );
    }
}
