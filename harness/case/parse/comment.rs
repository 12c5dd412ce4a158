//! Comments after a line's text: `sockets client  # ss -tan -o ...`.
//!
//! The rule, precise because some steps carry text a comment must not
//! eat: a trailing comment is a `#` that has at least two spaces or a tab
//! before it, a space, a tab or the end of the line after it, and stands
//! outside a double-quoted string (`payload "a  # b"`, a `syscalls` line's
//! `"..."`). It may end a block header, a block's line, a `repeat` header
//! and any step but those whose text runs to the end of the line
//! verbatim: `HOST $ COMMAND` (a shell's own `#` comments and quoted `#`s
//! belong to the command), `HOST types TEXT`, `HOST prints TEXT` and
//! `ours-only REASON`. One space before a `#` keeps it (`[P.] #2` is the
//! second packet), and so does a word after it (`  #2`).

use super::words::split_word;
use crate::lab::Side;

/// `line` without its trailing comment and the blanks before it.
pub(super) fn strip(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if quoted {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => escaped = false,
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '#' if spaced_before(&bytes[..i]) && spaced_after(&bytes[i + 1..]) => {
                return line[..i].trim_end();
            }
            _ => {}
        }
    }
    line
}

/// Two spaces or a tab just before the `#`.
fn spaced_before(before: &[u8]) -> bool {
    before.ends_with(b"\t") || before.ends_with(b"  ")
}

/// A blank or the end of the line just after the `#`.
fn spaced_after(after: &[u8]) -> bool {
    matches!(after.first(), None | Some(b' ' | b'\t' | b'\r'))
}

/// A step (or `repeat` header, or block header) without its comment; the
/// steps whose text runs to the end of the line are left whole.
pub(super) fn strip_step(head: &str) -> &str {
    if verbatim(head) {
        head
    } else {
        strip(head)
    }
}

/// `HOST $ ...`, `HOST types ...`, `HOST prints ...`, `ours-only ...`: the
/// rest of the line is the step's text, `#` and all.
fn verbatim(head: &str) -> bool {
    let (first, rest) = split_word(head);
    if first == "ours-only" {
        return true;
    }
    let verb = split_word(rest).0;
    first.parse::<Side>().is_ok() && matches!(verb, "$" | "types" | "prints")
}

#[cfg(test)]
mod tests {
    use super::{strip, strip_step};

    #[test]
    fn a_comment_needs_two_blanks_before_and_a_blank_after() {
        let cases = [
            ("sockets client            # ss -tan -o", "sockets client"),
            ("sockets client\t# ss", "sockets client"),
            ("packets  #", "packets"),
            (
                "client > server  [S]  seq 0  dropped  # a rule",
                "client > server  [S]  seq 0  dropped",
            ),
            (
                "reorder client > server [P.] #2",
                "reorder client > server [P.] #2",
            ),
            (
                "reorder client > server [P.]  #2",
                "reorder client > server [P.]  #2",
            ),
            (
                "drop client > server [S] first # one space",
                "drop client > server [S] first # one space",
            ),
            (
                "client sends [P.] seq 1, payload \"a  # b\"  # data",
                "client sends [P.] seq 1, payload \"a  # b\"",
            ),
            (
                "client sends [P.] payload \"q\\\"  # still\"  # c",
                "client sends [P.] payload \"q\\\"  # still\"",
            ),
            (
                "  write(5, \"x  # y\", 6) = 6  # the write",
                "  write(5, \"x  # y\", 6) = 6",
            ),
            ("é  # é", "é"),
        ];
        for (line, want) in cases {
            assert_eq!(strip(line), want, "{line:?}");
        }
    }

    #[test]
    fn commands_typed_and_printed_text_keep_their_hashes() {
        for line in [
            "server $ sh -c 'nc -l 11111  # listen'",
            "client types a  # b",
            "server prints 1  # 2",
            "ours-only ncat  # differs",
        ] {
            assert_eq!(strip_step(line), line);
        }
        assert_eq!(strip_step("client ^D  # end of input"), "client ^D");
        assert_eq!(strip_step("trace server  # before nc"), "trace server");
    }
}
