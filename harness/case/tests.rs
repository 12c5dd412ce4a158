//! The case format and the matchers, pinned without a lab.

use std::path::Path;
use std::time::Duration;

use rstest::rstest;

use super::calls::CallExpect;
use super::expect::{awaits_more, compare, PacketExpect, Seen};
use super::parse::parse;
use super::rows::{match_set, AddrPattern, Window};
use crate::notation::duration::Tolerance;

const NONE: Tolerance = Tolerance::NONE;
use super::{Interrupt, ItemKind};
use crate::lab::Side;
use crate::packet::{TcpFlags, TcpOption};

fn parse_err(text: &str) -> String {
    parse(Path::new("cases/x.case"), text)
        .unwrap_err()
        .to_string()
}

fn packets_of(text: &str) -> Vec<PacketExpect> {
    let case = parse(Path::new("cases/x.case"), text).unwrap();
    match &case.items[0].kind {
        ItemKind::Packets(alts) => alts[0].clone(),
        other => panic!("not a packets block: {other:?}"),
    }
}

#[rstest]
#[case::empty_file("", "cases/x.case:1: the case has no steps")]
#[case::only_comments("# nothing\n\n", "cases/x.case:1: the case has no steps")]
#[case::unknown_step(
    "server $ nc -kl 11111\nfrobnicate\n",
    "cases/x.case:2: unknown step `frobnicate`"
)]
#[case::unknown_host("router $ nc -kl 11111\n", "cases/x.case:1: unknown host `router`")]
#[case::unknown_verb("client jumps\n", "cases/x.case:1: unknown step `client jumps`")]
#[case::bad_flag_letter(
    "packets\n  client > server  [SX]  seq 0\n",
    "cases/x.case:2: bad flags `[SX]`: `X` is not a TCP flag letter"
)]
#[case::flag_twice(
    "packets\n  client > server  [SS]\n",
    "cases/x.case:2: bad flags `[SS]`: flag `S` given twice"
)]
#[case::packet_to_itself(
    "packets\n  client > client  [S]\n",
    "cases/x.case:2: `client > client`"
)]
#[case::unclosed_flags(
    "packets\n  client > server  [S  seq 0\n",
    "cases/x.case:2: flags bracket not closed"
)]
#[case::unknown_field(
    "packets\n  client > server  [S]  sequence 0\n",
    "cases/x.case:2: unknown packet field `sequence`"
)]
#[case::bad_number(
    "packets\n  client > server  [S]  seq zero\n",
    "cases/x.case:2: `seq` needs a number, got `zero`"
)]
#[case::unterminated_block(
    "server $ nc -kl 11111\npackets\n",
    "cases/x.case:2: `packets` block has no lines"
)]
#[case::block_then_step_only(
    "packets\nclient ^C\n",
    "cases/x.case:1: `packets` block has no lines"
)]
#[case::stray_indent(
    "  client > server [S]\n",
    "cases/x.case:1: indented line outside a block"
)]
#[case::bad_address(
    "sockets client\n  ESTAB 192.168.2.305:* 192.168.2.100:11111\n",
    "cases/x.case:2: bad IP address `192.168.2.305`"
)]
#[case::bad_port(
    "sockets client\n  ESTAB 192.168.2.105:99999 192.168.2.100:11111\n",
    "cases/x.case:2: bad port `99999`"
)]
#[case::bad_state(
    "sockets client\n  ESTABLISHING 192.168.2.105:* 192.168.2.100:11111\n",
    "cases/x.case:2: "
)]
#[case::bad_window(
    "sockets client\n  TIME-WAIT *:* *:* timer 60s..58s\n",
    "cases/x.case:2: time window `60s..58s` ends before it starts"
)]
#[case::window_without_unit(
    "sockets client\n  TIME-WAIT *:* *:* timer 58..60\n",
    "cases/x.case:2: `58` has no unit"
)]
#[case::sockets_without_host("sockets\n  none\n", "cases/x.case:1: `sockets`: missing host")]
#[case::bad_fd(
    "fds server\n  fiveu IPv4 TCP *:11111 (LISTEN)\n",
    "cases/x.case:2: bad descriptor"
)]
#[case::fd_state_unbracketed(
    "fds server\n  4u IPv4 TCP *:11111 LISTEN\n",
    "cases/x.case:2: the state goes in parentheses"
)]
#[case::bad_call(
    "syscalls server\n  accept 4 = 5\n",
    "cases/x.case:2: `accept 4 = 5` is not a call"
)]
#[case::call_without_result(
    "syscalls server\n  accept(4, ...)\n",
    "cases/x.case:2: missing `= result`"
)]
#[case::unterminated_quote("server $ nc -kl '11111\n", "cases/x.case:1: unterminated ' quote")]
#[case::bad_exit("client exits zero\n", "cases/x.case:1: bad exit status `zero`")]
#[case::port_after_step(
    "server $ nc -kl 1\nport 2\n",
    "cases/x.case:2: `port` after the first step"
)]
#[case::bad_port_directive("port 0\n", "cases/x.case:1: bad port `0`")]
#[case::or_first(
    "packets\n  or\n  client > server  [S]\n",
    "cases/x.case:2: `or` must stand between two lists of packets"
)]
#[case::or_last(
    "packets\n  client > server  [S]\n  or\n",
    "cases/x.case:3: `or` must stand between two lists of packets"
)]
#[case::wait_bad_window(
    "wait client TIME-WAIT *:* *:* gone at 61s\n",
    "cases/x.case:1: bad time window `61s`"
)]
fn malformed_case_names_file_line_and_what(#[case] text: &str, #[case] start: &str) {
    let err = parse_err(text);
    assert!(err.starts_with(start), "error was: {err}");
}

#[rstest]
#[case::unknown_step("frobnicate\n")]
#[case::bad_flags("packets\n  client > server  [Q]\n")]
#[case::bad_window("sockets client\n  TIME-WAIT *:* *:* timer 1s..x\n")]
fn every_parse_error_carries_a_hint(#[case] text: &str) {
    assert!(parse_err(text).contains("(hint: "), "{}", parse_err(text));
}

#[test]
fn kill_sends_a_named_signal_and_prints_as_written() {
    let text = "server $ my-server\nserver kill -TERM\nserver kill -SIGKILL\nserver kill -9\nserver kill -HUP\n";
    let case = parse(Path::new("k.case"), text).unwrap();
    let sent: Vec<Interrupt> = case
        .items
        .iter()
        .filter_map(|i| match i.kind {
            ItemKind::Signal { signal, .. } => Some(signal),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [
            Interrupt::Term,
            Interrupt::Kill,
            Interrupt::Kill,
            Interrupt::Hup
        ]
    );
    assert_eq!(case.items[1].kind.to_string(), "server kill -TERM");
    assert!(Interrupt::Term.ends_it() && !Interrupt::Hup.ends_it());
    let e = parse_err("server $ x\nserver kill -STOP\n");
    assert!(
        e.contains("x.case:2: `kill -STOP`: not a signal a case sends"),
        "{e}"
    );
}

#[test]
fn seed_teardown_parses_into_its_steps() {
    let text = "server $ nc -kl 11111\nclient $ nc 192.168.2.100 11111\nclient ^C\npackets\n  client > server  [F.]  seq 1, ack 1\n  server > client  [F.]  seq 1, ack 2\n  client > server  [.]   ack 2\n";
    let case = parse(Path::new("cases/teardown.case"), text).unwrap();
    assert_eq!(case.name, "teardown");
    assert_eq!(case.port, 11111);
    assert_eq!(
        case.items[0].kind,
        ItemKind::Start {
            host: Side::Server,
            argv: vec!["nc".into(), "-kl".into(), "11111".into()]
        }
    );
    assert_eq!(
        case.items[2].kind,
        ItemKind::Signal {
            host: Side::Client,
            signal: Interrupt::Int
        }
    );
    let ItemKind::Packets(alts) = &case.items[3].kind else {
        panic!()
    };
    let p = &alts[0];
    assert_eq!(p.len(), 3);
    assert_eq!(
        (p[1].from, p[1].to, p[1].flags),
        (Side::Server, Side::Client, TcpFlags::FIN | TcpFlags::ACK)
    );
    assert_eq!(
        (p[1].seq, p[1].ack, p[1].line),
        (Some((1, None)), Some(2), 6)
    );
}

#[test]
fn or_separates_exact_alternatives() {
    let case = parse(
        Path::new("cases/x.case"),
        "packets\n  client > server  [F.]\n  or\n  client > server  [F.]\n  server > client  [.]\n",
    )
    .unwrap();
    let ItemKind::Packets(alts) = &case.items[0].kind else {
        panic!()
    };
    assert_eq!(alts.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(alts[1][1].line, 5);
}

#[test]
fn packet_line_reads_every_field() {
    let p = &packets_of(
        "packets\n  client > server  [P.]  seq 1:7, ack 1, win 502, options [nop,nop,TS val 5 ecr 6], length 6\n",
    )[0];
    assert_eq!(p.seq, Some((1, Some(7))));
    assert_eq!((p.ack, p.win, p.length), (Some(1), Some(502), Some(6)));
    assert_eq!(p.to_string(), "client > server  [P.]  seq 1:7, ack 1, win 502, options [nop,nop,TS val 5 ecr 6], length 6");
}

fn seen(from: Side, flags: TcpFlags, seq: u32, ack: u32, len: u32) -> Seen {
    Seen {
        from,
        to: from.peer(),
        flags,
        seq,
        ack,
        win: 502,
        len,
        options: vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Ts { val: 1, ecr: 2 },
        ],
        icmp: None,
        ctx: Default::default(),
    }
}

fn seed_close() -> Vec<Seen> {
    let fa = TcpFlags::FIN | TcpFlags::ACK;
    vec![
        seen(Side::Client, fa, 1, 1, 0),
        seen(Side::Server, fa, 1, 2, 0),
        seen(Side::Client, TcpFlags::ACK, 2, 2, 0),
    ]
}

const SEED_CLOSE: &str = "packets\n  client > server  [F.]  seq 1, ack 1\n  server > client  [F.]  seq 1, ack 2\n  client > server  [.]   ack 2\n";

#[test]
fn seed_close_matches_the_seed_block() {
    assert_eq!(compare(&packets_of(SEED_CLOSE), &seed_close(), NONE), None);
}

#[test]
fn a_block_that_is_the_start_of_a_longer_alternative_awaits_more() {
    let with_reset = format!("{SEED_CLOSE}  server > client  [R]   seq 2\n");
    let alts = [packets_of(&with_reset), packets_of(&with_reset)];
    assert!(
        awaits_more(&alts, &seed_close(), NONE),
        "the reset may be on its way"
    );
    let alts = [packets_of(SEED_CLOSE), packets_of(&with_reset)];
    assert!(
        !awaits_more(&alts, &seed_close(), NONE),
        "it matches the shorter one"
    );
    let mut wrong = seed_close();
    wrong[1].flags = TcpFlags::RST;
    assert!(
        !awaits_more(&alts, &wrong, NONE),
        "a wrong packet waits for nothing"
    );
    assert!(
        awaits_more(&alts, &[], NONE),
        "nothing yet is the start of both"
    );
}

#[rstest]
#[case::reset_instead_of_fin(
    SEED_CLOSE.replace("server > client  [F.]", "server > client  [R.]"),
    1,
    "flags: expected [R.], saw [F.]"
)]
#[case::one_packet_removed(SEED_CLOSE.replace("  client > server  [.]   ack 2\n", ""), 2, "extra packet: expected 2 packets, captured 3")]
#[case::one_packet_added(
    format!("{SEED_CLOSE}  client > server  [.]   ack 2\n"),
    3,
    "missing packet: expected 4 packets, captured 3"
)]
#[case::reordered(
    "packets\n  server > client  [F.]  seq 1, ack 2\n  client > server  [F.]  seq 1, ack 1\n  client > server  [.]   ack 2\n".to_string(),
    0,
    "direction: expected server > client, saw client > server"
)]
#[case::wrong_ack(SEED_CLOSE.replace("seq 1, ack 2", "seq 1, ack 3"), 1, "ack: expected 3, saw 2")]
#[case::wrong_window(SEED_CLOSE.replace("  client > server  [.]   ack 2", "  client > server  [.]   ack 2, win 29200"), 2, "win: expected 29200, saw 502")]
#[case::wrong_options(SEED_CLOSE.replace("seq 1, ack 1", "seq 1, ack 1, options [nop,nop,TS val 9 ecr 2]"), 0, "options: expected [nop,nop,TS val 9 ecr 2], saw [nop,nop,TS val 1 ecr 2]")]
fn a_wrong_block_diverges_at_the_first_difference(
    #[case] block: String,
    #[case] index: usize,
    #[case] reason: &str,
) {
    let d = compare(&packets_of(&block), &seed_close(), NONE).expect("must diverge");
    assert_eq!((d.index, d.reason.as_str()), (index, reason));
}

#[rstest]
#[case::value_named("options [mss 1460,sackOK,TS,nop,wscale 10]", true)]
#[case::names_only("options [mss,sackOK,TS,nop,wscale]", true)]
#[case::ecr_pinned("options [mss 1460,sackOK,TS ecr 0,nop,wscale]", true)]
#[case::wrong_mss("options [mss 1400,sackOK,TS,nop,wscale]", false)]
#[case::missing_option("options [mss 1460,sackOK,TS,wscale]", false)]
#[case::other_order("options [sackOK,mss 1460,TS,nop,wscale]", false)]
fn options_match_by_name_and_named_values(#[case] opts: &str, #[case] ok: bool) {
    let p = &packets_of(&format!("packets\n  client > server  [S]  seq 0, {opts}\n"))[0];
    let syn = Seen {
        from: Side::Client,
        to: Side::Server,
        flags: TcpFlags::SYN,
        seq: 0,
        ack: 0,
        win: 64240,
        len: 0,
        options: vec![
            TcpOption::Mss(1460),
            TcpOption::SackOk,
            TcpOption::Ts { val: 77, ecr: 0 },
            TcpOption::Nop,
            TcpOption::Wscale(10),
        ],
        icmp: None,
        ctx: Default::default(),
    };
    assert_eq!(
        p.mismatch(&syn, NONE).is_none(),
        ok,
        "{:?}",
        p.mismatch(&syn, NONE)
    );
}

#[rstest]
#[case("192.168.2.105:*", "192.168.2.105:43068", true)]
#[case("192.168.2.105:*", "192.168.2.100:43068", false)]
#[case("*:11111", "0.0.0.0:11111", true)]
#[case("*:11111", "[::]:11111", true)]
#[case("[::]:11111", "0.0.0.0:11111", false)]
#[case("*:*", "10.0.0.1:1", true)]
fn address_patterns_take_star_for_what_varies(
    #[case] pattern: &str,
    #[case] addr: &str,
    #[case] ok: bool,
) {
    let p = AddrPattern::parse(pattern).ok().unwrap();
    assert_eq!(p.matches(&addr.parse().unwrap()), ok);
}

#[rstest]
#[case("58s..60s", 59_999, true)]
#[case("58s..60s", 60_001, false)]
#[case("58s..60s", 57_999, false)]
#[case("0ms..200ms", 150, true)]
#[case("1min..2min", 61_000, true)]
fn time_windows_are_closed_intervals(#[case] w: &str, #[case] ms: u64, #[case] inside: bool) {
    assert_eq!(
        Window::parse(w)
            .ok()
            .unwrap()
            .contains(Duration::from_millis(ms)),
        inside
    );
}

#[test]
fn set_matching_does_not_let_a_wildcard_steal_a_row() {
    // "*" listed first would greedily take "b" and leave "b" unmatched.
    let expected = ["*", "b"];
    let observed = ["b", "c"];
    let (missing, extra) = match_set(&expected, &observed, |e, o| *e == "*" || e == o);
    assert!(missing.is_empty() && extra.is_empty());
}

#[test]
fn set_matching_reports_missing_and_extra_rows() {
    let (missing, extra) = match_set(&["a", "b"], &["a", "c"], |e, o| e == o);
    assert_eq!((missing, extra), (vec![1], vec![1]));
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[rstest]
#[case::rest_wildcard("accept(4, ...) = 5", "accept", &["4", "{sa_family=AF_INET}", "[16]"], 5, true)]
#[case::wrong_result("accept(4, ...) = 6", "accept", &["4", "{sa_family=AF_INET}", "[16]"], 5, false)]
#[case::wrong_fd("accept(3, ...) = 5", "accept", &["4", "{sa_family=AF_INET}", "[16]"], 5, false)]
#[case::one_wildcard("bind(3, *, 28) = 0", "bind", &["3", "{sa_family=AF_INET6, sin6_port=htons(11111)}", "28"], 0, true)]
#[case::quoted_comma("sendto(3, \"a, b\\n\", 5, ...) = 5", "sendto", &["3", "\"a, b\\n\"", "5", "0", "NULL", "0"], 5, true)]
#[case::errno("connect(3, ...) = -1 ECONNREFUSED", "connect", &["3", "{}", "16"], -111, true)]
#[case::too_few_args("listen(3) = 0", "listen", &["3", "10"], 0, false)]
fn calls_match_strace_lines(
    #[case] line: &str,
    #[case] name: &str,
    #[case] a: &[&str],
    #[case] ret: i64,
    #[case] ok: bool,
) {
    let e = CallExpect::parse(1, line).ok().unwrap();
    let errno = if ret == -111 { "ECONNREFUSED" } else { "" };
    assert_eq!(e.matches(name, &args(a), ret, errno), ok);
}

#[test]
fn a_call_may_end_in_a_window_for_when_it_returned() {
    let e = CallExpect::parse(1, "read(4, \"x\\n\", 100) = 2  at 0s..0.5s")
        .ok()
        .unwrap();
    let w = e.at.expect("a window");
    assert_eq!((w.lo, w.hi), (Duration::ZERO, Duration::from_millis(500)));
    assert_eq!(e.to_string(), "read(4, \"x\\n\", 100) = 2  at 0ms..500ms");
    assert!(e.matches("read", &args(&["4", "\"x\\n\"", "100"]), 2, ""));
    let e = CallExpect::parse(
        1,
        "connect(3, ...) = -1 ECONNREFUSED (Connection refused) at 0s..1s",
    )
    .ok()
    .unwrap();
    assert!(e.at.is_some() && e.matches("connect", &args(&["3"]), -111, "ECONNREFUSED"));
    let err = parse_err("syscalls server\n  read(4, ...) = 2 at 2s..1s\n");
    assert!(err.contains("ends before it starts"), "{err}");
    assert!(
        err.contains("(hint: write the window after the result"),
        "{err}"
    );
}

#[test]
fn a_packets_line_pins_sack_blocks_relative_to_the_acknowledged_isn() {
    use crate::flow::Isns;
    use crate::packet::Packet;
    let at = |ms| Duration::from_millis(ms);
    let pkt = |src: &str, dst: &str, flags: &str, seq, ack, options| Packet {
        ts: at(0),
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        flags: flags.parse().unwrap(),
        seq,
        ack,
        win: 64,
        options,
        payload: vec![],
        icmp: None,
    };
    let (c, s) = ("192.168.2.105:40000", "192.168.2.100:11111");
    let packets = [
        pkt(c, s, "S", 1000, 0, vec![]),
        pkt(s, c, "S.", 5000, 1001, vec![]),
        pkt(
            s,
            c,
            ".",
            5001,
            2001,
            vec![TcpOption::Sack(vec![(3001, 4001)])],
        ),
    ];
    let seen = Seen::new(&packets[2], &Isns::from_packets(&packets)).unwrap();
    assert_eq!(seen.options, [TcpOption::Sack(vec![(2001, 3001)])]);
    assert!(
        seen.to_string().contains("options [sack 1 {2001:3001}]"),
        "{seen}"
    );
    for (line, ok) in [
        ("options [sack 2001:3001]", true),
        ("options [sack 1 {2001:3001}]", true),
        ("options [sack]", true),
        ("options [sack 2001:3002]", false),
    ] {
        let p = &packets_of(&format!(
            "packets\n  server > client  [.]  ack 1001, {line}\n"
        ))[0];
        assert_eq!(
            p.mismatch(&seen, NONE).is_none(),
            ok,
            "{line}: {:?}",
            p.mismatch(&seen, NONE)
        );
    }
}

#[test]
fn an_icmp_line_matches_only_that_icmp_message() {
    use crate::icmp::Unreachable;
    let p = &packets_of("packets\n  client > server  icmp frag-needed mtu 1400  injected\n")[0];
    assert_eq!(
        p.to_string(),
        "client > server  icmp frag-needed mtu 1400  injected"
    );
    let mut icmp = seen(Side::Client, TcpFlags::default(), 0, 0, 0);
    icmp.icmp = Some(Unreachable::FragNeeded { mtu: 1400 });
    icmp.ctx.marked = Some(super::expect::Marked {
        mark: super::expect::Mark::Injected,
        delay: None,
        rule_line: 9,
        netem: false,
    });
    assert_eq!(p.mismatch(&icmp, NONE), None);
    assert_eq!(
        icmp.to_string(),
        "client > server  icmp frag-needed mtu 1400  injected (line 9)"
    );
    icmp.icmp = Some(Unreachable::FragNeeded { mtu: 1500 });
    assert_eq!(
        p.mismatch(&icmp, NONE).as_deref(),
        Some("icmp: expected frag-needed mtu 1400, saw frag-needed mtu 1500")
    );
    let syn = seen(Side::Client, TcpFlags::SYN, 0, 0, 0);
    assert_eq!(
        p.mismatch(&syn, NONE).as_deref(),
        Some("expected icmp frag-needed mtu 1400, saw a segment [S]")
    );
    let s = &packets_of("packets\n  client > server  [S]\n")[0];
    assert_eq!(
        s.mismatch(&icmp, NONE).as_deref(),
        Some("expected a segment [S], saw icmp frag-needed mtu 1500")
    );
}

#[test]
fn timing_windows_and_marks_are_held_against_what_the_run_saw() {
    use super::expect::{Mark, Marked};
    let block = packets_of(
        "packets\n  client > server  [S]  seq 0  dropped\n  client > server  [S]  seq 0  after 0.9s..1.3s\n",
    );
    let mut first = seen(Side::Client, TcpFlags::SYN, 0, 0, 0);
    let mut again = first.clone();
    again.ctx.gap = Some(Duration::from_millis(1412));
    again.ctx.retransmission = true;
    let d = compare(&block, &[first.clone(), again.clone()], NONE).expect("diverges");
    assert_eq!(d.index, 0);
    assert_eq!(d.reason, "expected it dropped, but no rule acted on it");
    first.ctx.marked = Some(Marked {
        mark: Mark::Dropped,
        delay: None,
        rule_line: 3,
        netem: false,
    });
    let d = compare(&block, &[first.clone(), again.clone()], NONE).expect("diverges");
    assert_eq!(d.index, 1);
    assert!(
        d.reason.starts_with(
            "came 1.412s after the previous packet, outside 900ms..1.3s: client > server  [S]   seq 0,"
        ) && d.reason.ends_with("  retransmission"),
        "{}",
        d.reason
    );
    again.ctx.gap = Some(Duration::from_millis(1005));
    assert_eq!(compare(&block, &[first.clone(), again], NONE), None);
    assert!(first
        .to_string()
        .ends_with("length 0  dropped (rule at line 3)"));
}

#[test]
fn prints_nothing_is_its_own_step_and_prints_back() {
    let case = parse(
        Path::new("x.case"),
        "server prints nothing\nserver prints nothing at all\n",
    )
    .unwrap();
    assert_eq!(
        case.items[0].kind,
        ItemKind::PrintsNothing { host: Side::Server }
    );
    assert_eq!(case.items[0].kind.to_string(), "server prints nothing");
    assert!(!case.items[0].kind.is_action());
    assert!(
        matches!(&case.items[1].kind, ItemKind::Prints { text, .. } if text == "nothing at all")
    );
}

/// A packet 10 ms outside its window fails a run with no tolerance (the
/// failure names the window as written) and holds in one with 20 ms: the
/// runner passes its TCPLAB_TIME_TOLERANCE to the comparison.
#[rstest]
#[case::late_after_the_previous_packet("after", 310, "came 0.310s after the previous packet")]
#[case::early_after_the_previous_packet("after", 190, "came 0.190s after the previous packet")]
#[case::late_after_the_action("at", 310, "came 0.310s after the latest action began")]
#[case::early_after_the_action("at", 190, "came 0.190s after the latest action began")]
fn a_packet_10ms_outside_its_window_fails_without_tolerance_and_holds_with_20ms(
    #[case] timing: &str,
    #[case] ms: u64,
    #[case] says: &str,
) {
    let block = packets_of(&format!(
        "packets\n  client > server  [S]  seq 0\n  client > server  [S]  seq 0  {timing} 200ms..300ms\n"
    ));
    let first = seen(Side::Client, TcpFlags::SYN, 0, 0, 0);
    let mut again = first.clone();
    again.ctx.gap = Some(Duration::from_millis(ms));
    again.ctx.since_action = Some(Duration::from_millis(ms));
    let observed = [first, again];
    let d = compare(&block, &observed, NONE).expect("10 ms outside fails");
    assert_eq!(d.index, 1);
    assert!(
        d.reason
            .starts_with(&format!("{says}, outside 200ms..300ms: client > server")),
        "{}",
        d.reason
    );
    let ms = Duration::from_millis;
    assert_eq!(compare(&block, &observed, Tolerance(ms(20))), None);
    let d = compare(&block, &observed, Tolerance(ms(5))).expect("5 ms is not enough");
    assert!(
        d.reason.starts_with(&format!(
            "{says}, outside 200ms..300ms (\u{b1}5ms TCPLAB_TIME_TOLERANCE): client > server"
        )),
        "{}",
        d.reason
    );
}
