//! Marks at the start of a step or block header: `ours: STEP` and `ncat:
//! STEP`, a step or block that belongs to one implementation's behaviour,
//! and `kernel>=6.5: STEP`, `kernel<6.5: STEP`, `sysctl NAME: STEP`,
//! `module NAME: STEP`, one that belongs to the kernels that meet it.
//!
//! Where the project's nc and a system ncat legitimately differ (ncat 7.93
//! keeps its client running after the server's EOF; nmap issue 1779), a
//! case writes each one's form beside the other and a differential run
//! (NC=ncat) plays the ncat form instead of failing or leaving the whole
//! case out. Where kernels differ (the classic SYN backoff is 6.5's
//! `tcp_syn_linear_timeouts=0` and every older kernel's default), a case
//! writes each kernel's form the same way, and the run log says which
//! played.
//!
//! `ipv4: STEP` and `ipv6: STEP` do the same for the address family a run
//! plays in (`TCPLAB_FAMILY`, see `case::family`): what differs between
//! the families beyond their addresses (a syscall's sockaddr, the listener
//! that accepts, the MSS a SYN offers) is written once per family. A
//! family's mark may stand beside one other (`ours: ipv6: syscalls
//! client`, in either order).

use super::super::error::{bad, Bad};
use super::super::family::{self, FAMILIES};
use super::super::{family_word, Case, Implementation, Item, ItemKind};
use super::words::split_word;
use crate::kernel::{Requirement, REQUIREMENT_HINT};
use crate::sockets::Family;

const MARK_HINT: &str = "a step or block header may start with `ours:` (played only with the \
     project's nc), `ncat:` (only with NC=ncat), or a kernel's mark: `kernel>=6.5:`, `kernel<6.5:`, \
     `sysctl NAME:` or `module NAME:` (only on kernels that have it), and with `ipv4:` or `ipv6:` \
     (only in that family's run, TCPLAB_FAMILY); then a space and the step: `ncat: client ^D`, \
     `ipv6: syscalls server`";

const IMPLEMENTATIONS: [Implementation; 2] = [Implementation::Ours, Implementation::Ncat];

/// A header's mark: which nc plays it, or which kernels.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Mark {
    Nc(Implementation),
    When(Requirement),
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mark::Nc(nc) => write!(f, "{nc}"),
            Mark::When(r) => write!(f, "{r}"),
        }
    }
}

/// The marks of a step or block header: an implementation's or a
/// kernel's, and a family's.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Marks {
    pub mark: Option<Mark>,
    pub family: Option<Family>,
}

impl Marks {
    /// The item at `line` these marks head.
    pub(super) fn item(self, line: usize, kind: ItemKind) -> Item {
        let (only, when) = match self.mark {
            Some(Mark::Nc(nc)) => (Some(nc), None),
            Some(Mark::When(r)) => (None, Some(r)),
            None => (None, None),
        };
        Item {
            line,
            only,
            family: self.family,
            when,
            kind,
        }
    }
}

const TWO_MARKS: &str = "an item carries one mark (`ours:`, `ncat:` or a kernel's), or none, \
     and may carry a family's (`ipv4:` or `ipv6:`) beside it";

/// The marks at the start of a step or block header line, and the line
/// without them: a family's before or after the other.
pub(super) fn split_mark(head: &str) -> Result<(Marks, &str), Bad> {
    let (first, head) = family_mark(head)?;
    if first.is_some() && family_mark(head)?.0.is_some() {
        return Err(bad("two marks on one line", TWO_MARKS));
    }
    let (mark, rest) = one_mark(head)?;
    let (family, rest) = match first {
        Some(f) => (Some(f), rest),
        None if mark.is_some() => family_mark(rest)?,
        None => (None, rest),
    };
    if family.is_some() && mark.is_some() {
        // Both marks taken: anything that looks like a third is an error.
        if family_mark(rest)?.0.is_some() || one_mark(rest)?.0.is_some() {
            return Err(bad("two marks on one line", TWO_MARKS));
        }
        if let Some(word) = mark_word(rest) {
            return Err(bad(format!("unknown mark `{word}`"), MARK_HINT));
        }
    }
    Ok((Marks { mark, family }, rest))
}

/// A family's mark at the start of `line` (`ipv6: `), and the line after
/// it and its space.
fn family_mark(line: &str) -> Result<(Option<Family>, &str), Bad> {
    for f in FAMILIES {
        let word = family_word(f);
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
        return Ok((Some(f), rest.trim_start()));
    }
    Ok((None, line))
}

/// Whether `word` (`ipv4:`) is a family's mark.
fn is_family_word(word: &str) -> bool {
    FAMILIES
        .iter()
        .any(|f| word == format!("{}:", family_word(*f)))
}

/// The implementation's or kernel's mark at the start of a step or block
/// header line, and the line without it.
fn one_mark(head: &str) -> Result<(Option<Mark>, &str), Bad> {
    let (mark, word, rest) = if let Some((word, rest)) = IMPLEMENTATIONS.iter().find_map(|nc| {
        let rest = head.strip_prefix(nc.word())?.strip_prefix(':')?;
        Some(((Mark::Nc(*nc), nc.word().to_string()), rest))
    }) {
        (word.0, word.1, rest)
    } else if let Some((text, rest)) = condition(head) {
        let req: Requirement = text
            .parse()
            .map_err(|m: crate::error::Malformed| m.or_hint(REQUIREMENT_HINT))?;
        (Mark::When(req), text.to_string(), rest)
    } else {
        return match mark_word(head) {
            Some(word) => Err(bad(format!("unknown mark `{word}`"), MARK_HINT)),
            None => Ok((None, head)),
        };
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
    let rest = rest.trim_start();
    let other = mark_word(rest).filter(|w| !is_family_word(w));
    if other.is_some() || condition(rest).is_some() {
        return Err(bad("two marks on one line", TWO_MARKS));
    }
    Ok((Some(mark), rest))
}

/// A kernel's mark at the start of `line`: its requirement's text and what
/// follows the colon. `kernel>=6.5:` and `kernel<6.5:` are one word (a
/// step may follow without a space: an error, said as such);
/// `sysctl NAME:` and `module NAME:` two.
fn condition(line: &str) -> Option<(&str, &str)> {
    let (first, rest) = split_word(line);
    if let Some(colon) = first
        .find(':')
        .filter(|i| first.starts_with("kernel") && *i > 6)
    {
        return Some((&line[..colon], &line[colon + 1..]));
    }
    if first == "sysctl" || first == "module" {
        let (second, _) = split_word(rest);
        if second.len() > 1 && second.ends_with(':') {
            let end = line.find(second)? + second.len();
            return Some((&line[..end - 1], &line[end..]));
        }
    }
    None
}

/// The line's first word when it looks like a mark (`word:`).
fn mark_word(line: &str) -> Option<&str> {
    let (first, _) = split_word(line);
    (first.len() > 1 && first.ends_with(':')).then_some(first)
}

/// An indented line that starts with a mark: marks go on headers.
pub(super) fn marked_body_line(line: &str) -> Option<Bad> {
    let word = mark_word(line)?;
    let nc = IMPLEMENTATIONS
        .iter()
        .any(|nc| word == format!("{}:", nc.word()));
    (nc || is_family_word(word) || condition(line).is_some()).then(|| {
        bad(
            format!("`{word}` on a line of a block"),
            "mark the whole block (`ncat: packets`, `kernel<6.5: packets`, `ipv6: syscalls server`) and write the other form's block beside it",
        )
    })
}

/// `port`, `ours-only`, `ipv4-only`, `ipv6-only` and `requires` speak for
/// the whole case: a mark on them is an error.
pub(super) fn marked_directive(marks: &Marks, head: &str) -> Option<Bad> {
    let mark = match (&marks.mark, marks.family) {
        (Some(m), _) => m.to_string(),
        (None, Some(f)) => family_word(f).to_string(),
        (None, None) => return None,
    };
    let (first, _) = split_word(head);
    let directives = ["port", "ours-only", "ipv4-only", "ipv6-only", "requires"];
    directives.contains(&first).then(|| {
        bad(
            format!("`{mark}: {first}`: `{first}` is about the whole case and takes no mark"),
            "write it without the mark",
        )
    })
}

/// A case in which one implementation, or one implementation in a family
/// the case is for, would play nothing: the line of its first item, and
/// why.
pub(super) fn check_both_play(case: &Case) -> Option<(usize, Bad)> {
    let first = case.items.first()?;
    if let Some(idle) = IMPLEMENTATIONS
        .into_iter()
        .find(|nc| case.items_for(*nc).next().is_none())
    {
        return Some((
            first.line,
            bad(
                format!("no step of the case is played with {idle}: every one is marked for the other implementation"),
                "leave the mark off the steps both play; a case about our nc alone says `ours-only REASON` at the top",
            ),
        ));
    }
    let (nc, idle) = FAMILIES
        .into_iter()
        .filter(|f| family::left_out(case, *f).is_none())
        .find_map(|f| {
            IMPLEMENTATIONS
                .into_iter()
                .find(|nc| !case.items_for(*nc).any(|i| i.in_family(f)))
                .map(|nc| (nc, f))
        })?;
    let other = FAMILIES.into_iter().find(|f| *f != idle).unwrap_or(idle);
    Some((
        first.line,
        bad(
            format!(
                "no step of the case is played with {nc} in {idle}: every one is marked for the other family or implementation"
            ),
            &format!(
                "leave the mark off the steps both families play; a case that makes sense in one family alone says `{} REASON` at the top",
                family::only_word(other)
            ),
        ),
    ))
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
        let lines = |nc| case.items_for(nc).map(|i| i.line).collect::<Vec<_>>();
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
            ("server $ nc -kl 11111\nours: ipv6: ipv4: client ^D\n", "cases/x.case:2: two marks on one line"),
            ("server $ nc -kl 11111\nipv6: ours: kernel<6.5: client ^D\n", "cases/x.case:2: two marks on one line"),
            ("server $ nc -kl 11111\nipv6:client ^D\n", "cases/x.case:2: `ipv6:` must be followed by a space"),
            ("server $ nc -kl 11111\nours: ipv6: inet6: client ^D\n", "cases/x.case:2: unknown mark `inet6:`"),
            ("ipv6: ipv4-only why\nserver $ nc -kl 11111\n", "cases/x.case:1: `ipv6: ipv4-only`: `ipv4-only` is about the whole case"),
            ("server $ nc -kl 11111\npackets\n  ipv4: client > server  [S]  seq 0\n", "cases/x.case:3: `ipv4:` on a line of a block"),
            ("ipv4: server $ nc -kl 11111\n", "cases/x.case:1: no step of the case is played with ours in IPv6: every one is marked for the other family or implementation (hint: leave the mark off the steps both families play; a case that makes sense in one family alone says `ipv4-only REASON` at the top)"),
            ("ipv4-only only v4\nipv6: server $ nc -kl 11111\n", "cases/x.case:2: no step of the case is played with ours in IPv4"),
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
    fn a_family_mark_stands_beside_an_implementations_or_a_kernels_in_either_order() {
        let case = parse(
            Path::new("cases/x.case"),
            "server $ nc -kl 11111\nipv4-only why\n",
        );
        let err = case.expect_err("ipv4-only after a step").to_string();
        assert!(err.contains("x.case:2"), "{err}");
        let case = parse(
            Path::new("cases/x.case"),
            "server $ nc -kl 11111\nours: ipv6: client ^D\nipv4: ncat: client ^D\nipv6: kernel>=6.5: client ^D\n",
        )
        .unwrap();
        let marks: Vec<_> = case.items.iter().map(|i| (i.only, i.family)).collect();
        assert_eq!(
            marks,
            [
                (None, None),
                (Some(Implementation::Ours), Some(Family::Ipv6)),
                (Some(Implementation::Ncat), Some(Family::Ipv4)),
                (None, Some(Family::Ipv6)),
            ]
        );
        assert_eq!(case.items[1].to_string(), "ours: ipv6: client ^D");
        assert_eq!(case.items[2].to_string(), "ncat: ipv4: client ^D");
        assert_eq!(case.items[3].to_string(), "kernel>=6.5: ipv6: client ^D");
        let now = kernel("6.12.48");
        let lines = |nc, f| {
            case.items_played(nc, f, &now)
                .map(|i| i.line)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(Implementation::Ours, Family::Ipv6), [1, 2, 4]);
        assert_eq!(lines(Implementation::Ours, Family::Ipv4), [1]);
        assert_eq!(lines(Implementation::Ncat, Family::Ipv4), [1, 3]);
        assert_eq!(
            case.items[1]
                .skipped(Implementation::Ours, Family::Ipv4, &now)
                .as_deref(),
            Some("ipv6 only")
        );
    }

    /// syn-retries' shape: one step for the kernels that have a sysctl,
    /// two forms of a block for kernels before and from 6.5.
    const KERNEL_FORMS: &str = "\
requires kernel 4.9
requires sysctl net.ipv4.tcp_rfc1337
server $ nc -kl 11111
sysctl net.ipv4.tcp_syn_linear_timeouts: client sysctl net.ipv4.tcp_syn_linear_timeouts=0
client $ nc 192.168.2.100 11111
kernel>=6.5: packets
  client > server  [S]  seq 0
kernel<6.5: packets
  client > server  [S]  seq 0
module sch_netem:\tclient ^C
";

    fn kernel(release: &str) -> crate::kernel::Kernel {
        crate::kernel::Kernel::at(release, Path::new("/nonexistent"))
    }

    #[test]
    fn kernel_marks_and_requirements_are_read_with_their_steps_and_blocks() {
        let case = parse(Path::new("cases/x.case"), KERNEL_FORMS).unwrap();
        let shown: Vec<String> = case.requires.iter().map(|r| r.to_string()).collect();
        assert_eq!(shown, ["kernel>=4.9", "sysctl net.ipv4.tcp_rfc1337"]);
        let items: Vec<String> = case
            .items
            .iter()
            .map(|i| format!("{}: {i}", i.line))
            .collect();
        assert_eq!(
            items,
            [
                "3: server $ nc -kl 11111",
                "4: sysctl net.ipv4.tcp_syn_linear_timeouts: client sysctl net.ipv4.tcp_syn_linear_timeouts=0",
                "5: client $ nc 192.168.2.100 11111",
                "6: kernel>=6.5: packets (1 lines)",
                "8: kernel<6.5: packets (1 lines)",
                "10: module sch_netem: client ^C",
            ]
        );
        assert!(case.items.iter().all(|i| i.only.is_none()));
    }

    /// Which items a kernel plays, and what the run says of the others.
    /// (The fake kernel has no files: no sysctl, and a module it cannot
    /// tell about counts as built in.)
    #[test]
    fn each_kernel_plays_the_unmarked_items_and_the_forms_for_it() {
        let case = parse(Path::new("cases/x.case"), KERNEL_FORMS).unwrap();
        let lines = |release: &str| {
            case.items_played(Implementation::Ours, Family::Ipv4, &kernel(release))
                .map(|i| i.line)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines("6.1.0-28-cloud-amd64"), [3, 5, 8, 10]);
        assert_eq!(lines("6.12.48+deb13-amd64"), [3, 5, 6, 10]);
        let old = kernel("6.1.0-28-cloud-amd64");
        assert_eq!(
            case.items[3]
                .skipped(Implementation::Ours, Family::Ipv4, &old)
                .as_deref(),
            Some("needs kernel 6.5 or later (this is 6.1.0)")
        );
        assert_eq!(
            case.items[1]
                .skipped(Implementation::Ours, Family::Ipv4, &old)
                .as_deref(),
            Some("needs sysctl net.ipv4.tcp_syn_linear_timeouts (kernel 6.1.0 has none)")
        );
        assert_eq!(
            case.items[4].skipped(Implementation::Ours, Family::Ipv4, &old),
            None
        );
    }

    #[test]
    fn a_case_is_skipped_for_the_first_requirement_the_kernel_lacks() {
        let case = |text: &str| parse(Path::new("cases/x.case"), text).unwrap();
        let on = |c: &crate::case::Case, nc, release| c.skipped(nc, Family::Ipv4, &kernel(release));
        let needs_future = case("requires kernel 99.1\nserver $ true\n");
        assert_eq!(
            on(&needs_future, Implementation::Ours, "6.18.44-fc-v1300").as_deref(),
            Some("needs kernel 99.1 or later (this is 6.18.44)")
        );
        let needs_sysctl = case("requires sysctl net.ipv4.does_not_exist\nserver $ true\n");
        assert_eq!(
            on(&needs_sysctl, Implementation::Ours, "6.1.0").as_deref(),
            Some("needs sysctl net.ipv4.does_not_exist (kernel 6.1.0 has none)")
        );
        let old_only = case("kernel<5.0: server $ true\n");
        assert_eq!(
            on(&old_only, Implementation::Ours, "6.1.0").as_deref(),
            Some("no step plays on kernel 6.1.0: each is marked for another kernel")
        );
        assert_eq!(on(&old_only, Implementation::Ours, "4.19.0"), None);
        let ours_only = case("ours-only why\nrequires kernel 99\nserver $ true\n");
        assert_eq!(
            on(&ours_only, Implementation::Ncat, "6.1.0").as_deref(),
            Some("ours-only: why")
        );
        assert_eq!(
            on(
                &case("requires kernel 3.10\nserver $ true\n"),
                Implementation::Ours,
                "6.1.0"
            ),
            None
        );
    }

    #[test]
    fn bad_kernel_marks_and_requirements_name_their_line() {
        let cases = [
            ("server $ true\nkernel>=six: client ^D\n", "cases/x.case:2: `six` is not a kernel version (write it as uname -r starts: 6.5 or 6.1.0) (hint: a requirement is `kernel>=6.5`"),
            ("server $ true\nkernel>=6.5:client ^D\n", "cases/x.case:2: `kernel>=6.5:` must be followed by a space (hint: write `kernel>=6.5: client ^D`)"),
            ("server $ true\nkernel<6.5:\n", "cases/x.case:2: `kernel<6.5:` with nothing after it"),
            ("server $ true\nkernel<6.5: ncat: client ^D\n", "cases/x.case:2: two marks on one line"),
            ("server $ true\nours: kernel<6.5: client ^D\n", "cases/x.case:2: two marks on one line"),
            ("server $ true\nsysctl vm.swappiness: client ^D\n", "cases/x.case:2: `vm.swappiness` is not a network sysctl name"),
            ("server $ true\npackets\n  kernel<6.5: client > server  [S]  seq 0\n", "cases/x.case:3: `kernel<6.5:` on a line of a block (hint: mark the whole block"),
            ("server $ true\nrequires kernel 6.5\n", "cases/x.case:2: `requires` after the first step (hint: put `requires ...` at the top of the file"),
            ("requires\nserver $ true\n", "cases/x.case:1: `requires` needs a requirement (hint: a requirement is"),
            ("requires disk 5G\nserver $ true\n", "cases/x.case:1: unknown requirement `disk 5G` (hint: a requirement is"),
            ("kernel>=6.5: requires kernel 6.5\nserver $ true\n", "cases/x.case:1: `kernel>=6.5: requires`: `requires` is about the whole case and takes no mark"),
            ("server $ true\nkernel: client ^D\n", "cases/x.case:2: unknown mark `kernel:`"),
        ];
        for (text, want) in cases {
            let got = error(text);
            assert!(
                got.starts_with(want),
                "{text:?}:\n got  {got}\n want {want}"
            );
        }
    }
}
