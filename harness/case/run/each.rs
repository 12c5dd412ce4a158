//! `packets × N` blocks: the capture's segments since the last block,
//! split by connection, and each connection held against the block's
//! alternatives, numbered from its own ISNs.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use super::super::expect::{awaits_more, compare, PacketExpect, Seen};
use super::session::{Session, StepError};
use crate::case::outcome::{Cause, Observation};
use crate::lab::Side;
use crate::notation::duration::Tolerance;
use crate::packet::{Endpoint, Packet};

/// One connection's packets since a block began.
pub struct Connection {
    /// The client's end (`192.168.2.105.40000`), which tells connections
    /// apart.
    pub client: SocketAddr,
    pub seen: Vec<Seen>,
}

/// The packets of `packets[start..]` (with `marks[i]` for `packets[i]`)
/// between the lab's hosts, split by connection (address and port pairs),
/// in the order their first packets came. Each is numbered from its own
/// ISNs and judged for retransmissions over the whole capture, so a
/// connection whose handshake an earlier block held (a `packets × N`
/// after the clients connected) still reads `seq 5, ack 5`.
pub fn connections(
    packets: &[Packet],
    marks: &[Option<super::super::expect::Marked>],
    start: usize,
) -> Vec<Connection> {
    let mut order: Vec<(SocketAddr, SocketAddr)> = Vec::new();
    let mut groups: HashMap<(SocketAddr, SocketAddr), (Vec<Packet>, Vec<_>, usize)> =
        HashMap::new();
    for (i, p) in packets.iter().enumerate() {
        let (Some(from), Some(_)) = (Side::of(p.src.ip()), Side::of(p.dst.ip())) else {
            continue;
        };
        // An ICMP message joins the connection of the segment it quotes.
        let (src, dst) = p.conn_ends();
        let (client, server) = match from {
            Side::Client => (src, dst),
            Side::Server => (dst, src),
        };
        let g = groups.entry((client, server)).or_default();
        if i >= start && g.0.len() == g.2 {
            // The connection's first packet of the block.
            order.push((client, server));
        }
        if i < start {
            g.2 += 1;
        }
        g.0.push(p.clone());
        g.1.push(marks.get(i).copied().flatten());
    }
    order
        .into_iter()
        .map(|key| {
            let (ps, ms, before) = &groups[&key];
            Connection {
                client: key.0,
                seen: Seen::all_marked_from(ps, ms, *before),
            }
        })
        .collect()
}

impl Session<'_> {
    pub(super) fn packets_each(
        &mut self,
        line: usize,
        count: usize,
        alts: &[Vec<PacketExpect>],
    ) -> Result<(), StepError> {
        let deadline = self.deadline();
        let wanted = count.saturating_mul(alts.iter().map(Vec::len).min().unwrap_or(0));
        self.await_packets(line, deadline, wanted)?;
        self.position.block_start = self.position.claimed;
        // Connections that are the start of a longer alternative (and none
        // that is wrong): wait for the rest.
        let conns = loop {
            let conns = self.block_connections();
            if !awaits_more_each(alts, &conns, self.opts.tolerance) || !self.more(line, deadline)? {
                break conns;
            }
        };
        self.position.claimed = self.captured().len();
        self.judge_connections(line, count, alts, conns)
    }

    /// The connections since the block began, marked, each packet timed
    /// from the latest action for `at` windows.
    fn block_connections(&self) -> Vec<Connection> {
        let all = self.captured();
        let mut marks = self.marks(all);
        self.mark_injected(&mut marks);
        let from = self.position.block_start.min(all.len());
        let mut conns = connections(all, &marks, from);
        for c in &mut conns {
            for s in &mut c.seen {
                s.ctx.since_action = s.ctx.ts.checked_sub(self.clock.last_action_at);
            }
        }
        conns
    }

    /// Holds every connection since the block began against `alts`, and
    /// their number against `count`.
    pub(super) fn judge_each(
        &mut self,
        line: usize,
        count: usize,
        alts: &[Vec<PacketExpect>],
    ) -> Result<(), StepError> {
        let conns = self.block_connections();
        self.judge_connections(line, count, alts, conns)
    }

    fn judge_connections(
        &mut self,
        line: usize,
        count: usize,
        alts: &[Vec<PacketExpect>],
        conns: Vec<Connection>,
    ) -> Result<(), StepError> {
        self.observe(
            line,
            Observation::Connections(conns.iter().map(|c| c.seen.clone()).collect()),
        );
        let mut forms = vec![0usize; alts.len()];
        let mut failed = None;
        for (i, c) in conns.iter().enumerate() {
            match alts
                .iter()
                .position(|a| compare(a, &c.seen, self.opts.tolerance).is_none())
            {
                Some(k) => forms[k] += 1,
                None => {
                    failed.get_or_insert(i);
                }
            }
        }
        let held = forms.iter().sum::<usize>();
        let tally = tally(&forms, alts, line);
        self.log.push(format!(
            "{:>7.3}s  {line}: {} connections; {tally}",
            self.clock.start.elapsed().as_secs_f64(),
            conns.len()
        ));
        if held == count && conns.len() == count {
            return Ok(());
        }
        let head = format!(
            "expected {count} connections that each show the block's packets; captured {}, of which {held} did ({tally})",
            conns.len()
        );
        let failure = match failed {
            Some(i) => {
                let c = &conns[i];
                // The head speaks for the whole block, so the failure is
                // placed at the block's line whichever packet differed (it
                // depends on timing: a server may ACK a FIN before its own);
                // the differing line is named beside the connection.
                let e = self.block_failure(alts, &c.seen, line);
                let place = if e.line == line {
                    String::new()
                } else {
                    format!(", line {}", e.line)
                };
                let text = format!(
                    "{head}\n  connection {} of {} ({} > server{place}): {}",
                    i + 1,
                    conns.len(),
                    Endpoint(c.client),
                    e.shown()
                );
                StepError::at(line, text)
            }
            None => StepError::at(line, head),
        };
        self.judged(Cause::Block, failure)
    }
}

/// Whether the connections that match no alternative are all the start
/// of one (and there is one at least): the rest may be on its way.
fn awaits_more_each(alts: &[Vec<PacketExpect>], conns: &[Connection], tol: Tolerance) -> bool {
    let mut failing = conns
        .iter()
        .filter(|c| alts.iter().all(|a| compare(a, &c.seen, tol).is_some()))
        .peekable();
    failing.peek().is_some() && failing.all(|c| awaits_more(alts, &c.seen, tol))
}

/// `993 matched the first form (line 12), 7 the second (line 19)`.
fn tally(forms: &[usize], alts: &[Vec<PacketExpect>], line: usize) -> String {
    if forms.len() == 1 {
        return format!("{} matched", forms[0]);
    }
    let mut t = String::new();
    for (k, (n, alt)) in forms.iter().zip(alts).enumerate() {
        let first = alt.first().map_or(line, |p| p.line);
        let _ = write!(
            t,
            "{}{n} alternative {} (line {first})",
            if k == 0 { "" } else { ", " },
            k + 1
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pkt(port: u16, from_client: bool, flags: &str, seq: u32, ack: u32) -> Packet {
        let c = format!("192.168.2.105:{port}");
        let s = "192.168.2.100:11111".to_string();
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        let ts = Duration::from_millis(u64::from(seq % 1000));
        Packet::sample(ts, &src, &dst, flags, seq, ack, 0)
    }

    /// Two connections whose handshakes an earlier block held: the block
    /// after them numbers each from its own ISNs, and lists only them.
    #[test]
    fn a_block_after_the_handshakes_numbers_each_connection_from_its_isns() {
        let packets = [
            pkt(40000, true, "S", 1000, 0),
            pkt(40000, false, "S.", 5000, 1001),
            pkt(40001, true, "S", 7000, 0),
            pkt(40001, false, "S.", 9000, 7001),
            // The block: the server's FINs.
            pkt(40001, false, "F.", 9001, 7001),
            pkt(40000, false, "F.", 5001, 1001),
        ];
        let conns = connections(&packets, &[], 4);
        let seen: Vec<(u16, u32, u32)> = conns
            .iter()
            .flat_map(|c| c.seen.iter().map(|s| (c.client.port(), s.seq, s.ack)))
            .collect();
        assert_eq!(seen, [(40001, 1, 1), (40000, 1, 1)]);
    }
}
