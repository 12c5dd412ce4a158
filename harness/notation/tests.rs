//! One grammar, two readers: what each accepts, and what each refuses
//! with which hint.

use rstest::rstest;

use super::line::{parse, AckNum, SeqNum};
use super::{Mark, Opt, Where};
use crate::lab::Side;
use crate::packet::{TcpFlags, TcpOption};

fn hint_of(text: &str, w: Where) -> (String, String) {
    let e = parse(text, w).unwrap_err();
    (e.msg, e.hint.unwrap_or_default())
}

#[test]
fn the_same_fields_read_the_same_in_both_readers() {
    let fields = "[P.]  seq 1:7, ack 1, win 502, options [nop,nop,TS val 5 ecr 6], length 6";
    let p = parse(&format!("client > server  {fields}"), Where::Packets).unwrap();
    let s = parse(fields, Where::Sends).unwrap();
    assert_eq!(p.dir, Some((Side::Client, Side::Server)));
    assert_eq!(s.dir, None);
    assert_eq!((p.flags, p.seq, p.seq_end), (s.flags, s.seq, s.seq_end));
    assert_eq!((p.ack, p.win, p.length), (s.ack, s.win, s.length));
    assert_eq!(p.options, s.options);
    assert_eq!(p.flags, "P.".parse::<TcpFlags>().unwrap());
    assert_eq!((p.seq, p.seq_end), (Some(SeqNum::Rel(1)), Some(7)));
    assert_eq!(p.ack, Some(AckNum::Rel(1)));
}

#[rstest]
#[case::mss_without_value("[S] options [mss]", "`mss` needs its value to be sent", "mss 1460")]
#[case::wscale_without_value("[S] options [wscale]", "`wscale` needs its value", "wscale 7")]
#[case::timing(
    "[R] seq rcv_nxt  at 0s..1s",
    "`at 0ms..1s`: a sent segment leaves when its step runs",
    "packets"
)]
#[case::after("[R]  after 1s..2s", "has no timing window", "at 0s..1s")]
#[case::mark(
    "[R] seq rcv_nxt  injected",
    "`injected` is what a packets line says",
    "injected"
)]
#[case::direction(
    "client > server [R]",
    "a sent segment goes from HOST to the other host",
    "leave the direction out"
)]
fn sends_refuses_what_only_packets_can_use(
    #[case] text: &str,
    #[case] msg: &str,
    #[case] hint: &str,
) {
    let (m, h) = hint_of(text, Where::Sends);
    assert!(m.contains(msg), "`{text}`: {m}");
    assert!(h.contains(hint), "`{text}`: hint `{h}`");
}

#[rstest]
#[case::rcv_nxt(
    "client > server [R] seq rcv_nxt",
    "a packets line pins the numbers tcpdump prints",
    "seq 1:7"
)]
#[case::snd_nxt(
    "client > server [.] ack snd_nxt+1",
    "`rcv_nxt` and `snd_nxt`",
    "relative numbers"
)]
#[case::payload(
    "client > server [P.] payload \"x\"",
    "does not pin the payload",
    "length N"
)]
#[case::to_port(
    "client > server [S] seq 0, to port 22222",
    "`to port` and `from port` aim a sent segment",
    "port N"
)]
#[case::no_direction("[S] seq 0", "unknown host `[S]`", "client > server")]
fn packets_refuses_what_only_sends_can_use(
    #[case] text: &str,
    #[case] msg: &str,
    #[case] hint: &str,
) {
    let (m, h) = hint_of(text, Where::Packets);
    assert!(m.contains(msg), "`{text}`: {m}");
    assert!(h.contains(hint), "`{text}`: hint `{h}`");
}

#[test]
fn a_name_alone_means_present_in_packets() {
    let l = parse(
        "client > server [S] options [mss,sackOK,TS,nop,wscale]",
        Where::Packets,
    )
    .unwrap();
    let opts = l.options.unwrap();
    assert_eq!(
        opts,
        [
            Opt::Mss(None),
            Opt::SackOk,
            Opt::Ts {
                val: None,
                ecr: None
            },
            Opt::Nop,
            Opt::Wscale(None)
        ]
    );
    assert!(opts[0].matches(&TcpOption::Mss(1460)));
    assert!(Opt::Mss(Some(1400)).matches(&TcpOption::Mss(1400)));
    assert!(!Opt::Mss(Some(1400)).matches(&TcpOption::Mss(1460)));
    let written: Vec<String> = opts.iter().map(ToString::to_string).collect();
    assert_eq!(written.join(","), "mss,sackOK,TS,nop,wscale");
}

#[test]
fn a_payloads_text_is_never_read_as_a_timing_or_a_mark() {
    let l = parse("[P.] payload \"at 1s..2s dropped\"", Where::Sends).unwrap();
    assert_eq!(l.payload.as_deref(), Some(&b"at 1s..2s dropped"[..]));
    assert_eq!((l.timing, l.mark), (None, None));
    let l = parse(
        "client > server  [S]  options [nop]  dropped",
        Where::Packets,
    )
    .unwrap();
    assert_eq!(l.mark, Some(Mark::Dropped));
    assert_eq!(l.options, Some(vec![Opt::Nop]));
}

#[rstest]
#[case::empty_field("[R] seq 1,, ack 1", "empty field between commas")]
#[case::trailing_comma("[R] seq 1,", "empty field between commas")]
#[case::number_too_big("[R] seq 4294967296", "got `4294967296` (at most 4294967295)")]
#[case::twice("[R] win 1, win 2", "`win` given twice")]
fn both_readers_refuse_the_same_typos(#[case] fields: &str, #[case] msg: &str) {
    for (text, w) in [
        (fields.to_string(), Where::Sends),
        (format!("client > server {fields}"), Where::Packets),
    ] {
        let (m, h) = hint_of(&text, w);
        assert!(m.contains(msg), "`{text}`: {m}");
        assert!(!h.is_empty(), "`{text}` has no hint");
    }
}

#[rstest]
#[case::ours("sack 1001:2001", vec![(1001, 2001)])]
#[case::tcpdumps("sack 1 {1001:2001}", vec![(1001, 2001)])]
#[case::two("sack 1001:2001 3001:4001", vec![(1001, 2001), (3001, 4001)])]
#[case::two_as_tcpdump("sack 2 {1001:2001}{3001:4001}", vec![(1001, 2001), (3001, 4001)])]
fn sack_blocks_read_in_our_form_and_tcpdumps(#[case] opt: &str, #[case] blocks: Vec<(u32, u32)>) {
    for (text, w) in [
        (format!("[.] ack 1, options [nop,nop,{opt}]"), Where::Sends),
        (
            format!("client > server [.] ack 1, options [nop,nop,{opt}]"),
            Where::Packets,
        ),
    ] {
        let l = parse(&text, w).unwrap();
        let opts = l.options.unwrap();
        assert_eq!(opts[2], Opt::Sack(Some(blocks.clone())), "{text}");
        // Printed as tcpdump prints it, which reads back the same.
        let shown = opts[2].to_string();
        assert!(
            shown.starts_with(&format!("sack {} {{", blocks.len())),
            "{shown}"
        );
        let again = parse(&format!("[.] options [{shown}]"), Where::Sends).unwrap();
        assert_eq!(again.options.unwrap()[0], opts[2]);
    }
    let pinned = Opt::Sack(Some(blocks.clone()));
    assert!(pinned.matches(&TcpOption::Sack(blocks.clone())));
    assert!(!pinned.matches(&TcpOption::Sack(vec![(1, 2)])));
    assert!(Opt::Sack(None).matches(&TcpOption::Sack(vec![(1, 2)])));
}

#[rstest]
#[case::count_differs("[.] options [sack 2 {1:2}]", "counts 2 blocks but lists 1")]
#[case::five_blocks("[.] options [sack 1:2 3:4 5:6 7:8 9:10]", "holds 1 to 4 blocks")]
#[case::no_colon("[.] options [sack 100]", "holds 1 to 4 blocks")]
#[case::bad_edge("[.] options [sack 1:x]", "`sack` needs a number, got `x`")]
#[case::bare_in_sends("[.] options [sack]", "`sack` needs its blocks to be sent")]
fn bad_sack_blocks_say_what_and_how(#[case] text: &str, #[case] msg: &str) {
    let (m, h) = hint_of(text, Where::Sends);
    assert!(m.contains(msg), "`{text}`: {m}");
    assert!(h.contains("sack 1001:2001"), "`{text}`: hint `{h}`");
}

#[test]
fn a_tsval_may_count_from_hosts_clock_or_the_peers_ts_recent_in_sends() {
    use super::options::TsVal;
    for (written, val) in [
        ("TS val clock+10 ecr 5", TsVal::Clock(10)),
        ("TS val clock", TsVal::Clock(0)),
        ("TS val ts_recent-1", TsVal::TsRecent(-1)),
        ("TS val 77", TsVal::Abs(77)),
    ] {
        let l = parse(&format!("[.] options [nop,nop,{written}]"), Where::Sends).unwrap();
        let opt = &l.options.unwrap()[2];
        let Opt::Ts { val: Some(v), .. } = opt else {
            panic!("{opt:?}")
        };
        assert_eq!(*v, val, "{written}");
        assert_eq!(opt.to_string(), written);
    }
    let (m, h) = hint_of(
        "client > server [.] options [nop,nop,TS val clock+10]",
        Where::Packets,
    );
    assert!(
        m.contains("a packets line pins the TSval tcpdump prints"),
        "{m}"
    );
    assert!(h.contains("TS val N"), "{h}");
    let (m, _) = hint_of("[.] options [TS val clock*2]", Where::Sends);
    assert!(m.contains("bad offset"), "{m}");
}

#[test]
fn an_icmp_message_reads_the_same_in_both_readers() {
    use crate::icmp::Unreachable;
    let l = parse(
        "client > server  icmp frag-needed mtu 1400  injected",
        Where::Packets,
    )
    .unwrap();
    assert_eq!(l.icmp, Some(Unreachable::FragNeeded { mtu: 1400 }));
    assert_eq!(
        (l.dir, l.mark),
        (Some((Side::Client, Side::Server)), Some(Mark::Injected))
    );
    let l = parse("ICMP port-unreachable", Where::Sends).unwrap();
    assert_eq!(l.icmp, Some(Unreachable::Port));
    for (_, kind) in Unreachable::WORDS {
        let kind = match kind {
            Unreachable::FragNeeded { .. } => Unreachable::FragNeeded { mtu: 576 },
            k => k,
        };
        let back = super::icmp::kind(&kind.to_string()).unwrap();
        assert_eq!(back, kind, "{kind}");
    }
}

#[rstest]
#[case::no_kind("icmp", "`icmp` without its kind")]
#[case::unknown("icmp redirect", "unknown ICMP message `redirect`")]
#[case::no_mtu("icmp frag-needed", "needs the next hop's MTU")]
#[case::tiny_mtu("icmp frag-needed mtu 20", "`mtu 20` is not an MTU")]
#[case::trailing("icmp port-unreachable please", "unexpected `please`")]
#[case::timing_in_sends("icmp port-unreachable  at 0s..1s", "has no timing window")]
fn bad_icmp_messages_say_what_and_how(#[case] text: &str, #[case] msg: &str) {
    let (m, h) = hint_of(text, Where::Sends);
    assert!(m.contains(msg), "`{text}`: {m}");
    assert!(!h.is_empty(), "`{text}` has no hint");
}
