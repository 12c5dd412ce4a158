//! The notation for many: `repeat N`, `packets × N`, `N × ROW` and
//! `exits ... within DUR`; and the counted matching behind `N × ROW`.

use std::path::Path;
use std::time::Duration;

use rstest::rstest;

use super::parse::parse;
use super::rows::{match_counted, SocketExpect};
use super::ItemKind;
use crate::lab::Side;

fn kinds(text: &str) -> Vec<ItemKind> {
    parse(Path::new("cases/x.case"), text)
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .into_iter()
        .map(|i| i.kind)
        .collect()
}

fn parse_err(text: &str) -> String {
    match parse(Path::new("cases/x.case"), text) {
        Ok(case) => panic!("parsed: {case:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn repeat_holds_its_indented_steps_with_their_lines() {
    let k = kinds("server $ nc -kl 11111\nrepeat 3\n  client $ nc 192.168.2.100 11111\n  # a comment\n  client ^D\n  client exits 0\n");
    let ItemKind::Repeat { times, steps } = &k[1] else {
        panic!("{k:?}")
    };
    assert_eq!(*times, 3);
    assert_eq!(steps.iter().map(|s| s.line).collect::<Vec<_>>(), [3, 5, 6]);
    assert_eq!(steps[1].kind, ItemKind::Eof { host: Side::Client });
    assert_eq!(k[1].to_string(), "repeat 3 (3 steps)");
}

#[test]
fn packets_times_n_is_one_list_per_connection_with_alternatives() {
    let k = kinds("packets × 1000\n  client > server  [S]\n  or\n  client > server  [S]\n  client > server  [S]\n");
    let ItemKind::PacketsEach { count, alts } = &k[0] else {
        panic!("{k:?}")
    };
    assert_eq!((*count, alts.len(), alts[1].len()), (1000, 2, 2));
    assert_eq!(
        kinds("packets x 2\n  client > server  [S]\n")[0].to_string(),
        "packets × 2 (1 lines each)"
    );
}

#[test]
fn a_socket_row_may_stand_for_many_sockets() {
    let row = SocketExpect::parse(
        1,
        "1000 × TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 timer timewait 50s..60s",
    )
    .ok()
    .unwrap();
    assert_eq!(row.count, 1000);
    assert_eq!(
        row.to_string(),
        "1000 × TIME-WAIT  192.168.2.105:* 192.168.2.100:11111 timer timewait 50s..60s"
    );
    assert_eq!(
        SocketExpect::parse(1, "2 x LISTEN *:1 *:*")
            .ok()
            .unwrap()
            .count,
        2
    );
    assert_eq!(
        SocketExpect::parse(1, "LISTEN *:1 *:*").ok().unwrap().count,
        1
    );
}

#[test]
fn exits_may_be_given_longer_than_the_deadline() {
    assert_eq!(
        kinds("client exits 0 within 30s\n")[0],
        ItemKind::Exits {
            host: Side::Client,
            code: Some(0),
            within: Some(Duration::from_secs(30)),
        }
    );
    assert_eq!(
        kinds("client exits within 1min\n")[0].to_string(),
        "client exits within 60s"
    );
}

#[rstest]
#[case::repeat_zero("repeat 0\n  client ^D\n", "cases/x.case:1: bad repeat count `0`")]
#[case::repeat_huge(
    "repeat 100001\n  client ^D\n",
    "cases/x.case:1: bad repeat count `100001`"
)]
#[case::repeat_empty("repeat 3\nclient ^D\n", "cases/x.case:1: `repeat` has no steps")]
#[case::block_in_repeat(
    "repeat 3\n  client ^D\n  packets\n",
    "cases/x.case:3: `packets` inside a repeat"
)]
#[case::repeat_in_repeat("repeat 3\n  repeat 2\n", "cases/x.case:2: `repeat 2` inside a repeat")]
#[case::bad_step_in_repeat(
    "repeat 3\n  client dances\n",
    "cases/x.case:2: unknown step `client dances`"
)]
#[case::packets_words(
    "packets 3\n  client > server  [S]\n",
    "cases/x.case:1: `packets` takes nothing after it but `× N`"
)]
#[case::packets_zero(
    "packets × 0\n  client > server  [S]\n",
    "cases/x.case:1: bad connection count `0`"
)]
#[case::packets_none("packets × 2\n  none\n", "cases/x.case:2: a connection has packets")]
#[case::socket_count_zero(
    "sockets client\n  0 × TIME-WAIT *:* *:*\n",
    "cases/x.case:2: bad socket count `0`"
)]
#[case::within_without_duration("client exits 0 within\n", "cases/x.case:1: ")]
fn bad_many_notation_names_file_line_and_what(#[case] text: &str, #[case] start: &str) {
    let err = parse_err(text);
    assert!(err.starts_with(start), "error was: {err}");
    assert!(err.contains("(hint: "), "{err}");
}

#[test]
fn a_counted_row_takes_that_many_alike_rows_and_no_more() {
    let observed: Vec<u32> = (0..1000)
        .map(|i| if i % 100 == 0 { 2 } else { 1 })
        .collect();
    // 990 ones and 10 twos; `990 × one` and `10 × any`.
    let expected = [(1u32, 990usize), (0, 10)];
    let fits = |e: &(u32, usize), o: &u32| e.0 == 0 || e.0 == *o;
    let (short, extra) = match_counted(&expected, |e| e.1, &observed, fits);
    assert!(short.is_empty() && extra.is_empty(), "{short:?} {extra:?}");
    // One short: says how many it got; the unclaimed rows are extra.
    let (short, extra) = match_counted(&[(1u32, 991usize)], |e| e.1, &observed, fits);
    assert_eq!(short, [(0, 990)]);
    assert_eq!(extra.len(), 10);
}

#[test]
fn counted_matching_reassigns_rows_a_wildcard_took_first() {
    // `2 × any` listed first takes the first two rows, which `1 × a` needs.
    let observed = ["a", "b", "c"];
    let expected = [("*", 2usize), ("a", 1)];
    let (short, extra) = match_counted(
        &expected,
        |e| e.1,
        &observed,
        |e, o| e.0 == "*" || e.0 == *o,
    );
    assert!(short.is_empty() && extra.is_empty(), "{short:?} {extra:?}");
}
