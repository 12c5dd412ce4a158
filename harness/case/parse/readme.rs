//! Every case example in README.md parses: a newcomer copies them into
//! case files, so an example the parser refuses is a bug in one or the
//! other.
//!
//! Which code blocks are case text: the README's indented code blocks (four
//! spaces, after a blank line) whose first line that is not a comment
//! starts at the block's own margin with a word of the case language (a
//! host, a block or step keyword, a mark, `requires`). Shell blocks start with a
//! command (`make`, `cargo`, `sudo`), ladders with more indentation or
//! `==`, failure texts with a path. A block of packet lines alone
//! (`client > server  [S]  seq 0 ...`) is a fragment of a `packets` block
//! and is parsed as the body of one.

use std::path::Path;

use super::parse;

/// The first words a case file's lines start with.
const CASE_WORDS: &[&str] = &[
    "client",
    "server",
    "packets",
    "sockets",
    "fds",
    "syscalls",
    "trace",
    "wait",
    "drop",
    "delay",
    "reorder",
    "netem",
    "heal",
    "repeat",
    "port",
    "ours-only",
    "ours:",
    "ncat:",
    "requires",
    "sysctl",
    "module",
];

/// The README's indented code blocks: the line number of each one's first
/// line, and its lines with the four spaces taken off.
fn code_blocks(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut blocks: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut open = false;
    let mut after_blank = true;
    for (i, line) in text.lines().enumerate() {
        let indented = line.strip_prefix("    ");
        match (open, indented) {
            (true, Some(l)) => blocks.last_mut().expect("open").1.push(l),
            (true, None) if line.trim().is_empty() => blocks.last_mut().expect("open").1.push(""),
            (false, Some(l)) if after_blank => {
                blocks.push((i + 1, vec![l]));
                open = true;
            }
            _ => open = false,
        }
        after_blank = line.trim().is_empty();
    }
    blocks
}

/// What a code block is, as case text: a whole case (or a run of steps and
/// blocks), the lines of a `packets` block, or not case text at all.
#[derive(Debug, PartialEq)]
enum Example {
    Case(String),
    PacketLines(String),
    Other,
}

fn classify(lines: &[&str]) -> Example {
    let Some(first) = lines
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    else {
        return Example::Other;
    };
    let mut words = first.split_whitespace();
    let (w1, w2) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let text = lines.join("\n") + "\n";
    // A kernel's mark is one word with its version: `kernel>=6.5:`.
    let case_word = CASE_WORDS.contains(&w1) || w1.starts_with("kernel") && w1.ends_with(':');
    if first.starts_with(' ') || !case_word {
        Example::Other
    } else if w2 == ">" {
        Example::PacketLines(text)
    } else {
        Example::Case(text)
    }
}

/// The example as a case file: packet lines go under a `packets` header.
fn as_case(example: &Example) -> Option<String> {
    match example {
        Example::Case(text) => Some(text.clone()),
        Example::PacketLines(lines) => Some(
            std::iter::once("packets".to_string())
                .chain(lines.lines().map(|l| format!("  {l}")))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Example::Other => None,
    }
}

#[test]
fn every_case_example_in_the_readme_parses() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md reads");
    let mut parsed = 0;
    let mut failures = Vec::new();
    for (line, lines) in code_blocks(&text) {
        let Some(case) = as_case(&classify(&lines)) else {
            continue;
        };
        match parse(Path::new("example.case"), &case) {
            Ok(_) => parsed += 1,
            Err(e) => failures.push(format!(
                "README.md:{line}: the example does not parse as a case: {e}\n{case}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The README holds eight today (whole cases, blocks, steps, packet
    // lines); fewer found means the classification lost some.
    assert!(
        parsed >= 8,
        "only {parsed} case examples found in README.md"
    );
}

#[test]
fn shell_ladders_and_failure_texts_are_not_case_text_and_packet_lines_are_a_block() {
    let shell = ["make case NAME=teardown    # one case", "cargo test"];
    let ladder = [
        "                 client        server",
        "   |---- SYN --->|",
    ];
    let failure = ["cases/x.case:18: packets differ at packet 1"];
    for block in [&shell[..], &ladder, &failure] {
        assert_eq!(classify(block), Example::Other, "{block:?}");
    }
    let lines = [
        "client > server  [S]  seq 0",
        "server > client  [S.]  seq 0, ack 1",
    ];
    let case = as_case(&classify(&lines)).expect("packet lines are case text");
    assert!(case.starts_with("packets\n  client > server"), "{case}");
    let steps = ["# a comment first", "server $ nc -kl 11111"];
    assert!(matches!(classify(&steps), Example::Case(_)));
}

#[test]
fn code_blocks_start_after_a_blank_line_and_run_through_blank_lines() {
    let text =
        "text\n    not code: no blank line before\n\n    a\n\n    b\nprose\n\n  two spaces\n";
    let blocks = code_blocks(text);
    assert_eq!(blocks, [(4, vec!["a", "", "b"])]);
}
