//! Relative sequence numbers as tcpdump prints them: each side's numbers
//! counted from its own initial sequence number (the seq of its SYN), so a
//! case can say `seq 1:7` and `ack 7` whatever ISNs the kernel picked.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::packet::{Packet, TcpFlags};

#[derive(Clone, Debug, Default)]
pub struct Isns(HashMap<SocketAddr, u32>);

impl Isns {
    /// The ISN of every endpoint whose SYN is among `packets`.
    pub fn from_packets(packets: &[Packet]) -> Isns {
        let mut map = HashMap::new();
        for p in packets.iter().filter(|p| p.flags.contains(TcpFlags::SYN)) {
            map.entry(p.src).or_insert(p.seq);
        }
        Isns(map)
    }

    /// Sequence number relative to the sender's ISN; absolute when its SYN
    /// was not captured.
    pub fn seq(&self, p: &Packet) -> u32 {
        self.0
            .get(&p.src)
            .map_or(p.seq, |isn| p.seq.wrapping_sub(*isn))
    }

    /// Acknowledgment relative to the receiver's ISN.
    pub fn ack(&self, p: &Packet) -> u32 {
        self.0
            .get(&p.dst)
            .map_or(p.ack, |isn| p.ack.wrapping_sub(*isn))
    }
}
