//! A property test of the case parser: random case files made of its own
//! words (and of values at and beyond every range), the committed cases
//! mutated line by line, and the committed cases with bytes overwritten
//! (not UTF-8 any more) never panic it, and every error names
//! `file:line:` with a line of the file. PROPTEST_CASES sets how many of
//! each kind (64 by default; ci/test runs 20000 and prints the counts).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::super::run::limits;
use super::read::decode;
use super::{parse, ParseError};

const PATH: &str = "cases/fuzz.case";

/// The words of steps and blocks.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "server", "client", "router", "$", "nc", "-kl", "types", "prints", "exits", "^C", "^\\",
    "^D", "^Z", "fg", "kill", "-TERM", "-KILL", "-9", "trace", "wait", "gone", "at", "packets", "sockets", "fds", "syscalls",
    "none", "or", "port", "ours-only", "ours:", "ncat:", "ours:ncat:", "ipv4:", "ipv6:", "ipv4-only", "ipv6-only", "nc:", ":", ">", "[", "]", "seq", "ack", "win", "length", "options",
    "mss", "wscale", "TS", "val", "ecr", "sackOK", "nop", "sack", "timer", "timewait",
    "sends", "rcv_nxt", "snd_nxt+1", "rcv_nxt-1", "payload", "\"x\\n\"", "to", "from", "after",
    "dropped", "injected", "delayed", "within", "icmp", "frag-needed", "mtu", "port-unreachable",
    "host-unreachable", "clock+10", "ts_recent-1", "sack", "{1:2}",
    "keepalive", "on", "fd", "IPv4", "IPv6", "TCP", "UDP", "->", "accept(4, ...) = 5",
    "connect(3, ...) = -1 ECONNREFUSED", "listen(", ")", "(", "= ?", "=", "...", "*", ",", ":",
    "..", "'", "\"", "'a b'", "\"unterminated", "\"nothing\"", "\"a\\\"b\"", "jitter", "#", "  #", "\t", "  ", "\r", "\0", "\u{feff}",
    "\u{1b}[31m", "\u{7f}", "\u{85}", "é", "✓", "\u{200b}", "\u{10ffff}",
];

/// Values, at and beyond every limit.
#[rustfmt::skip]
const VALUES: &[&str] = &[
    "0", "1", "7", "255", "256", "-1", "65535", "65536", "4294967295", "4294967296",
    "18446744073709551616", "-2147483649", "1:7", "7:1", "0:65536", "1:4294967295", "11111",
    "[S]", "[S.]", "[.]", "[F.]", "[P.]", "[R.]", "[SX]", "[SS]", "[]", "S.", "ESTAB", "LISTEN",
    "TIME-WAIT", "SYN-SENT", "CLOSE-WAIT", "192.168.2.105:*", "192.168.2.100:11111", "*:11111",
    "[::]:*", "[::1]:99999", "0.0.0.0:*", "1.2.3:4", "*:*", "3u", "5uu", "-3u", "99999999999u",
    "(LISTEN)", "(ESTABLISHED)", "(NOPE)", "0s", "1s", "58s", "1min", "200ms", "1e20s",
    "1.5e19s", "1e308s", "NaNs", "infs", "-1s", "86400s", "86401s", "0.0000001ms", "1e-400s",
    "0s..1s", "58s..60s", "0ms..200ms", "2s..1s", "0s..1e20s", "0s..1.5e19s", "1e30s..1e30s",
    "0s..86400s", "0s..infs", "..", "s..s", "300us", "1e3ms", "5 s", "client", "server", "nc", "\0", "",
];

/// Any word or value.
fn tokens() -> Vec<&'static str> {
    WORDS.iter().chain(VALUES).copied().collect()
}

/// The committed cases, the seeds of the mutations.
fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "case") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("a committed case reads"))
        .collect()
}

/// Lines in the shape of each step and block row, `{}` filled with tokens:
/// the parsers behind the first word get random values too.
#[rustfmt::skip]
const TEMPLATES: &[&str] = &[
    "server $ nc {} {}", "client $ {} {} {}", "{} types {}", "{} prints {}", "{} exits {}",
    "port {}", "ours-only {}", "trace {}", "wait {} {} {} {} {}", "wait client {} {} {} at {}",
    "wait client ESTAB 192.168.2.105:* 192.168.2.100:11111 gone at {}..{}",
    "packets", "  none", "  or", "  {} > {}  {}  seq {}, ack {}", "  client > server  [{}]  {} {}",
    "  server > client  [S.]  seq {}:{}, ack {}, win {}, length {}",
    "  client > server  [S]  options [{} {},{},TS val {} ecr {}]",
    "sockets {}", "  {} {} {} {} {} timer {} {}", "  TIME-WAIT 0 0 {} {} timer timewait {}",
    "fds {}", "  {} IPv4 TCP {} ({})", "  fd {} {} TCP {}->{} {}",
    "syscalls {}", "  {}({}, {}) = {}", "  accept({}, ...) = {} {}",
    "ours: {} {}", "ncat: {} ^D", "ncat: packets", "ours: sockets {}", "{}: {} {}",
    "ipv6: {} {}", "ours: ipv4: {} {}", "ipv6: ncat: packets", "ipv4-only {}",
    "{} trace {}", "{} wait {} {} {}", "{} sockets {}", "client fds  # {}", "{} prints \"{}\"",
    "netem client > server delay {} jitter {} {}", "sockets client  # {}", "  {} > {}  [S]  seq 0  # {}",
    "client sends {} {}", "server sends [{}] seq {}, ack {}, {} {}", "client sends icmp {} {} {}",
    "  client > server  icmp {} {}  {}", "client sends [.] options [nop,nop,TS val {} ecr {},sack {}]", "client sends [R] seq rcv_nxt{}  {} {}",
    "  client > server  [S]  seq {}  {} {}  {}", "  server > client  [P.]  {} \"{}\", length {}",
];

/// A line of tokens, or a template filled with them; sometimes arbitrary text.
fn line() -> impl Strategy<Value = String> {
    let words = || proptest::collection::vec(proptest::sample::select(tokens()), 0..10);
    let values = proptest::collection::vec(proptest::sample::select(VALUES), 0..10);
    let indent = proptest::sample::select(&["", "", "  ", "\t", " "][..]);
    let glue = proptest::sample::select(&[" ", "  ", "", ", "][..]);
    let template = (proptest::sample::select(TEMPLATES), values).prop_map(|(t, w)| {
        let mut fill = w.into_iter().chain(std::iter::repeat("0"));
        t.split("{}")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_string()
                } else {
                    format!("{}{part}", fill.next().unwrap_or("0"))
                }
            })
            .collect::<String>()
    });
    prop_oneof![
        4 => (indent, words(), glue).prop_map(|(i, w, g)| format!("{i}{}", w.join(g))),
        6 => template,
        1 => any::<String>(),
    ]
}

fn random_file() -> impl Strategy<Value = String> {
    proptest::collection::vec(line(), 0..8).prop_map(|l| l.join("\n"))
}

/// One edit of a case's lines; indices are taken modulo the length.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Replace(usize, String),
    /// A token put before the n-th word of a line.
    Insert(usize, usize, &'static str),
    /// The n-th word of a line swapped for a token.
    Word(usize, usize, &'static str),
    Truncate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = || proptest::sample::select(tokens());
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), line()).prop_map(|(a, l)| Edit::Replace(a, l)),
        (any::<usize>(), any::<usize>(), token()).prop_map(|(a, n, t)| Edit::Insert(a, n, t)),
        (any::<usize>(), any::<usize>(), token()).prop_map(|(a, n, t)| Edit::Word(a, n, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, n)| Edit::Truncate(a, n)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for e in edits {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        let words = |l: &str| -> Vec<String> { l.split(' ').map(String::from).collect() };
        match e {
            Edit::Delete(a) => {
                lines.remove(a % n);
            }
            Edit::Duplicate(a) => lines.insert(a % n, lines[a % n].clone()),
            Edit::Swap(a, b) => lines.swap(a % n, b % n),
            Edit::Replace(a, l) => lines[a % n] = l.clone(),
            Edit::Insert(a, k, t) => {
                let mut w = words(&lines[a % n]);
                w.insert(k % (w.len() + 1), t.to_string());
                lines[a % n] = w.join(" ");
            }
            Edit::Word(a, k, t) => {
                let mut w = words(&lines[a % n]);
                let k = k % w.len();
                w[k] = t.to_string();
                lines[a % n] = w.join(" ");
            }
            Edit::Truncate(a, k) => {
                let l = &mut lines[a % n];
                let cut = l.char_indices().nth(k % (l.chars().count() + 1));
                l.truncate(cut.map_or(l.len(), |(i, _)| i));
            }
        }
    }
    lines.join("\n")
}

/// What one input came to: parsed, or an error that names its line.
fn check(text: &str, result: Result<(), ParseError>) -> Result<bool, TestCaseError> {
    let case = match result.and_then(|()| parse(Path::new(PATH), text)) {
        Ok(case) => case,
        Err(e) => {
            let lines = text.split('\n').count().max(1);
            let shown = e.to_string();
            prop_assert!(
                (1..=lines).contains(&e.line),
                "line {} of a {lines}-line file: {shown}",
                e.line
            );
            prop_assert!(
                shown.starts_with(&format!("{PATH}:{}: ", e.line)),
                "{shown}"
            );
            return Ok(false);
        }
    };
    // What a run does first with a parsed case: show each step, check the
    // windows against the time limit.
    for item in &case.items {
        let _ = item.to_string();
    }
    let _ = limits::check_windows(&case, limits::DEFAULT_CASE_TIMEOUT);
    Ok(true)
}

/// Inputs of each kind when PROPTEST_CASES is not set: an everyday
/// `cargo test` checks the properties on a sample (proptest's 256 cost it
/// 0.15 s), ci/test on 20000.
const EVERYDAY_CASES: u32 = 64;

/// Runs `strategy` through `check`; returns (inputs, parsed).
fn fuzz<S: Strategy>(
    what: &str,
    strategy: S,
    input: impl Fn(S::Value) -> (String, Result<(), ParseError>),
) -> (u32, u32) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(EVERYDAY_CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let (runs, parsed) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |v| {
        let (text, decoded) = input(v);
        runs.set(runs.get() + 1);
        if check(&text, decoded)? {
            parsed.set(parsed.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{what}: {e}");
    }
    println!(
        "case parser property test, {what}: {} inputs, {} parsed, {} errors naming {PATH}:LINE",
        runs.get(),
        parsed.get(),
        runs.get() - parsed.get()
    );
    (runs.get(), parsed.get())
}

#[test]
fn random_case_files_never_panic_and_every_error_names_its_line() {
    let (runs, _) = fuzz("random files", random_file(), |t| (t, Ok(())));
    assert!(runs > 0);
}

#[test]
fn mutated_committed_cases_never_panic_and_every_error_names_its_line() {
    let seeds = seeds();
    assert!(seeds.len() >= 10, "the committed cases are the seeds");
    let strategy = (
        proptest::sample::select(seeds),
        proptest::collection::vec(edit(), 1..6),
    );
    let (runs, parsed) = fuzz("mutated cases", strategy, |(seed, edits)| {
        (apply(&seed, &edits), Ok(()))
    });
    assert!(
        parsed > 0 && parsed < runs,
        "mutations both keep and break cases"
    );
}

#[test]
fn committed_cases_with_bytes_overwritten_never_panic_and_name_their_line() {
    let seeds: Vec<Vec<u8>> = seeds().into_iter().map(String::into_bytes).collect();
    let strategy = (
        proptest::sample::select(seeds),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    );
    fuzz("bytes overwritten", strategy, |(mut bytes, writes)| {
        for (at, b) in writes {
            let n = bytes.len().max(1);
            if let Some(x) = bytes.get_mut(at % n) {
                *x = b;
            }
        }
        match decode(bytes.clone(), Path::new(PATH)) {
            Ok(text) => (text, Ok(())),
            Err(e) => (String::from_utf8_lossy(&bytes).into_owned(), Err(e)),
        }
    });
}
