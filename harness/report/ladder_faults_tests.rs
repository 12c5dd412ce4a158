//! The ladder's drawing of what fault rules did: dropped arrows stop short
//! in `x`, held packets stand where they arrived, retransmissions say so.

use std::time::Duration;

use super::{draw, Event, LadderOptions, Timed};
use crate::lab::Side;
use crate::packet::Packet;

const C: &str = "192.168.2.105:43068";
const S: &str = "192.168.2.100:11111";

fn at(ms: u64) -> Duration {
    Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
}

fn pkt(ms: u64, src: &str, dst: &str, flags: &str, seq: u32, ack: u32) -> Packet {
    Packet::sample(at(ms), src, dst, flags, seq, ack, 0)
}

#[test]
fn dropped_arrows_end_in_x_and_held_ones_land_where_they_arrived() {
    let packets = vec![
        pkt(0, C, S, "S", 100, 0),
        pkt(1000, C, S, "S", 100, 0),
        pkt(1001, S, C, "S.", 900, 101),
        pkt(1002, C, S, ".", 101, 901),
        pkt(1500, C, S, "F.", 101, 901),
    ];
    let events = vec![
        Timed {
            at: at(0),
            event: Event::Dropped(0),
        },
        Timed {
            at: at(1300),
            event: Event::Arrived {
                packet: 2,
                note: "delayed 300ms".into(),
            },
        },
        Timed {
            at: at(1600),
            event: Event::Dropped(4),
        },
        Timed {
            at: at(1700),
            event: Event::State {
                side: Side::Client,
                text: "FIN-WAIT-1".into(),
            },
        },
    ];
    let got = draw(&packets, &events, &LadderOptions::default());
    let want = r"
         client                                   server
      192.168.2.105                            192.168.2.100
            |----------------- SYN --------------x   |
            |--------- SYN (retransmission) -------->|
            |----------------- ACK ----------------->|
            |<------- SYN+ACK (delayed 300ms) -------|
FIN-WAIT-1  |----------------- FIN --------------x   |
";
    assert_eq!(got, &want[1..], "\n{got}");
}

#[test]
fn a_dropped_answer_stops_short_of_the_client() {
    let packets = vec![pkt(0, S, C, "F.", 900, 101)];
    let events = vec![Timed {
        at: at(0),
        event: Event::Dropped(0),
    }];
    let got = draw(&packets, &events, &LadderOptions::default());
    let arrow = got.lines().last().unwrap();
    assert!(arrow.contains("|   x----"), "{got}");
    assert!(arrow.ends_with("|") && !arrow.contains('<'), "{got}");
}
