//! Input that once panicked, hung or passed silently: each is a
//! `file:line:` error now.

use std::path::Path;

use rstest::rstest;

use super::parse;

fn parse_err(text: &str) -> String {
    match parse(Path::new("cases/x.case"), text) {
        Ok(case) => panic!("parsed: {case:?}"),
        Err(e) => e.to_string(),
    }
}

const START: &str = "server $ nc -kl 11111\n";

#[rstest]
#[case::wait_window_beyond_a_duration(
    "wait client ESTAB 192.168.2.105:* 192.168.2.100:11111 gone at 0s..1e20s",
    "cases/x.case:2: duration `1e20s` is longer than a day"
)]
#[case::wait_window_that_overflows_an_instant(
    "wait client ESTAB 192.168.2.105:* 192.168.2.100:11111 gone at 0s..1.5e19s",
    "cases/x.case:2: duration `1.5e19s` is longer than a day"
)]
#[case::timer_window_beyond_a_duration(
    "sockets client\n  TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 timer 0s..1e30s",
    "cases/x.case:3: duration `1e30s` is longer than a day"
)]
#[case::infinite_duration(
    "wait client ESTAB 192.168.2.105:* 192.168.2.100:11111 at 0s..infs",
    "cases/x.case:2: duration `infs` is longer than a day"
)]
#[case::nan_duration(
    "wait client ESTAB 192.168.2.105:* 192.168.2.100:11111 at NaNs..1s",
    "cases/x.case:2: bad duration `NaNs`"
)]
#[case::a_day_and_a_millisecond(
    "wait client ESTAB 192.168.2.105:* 192.168.2.100:11111 at 0s..86400001ms",
    "cases/x.case:2: duration `86400001ms` is longer than a day"
)]
#[case::nul_in_a_command(
    "client $ nc 192.168.2.100\0 11111",
    "cases/x.case:2: control character \\u{0} at column 26"
)]
#[case::nul_in_typed_text(
    "client types a\0b",
    "cases/x.case:2: control character \\u{0} at column 15"
)]
#[case::escape_in_a_comment("# \x1b[31m", "cases/x.case:2: control character \\u{1b} at column 3")]
#[case::byte_order_mark_inside(
    "server\u{feff} exits 0",
    "cases/x.case:2: an invisible byte order mark (U+FEFF) at column 7"
)]
#[case::exit_status_above_255("server exits 256", "cases/x.case:2: bad exit status `256`")]
#[case::negative_exit_status("server exits -1", "cases/x.case:2: bad exit status `-1`")]
#[case::negative_descriptor(
    "fds server\n  -3u IPv4 TCP *:11111 (LISTEN)",
    "cases/x.case:3: bad descriptor number `-3`"
)]
#[case::length_beyond_a_segment(
    "packets\n  client > server  [P.]  length 70000",
    "cases/x.case:3: length 70000 exceeds 65535"
)]
#[case::seq_range_backwards(
    "packets\n  client > server  [P.]  seq 7:1",
    "cases/x.case:3: seq 7:1: the end is the start plus"
)]
#[case::seq_range_longer_than_a_segment(
    "packets\n  client > server  [P.]  seq 1:4294967295",
    "cases/x.case:3: seq 1:4294967295: the end is the start plus"
)]
#[case::seq_beyond_u32(
    "packets\n  client > server  [P.]  seq 4294967296",
    "cases/x.case:3: `seq` needs a number"
)]
fn out_of_range_input_is_a_file_line_error(#[case] line: &str, #[case] start: &str) {
    let e = parse_err(&format!("{START}{line}\n"));
    assert!(e.starts_with(start), "{e}");
    assert!(e.contains("(hint: "), "{e}");
}

#[rstest]
#[case::a_day("wait client ESTAB 192.168.2.105:* 192.168.2.100:11111 at 0s..86400s")]
#[case::tab_indent("packets\n\tclient > server  [S]  seq 0")]
#[case::crlf_lines("server exits 0\r\nserver exits 255\r")]
#[case::unicode_text("client types héllo wörld ✓")]
#[case::full_segment("packets\n  client > server  [P.]  seq 1:65536, length 65535")]
fn input_at_the_limits_parses(#[case] line: &str) {
    parse(Path::new("cases/x.case"), &format!("{START}{line}\n")).unwrap();
}

#[test]
fn a_leading_byte_order_mark_is_dropped() {
    let case = parse(Path::new("cases/x.case"), &format!("\u{feff}{START}")).unwrap();
    assert_eq!(case.items.len(), 1);
}

fn items(text: &str) -> Vec<crate::case::ItemKind> {
    parse(Path::new("cases/x.case"), text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .items
        .into_iter()
        .map(|i| i.kind)
        .collect()
}

#[test]
fn the_host_may_come_first_in_trace_wait_and_host_blocks() {
    let pairs = [
        ("trace server", "server trace"),
        (
            "wait client TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 gone at 59s..61s",
            "client wait TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 gone at 59s..61s",
        ),
        ("sockets client\n  none", "client sockets\n  none"),
        (
            "fds server\n  3u IPv6 TCP *:11111 (LISTEN)",
            "server fds\n  3u IPv6 TCP *:11111 (LISTEN)",
        ),
        (
            "syscalls server\n  listen(4, 10) = 0",
            "server syscalls\n  listen(4, 10) = 0",
        ),
    ];
    for (old, host_first) in pairs {
        assert_eq!(
            items(&format!("{START}{old}\n")),
            items(&format!("{START}{host_first}\n"))
        );
    }
    for (text, says) in [
        (
            "server trace 2",
            "cases/x.case:2: unexpected `2` after `server trace`",
        ),
        (
            "client sockets server\n  none",
            "cases/x.case:2: `sockets`: unexpected `server` after the host",
        ),
        ("client wait", "cases/x.case:2: `wait` needs a socket row"),
    ] {
        let e = parse_err(&format!("{START}{text}\n"));
        assert!(e.starts_with(says), "{text}: {e}");
    }
}

#[test]
fn prints_in_quotes_expects_any_line_nothing_included() {
    use crate::case::ItemKind::{Prints, PrintsNothing};
    use crate::lab::Side::Server;
    let printed = |text: &str| Prints {
        host: Server,
        text: text.into(),
    };
    let cases = [
        ("server prints nothing", PrintsNothing { host: Server }),
        ("server prints \"nothing\"", printed("nothing")),
        ("server prints \"\"", printed("")),
        ("server prints \"  padded \"", printed("  padded ")),
        (
            r#"server prints "say \"hi\" \\o/""#,
            printed(r#"say "hi" \o/"#),
        ),
        ("server prints 'nothing'", printed("'nothing'")),
        ("server prints \"x", printed("\"x")),
        ("server prints nothing more", printed("nothing more")),
    ];
    for (line, want) in cases {
        let got = items(&format!("{START}{line}\n")).pop().unwrap();
        assert_eq!(got, want, "{line}");
        // What a run shows is the line as written, and reads back the same.
        let shown = got.to_string();
        assert_eq!(
            items(&format!("{START}{shown}\n")).pop().unwrap(),
            want,
            "{shown}"
        );
    }
    for (line, says) in [
        (r#"server prints "a" and "b""#, "a quote inside quoted text"),
        (r#"server prints "a\n""#, "unknown escape `\\n`"),
    ] {
        let e = parse_err(&format!("{START}{line}\n"));
        assert!(e.contains(says) && e.contains("(hint: "), "{line}: {e}");
    }
}
