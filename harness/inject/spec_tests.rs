//! The `HOST sends` notation: what parses to what, and what is refused
//! with which message.

use rstest::rstest;

use super::spec::{AckNum, Data, SegmentSpec, SeqNum, FILL_BYTE};
use crate::notation::options::TsVal;
use crate::notation::Opt;
use crate::packet::TcpFlags;

fn parse(s: &str) -> SegmentSpec {
    s.parse().unwrap_or_else(|e| panic!("`{s}`: {e}"))
}

#[test]
fn bare_flags_leave_every_number_to_the_connection() {
    let s = parse("[R]");
    assert_eq!(s.flags, TcpFlags::RST);
    assert_eq!((s.seq, s.ack, s.win, &s.options), (None, None, None, &None));
    assert_eq!(s.data, Data::Bytes(vec![]));
    assert_eq!((s.to_port, s.from_port), (None, None));
}

#[rstest]
#[case("[R.] seq 1, ack 1", Some(SeqNum::Rel(1)), Some(AckNum::Rel(1)))]
#[case("[R] seq rcv_nxt", Some(SeqNum::RcvNxt(0)), None)]
#[case("[R] seq rcv_nxt+1", Some(SeqNum::RcvNxt(1)), None)]
#[case("[R] seq rcv_nxt + 100000", Some(SeqNum::RcvNxt(100_000)), None)]
#[case("[R] seq rcv_nxt-2", Some(SeqNum::RcvNxt(-2)), None)]
#[case("[.] ack snd_nxt", None, Some(AckNum::SndNxt(0)))]
#[case(
    "[.] ack snd_nxt+4294967295",
    None,
    Some(AckNum::SndNxt(4_294_967_295))
)]
#[case("[S.] seq 0, ack snd_nxt-1", Some(SeqNum::Rel(0)), Some(AckNum::SndNxt(-1)))]
fn numbers_are_relative_or_named(
    #[case] text: &str,
    #[case] seq: Option<SeqNum>,
    #[case] ack: Option<AckNum>,
) {
    let s = parse(text);
    assert_eq!((s.seq, s.ack), (seq, ack));
}

#[rstest]
#[case("[P.] seq 1:7, ack 1, length 6", Data::Filled(6))]
#[case("[P.] seq 1:7, ack 1", Data::Filled(6))]
#[case("[P.] seq 1, length 3", Data::Filled(3))]
#[case("[P.] seq rcv_nxt, length 3", Data::Filled(3))]
#[case("[P.] payload \"hello\\n\"", Data::Bytes(b"hello\n".to_vec()))]
#[case("[P.] seq 1:7, payload \"hello\\n\"", Data::Bytes(b"hello\n".to_vec()))]
#[case("[P.] payload \"a, b [c]\"", Data::Bytes(b"a, b [c]".to_vec()))]
#[case("[P.] payload \"\\x00\\xff\\t\\r\\0\\\\\\\"\"", Data::Bytes(b"\x00\xff\t\r\0\\\"".to_vec()))]
#[case("[P.] payload \"é\"", Data::Bytes("é".as_bytes().to_vec()))]
#[case("[.] length 0", Data::Bytes(vec![]))]
#[case("[.] seq 5:5", Data::Bytes(vec![]))]
fn payload_from_length_text_or_span(#[case] text: &str, #[case] data: Data) {
    assert_eq!(parse(text).data, data);
}

#[test]
fn length_fills_with_the_fill_byte() {
    assert_eq!(Data::Filled(3).bytes(), vec![FILL_BYTE; 3]);
    assert_eq!(FILL_BYTE, b'x');
}

#[rstest]
#[case("[.] options [nop,nop,TS]", vec![Opt::Nop, Opt::Nop, Opt::Ts { val: None, ecr: None }])]
#[case("[.] options [nop,nop,TS val 5 ecr 7]", vec![Opt::Nop, Opt::Nop, Opt::Ts { val: Some(TsVal::Abs(5)), ecr: Some(7) }])]
#[case("[.] options [TS ecr 0]", vec![Opt::Ts { val: None, ecr: Some(0) }])]
#[case("[S] options [mss 1460,sackOK,nop,wscale 7]", vec![Opt::Mss(Some(1460)), Opt::SackOk, Opt::Nop, Opt::Wscale(Some(7))])]
#[case("[.] options []", vec![])]
fn options_as_tcpdump_prints_them(#[case] text: &str, #[case] opts: Vec<Opt>) {
    assert_eq!(parse(text).options, Some(opts));
}

#[test]
fn window_and_ports() {
    let s = parse("[S] seq 1000, win 502, to port 22222, from port 40001");
    assert_eq!(s.win, Some(502));
    assert_eq!(s.to_port, Some(22222));
    assert_eq!(s.from_port, Some(40001));
    assert_eq!(s.seq, Some(SeqNum::Rel(1000)));
}

#[rstest]
#[case("[R]")]
#[case("[R.] seq 1, ack 1")]
#[case("[R] seq rcv_nxt+1")]
#[case("[R] seq rcv_nxt-1")]
#[case("[.] ack snd_nxt+3")]
#[case("[P.] seq 1:7, ack 1")]
#[case("[P.] seq rcv_nxt, length 6")]
#[case("[P.] seq 1, payload \"a\\\"b\\\\c\\n\\x01\\xe9\"")]
#[case("[.] win 0, options [nop,nop,TS val 1 ecr 2]")]
#[case("[S] seq 7, options [mss 1460,sackOK,wscale 7], to port 22222, from port 1")]
#[case("[.] ack 1, options [nop,nop,TS val clock+10,nop,nop,sack 2 {1001:2001}{3001:4001}]")]
#[case("[.] options [TS val ts_recent-1 ecr 0]")]
fn display_parses_back_to_the_same_spec(#[case] text: &str) {
    let s = parse(text);
    assert_eq!(s.to_string(), text, "canonical form");
    assert_eq!(parse(&s.to_string()), s);
}

#[rstest]
#[case("R. seq 1", "expected flags in brackets", "[FLAGS]")]
#[case("[R. seq 1", "flags bracket not closed", "[R.]")]
#[case("[Rx]", "bad flags `[Rx]`", "tcpdump's letters")]
#[case("[]", "bad flags `[]`", "[R.]")]
#[case("[RR]", "flag `R` given twice", "tcpdump's letters")]
#[case("[R] seq one", "`seq` needs a number", "rcv_nxt")]
#[case("[R] seq -1", "`seq` needs a number", "rcv_nxt")]
#[case("[R] seq 4294967296", "`seq` needs a number", "rcv_nxt")]
#[case("[R] seq rcv_nxté", "bad offset in `rcv_nxté`", "rcv_nxt+1")]
#[case("[R] seq rcv_nxt*2", "bad offset in `rcv_nxt*2`", "rcv_nxt+1")]
#[case("[R] seq rcv_nxt+", "bad offset", "rcv_nxt+1")]
#[case("[R] seq rcv_nxt+4294967296", "bad offset", "4294967295")]
#[case("[R] seq snd_nxt", "`seq` counts HOST's bytes", "seq rcv_nxt")]
#[case(
    "[R.] ack rcv_nxt",
    "`ack` acknowledges the peer's bytes",
    "ack snd_nxt"
)]
#[case("[R] ack 1", "`ack` without the ACK flag", "[R.]")]
#[case("[.] win 70000", "`win 70000` does not fit", "0..65535")]
#[case("[.] window 5", "unknown segment field `window`", "win N")]
#[case("[R] seq 1, seq 2", "`seq` given twice", "")]
#[case("[R] seq 1,, ack 1", "empty field", "")]
#[case("[P.] seq 7:1", "ends before it starts", "seq A:B")]
#[case(
    "[P.] seq 1:7, length 5",
    "`seq` spans 6 bytes but the payload has 5",
    ""
)]
#[case(
    "[P.] length 2, payload \"abc\"",
    "`length 2` but the payload has 3",
    ""
)]
#[case("[P.] payload hello", "payload must be quoted", "\\n")]
#[case("[P.] payload \"hello", "unterminated", "payload")]
#[case("[P.] payload \"\\q\"", "unknown escape `\\q`", "\\xNN")]
#[case("[P.] payload \"\\x4\"", "bad escape", "\\xNN")]
#[case("[.] options [nop", "unbalanced brackets", "options [nop,nop,TS]")]
#[case("[.] options nop", "options go in brackets", "TS")]
#[case("[.] options [echo]", "unknown option `echo`", "TS")]
#[case("[.] options [mss]", "`mss` needs its value", "mss 1460")]
#[case("[.] options [TS val]", "bad TS option", "TS val N ecr N")]
#[case("[.] options [wscale 300]", "does not fit", "wscale")]
#[case("[.] options [TS,TS,TS,TS,TS]", "options take 50 bytes", "")]
#[case("[P.] length 1500", "would be 1540 bytes", "1448")]
#[case("[S] to 22222", "`to` needs `port N`", "to port 22222")]
#[case("[S] to port 0", "needs 1..65535", "")]
#[case("[S] to port 70000", "needs 1..65535", "")]
#[case(
    "[R] seq rcv_nxt, to port 22222",
    "need the captured connection",
    "absolute numbers"
)]
#[case("[S.] seq 1, to port 22222", "no `snd_nxt` to acknowledge", "ack 1")]
#[case("[S] from port 5", "only goes with `to port`", "")]
#[case(
    "[.] options [nop,nop,TS,sack 1:2 3:4 5:6 7:8]",
    "options take 46 bytes",
    ""
)]
#[case(
    "[S] seq 1, options [TS val ts_recent], to port 22222",
    "`TS val ts_recent` needs the captured connection",
    "TS val 1000"
)]
fn bad_segments_say_what_and_how(#[case] text: &str, #[case] msg: &str, #[case] hint: &str) {
    let e = text.parse::<SegmentSpec>().unwrap_err();
    assert!(
        e.msg.contains(msg),
        "`{text}`: message `{}` lacks `{msg}`",
        e.msg
    );
    let shown = e.to_string();
    assert!(
        shown.contains(hint),
        "`{text}`: `{shown}` lacks hint `{hint}`"
    );
}
