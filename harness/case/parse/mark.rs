//! `ours: STEP` and `ncat: STEP`: a step or block header that belongs to
//! one implementation's behaviour. Where the project's nc and a system ncat
//! legitimately differ (ncat 7.93 keeps its client running after the
//! server's EOF; nmap issue 1779), a case writes each one's form beside the
//! other and a differential run (NC=ncat) plays the ncat form instead of
//! failing or leaving the whole case out.
//!
//! `ipv4: STEP` and `ipv6: STEP` do the same for the address family a run
//! plays in (`TCPLAB_FAMILY`, see `case::family`): what differs between
//! the families beyond their addresses (a syscall's sockaddr, the listener
//! that accepts, the MSS a SYN offers) is written once per family. The two
//! kinds of mark combine: `ours: ipv6: syscalls client`.

use super::super::error::{bad, Bad};
use super::super::family::{self, FAMILIES};
use super::super::{Case, Implementation};
use super::words::split_word;
use crate::sockets::Family;

const MARK_HINT: &str = "a step or block header may start with `ours:` (played only with the \
     project's nc) or `ncat:` (only with NC=ncat), and with `ipv4:` or `ipv6:` (only in that \
     family's run, TCPLAB_FAMILY), then a space and the step: `ncat: client ^D`, `ipv6: syscalls server`";

const IMPLEMENTATIONS: [Implementation; 2] = [Implementation::Ours, Implementation::Ncat];

/// The marks of one step or block header: which nc and which address
/// family it belongs to (None: all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Marks {
    pub nc: Option<Implementation>,
    pub family: Option<Family>,
}

#[derive(Clone, Copy)]
enum Mark {
    Nc(Implementation),
    Family(Family),
}

impl Mark {
    fn word(self) -> &'static str {
        match self {
            Mark::Nc(nc) => nc.word(),
            Mark::Family(f) => family::mark(f),
        }
    }

    fn all() -> impl Iterator<Item = Mark> {
        IMPLEMENTATIONS
            .into_iter()
            .map(Mark::Nc)
            .chain(FAMILIES.into_iter().map(Mark::Family))
    }
}

/// The marks at the start of a step or block header line (an
/// implementation's and a family's, in either order), and the line
/// without them.
pub(super) fn split_mark(head: &str) -> Result<(Marks, &str), Bad> {
    let mut marks = Marks::default();
    let mut rest = head;
    while let Some((mark, after)) = known_mark(rest)? {
        let taken = match mark {
            Mark::Nc(nc) => marks.nc.replace(nc).is_some(),
            Mark::Family(f) => marks.family.replace(f).is_some(),
        };
        if taken {
            return Err(bad(
                "two marks on one line",
                "an item belongs to one implementation (`ours:` or `ncat:`) and one family \
                 (`ipv4:` or `ipv6:`) at most, or to all without a mark",
            ));
        }
        rest = after;
    }
    match mark_word(rest) {
        Some(word) => Err(bad(format!("unknown mark `{word}`"), MARK_HINT)),
        None => Ok((marks, rest)),
    }
}

/// The known mark `line` starts with, and the line after it and its space.
fn known_mark(line: &str) -> Result<Option<(Mark, &str)>, Bad> {
    for mark in Mark::all() {
        let word = mark.word();
        let Some(rest) = line.strip_prefix(word).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        if rest.trim().is_empty() {
            return Err(bad(format!("`{word}:` with nothing after it"), MARK_HINT));
        }
        if !rest.starts_with([' ', '\t']) {
            return Err(bad(
                format!("`{word}:` must be followed by a space"),
                &format!("write `{word}: {rest}`"),
            ));
        }
        return Ok(Some((mark, rest.trim_start())));
    }
    Ok(None)
}

/// The line's first word when it looks like a mark (`word:`).
fn mark_word(line: &str) -> Option<&str> {
    let (first, _) = split_word(line);
    (first.len() > 1 && first.ends_with(':')).then_some(first)
}

/// An indented line that starts with a mark: marks go on headers.
pub(super) fn marked_body_line(line: &str) -> Option<Bad> {
    let word = mark_word(line)?;
    Mark::all()
        .any(|m| word == format!("{}:", m.word()))
        .then(|| {
            bad(
                format!("`{word}` on a line of a block"),
                "mark the whole block (`ncat: packets`, `ipv6: syscalls server`) and write the other form's block beside it",
            )
        })
}

/// The directives speak for the whole case (`port`, `ours-only`,
/// `ipv4-only`, `ipv6-only`): a mark on them is an error.
pub(super) fn marked_directive(marks: Marks, head: &str) -> Option<Bad> {
    let mark = marks
        .nc
        .map(|nc| nc.word())
        .or(marks.family.map(family::mark))?;
    let (first, _) = split_word(head);
    let directives = ["port", "ours-only", "ipv4-only", "ipv6-only"];
    directives.contains(&first).then(|| {
        bad(
            format!("`{mark}: {first}`: `{first}` is about the whole case and takes no mark"),
            "write it without the mark",
        )
    })
}

/// A case in which one implementation, or one family the case is played
/// in, would play nothing: the line of its first item, and why.
pub(super) fn check_both_play(case: &Case) -> Option<(usize, Bad)> {
    let first = case.items.first()?;
    let families: Vec<Family> = FAMILIES
        .into_iter()
        .filter(|f| family::left_out(case, *f).is_none())
        .collect();
    let plays = |nc: Implementation, f: Family| case.items_for(nc, f).next().is_some();
    if let Some(idle) = IMPLEMENTATIONS
        .into_iter()
        .find(|nc| families.iter().all(|f| !plays(*nc, *f)))
    {
        return Some((
            first.line,
            bad(
                format!("no step of the case is played with {idle}: every one is marked for the other implementation"),
                "leave the mark off the steps both play; a case about our nc alone says `ours-only REASON` at the top",
            ),
        ));
    }
    let (nc, idle) = families.iter().find_map(|f| {
        IMPLEMENTATIONS
            .into_iter()
            .find(|nc| !plays(*nc, *f))
            .map(|nc| (nc, *f))
    })?;
    Some((
        first.line,
        bad(
            format!(
                "no step of the case is played with {nc} in {idle}: every one is marked for the other family or implementation"
            ),
            &format!(
                "leave the mark off the steps both families play; a case that makes sense in one family alone says `{} REASON` at the top",
                family::only_word(other(idle))
            ),
        ),
    ))
}

fn other(f: Family) -> Family {
    match f {
        Family::Ipv4 => Family::Ipv6,
        Family::Ipv6 => Family::Ipv4,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::super::{Implementation, ItemKind};
    use super::super::parse;
    use crate::lab::Side;
    use crate::sockets::Family;

    const SERVER_CLOSE: &str = "\
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
server ^C
ours: packets
  server > client  [F.]  seq 1, ack 1
  client > server  [F.]  seq 1, ack 2
  server > client  [.]   ack 2
ncat: packets
  server > client  [F.]  seq 1, ack 1
  client > server  [.]   ack 2
ncat:\tclient ^D
client exits 0
";

    fn error(text: &str) -> String {
        parse(Path::new("cases/x.case"), text)
            .expect_err("the case must not parse")
            .to_string()
    }

    #[test]
    fn marked_steps_and_blocks_belong_to_one_implementation_with_their_bodies() {
        let case = parse(Path::new("cases/x.case"), SERVER_CLOSE).unwrap();
        let only: Vec<_> = case.items.iter().map(|i| (i.line, i.only)).collect();
        assert_eq!(
            only,
            [
                (1, None),
                (2, None),
                (3, None),
                (4, Some(Implementation::Ours)),
                (8, Some(Implementation::Ncat)),
                (11, Some(Implementation::Ncat)),
                (12, None),
            ]
        );
        let ItemKind::Packets(alts) = &case.items[3].kind else {
            panic!("not a block: {:?}", case.items[3])
        };
        assert_eq!(
            alts[0].len(),
            3,
            "the indented lines are the marked block's"
        );
        assert_eq!(case.items[5].kind, ItemKind::Eof { host: Side::Client });
        assert_eq!(case.items[5].to_string(), "ncat: client ^D");
        assert_eq!(case.items[3].to_string(), "ours: packets (3 lines)");
        assert_eq!(case.items[0].to_string(), "server $ nc -kl 11111");
    }

    #[test]
    fn each_implementation_plays_the_unmarked_items_and_its_own() {
        let case = parse(Path::new("cases/x.case"), SERVER_CLOSE).unwrap();
        let lines = |nc| {
            case.items_for(nc, Family::Ipv4)
                .map(|i| i.line)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(Implementation::Ours), [1, 2, 3, 4, 12]);
        assert_eq!(lines(Implementation::Ncat), [1, 2, 3, 8, 11, 12]);
    }

    #[test]
    fn bad_marks_name_their_line_and_say_how_to_write_one() {
        let cases = [
            ("server $ nc -kl 11111\nopenbsd: client ^D\n", "cases/x.case:2: unknown mark `openbsd:` (hint: a step or block header may start with `ours:`"),
            ("server $ nc -kl 11111\nncat:client ^D\n", "cases/x.case:2: `ncat:` must be followed by a space (hint: write `ncat: client ^D`)"),
            ("server $ nc -kl 11111\nours:\n", "cases/x.case:2: `ours:` with nothing after it"),
            ("server $ nc -kl 11111\nours: ncat: client ^D\n", "cases/x.case:2: two marks on one line"),
            ("ours: port 2222\nserver $ nc -kl 2222\n", "cases/x.case:1: `ours: port`: `port` is about the whole case and takes no mark"),
            ("ncat: ours-only why\nserver $ nc -kl 11111\n", "cases/x.case:1: `ncat: ours-only`"),
            ("server $ nc -kl 11111\npackets\n  ncat: client > server  [S]  seq 0\n", "cases/x.case:3: `ncat:` on a line of a block (hint: mark the whole block"),
            ("ours: server $ nc -kl 11111\nours: client ^D\n", "cases/x.case:1: no step of the case is played with ncat: every one is marked for the other implementation (hint: leave the mark off the steps both play; a case about our nc alone says `ours-only REASON`"),
            ("ncat: server $ nc -kl 11111\n", "cases/x.case:1: no step of the case is played with ours"),
            ("server $ nc -kl 11111\nipv4: ipv6: client ^D\n", "cases/x.case:2: two marks on one line"),
            ("server $ nc -kl 11111\nipv6:client ^D\n", "cases/x.case:2: `ipv6:` must be followed by a space"),
            ("server $ nc -kl 11111\nours: ipv6: inet6: client ^D\n", "cases/x.case:2: unknown mark `inet6:`"),
            ("ipv6: ipv4-only why\nserver $ nc -kl 11111\n", "cases/x.case:1: `ipv6: ipv4-only`: `ipv4-only` is about the whole case"),
            ("server $ nc -kl 11111\npackets\n  ipv4: client > server  [S]  seq 0\n", "cases/x.case:3: `ipv4:` on a line of a block"),
            ("ipv4: server $ nc -kl 11111\n", "cases/x.case:1: no step of the case is played with ours in IPv6: every one is marked for the other family or implementation (hint: leave the mark off the steps both families play; a case that makes sense in one family alone says `ipv4-only REASON` at the top)"),
            ("ipv4-only only v4\nipv6: server $ nc -kl 11111\n", "cases/x.case:2: no step of the case is played with ours: every one is marked"),
        ];
        for (text, want) in cases {
            let got = error(text);
            assert!(
                got.starts_with(want),
                "{text:?}:\n got  {got}\n want {want}"
            );
        }
    }

    #[test]
    fn words_ending_in_a_colon_elsewhere_are_not_marks() {
        let case = parse(
            Path::new("cases/x.case"),
            "server $ sh -c 'echo ours: x'\nclient types ncat: hello\n",
        )
        .unwrap();
        assert!(case.items.iter().all(|i| i.only.is_none()));
    }

    #[test]
    fn an_implementation_mark_and_a_family_mark_combine_in_either_order() {
        let case = parse(
            Path::new("cases/x.case"),
            "server $ nc -kl 11111\nours: ipv6: client ^D\nipv4: ncat: client ^D\nipv4-only why\n",
        );
        let err = case.expect_err("ipv4-only after a step").to_string();
        assert!(err.contains("x.case:4"), "{err}");
        let case = parse(
            Path::new("cases/x.case"),
            "server $ nc -kl 11111\nours: ipv6: client ^D\nipv4: ncat: client ^D\n",
        )
        .unwrap();
        let marks: Vec<_> = case.items.iter().map(|i| (i.only, i.family)).collect();
        assert_eq!(
            marks,
            [
                (None, None),
                (Some(Implementation::Ours), Some(Family::Ipv6)),
                (Some(Implementation::Ncat), Some(Family::Ipv4)),
            ]
        );
        assert_eq!(case.items[1].to_string(), "ours: ipv6: client ^D");
        assert_eq!(case.items[2].to_string(), "ncat: ipv4: client ^D");
        let lines = |nc, f| case.items_for(nc, f).map(|i| i.line).collect::<Vec<_>>();
        assert_eq!(lines(Implementation::Ours, Family::Ipv6), [1, 2]);
        assert_eq!(lines(Implementation::Ours, Family::Ipv4), [1]);
        assert_eq!(lines(Implementation::Ncat, Family::Ipv4), [1, 3]);
    }
}
