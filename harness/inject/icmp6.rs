//! The ICMPv6 form of `HOST sends icmp ...` (RFC 4443), for a case played
//! over IPv6: `frag-needed mtu N` is a packet-too-big message carrying the
//! MTU, the unreachables are destination-unreachable codes
//! (`port-unreachable` code 4, `host-unreachable` code 3 "address
//! unreachable", `net-unreachable` code 0 "no route", `admin-prohibited`
//! code 1). `proto-unreachable` has no such code (ICMPv6 says it with a
//! parameter problem) and is refused.
//!
//! Linux's `tcp_v6_err` reads the quoted IPv6 header's addresses and the
//! TCP ports and seq, and believes the message only about a segment in
//! the socket's send window, as over IPv4. The message quotes the whole
//! IPv6 header and TCP header (options included) of the peer's segment,
//! as the peer sent it (the capture has them all but the flow label: its
//! payload length is the segment's real one), and leaves its payload out:
//! RFC 4443 asks for as much as fits, the kernel reads 8 bytes of TCP.
//! The ICMPv6 checksum covers the IPv6 pseudo-header (etherparse writes
//! it).

use std::net::IpAddr;

use etherparse::{IpHeaders, IpNumber, Ipv6FlowLabel, Ipv6Header, PacketBuilder};

use super::frame::{self, Macs, Unbuildable, TTL};
use crate::packet::{Packet, TcpOption};

/// The TCP header's length of `seg`: 20 bytes and its options, padded.
fn tcp_header_len(seg: &Packet) -> usize {
    let options: usize = seg.options.iter().map(TcpOption::wire_len).sum();
    20 + options.div_ceil(4) * 4
}

/// How many bytes of `seg` a message quotes: its IPv6 and TCP headers.
pub fn quoted_len(seg: &Packet) -> usize {
    40 + tcp_header_len(seg)
}

/// The quoted bytes: `seg` rebuilt as its sender sent it, cut after its
/// TCP header (the checksum in it is the whole segment's).
fn quote(seg: &Packet) -> Result<Vec<u8>, Unbuildable> {
    let macs = Macs {
        src: [0; 6],
        dst: [0; 6],
    };
    let whole = frame::build(seg, macs, 0)?;
    Ok(whole[14..14 + quoted_len(seg)].to_vec())
}

/// The Ethernet frame of `message` (from [`super::icmp::message`]), an
/// ICMPv6 message quoting the IPv6 segment `quoted`.
pub fn build(message: &Packet, quoted: &Packet, macs: Macs) -> Result<Vec<u8>, Unbuildable> {
    let (Some(icmp), IpAddr::V6(src), IpAddr::V6(dst)) =
        (message.icmp, message.src.ip(), message.dst.ip())
    else {
        return Err(Unbuildable::new(
            format!("{} > {}", message.src, message.dst),
            "not an IPv6 ICMP message",
        ));
    };
    let kind = icmp.unreachable.icmpv6().ok_or_else(|| {
        Unbuildable::new(
            format!("icmp {}", icmp.unreachable),
            "ICMPv6 has no destination-unreachable code for it (RFC 4443 says an unknown \
             next header with a parameter problem): a case about it says `ipv4-only REASON`",
        )
    })?;
    let payload = quote(quoted)?;
    // Linux's ICMPv6 errors: traffic class 0, no flow label, the
    // default hop limit.
    let ip = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: 0, // filled in on write
        next_header: IpNumber::IPV6_ICMP,
        hop_limit: TTL,
        source: src.octets(),
        destination: dst.octets(),
    };
    let builder = PacketBuilder::ethernet2(macs.src, macs.dst)
        .ip(IpHeaders::Ipv6(ip, Default::default()))
        .icmpv6(kind);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder
        .write(&mut frame, &payload)
        .map_err(|e| Unbuildable::new(format!("build ICMPv6 frame {src} > {dst}"), e))?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use etherparse::{SlicedPacket, TransportSlice};

    use super::super::icmp::{message, quoted};
    use super::*;
    use crate::icmp::Unreachable;
    use crate::lab::Side;

    const C: &str = "[2001:db8:2::105]:40000";
    const S: &str = "[2001:db8:2::100]:11111";
    const MACS: Macs = Macs {
        src: [2, 0, 0, 0, 0, 0x10],
        dst: [2, 0, 0, 0, 0, 0x05],
    };

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

    #[test]
    fn packet_too_big_quotes_the_ipv6_and_tcp_headers_with_a_valid_checksum() {
        let packets = [segment(S, C, 1000, 1428), segment(C, S, 7, 0)];
        let q = quoted(&packets, Side::Client, 11111).unwrap();
        assert_eq!(q.seq, 1000);
        let kind = Unreachable::FragNeeded { mtu: 1400 };
        let m = message(kind, Side::Client, q, Duration::from_secs(1));
        assert_eq!(m.src.ip(), Side::Client.addr6());
        let frame = build(&m, q, MACS).unwrap();
        // Ethernet 14, IPv6 40, ICMPv6 8, quoted IPv6 40 and TCP 32.
        assert_eq!(frame.len(), 14 + 40 + 8 + 40 + 32);
        let sliced = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(TransportSlice::Icmpv6(icmp)) = &sliced.transport else {
            panic!("not ICMPv6: {sliced:?}")
        };
        let (src, dst) = (Side::Client.addr6().octets(), Side::Server.addr6().octets());
        assert!(icmp.is_checksum_valid(src, dst));
        assert!(
            !icmp.is_checksum_valid(dst, [0; 16]),
            "the pseudo-header counts"
        );
        // The quoted IPv6 header's payload length is the segment's real
        // one: TCP 32 and 1428 bytes.
        assert_eq!(
            u16::from_be_bytes([frame[62 + 4], frame[62 + 5]]),
            32 + 1428
        );
        let back = Packet::from_ethernet(&frame, m.ts).expect("parses back");
        assert_eq!(back, m);
        assert_eq!(back.conn_ends(), (q.dst, q.src));
        assert_eq!(
            back.icmp.unwrap().tcpdump_text(),
            "ICMP6, packet too big, mtu 1400"
        );
    }

    #[test]
    fn proto_unreachable_has_no_icmpv6_form_and_is_refused() {
        let syn = segment(C, S, 1000, 0);
        let m = message(Unreachable::Protocol, Side::Server, &syn, Duration::ZERO);
        let e = build(&m, &syn, MACS).unwrap_err();
        assert!(e.why.contains("no destination-unreachable code"), "{e:?}");
    }

    /// Every ICMPv6 kind, built into a frame and read by the real
    /// `tcpdump`: our printer's line is its line, and `-vv` finds the
    /// ICMPv6 checksum right.
    #[test]
    fn every_icmpv6_kind_prints_as_tcpdump_prints_it_with_valid_checksums() {
        let syn = segment(C, S, 1000, 0);
        let mut frames = Vec::new();
        let mut ours = Vec::new();
        let kinds = Unreachable::WORDS
            .iter()
            .map(|(_, k)| match k {
                Unreachable::FragNeeded { .. } => Unreachable::FragNeeded { mtu: 1280 },
                k => *k,
            })
            .filter(|k| k.icmpv6().is_some());
        for (i, kind) in kinds.enumerate() {
            let ts = Duration::from_secs(1_000 + i as u64);
            let m = message(kind, Side::Server, &syn, ts);
            frames.push((m.ts, build(&m, &syn, MACS).unwrap()));
            let back = Packet::from_ethernet(&frames[i].1, ts).expect("parses back");
            assert_eq!(back, m);
            ours.push(crate::tcpdump::Printer::new().line(&m));
        }
        assert_eq!(ours.len(), 5);
        let refs: Vec<(Duration, &[u8])> = frames.iter().map(|(t, f)| (*t, f.as_slice())).collect();
        let theirs = frame::tcpdump_reads(&refs, "icmp6", &["-nn"]);
        let verbose = frame::tcpdump_reads(&refs, "icmp6", &["-nn", "-vv"]);
        assert_eq!(theirs.lines().collect::<Vec<_>>(), ours);
        assert!(ours[2].ends_with(
            "IP6 2001:db8:2::100 > 2001:db8:2::105: ICMP6, destination unreachable, \
             unreachable port, 2001:db8:2::100 tcp port 11111, length 80"
        ));
        assert!(ours[3].ends_with("ICMP6, packet too big, mtu 1280, length 80"));
        assert_eq!(verbose.matches("[icmp6 sum ok]").count(), 5, "{verbose}");
    }
}
