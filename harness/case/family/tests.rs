use std::path::Path;

use rstest::rstest;

use super::*;
use crate::case::parse::parse;

#[rstest]
#[case("192.168.2.100", "2001:db8:2::100")]
#[case("192.168.2.105", "2001:db8:2::105")]
#[case("192.168.2.100:11111", "[2001:db8:2::100]:11111")]
#[case(
    r#"PeerAddr => "192.168.2.100:11111")"#,
    r#"PeerAddr => "[2001:db8:2::100]:11111")"#
)]
#[case("dst=192.168.2.105,", "dst=2001:db8:2::105,")]
#[case("192.168.2.105:*", "[2001:db8:2::105]:*")]
#[case("192.168.2.100.", "2001:db8:2::100.")]
#[case("192.168.2.105 192.168.2.100", "2001:db8:2::105 2001:db8:2::100")]
// Not the lab's addresses: a longer number, another host, a port alone.
#[case("192.168.2.1000", "192.168.2.1000")]
#[case("1192.168.2.100", "1192.168.2.100")]
#[case("10.192.168.2.100", "10.192.168.2.100")]
#[case("192.168.2.100.5", "192.168.2.100.5")]
#[case("192.168.2.1", "192.168.2.1")]
#[case("11111", "11111")]
#[case("192.168.2.100:", "2001:db8:2::100:")]
fn a_lab_address_in_a_command_word_names_the_same_host_in_ipv6(
    #[case] word: &str,
    #[case] v6: &str,
) {
    assert_eq!(command_word(word, Family::Ipv6), v6);
    assert_eq!(command_word(word, Family::Ipv4), word);
}

const CASE: &str = "\
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
sockets client
  ESTAB 0 0 192.168.2.105:* 192.168.2.100:11111
  LISTEN 0 10 0.0.0.0:11111 0.0.0.0:*
fds server
  3u IPv6 TCP *:11111 (LISTEN)
  4u IPv4 TCP *:11111 (LISTEN)
  5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)
  6u IPv6 TCP [2001:db8:2::100]:11111->[2001:db8:2::105]:* (ESTABLISHED)
wait client ESTAB 192.168.2.105:* 192.168.2.100:11111
ipv4: syscalls server
  accept(4, ...) = 5
ipv6: syscalls server
  accept(3, ...) = 5
";

fn shown(case: &Case, family: Family) -> Vec<String> {
    let played = in_family(case, family);
    let mut out = Vec::new();
    for i in played.items.iter().filter(|i| i.in_family(family)) {
        match &i.kind {
            ItemKind::Start { argv, .. } => out.push(argv.join(" ")),
            ItemKind::Sockets { rows, .. } => out.extend(rows.iter().map(|r| r.to_string())),
            ItemKind::Fds { rows, .. } => out.extend(rows.iter().map(|r| r.to_string())),
            other => out.push(other.to_string()),
        }
    }
    out
}

#[test]
fn family_6_plays_commands_and_rows_with_the_lab_ipv6_addresses_and_its_own_marked_items() {
    let case = parse(Path::new("cases/x.case"), CASE).unwrap();
    assert_eq!(
        shown(&case, Family::Ipv6),
        [
            "nc -kl 11111",
            "nc 2001:db8:2::100 11111",
            "ESTAB      0 0 [2001:db8:2::105]:* [2001:db8:2::100]:11111",
            "LISTEN     0 10 0.0.0.0:11111 0.0.0.0:*",
            "3u IPv6 TCP *:11111 (LISTEN)",
            "4u IPv4 TCP *:11111 (LISTEN)",
            "5u IPv6 TCP [2001:db8:2::100]:11111->[2001:db8:2::105]:* (ESTABLISHED)",
            "6u IPv6 TCP [2001:db8:2::100]:11111->[2001:db8:2::105]:* (ESTABLISHED)",
            "wait client ESTAB      [2001:db8:2::105]:* [2001:db8:2::100]:11111",
            "syscalls server (1 calls)",
        ]
    );
    let v4 = shown(&case, Family::Ipv4);
    assert_eq!(v4[1], "nc 192.168.2.100 11111");
    assert_eq!(
        v4[6..8],
        [
            "5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)",
            "6u IPv6 TCP [2001:db8:2::100]:11111->[2001:db8:2::105]:* (ESTABLISHED)"
        ]
    );
    let lines = |f| {
        case.items_for(super::super::Implementation::Ours)
            .filter(|i| i.in_family(f))
            .map(|i| i.line)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(Family::Ipv4), [1, 2, 3, 6, 11, 12]);
    assert_eq!(lines(Family::Ipv6), [1, 2, 3, 6, 11, 14]);
}

#[test]
fn the_family_comes_from_tcplab_family_as_4_or_6() {
    assert_eq!(
        parse_family_words(),
        [Some(Family::Ipv4), Some(Family::Ipv6)]
    );
    assert_eq!(super::parse("5"), None);
    assert_eq!(super::parse("inet6"), None);
    assert_eq!(digit(Family::Ipv6), '6');
}

fn parse_family_words() -> [Option<Family>; 2] {
    [super::parse("4"), super::parse("IPv6")]
}

#[test]
fn a_case_for_one_family_is_left_out_of_the_other_with_its_reason() {
    let case = parse(
        Path::new("cases/x.case"),
        "ipv4-only IPv6 has no broadcast\nserver $ nc -kl 11111\n",
    )
    .unwrap();
    assert_eq!(left_out(&case, Family::Ipv4), None);
    assert_eq!(left_out(&case, Family::Ipv6), Some("IPv6 has no broadcast"));
}
