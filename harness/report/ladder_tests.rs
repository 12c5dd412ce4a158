//! The ladder's labels, arrows and layout, pinned.

use super::*;
use rstest::rstest;

const C: &str = "192.168.2.105:43068";
const S: &str = "192.168.2.100:11111";
const T0: u64 = 1_700_000_000;

fn at(ms: u64) -> Duration {
    Duration::from_secs(T0) + Duration::from_millis(ms)
}

fn pkt(ms: u64, src: &str, dst: &str, flags: &str, seq: u32, ack: u32, len: usize) -> Packet {
    Packet::sample(at(ms), src, dst, flags, seq, ack, len)
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
                          |--------------- FIN --------------->|
                          |<------------- FIN+ACK -------------|
                          |--------------- ACK --------------->|
";

#[test]
fn teardown_ladder() {
    let (packets, events) = teardown();
    let got = draw(&packets, &events, &LadderOptions::default());
    assert_eq!(got, &TEARDOWN[1..], "\n{got}");
}

/// A connection over IPv6 is drawn the same, under the hosts' IPv6
/// addresses.
#[test]
fn an_ipv6_exchange_has_the_hosts_ipv6_addresses_over_the_ladder() {
    let (mut packets, mut events) = teardown();
    let v6 = |a: &str| {
        let a: std::net::SocketAddr = a.parse().unwrap();
        let side = Side::of(a.ip()).unwrap();
        std::net::SocketAddr::new(side.ip(Family::Ipv6), a.port())
    };
    for p in &mut packets {
        (p.src, p.dst) = (v6(&p.src.to_string()), v6(&p.dst.to_string()));
    }
    events[1] = step(5, Side::Client, "nc 2001:db8:2::100 11111");
    let got = draw(&packets, &events, &LadderOptions::default());
    assert_eq!(got, &TEARDOWN6[1..], "\n{got}");
}

const TEARDOWN6: &str = r"
                         client                             server
                     2001:db8:2::105                    2001:db8:2::100
                            |                                  |<-- nc -kl 11111
nc 2001:db8:2::100 11111 -->|                                  |
                            |-------------- SYN -------------->|
                            |<------------ SYN+ACK ------------|
                            |-------------- ACK -------------->|
                      ^C -->|                                  |
                            |-------------- FIN -------------->|
                            |<------------ FIN+ACK ------------|
                            |-------------- ACK -------------->|
";

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
    let want = r#"
                     client                                 server
                  192.168.2.105                          192.168.2.100
                        |                                      |<-- nc -kl 11111
                        |                                      |  LISTEN
nc 192.168.2.100 11… -->|                                      |
                        |------------- SYN seq 0 ------------->|
                        |<-------- SYN+ACK seq 0 ack 1 --------|
           ESTABLISHED  |---------- ACK seq 1 ack 1 ---------->|  ESTABLISHED
         types 11111 -->|                                      |
                        |-- PSH len 6 seq 1:7 ack 1 "xxxxxx" ->|
                        |<---------- ACK seq 1 ack 7 ----------|
                        |                                      |<-- kill nc
                CLOSED  |<---------- RST seq 1 ack 7 ----------|
"#;
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
            assert!(l.contains(&label(p, true).replace("+ACK", "")), "{l}");
        }
        assert!(got.contains("…"), "\n{got}");
    }
}

/// `+ACK` only where the acknowledgment is news to the other side.
#[rstest]
#[case::handshake_and_client_close(
        &[("S", true, 0), ("S.", false, 0), (".", true, 0), ("F.", true, 0), ("F.", false, 0), (".", true, 0)],
        &["SYN", "SYN+ACK", "ACK", "FIN", "FIN+ACK", "ACK"]
    )]
#[case::data_then_server_closes(
        &[("S", true, 0), ("S.", false, 0), (".", true, 0), ("P.", true, 6), (".", false, 0),
          ("F.", false, 0), ("F.", true, 0), (".", false, 0)],
        &["SYN", "SYN+ACK", "ACK", "PSH len 6", "ACK", "FIN", "FIN+ACK", "ACK"]
    )]
#[case::data_acked_with_data_and_a_duplicate_ack(
        &[("S", true, 0), ("S.", false, 0), (".", true, 0), ("P.", true, 3), ("P.", false, 2),
          (".", true, 0), (".", true, 0), ("R.", false, 0)],
        &["SYN", "SYN+ACK", "ACK", "PSH len 3", "PSH+ACK len 2", "ACK", "ACK", "RST"]
    )]
fn labels_say_ack_only_when_it_is_news(
    #[case] segments: &[(&str, bool, usize)],
    #[case] want: &[&str],
) {
    // Each side's seq and ack follow what was sent and received.
    let (mut c_seq, mut s_seq) = (CI, SI);
    let (mut c_ack, mut s_ack) = (0, 0);
    let packets: Vec<Packet> = segments
        .iter()
        .enumerate()
        .map(|(i, (flags, from_client, len))| {
            let f: TcpFlags = flags.parse().unwrap();
            let used =
                *len as u32 + u32::from(f.contains(TcpFlags::SYN) || f.contains(TcpFlags::FIN));
            if *from_client {
                let p = pkt(i as u64, C, S, flags, c_seq, c_ack, *len);
                c_seq = c_seq.wrapping_add(used);
                s_ack = c_seq;
                p
            } else {
                let p = pkt(i as u64, S, C, flags, s_seq, s_ack, *len);
                s_seq = s_seq.wrapping_add(used);
                c_ack = s_seq;
                p
            }
        })
        .collect();
    assert_eq!(labels(&packets), want);
}

#[test]
fn ack_numbers_compare_across_the_wrap() {
    let packets = vec![
        pkt(0, C, S, ".", 1, u32::MAX - 1, 0),
        pkt(1, C, S, "F.", 1, 3, 0),
        pkt(2, C, S, "F.", 1, 3, 0),
    ];
    assert_eq!(labels(&packets), ["ACK", "FIN+ACK", "FIN"]);
}

#[rstest]
#[case(b"11111\n", "\"11111\\n\"")]
#[case(b"a\"b\\\x00", "\"a\\\"b\\\\\\x00\"")]
#[case(b"0123456789abcdefXYZ", "\"0123456789abcdef…\"")]
fn bytes_are_quoted_escaped_and_cut(#[case] payload: &[u8], #[case] want: &str) {
    assert_eq!(bytes(payload), want);
}
