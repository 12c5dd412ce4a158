//! Record mode against hand-built observations: what is rewritten, what is
//! kept, and that recording twice changes nothing.

use super::super::expect::Seen;
use super::packets::packet_line;
use super::*;
use crate::packet::TcpOption;
use crate::sockets::{Family, Timer};
use rstest::rstest;
use std::path::Path;

const PORT: u16 = 11111;
const EPH: u16 = 46764;

fn seen(from: Side, flags: &str, seq: u32, ack: u32, len: u32) -> Seen {
    Seen {
        from,
        to: if from == Side::Client {
            Side::Server
        } else {
            Side::Client
        },
        flags: flags.parse().unwrap(),
        seq,
        ack,
        win: 502,
        len,
        options: Vec::new(),
        icmp: None,
        ctx: Default::default(),
    }
}

fn with_opts(mut s: Seen, options: Vec<TcpOption>) -> Seen {
    s.options = options;
    s
}

fn sock(state: TcpState, local: &str, peer: &str) -> SocketRow {
    SocketRow {
        state,
        local: local.parse().unwrap(),
        peer: peer.parse().unwrap(),
        recv_q: 0,
        send_q: if state == TcpState::Listen { 10 } else { 0 },
        timer: None,
        inode: 1,
        uid: 0,
        ifindex: 0,
        cookie: 7,
        v6only: local.starts_with('['),
        info: None,
    }
}

fn time_wait(left_ms: u64) -> SocketRow {
    let mut r = sock(
        TcpState::TimeWait,
        &format!("192.168.2.105:{EPH}"),
        "192.168.2.100:11111",
    );
    r.timer = Some(Timer {
        kind: TimerKind::TimeWait,
        left: Duration::from_millis(left_ms),
        retrans: 0,
    });
    r.inode = 0;
    r
}

fn fd(fd: i32, state: TcpState, local: &str, peer: &str) -> FdRow {
    let local: SocketAddr = local.parse().unwrap();
    FdRow {
        fd,
        mode: 'u',
        family: Family::of(&local),
        local,
        peer: peer.parse().unwrap(),
        state,
        inode: 100 + fd as u64,
    }
}

fn case_of(text: &str) -> Case {
    parse::parse(Path::new("cases/x.case"), text).unwrap()
}

/// The observations, by the order of the blocks in the file.
fn observe(text: &str, what: Vec<Observation>) -> Vec<Observed> {
    let case = case_of(text);
    let blocks: Vec<usize> = case
        .items
        .iter()
        .filter(|i| {
            matches!(
                i.kind,
                ItemKind::Packets(_)
                    | ItemKind::Sockets { .. }
                    | ItemKind::Fds { .. }
                    | ItemKind::Syscalls { .. }
            )
        })
        .map(|i| i.line)
        .collect();
    assert_eq!(blocks.len(), what.len(), "one observation per block");
    blocks
        .into_iter()
        .zip(what)
        .map(|(line, what)| Observed { line, what })
        .collect()
}

fn rec(text: &str, what: &[Observed]) -> Recorded {
    record(&case_of(text), text, what)
}

fn handshake() -> Vec<Seen> {
    let ts = |val, ecr| TcpOption::Ts { val, ecr };
    vec![
        with_opts(
            seen(Side::Client, "S", 0, 0, 0),
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackOk,
                ts(891790063, 0),
                TcpOption::Nop,
                TcpOption::Wscale(10),
            ],
        ),
        with_opts(
            seen(Side::Server, "S.", 0, 1, 0),
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackOk,
                ts(4011, 891790063),
                TcpOption::Nop,
                TcpOption::Wscale(7),
            ],
        ),
        with_opts(
            seen(Side::Client, ".", 1, 1, 0),
            vec![TcpOption::Nop, TcpOption::Nop, ts(891790064, 4011)],
        ),
    ]
}

fn release3() -> Vec<Seen> {
    vec![
        seen(Side::Client, "F.", 1, 1, 0),
        seen(Side::Server, "F.", 1, 2, 0),
        seen(Side::Client, ".", 2, 2, 0),
    ]
}

fn release4() -> Vec<Seen> {
    vec![
        seen(Side::Client, "F.", 1, 1, 0),
        seen(Side::Server, ".", 1, 2, 0),
        seen(Side::Server, "F.", 1, 2, 0),
        seen(Side::Client, ".", 2, 2, 0),
    ]
}

/// Like cases/teardown.case, with blocks that are wrong in every way
/// record mode mends.
const TEARDOWN_LIKE: &str = "\
# Ctrl+C on the client after the handshake: the client closes first.
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
packets
  client > server  [S]   seq 0, win 64240, options [mss,sackOK,TS ecr 0,nop,wscale 9], length 0
  server > client  [S.]  seq 0, ack 1
  # the third packet
  client > server  [.]   ack 9
fds server
  3u IPv6 TCP *:11111 (LISTEN)
  fd 5 IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)
client ^C

# The release.
packets
  client > server  [F.]  seq 1, ack 1
  server > client  [R.]  seq 1, ack 2
sockets client
  TIME-WAIT 0 0 192.168.2.105:* 192.168.2.100:11111 timer timewait 10s..20s
sockets server
  LISTEN 0.0.0.0:11111 0.0.0.0:*
  ESTAB 192.168.2.100:11111 192.168.2.105:*
# the end
";

const TEARDOWN_RECORDED: &str = "\
# Ctrl+C on the client after the handshake: the client closes first.
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
packets
  client > server  [S]   seq 0, options [mss 1460,sackOK,TS ecr 0,nop,wscale 10], length 0
  server > client  [S.]  seq 0, ack 1
  # the third packet
  client > server  [.]   ack 1
fds server
  3u IPv6 TCP *:11111 (LISTEN)
  fd 5 IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)
  4u IPv4 TCP *:11111 (LISTEN)
client ^C

# The release.
packets
  client > server  [F.]  seq 1, ack 1
  server > client  [F.]  seq 1, ack 2
  client > server  [.]   ack 2
sockets client
  TIME-WAIT 0 0 192.168.2.105:* 192.168.2.100:11111 timer timewait 58s..60s
sockets server
  LISTEN 0.0.0.0:11111 0.0.0.0:*
  LISTEN [::]:11111 [::]:*
# the end
";

fn teardown_observed() -> Vec<Observation> {
    vec![
        Observation::Packets(handshake()),
        Observation::Fds(vec![
            fd(3, TcpState::Listen, "[::]:11111", "[::]:0"),
            fd(4, TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"),
            fd(
                5,
                TcpState::Established,
                "192.168.2.100:11111",
                &format!("192.168.2.105:{EPH}"),
            ),
        ]),
        Observation::Packets(release3()),
        Observation::Sockets(vec![time_wait(59_870)]),
        Observation::Sockets(vec![
            sock(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"),
            sock(TcpState::Listen, "[::]:11111", "[::]:0"),
        ]),
    ]
}

#[test]
fn rewrites_blocks_and_keeps_everything_else() {
    let obs = observe(TEARDOWN_LIKE, teardown_observed());
    let r = rec(TEARDOWN_LIKE, &obs);
    assert_eq!(r.text, TEARDOWN_RECORDED);
    assert_eq!(r.changed, 5);
    assert_eq!(r.warnings, Vec::<String>::new());
    // Every line outside the block bodies is the old one.
    let keep = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("  ") || l.trim_start().starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(keep(&r.text), keep(TEARDOWN_LIKE));
}

#[rstest]
#[case::teardown_like(TEARDOWN_LIKE, teardown_observed())]
#[case::recorded(TEARDOWN_RECORDED, teardown_observed())]
#[case::alternatives_none_matched(ALTS, vec![Observation::Packets(vec![seen(Side::Client, "R.", 1, 1, 0)])])]
#[case::data(
    "server $ nc -kl 11111\npackets\n  client > server  [P.]  seq 1:7, ack 1, win 502, options [nop,nop,TS val 1 ecr 2], length 6\n  server > client  [.]   ack 7, length 0\n",
    vec![Observation::Packets(vec![
        with_opts(seen(Side::Client, "P.", 1, 1, 6), vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Ts { val: 77, ecr: 88 }]),
        seen(Side::Server, ".", 1, 7, 0),
    ])]
)]
#[case::injected(INJECTED, injected_observed())]
#[case::no_trailing_newline(
    "server $ nc -kl 11111\nsockets client\n  ESTAB 0 0 192.168.2.105:* 192.168.2.100:11111",
    vec![Observation::Sockets(vec![])]
)]
fn recording_twice_changes_nothing(#[case] text: &str, #[case] what: Vec<Observation>) {
    let obs = observe(text, what.clone());
    let once = rec(text, &obs);
    assert!(
        once.warnings.iter().all(|w| !w.contains("does not hold")),
        "{:?}",
        once.warnings
    );
    let obs2 = observe(&once.text, what);
    let twice = rec(&once.text, &obs2);
    assert_eq!(twice.text, once.text);
    assert_eq!(twice.changed, 0);
}

const INJECTED: &str = "server $ nc -kl 11111\nclient sends [R] seq rcv_nxt+1\npackets\n  none\n";

/// An injected in-window RST and the server's challenge ACK.
fn injected_observed() -> Vec<Observation> {
    let mut rst = seen(Side::Client, "R", 2, 0, 0);
    rst.ctx.marked = Some(crate::case::expect::Marked {
        mark: crate::case::expect::Mark::Injected,
        delay: None,
        rule_line: 2,
        netem: false,
    });
    vec![Observation::Packets(vec![
        rst,
        seen(Side::Server, ".", 1, 1, 0),
    ])]
}

#[test]
fn injected_segments_are_recorded_with_their_mark() {
    let r = rec(INJECTED, &observe(INJECTED, injected_observed()));
    assert_eq!(
        r.text,
        "server $ nc -kl 11111\nclient sends [R] seq rcv_nxt+1\npackets\n  client > server  [R]   seq 2  injected\n  server > client  [.]   ack 1\n"
    );
    assert_eq!(r.warnings, Vec::<String>::new());
}

const ALTS: &str = "\
server $ nc -kl 11111
client ^C
packets
  client > server  [F.]  seq 1, ack 1
  server > client  [F.]  seq 1, ack 2
  client > server  [.]   ack 2
  or
  client > server  [F.]  seq 1, ack 1
  server > client  [.]   ack 2
  server > client  [F.]  seq 1, ack 2
  client > server  [.]   ack 2
";

#[rstest]
#[case::first(release3())]
#[case::second(release4())]
fn alternatives_kept_when_one_matched(#[case] packets: Vec<Seen>) {
    let obs = observe(ALTS, vec![Observation::Packets(packets)]);
    let r = rec(ALTS, &obs);
    assert_eq!(r.text, ALTS);
    assert_eq!(r.changed, 0);
    assert!(r.warnings.is_empty());
}

#[test]
fn alternatives_dropped_with_a_warning_when_none_matched() {
    let obs = observe(
        ALTS,
        vec![Observation::Packets(vec![seen(
            Side::Client,
            "R.",
            1,
            1,
            0,
        )])],
    );
    let r = rec(ALTS, &obs);
    assert_eq!(
        r.text,
        "server $ nc -kl 11111\nclient ^C\npackets\n  client > server  [R.]  seq 1, ack 1\n"
    );
    assert_eq!(r.changed, 1);
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].starts_with("cases/x.case:3: none of the block's 2 alternatives matched")
            && r.warnings[0].contains("alternatives were dropped"),
        "{:?}",
        r.warnings
    );
}

#[test]
fn ephemeral_ports_become_stars() {
    let text = "server $ nc -kl 11111\nsockets server\n  none\nsockets client\n  none\nfds client\n  none\nfds server\n  none\n";
    let obs = observe(
        text,
        vec![
            Observation::Sockets(vec![
                sock(
                    TcpState::Established,
                    "192.168.2.100:11111",
                    &format!("192.168.2.105:{EPH}"),
                ),
                sock(
                    TcpState::Established,
                    "[::ffff:192.168.2.100]:11111",
                    &format!("[::ffff:192.168.2.105]:{EPH}"),
                ),
            ]),
            Observation::Sockets(vec![sock(
                TcpState::Established,
                &format!("192.168.2.105:{EPH}"),
                "192.168.2.100:11111",
            )]),
            Observation::Fds(vec![fd(
                3,
                TcpState::Established,
                &format!("192.168.2.105:{EPH}"),
                "192.168.2.100:11111",
            )]),
            Observation::Fds(vec![fd(
                5,
                TcpState::Established,
                "192.168.2.100:11111",
                &format!("192.168.2.105:{EPH}"),
            )]),
        ],
    );
    let r = rec(text, &obs);
    assert_eq!(
        r.text,
        "server $ nc -kl 11111
sockets server
  ESTAB 192.168.2.100:11111 192.168.2.105:*
  ESTAB [::ffff:192.168.2.100]:11111 [::ffff:192.168.2.105]:*
sockets client
  ESTAB 192.168.2.105:* 192.168.2.100:11111
fds client
  3u IPv4 TCP 192.168.2.105:*->192.168.2.100:11111 (ESTABLISHED)
fds server
  5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)
"
    );
    assert!(!r.text.contains(&EPH.to_string()));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn the_case_port_on_the_client_is_not_ephemeral() {
    // A server on the client's address: its port is the case's, kept.
    let a: SocketAddr = "192.168.2.105:11111".parse().unwrap();
    assert_eq!(ss_addr(&a, false, PORT), "192.168.2.105:11111");
    let b: SocketAddr = format!("192.168.2.105:{EPH}").parse().unwrap();
    assert_eq!(ss_addr(&b, false, PORT), "192.168.2.105:*");
}

#[rstest]
#[case::bare_names(
    "[mss,sackOK,TS,nop,wscale]",
    "options [mss 1460,sackOK,TS,nop,wscale]"
)]
#[case::pinned_wscale(
    "[mss 1460,sackOK,TS,nop,wscale 7]",
    "options [mss 1460,sackOK,TS,nop,wscale 10]"
)]
#[case::pinned_ecr(
    "[mss 1460,sackOK,TS ecr 5,nop,wscale]",
    "options [mss 1460,sackOK,TS ecr 0,nop,wscale]"
)]
#[case::pinned_val("[TS val 1]", "options [mss 1460,sackOK,TS val 891790063,nop,wscale]")]
#[case::empty("[]", "options [mss 1460,sackOK,TS,nop,wscale]")]
fn kernel_dependent_values_only_where_pinned(#[case] named: &str, #[case] want: &str) {
    let text = format!("packets\n  client > server  [S]  seq 0, win 1, options {named}\n");
    let obs = observe(
        &text,
        vec![Observation::Packets(vec![handshake()[0].clone()])],
    );
    let r = rec(&text, &obs);
    let line = r.text.lines().nth(1).unwrap();
    assert_eq!(line, format!("  client > server  [S]   seq 0, {want}"));
    assert!(!line.contains("win"));
}

#[test]
fn kernel_dependent_values_never_written_unasked() {
    let text = "packets\n  client > server  [S]  seq 0\n  server > client  [S.]  seq 0, ack 1, options [nop]\n  client > server  [.]  ack 1\n";
    let obs = observe(text, vec![Observation::Packets(handshake())]);
    let r = rec(text, &obs);
    assert_eq!(
        r.text,
        "packets\n  client > server  [S]   seq 0\n  server > client  [S.]  seq 0, ack 1, options [mss 1460,sackOK,TS,nop,wscale]\n  client > server  [.]   ack 1\n"
    );
    for v in ["win", "502", "891790063", "4011", "wscale 7", "val", "ecr"] {
        assert!(!r.text.contains(v), "{v} in {}", r.text);
    }
}

#[test]
fn time_wait_keeps_a_window_that_holds_and_others_lose_timers() {
    let text = "server $ nc -kl 11111\nsockets client\n  TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 timer timewait 1min..60s\n  FIN-WAIT-2 192.168.2.105:* 192.168.2.100:11111\n";
    let mut fw2 = sock(
        TcpState::FinWait2,
        &format!("192.168.2.105:{}", EPH + 1),
        "192.168.2.100:11111",
    );
    fw2.timer = Some(Timer {
        kind: TimerKind::TimeWait,
        left: Duration::from_secs(59),
        retrans: 0,
    });
    let mut tw = time_wait(60_000);
    tw.timer.as_mut().unwrap().left = Duration::from_secs(60);
    let obs = observe(text, vec![Observation::Sockets(vec![fw2, tw])]);
    let r = rec(text, &obs);
    assert_eq!(r.text, text);
    assert_eq!(r.changed, 0);
}

#[test]
fn failed_syscalls_are_left_as_written_and_reported() {
    let text = "trace server\nserver $ nc -kl 11111\nsyscalls server\n  accept(4, ...) = 6\n";
    let obs = observe(
        text,
        vec![Observation::Syscalls(Some(
            "cases/x.case:4: system calls of `nc -kl 11111` on server: no `accept(4, ...) = 6`"
                .into(),
        ))],
    );
    let r = rec(text, &obs);
    assert_eq!(r.text, text);
    assert_eq!(r.changed, 0);
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].contains("left as written"),
        "{:?}",
        r.warnings
    );
}

#[rstest]
#[case::ack(".", "client > server  [.]   seq 1:4, ack 1, length 3")]
#[case::psh_ack("P.", "client > server  [P.]  seq 1:4, ack 1, length 3")]
#[case::fin_psh_ack("FP.", "client > server  [FP.] seq 1:4, ack 1, length 3")]
#[case::six_wide("FPU.", "client > server  [FP.U] seq 1:4, ack 1, length 3")]
#[case::seven_wide("FPUE.", "client > server  [FP.UE] seq 1:4, ack 1, length 3")]
fn flags_are_padded_to_six_and_never_touch_the_fields(#[case] flags: &str, #[case] want: &str) {
    let s = seen(Side::Client, flags, 1, 1, 3);
    assert_eq!(packet_line(&s, None), want);
}

#[test]
fn alike_socket_rows_are_recorded_as_one_counted_row() {
    let rows = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let many: Vec<String> = std::iter::repeat_n("TIME-WAIT a b".to_string(), 12)
        .chain(["LISTEN c d".to_string()])
        .collect();
    assert_eq!(
        super::counted_rows(many, false),
        rows(&["12 × TIME-WAIT a b", "LISTEN c d"])
    );
    // Two alike rows stay two, unless the block counted rows already.
    let two = rows(&["TIME-WAIT a b", "TIME-WAIT a b"]);
    assert_eq!(super::counted_rows(two.clone(), false), two);
    assert_eq!(super::counted_rows(two, true), rows(&["2 × TIME-WAIT a b"]));
}

/// A case with each implementation's form of the release, recorded from a
/// run of ours: the marks stay on their headers and ncat's block, which
/// that run skipped (no observation), stays as written.
const MARKED: &str = "\
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
client ^C
ours: packets
  client > server  [F.]  seq 1, ack 1
ncat: packets
  client > server  [F.]  seq 9, ack 9
ncat: client ^D
";

#[test]
fn marks_are_kept_and_the_other_implementations_block_is_left_as_written() {
    let case = case_of(MARKED);
    let obs = vec![Observed {
        line: 4,
        what: Observation::Packets(release3()),
    }];
    let r = record(&case, MARKED, &obs);
    let want = MARKED.replace(
        "ours: packets\n  client > server  [F.]  seq 1, ack 1\n",
        "ours: packets\n  client > server  [F.]  seq 1, ack 1\n  server > client  [F.]  seq 1, ack 2\n  client > server  [.]   ack 2\n",
    );
    assert_eq!(r.text, want);
    assert_eq!(r.changed, 1);
    assert_eq!(r.warnings, Vec::<String>::new());
}

/// A row with a timer window and `ss -ti` fields after it: the window is
/// kept as written, the fields once each, the one that moved rewritten.
#[test]
fn tcp_info_fields_follow_the_timer_window_as_written() {
    let text = "sockets client\n  ESTAB 192.168.2.105:* 192.168.2.100:11111 timer on 1min..60s cwnd 11 retrans 0/1\n";
    let mut o = sock(
        TcpState::Established,
        &format!("192.168.2.105:{EPH}"),
        "192.168.2.100:11111",
    );
    o.timer = Some(Timer {
        kind: TimerKind::On,
        left: Duration::from_secs(60),
        retrans: 0,
    });
    o.info = Some(crate::sockets::TcpInfo::parse(
        &crate::sockets::info_test_bytes(),
        None,
    ));
    let r = rec(text, &observe(text, vec![Observation::Sockets(vec![o])]));
    assert_eq!(r.text, text.replace("cwnd 11", "cwnd 10"));
    assert_eq!((r.changed, r.warnings.len()), (1, 0), "{:?}", r.warnings);
}

#[test]
fn comments_after_kept_lines_stay_and_a_rewritten_line_loses_its_own() {
    let text = "\
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
packets            # the handshake
  client > server  [S]   seq 0  # the SYN
  server > client  [S.]  seq 0, ack 1\t# its answer
  client > server  [.]   ack 9  # wrong
";
    let obs = observe(text, vec![Observation::Packets(handshake())]);
    let r = rec(text, &obs);
    let want = "\
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
packets            # the handshake
  client > server  [S]   seq 0  # the SYN
  server > client  [S.]  seq 0, ack 1\t# its answer
  client > server  [.]   ack 1
";
    assert_eq!(r.text, want);
    assert_eq!(r.changed, 1);
    let again = rec(
        &r.text,
        &observe(&r.text, vec![Observation::Packets(handshake())]),
    );
    assert_eq!((again.text.as_str(), again.changed), (want, 0));
}
