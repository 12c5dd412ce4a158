//! A capture of many connections, told briefly: the first and the last
//! connection in full (ladder and tcpdump lines), and between them one line
//! saying how many connections showed which sequence of flags. A thousand
//! connections are 6,000 packet lines that nobody reads; the .pcap keeps
//! every one of them.

use super::ladder::{self, Event, LadderOptions, Timed};
use crate::packet::Packet;
use crate::tcpdump::middle;
pub use crate::tcpdump::{brief as tcpdump_lines, connections, SHOWN_WHOLE};

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
    use crate::tcpdump;
    use std::net::SocketAddr;
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
            icmp: None,
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
