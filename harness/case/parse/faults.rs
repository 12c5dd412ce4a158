//! Steps that make the network misbehave: fault rules (`drop`, `delay`,
//! `reorder`), `heal`, and a host's `sysctl`. One function per step,
//! chosen by `super::step`; the words become `faults::Rule` and friends,
//! which know nothing of case files.

use super::super::error::{bad, Bad};
use super::super::rows::duration;
use super::super::ItemKind;
use super::words::split_word;
use crate::faults::{Action, Direction, FlagMatch, Link, Rule, Which};
use crate::lab::Side;
use crate::packet::TcpFlags;

const RULE_HINT: &str = "a rule is `drop DIR [FLAGS] WHICH`, `delay DIR [FLAGS] WHICH by DURATION` \
     or `reorder DIR [FLAGS] WHICH`, e.g. `drop server > client [F.] first`; DIR is `client > server` \
     or `server > client`, FLAGS tcpdump's letters or `*` (any), optionally followed by `data`; \
     WHICH is `first`, `#N`, `#N..M` or `all`";

/// `drop|delay|reorder DIR [FLAGS] [data] WHICH [by DURATION]`.
pub(super) fn rule(verb: &str, rest: &str) -> Result<ItemKind, Bad> {
    let Some((dir, after)) = rest.split_once('[') else {
        return Err(bad(
            format!("`{verb}` needs the packets' flags in brackets after the direction"),
            RULE_HINT,
        ));
    };
    let direction = direction(dir)?;
    let (letters, after) = after
        .split_once(']')
        .ok_or_else(|| bad("flags bracket not closed", "write flags as `[F.]` or `[*]`"))?;
    let (mut word, mut rest) = split_word(after);
    let data = word == "data";
    if data {
        (word, rest) = split_word(rest);
    }
    let flags = flag_match(letters, data)?;
    let which = which(word)?;
    let (action, rest) = match verb {
        "drop" => (Action::Drop, rest),
        "reorder" => (Action::Reorder, rest),
        _ => (Action::Delay(delay_by(rest)?), ""),
    };
    if !rest.is_empty() {
        return Err(bad(
            format!("unexpected `{rest}` after the rule"),
            RULE_HINT,
        ));
    }
    Ok(ItemKind::Fault(Rule {
        direction,
        flags,
        which,
        action,
        origin: String::new(),
    }))
}

/// The longest delay a step may ask for (as the case's other durations).
const MAX_DELAY: std::time::Duration = crate::notation::duration::MAX;

/// `by DURATION`, the end of a `delay` rule.
fn delay_by(rest: &str) -> Result<std::time::Duration, Bad> {
    let (by, amount) = split_word(rest);
    if by != "by" || amount.is_empty() {
        return Err(bad(
            "`delay` needs `by DURATION` at the end",
            "write e.g. `delay server > client [F.] first by 300ms`",
        ));
    }
    let (amount, tail) = split_word(amount);
    if !tail.is_empty() {
        return Err(bad(
            format!("unexpected `{tail}` after the rule"),
            RULE_HINT,
        ));
    }
    let d = duration(amount)?;
    if d.is_zero() {
        return Err(bad(
            "a delay of 0 does nothing",
            "write a positive duration, e.g. `by 300ms`",
        ));
    }
    Ok(d)
}

/// `client > server` or `server > client`.
fn direction(s: &str) -> Result<Direction, Bad> {
    let s = s.trim();
    if s.is_empty() {
        return Err(bad("the rule names no direction", RULE_HINT));
    }
    s.parse().map_err(|m: crate::error::Malformed| {
        m.or_hint("write `client > server` or `server > client`")
    })
}

/// `*` (any), or tcpdump's letters matched exactly; with `data`, only
/// segments with payload.
fn flag_match(letters: &str, data: bool) -> Result<FlagMatch, Bad> {
    let letters = letters.trim();
    if letters == "*" {
        return Ok(if data {
            FlagMatch::Data
        } else {
            FlagMatch::Any
        });
    }
    let flags: TcpFlags = letters.parse().map_err(|m: crate::error::Malformed| {
        bad(
            format!("bad flags `[{letters}]`: {m}"),
            "write flags as tcpdump does (`[S]`, `[S.]`, `[P.]`, `[F.]`, `[.]`), or `[*]` for any packet",
        )
    })?;
    Ok(if data {
        FlagMatch::ExactData(flags)
    } else {
        FlagMatch::Exact(flags)
    })
}

/// `first`, `#N`, `#N..M`, `all`: counted over the packets that match the
/// rule's direction and flags since the rule was added.
fn which(s: &str) -> Result<Which, Bad> {
    const HINT: &str = "write `first`, `#2` (the 2nd match), `#2..4` or `all`";
    let n = |t: &str| match t.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad(format!("`{s}` is not a count of packets"), HINT)),
    };
    match s {
        "" => Err(bad("the rule says not which packets", HINT)),
        "first" => Ok(Which::Nth(1)),
        "all" => Ok(Which::Every),
        _ => {
            let Some(num) = s.strip_prefix('#') else {
                return Err(bad(format!("`{s}` is not a count of packets"), HINT));
            };
            match num.split_once("..") {
                Some((a, b)) => {
                    let (a, b) = (n(a)?, n(b)?);
                    if a > b {
                        return Err(bad(format!("`{s}`: the range is empty"), HINT));
                    }
                    Ok(Which::Range(a, b))
                }
                None => Ok(Which::Nth(n(num)?)),
            }
        }
    }
}

/// `heal` or `heal DIR`.
pub(super) fn heal(rest: &str) -> Result<ItemKind, Bad> {
    let direction = if rest.trim().is_empty() {
        None
    } else {
        Some(direction(rest).map_err(|b| Bad {
            msg: b.msg,
            hint: Some("write `heal` (every rule) or `heal client > server`".into()),
        })?)
    };
    Ok(ItemKind::Heal { direction })
}

/// `netem DIR [loss P%] [delay D [[jitter] J]] [duplicate P%] [reorder P%]
/// [seed N]`: tc-netem's words (`jitter` may name the jitter).
pub(super) fn netem(rest: &str) -> Result<ItemKind, Bad> {
    const HINT: &str = "write e.g. `netem client > server loss 10% delay 20ms 5ms seed 1` \
         (tc-netem's words: loss P%, delay D [[jitter] J], duplicate P%, reorder P%, seed N)";
    let words: Vec<&str> = rest.split_whitespace().collect();
    if words.len() < 3 {
        return Err(bad("`netem` needs a direction and faults", HINT));
    }
    let direction = direction(&words[..3].join(" "))?;
    let faults = without_jitter_word(&words[3..])?;
    let link: Link = faults
        .join(" ")
        .parse()
        .map_err(|m: crate::error::Malformed| m.or_hint(HINT))?;
    if link.delay + link.jitter > MAX_DELAY {
        return Err(bad("a netem delay longer than a day", HINT));
    }
    Ok(ItemKind::Netem { direction, link })
}

/// tc's `delay D jitter J` as netem's `delay D J`: the word `jitter` is
/// taken only there, right after a delay and before a time; anywhere else
/// it is an error, never a word silently dropped.
fn without_jitter_word<'a>(words: &[&'a str]) -> Result<Vec<&'a str>, Bad> {
    const HINT: &str =
        "jitter follows a delay: `delay 20ms jitter 5ms` (tc's words) or `delay 20ms 5ms`";
    let is_time = |w: &&str| w.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    let mut out = Vec::with_capacity(words.len());
    for (k, w) in words.iter().enumerate() {
        if *w != "jitter" {
            out.push(*w);
            continue;
        }
        let after_delay = k >= 2 && words[k - 2] == "delay";
        if !after_delay || !words.get(k + 1).is_some_and(is_time) {
            return Err(bad("`jitter` must stand between a delay and a time", HINT));
        }
    }
    Ok(out)
}

/// Prefixes of the sysctls a case may set: per-namespace networking ones.
const SYSCTL_PREFIXES: [&str; 3] = ["net.ipv4.", "net.ipv6.", "net.core."];

/// `HOST sysctl NAME=VALUE`. The name is checked here (its shape, and a
/// networking prefix); whether the namespace has it and takes the value is
/// for the kernel to say when it is written.
pub(super) fn sysctl(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    const HINT: &str = "write `client sysctl net.ipv4.tcp_fin_timeout=5`, as `sysctl -w` takes it";
    let Some((name, value)) = arg.split_once('=') else {
        return Err(bad(format!("`sysctl {arg}` has no `=VALUE`"), HINT));
    };
    let (name, value) = (name.trim(), value.trim());
    if !SYSCTL_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(bad(
            format!("`{name}` is not a per-namespace network sysctl"),
            "a case may set only sysctls under net.ipv4., net.ipv6. or net.core. (they live and die with the host's namespace)",
        ));
    }
    crate::sysctl::path(name).map_err(|m| m.or_hint(HINT))?;
    if value.is_empty() {
        return Err(bad(format!("`{name}=` has no value"), HINT));
    }
    Ok(ItemKind::Sysctl {
        host,
        name: name.to_string(),
        value: value.to_string(),
    })
}

/// `HOST route rto_min DUR` or `HOST route window BYTES`: a metric on
/// the host's route to the lab's subnet (`crate::route`).
pub(super) fn route(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    const HINT: &str = "write `server route rto_min 1s` (the floor of the retransmission timeout, \
         RTAX_RTO_MIN, in whole milliseconds) or `server route window 65535` (the clamp \
         on the receive window and its scale, RTAX_WINDOW, in bytes): every kernel has both";
    let (metric, value) = split_word(arg);
    let metric = match metric {
        "rto_min" => {
            let d = duration(value).map_err(|b| bad(b.msg, HINT))?;
            crate::route::Metric::rto_min(d)
        }
        "window" => {
            let bytes = value
                .parse::<u64>()
                .map_err(|_| bad(format!("window `{value}`: not a number of bytes"), HINT))?;
            crate::route::Metric::window(bytes)
        }
        _ => return Err(bad(format!("unknown route metric `{metric}`"), HINT)),
    };
    let metric = metric.map_err(|m| m.or_hint(HINT))?;
    Ok(ItemKind::Route { host, metric })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::super::parse;
    use crate::case::expect::{Mark, Timing};
    use crate::case::ItemKind;
    use crate::faults::{Action, Direction, FlagMatch, Which};

    fn step(line: &str) -> Result<ItemKind, String> {
        parse(Path::new("cases/x.case"), &format!("{line}\n"))
            .map(|c| c.items[0].kind.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rules_read_direction_flags_count_and_action_and_print_back() {
        for text in [
            "drop server > client [F.] first",
            "drop client > server [S] all",
            "delay server > client [F.] first by 300ms",
            "reorder client > server [P.] #2",
            "drop client > server [*] data #2..3",
            "drop client > server [.] data first",
            "drop client > server [*] #4",
        ] {
            let kind = step(text).unwrap();
            assert_eq!(kind.to_string(), text);
            assert!(kind.is_action(), "{text}");
        }
        let ItemKind::Fault(r) = step("delay server > client [F.] first by 300ms").unwrap() else {
            panic!("not a rule")
        };
        assert_eq!(r.direction, Direction::TO_CLIENT);
        assert_eq!(r.flags, FlagMatch::Exact("F.".parse().unwrap()));
        assert_eq!(r.which, Which::Nth(1));
        assert_eq!(r.action, Action::Delay(Duration::from_millis(300)));
        let ItemKind::Fault(r) = step("drop client > server [*] data #2..3").unwrap() else {
            panic!("not a rule")
        };
        assert_eq!((r.flags, r.which), (FlagMatch::Data, Which::Range(2, 3)));
    }

    #[test]
    fn bad_rules_say_what_is_wrong_at_their_line_with_a_hint() {
        for (text, says) in [
            ("drop client < server [F.] first", "is not a direction"),
            (
                "drop client > client [F.] first",
                "from one host to the other",
            ),
            (
                "drop client > server first",
                "needs the packets' flags in brackets",
            ),
            ("drop client > server [X] first", "bad flags `[X]`"),
            (
                "drop client > server [F.] second",
                "`second` is not a count",
            ),
            ("drop client > server [F.] #0", "`#0` is not a count"),
            ("drop client > server [F.] #3..2", "the range is empty"),
            ("drop client > server [F.]", "says not which packets"),
            ("delay client > server [F.] first", "needs `by DURATION`"),
            ("delay client > server [F.] first by 0ms", "a delay of 0"),
            ("delay client > server [F.] first by soon", "has no unit"),
            (
                "drop client > server [F.] first please",
                "unexpected `please`",
            ),
            ("heal sideways", "is not a direction"),
        ] {
            let e = step(text).unwrap_err();
            assert!(e.starts_with("cases/x.case:1: "), "{e}");
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.contains("(hint: "), "{text}: {e}");
        }
    }

    #[test]
    fn netem_takes_a_direction_and_tc_netem_words() {
        let kind = step("netem client > server loss 10% delay 20ms jitter 5ms").unwrap();
        assert_eq!(
            kind.to_string(),
            "netem client > server loss 10% delay 20ms 5ms seed 1"
        );
        let ItemKind::Netem { direction, link } = kind else {
            panic!("not netem")
        };
        assert_eq!(direction, Direction::TO_SERVER);
        assert_eq!(link.jitter, Duration::from_millis(5));
        for (text, says) in [
            ("netem client > server", "no link fault given"),
            ("netem client > server loss 10", "percent"),
            ("netem up loss 10%", "is not a direction"),
            ("netem client > server wobble 3%", "not a link fault"),
            (
                "netem client > server delay 99999999999999999999999s",
                "longer than a day",
            ),
            ("netem client > server delay 100000s", "longer than a day"),
            (
                "netem client > server loss 10% jitter 5ms",
                "`jitter` must stand",
            ),
            (
                "netem client > server delay 20ms jitter",
                "`jitter` must stand",
            ),
            (
                "netem client > server delay 20ms jitter seed 2",
                "`jitter` must stand",
            ),
            (
                "netem client > server jitter 5ms delay 20ms",
                "`jitter` must stand",
            ),
        ] {
            let e = step(text).unwrap_err();
            assert!(e.contains(says) && e.contains("(hint: "), "{text}: {e}");
        }
    }

    #[test]
    fn heal_takes_an_optional_direction() {
        assert_eq!(step("heal").unwrap(), ItemKind::Heal { direction: None });
        assert_eq!(
            step("heal server > client").unwrap().to_string(),
            "heal server > client"
        );
    }

    #[test]
    fn sysctl_names_must_be_per_namespace_networking_ones() {
        let kind = step("client sysctl net.ipv4.tcp_max_tw_buckets=0").unwrap();
        assert_eq!(
            kind.to_string(),
            "client sysctl net.ipv4.tcp_max_tw_buckets=0"
        );
        assert!(kind.is_action());
        for (text, says) in [
            (
                "client sysctl kernel.hostname=x",
                "not a per-namespace network sysctl",
            ),
            ("client sysctl net.ipv4.tcp_rfc1337", "has no `=VALUE`"),
            ("client sysctl net.ipv4.tcp_rfc1337=", "has no value"),
            ("client sysctl net.ipv4..x=1", "not a network sysctl name"),
        ] {
            let e = step(text).unwrap_err();
            assert!(e.contains(says) && e.contains("(hint: "), "{text}: {e}");
        }
    }

    fn packet(line: &str) -> Result<crate::case::expect::PacketExpect, String> {
        match step(&format!("packets\n  {line}"))? {
            ItemKind::Packets(alts) => Ok(alts[0][0].clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn packet_lines_take_a_timing_and_a_mark_in_either_order() {
        let p = packet("client > server  [S]  seq 0  after 0.9s..1.3s").unwrap();
        let Some(Timing::After(w)) = p.timing else {
            panic!("{p:?}")
        };
        assert_eq!(
            (w.lo, w.hi),
            (Duration::from_millis(900), Duration::from_millis(1300))
        );
        assert_eq!(p.seq, Some((0, None)));
        let p = packet("server > client  [F.]  seq 1, ack 2  at 200ms..400ms  dropped").unwrap();
        assert!(matches!(p.timing, Some(Timing::At(_))));
        assert_eq!(p.mark, Some(Mark::Dropped));
        assert_eq!(
            p.to_string(),
            "server > client  [F.]  seq 1, ack 2  at 200ms..400ms  dropped"
        );
        let q = packet("server > client  [F.]  seq 1, ack 2  dropped  at 200ms..400ms").unwrap();
        assert_eq!((q.timing, q.mark), (p.timing, p.mark));
        let bare = packet("client > server  [S]  delayed").unwrap();
        assert_eq!((bare.seq, bare.mark), (None, Some(Mark::Delayed)));
        for (text, says) in [
            (
                "client > server  [S]  seq 0  1s..2s",
                "without `after` or `at`",
            ),
            (
                "client > server  [S]  seq 0  after 2s..1s",
                "ends before it starts",
            ),
            ("client > server  [S]  seq 0  dropped dropped", "two marks"),
            (
                "client > server  [S]  after 1s..2s at 1s..2s",
                "two timings",
            ),
        ] {
            let e = packet(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn route_metrics_read_rto_min_and_window_and_print_back() {
        for text in ["server route rto_min 1s", "client route window 65535"] {
            let kind = step(text).unwrap();
            assert_eq!(kind.to_string(), text);
        }
        for (text, says) in [
            ("server route window 0", "from 1 to"),
            ("server route window 64k", "not a number of bytes"),
            ("server route mtu 1400", "unknown route metric `mtu`"),
        ] {
            let e = step(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
