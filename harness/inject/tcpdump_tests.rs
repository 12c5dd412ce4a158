//! Every kind of injected segment, written to a .pcap and read back by the
//! real `tcpdump -nn -vv -S -r`: checksums valid, flags, numbers, window,
//! options and length as the connection's own segments would show them.

use std::net::SocketAddr;
use std::time::Duration;

use rstest::rstest;

use super::conn::{resolve_new, Conn};
use super::frame::{build, Macs};
use super::spec::SegmentSpec;
use crate::lab::Side;
use crate::packet::{Packet, TcpOption};

use super::conn::tests::{C, S};

const MACS: Macs = Macs {
    src: [0x02, 0, 0, 0, 0, 0x05],
    dst: [0x02, 0, 0, 0, 0, 0x10],
};

/// conn's test segment, without payload.
fn pkt(ms: u64, from: &str, to: &str, flags: &str, seq: u32, ack: u32, ts: Option<u32>) -> Packet {
    super::conn::tests::pkt(ms, (from, to), flags, seq, ack, 0, ts)
}

/// A handshake as a capture holds it: client ISN 1000, server ISN 5000.
fn handshake(ts: bool) -> Vec<Packet> {
    let t = |v: u32| ts.then_some(v);
    vec![
        pkt(0, C, S, "S", 1000, 0, t(100)),
        pkt(1, S, C, "S.", 5000, 1001, t(9000)),
        pkt(2, C, S, ".", 1001, 5001, t(102)),
    ]
}

/// `tcpdump -nn -vv -S -r` of a .pcap holding `seg`'s frame, as one line.
fn tcpdump(seg: &Packet, name: &str) -> String {
    let frame = build(seg, MACS, 0x1234).expect("frame");
    let back = Packet::from_ethernet(&frame, seg.ts).expect("the frame parses back");
    assert_eq!(&back, seg, "etherparse reads back what was built");
    let name = format!("inject-{name}");
    let text = super::frame::tcpdump_reads(&[(seg.ts, &frame)], &name, &["-nn", "-vv", "-S"]);
    // -v prints an IPv4 packet on two lines, an IPv6 one on one.
    let lines = if seg.src.is_ipv4() { 2 } else { 1 };
    assert_eq!(
        text.lines().count(),
        lines,
        "one packet, {lines} -v lines:\n{text}"
    );
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[rstest]
#[case::rst_exact(
    "[R]",
    true,
    "Flags [R], cksum",
    "seq 1001, win 502, options [nop,nop,TS val 150 ecr 9000], length 0"
)]
#[case::rst_in_window(
    "[R] seq rcv_nxt+1",
    true,
    "Flags [R], cksum",
    "seq 1002, win 502, options [nop,nop,TS val 150 ecr 9000], length 0"
)]
#[case::rst_ack(
    "[R.] seq 1, ack 1",
    true,
    "Flags [R.], cksum",
    "seq 1001, ack 5001, win 502, options [nop,nop,TS val 150 ecr 9000], length 0"
)]
#[case::syn_on_established(
    "[S] seq 0",
    true,
    "Flags [S], cksum",
    "seq 1000, win 502, options [nop,nop,TS val 150 ecr 9000], length 0"
)]
#[case::data_out_of_window(
    "[P.] seq rcv_nxt+100000, length 10",
    true,
    "Flags [P.], cksum",
    "seq 101001:101011, ack 5001, win 502, options [nop,nop,TS val 150 ecr 9000], length 10"
)]
#[case::ack(
    "[.]",
    true,
    "Flags [.], cksum",
    "seq 1001, ack 5001, win 502, options [nop,nop,TS val 150 ecr 9000], length 0"
)]
#[case::ack_without_timestamps(
    "[.] win 7",
    false,
    "Flags [.], cksum",
    "seq 1001, ack 5001, win 7, length 0"
)]
#[case::data_with_payload(
    "[P.] payload \"hello\\n\"",
    false,
    "Flags [P.], cksum",
    "seq 1001:1007, ack 5001, win 502, length 6"
)]
#[case::syn_with_options(
    "[S] seq 0, options [mss 1460,sackOK,TS,nop,wscale 7]",
    true,
    "Flags [S], cksum",
    "seq 1000, win 502, options [mss 1460,sackOK,TS val 150 ecr 9000,nop,wscale 7], length 0"
)]
fn tcpdump_decodes_injected_segments(
    #[case] spec: &str,
    #[case] ts: bool,
    #[case] head: &str,
    #[case] tail: &str,
) {
    let spec: SegmentSpec = spec.parse().unwrap();
    // HOST's TSval 102 was captured at 2 ms; at 50 ms its clock reads 150.
    let seg = Conn::latest(&handshake(ts), Side::Client, 11111)
        .unwrap()
        .resolve(&spec, Duration::from_millis(50))
        .unwrap();
    let name: String = format!("{spec}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let line = tcpdump(&seg, &name);
    let option_bytes: usize = seg
        .options
        .iter()
        .map(|o| match o {
            TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::Wscale(_) => 3,
            TcpOption::SackOk => 2,
            TcpOption::Ts { .. } => 10,
            TcpOption::Sack(b) => 2 + 8 * b.len(),
        })
        .sum();
    let ip_len = 20 + 20 + option_bytes.div_ceil(4) * 4 + seg.payload.len();
    let ip = format!(
        "IP (tos 0x0, ttl 64, id 4660, offset 0, flags [DF], proto TCP (6), length {ip_len})"
    );
    assert!(line.contains(&ip), "IP header: want `{ip}` in\n{line}");
    assert!(!line.contains("bad cksum"), "{line}");
    let want_head = format!("{} > {}: {head}", endpoint(C), endpoint(S));
    assert!(line.contains(&want_head), "want `{want_head}` in\n{line}");
    assert!(
        line.contains("(correct)"),
        "TCP checksum not correct:\n{line}"
    );
    assert!(line.ends_with(tail), "want `...{tail}`, got\n{line}");
}

fn endpoint(s: &str) -> String {
    let a: SocketAddr = s.parse().unwrap();
    format!("{}.{}", a.ip(), a.port())
}

#[test]
fn tcpdump_decodes_a_new_connection_syn() {
    let spec: SegmentSpec = "[S] seq 77, options [mss 1460], to port 22222"
        .parse()
        .unwrap();
    let family = crate::sockets::Family::Ipv4;
    let seg = resolve_new(&spec, Side::Server, family, Duration::from_secs(1)).unwrap();
    let line = tcpdump(&seg, "new-syn");
    assert!(
        line.contains("192.168.2.100.40000 > 192.168.2.105.22222: Flags [S], cksum"),
        "{line}"
    );
    assert!(
        line.contains("(correct), seq 77, win 64240, options [mss 1460], length 0"),
        "{line}"
    );
}

/// An IPv6 frame: tcpdump finds the TCP checksum over the IPv6
/// pseudo-header correct and reads the header as Linux would send it.
#[test]
fn tcpdump_decodes_a_new_connection_syn_over_ipv6() {
    let spec: SegmentSpec = "[S] seq 77, options [mss 1440], to port 22222"
        .parse()
        .unwrap();
    let family = crate::sockets::Family::Ipv6;
    let seg = resolve_new(&spec, Side::Server, family, Duration::from_secs(1)).unwrap();
    let line = tcpdump(&seg, "new-syn6");
    for want in [
        "IP6 (flowlabel 0x01234, hlim 64, next-header TCP (6) payload length: 24) ",
        "2001:db8:2::100.40000 > 2001:db8:2::105.22222: Flags [S], cksum",
        "(correct), seq 77, win 64240, options [mss 1440], length 0",
    ] {
        assert!(line.contains(want), "want `{want}` in\n{line}");
    }
}
