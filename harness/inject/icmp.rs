//! `HOST sends icmp ...`: an ICMP destination-unreachable message from
//! HOST to its peer about the peer's latest real segment on the case's
//! port, as a router (or HOST's own stack) would send it: `frag-needed mtu
//! 1400` for path MTU discovery, `port-unreachable` or `host-unreachable`
//! for a connection that cannot be made.
//!
//! The peer's kernel believes such a message only if it quotes a segment
//! of one of its sockets (addresses and ports) whose sequence number lies
//! in that socket's send window (`tcp_v4_err`: `snd_una <= seq <=
//! snd_nxt`, else TcpExtOutOfWindowIcmps). So the message quotes the
//! segment the peer sent last, as the capture shows it: its IPv4 header
//! (rebuilt: the capture keeps no IP header) and its first 8 bytes of TCP
//! (ports and seq), RFC 792's minimum and all Linux reads. A segment still
//! unacknowledged (one a rule dropped, a SYN left unanswered) is in the
//! window; one the other side has acknowledged since is not.
//!
//! A segment of an IPv6 connection gets ICMPv6's message instead (see
//! [`super::icmp6`]): the kernel's `tcp_v6_err` checks the same window.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etherparse::{IpHeaders, IpNumber, Ipv4Header, PacketBuilder};

use super::frame::{Macs, Unbuildable, TTL};
use crate::error::Malformed;
use crate::icmp::{Icmp, Unreachable, QUOTED};
use crate::lab::Side;
use crate::packet::{Packet, TcpOption};
use crate::sockets::Family;

/// Linux's TOS for ICMP errors: IPTOS_PREC_INTERNETCONTROL.
const TOS_INTERNETCONTROL: u8 = 0xc0;

/// The peer's latest real segment to HOST on `port` (ICMP messages left
/// out): what the message quotes.
/// A segment of either family counts: the message follows the segment's.
pub fn quoted(packets: &[Packet], side: Side, port: u16) -> Result<&Packet, Malformed> {
    let peer = IpAddr::V4(side.peer().addr());
    let is = |ip: IpAddr, s: Side| ip == s.ip(Family::Ipv4) || ip == s.ip(Family::Ipv6);
    packets
        .iter()
        .rev()
        .find(|p| {
            p.icmp.is_none()
                && is(p.src.ip(), side.peer())
                && is(p.dst.ip(), side)
                && (p.src.port() == port || p.dst.port() == port)
        })
        .ok_or_else(|| {
            Malformed::new(format!(
                "no segment from the {} ({peer}) to the {side} on port {port} to quote, among the {} captured packets",
                side.peer(),
                packets.len()
            ), "")
        })
}

/// The message HOST sends at `now` about `quoted`, as the capture will
/// show it: of `quoted`'s family.
pub fn message(kind: Unreachable, side: Side, quoted: &Packet, now: Duration) -> Packet {
    let (family, len) = match quoted.src {
        SocketAddr::V4(_) => (Family::Ipv4, 8 + QUOTED),
        SocketAddr::V6(_) => (Family::Ipv6, 8 + super::icmp6::quoted_len(quoted)),
    };
    Packet::icmp(
        now,
        (side.ip(family), side.peer().ip(family)),
        Icmp {
            unreachable: kind,
            about_src: quoted.src,
            about_dst: quoted.dst,
            about_seq: quoted.seq,
            len: len as u16,
        },
    )
}

/// The quoted bytes: `quoted`'s IPv4 header as Linux sent it (DF, TTL 64,
/// its real total length) and its first 8 bytes of TCP.
fn quote(quoted: &Packet) -> Result<Vec<u8>, Unbuildable> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (quoted.src.ip(), quoted.dst.ip()) else {
        return Err(Unbuildable::new(
            format!("{} > {}", quoted.src, quoted.dst),
            "only IPv4 segments can be quoted",
        ));
    };
    let options: usize = quoted.options.iter().map(TcpOption::wire_len).sum();
    let tcp_len = 20 + options.div_ceil(4) * 4 + quoted.payload.len();
    let mut ip = Ipv4Header::new(
        u16::try_from(tcp_len).map_err(|_| {
            Unbuildable::new("the quoted segment", format!("{tcp_len} bytes is too long"))
        })?,
        TTL,
        IpNumber::TCP,
        src.octets(),
        dst.octets(),
    )
    .map_err(|e| Unbuildable::new("quoted IPv4 header", e))?;
    ip.dont_fragment = true;
    ip.header_checksum = ip.calc_header_checksum();
    let mut bytes = ip.to_bytes().to_vec();
    bytes.extend_from_slice(&quoted.src.port().to_be_bytes());
    bytes.extend_from_slice(&quoted.dst.port().to_be_bytes());
    bytes.extend_from_slice(&quoted.seq.to_be_bytes());
    Ok(bytes)
}

/// The Ethernet frame of `message` (from [`message`]) quoting `quoted`:
/// ICMPv4, or ICMPv6 about an IPv6 segment.
pub fn build(
    message: &Packet,
    quoted: &Packet,
    macs: Macs,
    ip_id: u16,
) -> Result<Vec<u8>, Unbuildable> {
    if quoted.src.is_ipv6() {
        return super::icmp6::build(message, quoted, macs);
    }
    let (Some(icmp), IpAddr::V4(src), IpAddr::V4(dst)) =
        (message.icmp, message.src.ip(), message.dst.ip())
    else {
        return Err(Unbuildable::new(
            format!("{} > {}", message.src, message.dst),
            "not an IPv4 ICMP message",
        ));
    };
    let payload = quote(quoted)?;
    let mut ip = Ipv4Header::new(0, TTL, IpNumber::ICMP, src.octets(), dst.octets())
        .map_err(|e| Unbuildable::new("IPv4 header", e))?;
    ip.identification = ip_id;
    ip.dscp = etherparse::IpDscp::try_new(TOS_INTERNETCONTROL >> 2)
        .map_err(|e| Unbuildable::new("IPv4 TOS", e))?;
    let builder = PacketBuilder::ethernet2(macs.src, macs.dst)
        .ip(IpHeaders::Ipv4(ip, Default::default()))
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            icmp.unreachable.header(),
        ));
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder
        .write(&mut frame, &payload)
        .map_err(|e| Unbuildable::new(format!("build ICMP frame {src} > {dst}"), e))?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(from: &str, to: &str, seq: u32, len: usize) -> Packet {
        Packet {
            ts: Duration::ZERO,
            src: from.parse().unwrap(),
            dst: to.parse().unwrap(),
            flags: "P.".parse().unwrap(),
            seq,
            ack: 1,
            win: 64,
            options: vec![
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Ts { val: 1, ecr: 2 },
            ],
            payload: vec![b'x'; len],
            icmp: None,
        }
    }

    const C: &str = "192.168.2.105:40000";
    const S: &str = "192.168.2.100:11111";

    #[test]
    fn the_message_quotes_the_peers_latest_segment_and_parses_back() {
        let packets = [
            segment(S, C, 1000, 1448),
            segment(C, S, 7, 0),
            segment(S, C, 2448, 10),
        ];
        let q = quoted(&packets, Side::Client, 11111).unwrap();
        assert_eq!(q.seq, 2448);
        let kind = Unreachable::FragNeeded { mtu: 1400 };
        let m = message(kind, Side::Client, q, Duration::from_secs(1));
        let macs = Macs {
            src: [2, 0, 0, 0, 0, 1],
            dst: [2, 0, 0, 0, 0, 2],
        };
        let frame = build(&m, q, macs, 7).unwrap();
        // Ethernet 14, IPv4 20, ICMP 8, quoted 28.
        assert_eq!(frame.len(), 14 + 20 + 8 + 28);
        let back = Packet::from_ethernet(&frame, m.ts).expect("parses back");
        assert_eq!(back, m);
        assert_eq!(
            crate::report::ladder::label(&back, false),
            "ICMP frag-needed mtu 1400"
        );
        // It belongs to the connection of the segment it quotes.
        assert_eq!(back.conn_ends(), (q.dst, q.src));
        let icmp = back.icmp.unwrap();
        assert_eq!(
            icmp.tcpdump_text(),
            "ICMP 192.168.2.105 unreachable - need to frag (mtu 1400)"
        );
        // The quoted IPv4 header carries the segment's real length:
        // 20 + 20 + 12 (options) + 10.
        assert_eq!(u16::from_be_bytes([frame[42 + 2], frame[42 + 3]]), 62);
    }

    /// Every kind, built into a frame and read by the real `tcpdump`:
    /// our printer's line is its line, and its checksums are valid.
    #[test]
    fn every_kind_prints_as_tcpdump_prints_it_with_valid_checksums() {
        let macs = Macs {
            src: [2, 0, 0, 0, 0, 0x10],
            dst: [2, 0, 0, 0, 0, 0x05],
        };
        let syn = segment(C, S, 1000, 0);
        let mut frames = Vec::new();
        let mut ours = Vec::new();
        for (i, (_, kind)) in Unreachable::WORDS.iter().enumerate() {
            let kind = match kind {
                Unreachable::FragNeeded { .. } => Unreachable::FragNeeded { mtu: 1400 },
                k => *k,
            };
            let m = message(
                kind,
                Side::Server,
                &syn,
                Duration::from_secs(1_000 + i as u64),
            );
            frames.push((m.ts, build(&m, &syn, macs, i as u16).unwrap()));
            ours.push(crate::tcpdump::Printer::new().line(&m));
        }
        let refs: Vec<(Duration, &[u8])> = frames.iter().map(|(t, f)| (*t, f.as_slice())).collect();
        let theirs = super::super::frame::tcpdump_reads(&refs, "icmp", &["-nn"]);
        let verbose = super::super::frame::tcpdump_reads(&refs, "icmp", &["-nn", "-vv"]);
        assert_eq!(theirs.lines().collect::<Vec<_>>(), ours);
        assert!(ours[4].ends_with(
            "IP 192.168.2.100 > 192.168.2.105: ICMP 192.168.2.100 unreachable - need to frag (mtu 1400), length 36"
        ));
        assert!(ours[3].ends_with("ICMP 192.168.2.100 tcp port 11111 unreachable, length 36"));
        assert!(
            !verbose.contains("bad cksum") && !verbose.contains("wrong"),
            "{verbose}"
        );
    }

    #[test]
    fn nothing_to_quote_is_an_error_naming_the_port() {
        let packets = [segment(C, S, 7, 0)];
        let e = quoted(&packets, Side::Client, 11111)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no segment from the server (192.168.2.100) to the client on port 11111"),
            "{e}"
        );
    }
}
