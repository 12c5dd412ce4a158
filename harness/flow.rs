//! Relative sequence numbers as tcpdump prints them: each side's numbers
//! counted from its own initial sequence number (the seq of its SYN), so a
//! case can say `seq 1:7` and `ack 7` whatever ISNs the kernel picked.
//! And which segments are retransmissions: those that repeat sequence
//! space their sender had already sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::packet::{Packet, TcpFlags};

/// Each endpoint's ISNs, in the order its SYNs came. An endpoint that
/// connects again (the same address and port, a new SYN with a new
/// sequence number) starts a new numbering from that SYN on.
#[derive(Clone, Debug, Default)]
pub struct Isns(HashMap<SocketAddr, Vec<(Duration, u32)>>);

impl Isns {
    /// The ISNs of every endpoint whose SYN is among `packets`.
    pub fn from_packets(packets: &[Packet]) -> Isns {
        let mut map: HashMap<SocketAddr, Vec<(Duration, u32)>> = HashMap::new();
        for p in packets.iter().filter(|p| p.flags.contains(TcpFlags::SYN)) {
            let isns = map.entry(p.src).or_default();
            if isns.last().map(|(_, isn)| *isn) != Some(p.seq) {
                isns.push((p.ts, p.seq));
            }
        }
        Isns(map)
    }

    /// The ISN of `end` in force at `ts`: that of its latest SYN up to
    /// then (its first, for a packet before any).
    fn isn(&self, end: &SocketAddr, ts: Duration) -> Option<u32> {
        let isns = self.0.get(end)?;
        isns.iter()
            .rev()
            .find(|(at, _)| *at <= ts)
            .or(isns.first())
            .map(|(_, isn)| *isn)
    }

    /// Sequence number relative to the sender's ISN; absolute when its SYN
    /// was not captured.
    pub fn seq(&self, p: &Packet) -> u32 {
        self.isn(&p.src, p.ts)
            .map_or(p.seq, |isn| p.seq.wrapping_sub(isn))
    }

    /// Acknowledgment relative to the receiver's ISN.
    pub fn ack(&self, p: &Packet) -> u32 {
        self.acked(p, p.ack)
    }

    /// A number in the receiver's sequence space (the ack, a SACK block's
    /// edge) relative to the receiver's ISN, as tcpdump prints it.
    pub fn acked(&self, p: &Packet, n: u32) -> u32 {
        self.isn(&p.dst, p.ts).map_or(n, |isn| n.wrapping_sub(isn))
    }
}

/// For each packet, whether it repeats sequence space its sender had
/// already sent in this direction (a SYN sent again with the same ISN, data
/// or a FIN below the highest sequence number sent so far). Segments that
/// take no sequence space (bare ACKs, RSTs) never are; a SYN with a new
/// ISN starts a new connection.
pub fn retransmissions(packets: &[Packet]) -> Vec<bool> {
    // Per direction: (ISN, the sequence number after the highest sent).
    let mut sent: HashMap<(SocketAddr, SocketAddr), (u32, u32)> = HashMap::new();
    packets
        .iter()
        .map(|p| {
            let syn = p.flags.contains(TcpFlags::SYN);
            let fin = p.flags.contains(TcpFlags::FIN);
            let uses = p.len() + u32::from(syn) + u32::from(fin);
            if uses == 0 {
                return false;
            }
            let end = p.seq.wrapping_add(uses);
            match sent.get_mut(&(p.src, p.dst)) {
                Some((isn, next)) if !syn || p.seq == *isn => {
                    let again = (p.seq.wrapping_sub(*next) as i32) < 0;
                    if (end.wrapping_sub(*next) as i32) > 0 {
                        *next = end;
                    }
                    again
                }
                _ => {
                    sent.insert((p.src, p.dst), (p.seq, end));
                    false
                }
            }
        })
        .collect()
}

/// [`Isns::from_packets`] and [`retransmissions`] of the segments the
/// kernels sent, leaving out those `skip` marks (segments a case injected:
/// a crafted SYN must not renumber the connection, crafted data must not
/// make the kernel's next segment look like a retransmission). A skipped
/// packet is never a retransmission; `skip` may be shorter than `packets`.
pub fn of_kernels(packets: &[Packet], skip: &[bool]) -> (Isns, Vec<bool>) {
    let skipped = |i: usize| skip.get(i).copied().unwrap_or(false);
    let kept: Vec<Packet> = (0..packets.len())
        .filter(|i| !skipped(*i))
        .map(|i| packets[i].clone())
        .collect();
    let mut rexmit = retransmissions(&kept).into_iter();
    let all = (0..packets.len())
        .map(|i| !skipped(i) && rexmit.next().unwrap_or(false))
        .collect();
    (Isns::from_packets(&kept), all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(ms: u64, from_client: bool, flags: &str, seq: u32, ack: u32, len: usize) -> Packet {
        let (c, s) = ("192.168.2.105:40000", "192.168.2.100:11111");
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        Packet::sample(Duration::from_millis(ms), src, dst, flags, seq, ack, len)
    }

    #[test]
    fn repeated_syns_fins_and_data_are_retransmissions_acks_never() {
        let packets = [
            pkt(0, true, "S", 100, 0, 0),
            pkt(1000, true, "S", 100, 0, 0),
            pkt(1001, false, "S.", 900, 101, 0),
            pkt(1002, true, ".", 101, 901, 0),
            pkt(1003, true, "P.", 101, 901, 6),
            pkt(1210, true, "P.", 101, 901, 6),
            pkt(1211, false, ".", 901, 107, 0),
            pkt(1212, false, ".", 901, 107, 0),
            pkt(1300, true, "F.", 107, 901, 0),
            pkt(1500, true, "F.", 107, 901, 0),
        ];
        let got = retransmissions(&packets);
        assert_eq!(
            got,
            [false, true, false, false, false, true, false, false, false, true]
        );
    }

    #[test]
    fn injected_segments_neither_renumber_nor_make_retransmissions() {
        let packets = [
            pkt(0, true, "S", 100, 0, 0),
            pkt(1, false, "S.", 900, 101, 0),
            pkt(2, true, ".", 101, 901, 0),
            // Injected: a SYN with another ISN, then data far ahead.
            pkt(3, true, "S", 5000, 0, 0),
            pkt(4, true, ".", 100_101, 901, 10),
            pkt(5, true, "P.", 101, 901, 6),
        ];
        let skip = [false, false, false, true, true];
        let (isns, rexmit) = of_kernels(&packets, &skip);
        assert_eq!(rexmit, [false; 6]);
        assert_eq!(isns.seq(&packets[5]), 1);
        assert_eq!(isns.seq(&packets[4]), 100_001);
        // Without skipping, the SYN would renumber the rest.
        assert_ne!(Isns::from_packets(&packets).seq(&packets[5]), 1);
    }

    #[test]
    fn a_new_syn_from_the_same_port_is_a_new_connection_numbered_afresh() {
        let packets = [
            pkt(0, true, "S", 100, 0, 0),
            pkt(1, false, "S.", 900, 101, 0),
            pkt(2, true, "F.", 101, 901, 0),
            pkt(500, true, "S", 7000, 0, 0),
            pkt(501, false, "S.", 66_439, 7001, 0),
            pkt(502, true, ".", 7001, 66_440, 0),
        ];
        assert_eq!(
            retransmissions(&packets),
            [false, false, false, false, false, false]
        );
        let isns = Isns::from_packets(&packets);
        let rel: Vec<(u32, u32)> = packets.iter().map(|p| (isns.seq(p), isns.ack(p))).collect();
        assert_eq!(rel[2], (1, 1));
        assert_eq!(rel[3].0, 0);
        assert_eq!(rel[4], (0, 1));
        assert_eq!(rel[5], (1, 1));
    }
}
