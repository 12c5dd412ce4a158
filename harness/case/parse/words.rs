//! Words of a line: the characters a line may hold, the first word and the
//! rest, shell-style words, a host, a port.

use super::super::error::{bad, Bad};
use crate::lab::Side;

pub(super) fn port(s: &str) -> Result<u16, Bad> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad(
            format!("bad port `{s}`"),
            "a TCP port is a number from 1 to 65535",
        )),
    }
}

/// `client` or `server`, alone.
pub(super) fn host(s: &str) -> Result<Side, Bad> {
    let (word, rest) = split_word(s);
    if word.is_empty() {
        return Err(bad("missing host", "name the host: `client` or `server`"));
    }
    if !rest.is_empty() {
        return Err(bad(
            format!("unexpected `{rest}` after the host"),
            "write just `client` or `server`",
        ));
    }
    word.parse()
        .map_err(|m: crate::error::Malformed| m.or_hint(""))
}

pub(super) use crate::notation::split_word;

/// Words as a shell splits them: whitespace, '...' and "..." quoting.
pub(super) fn shell_words(s: &str) -> Result<Vec<String>, Bad> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' | '"' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(x) => w.push(x),
                        None => {
                            return Err(bad(
                                format!("unterminated {c} quote"),
                                "close the quote on the same line",
                            ))
                        }
                    }
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    Ok(words)
}

/// A line is text: a control character other than tab (NUL above all,
/// which no argv, file name or thread name can carry) is refused here, at
/// its column, rather than failing in the middle of a run.
pub(super) fn plain_text(line: &str) -> Result<(), Bad> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    match line
        .chars()
        .enumerate()
        .find(|(_, c)| (c.is_control() && *c != '\t') || *c == '\u{feff}')
    {
        None => Ok(()),
        Some((col, '\u{feff}')) => Err(bad(
            format!("an invisible byte order mark (U+FEFF) at column {}", col + 1),
            "delete it: only the very start of a file may hold one",
        )),
        Some((col, c)) => Err(bad(
            format!(
                "control character {} at column {}",
                c.escape_unicode(),
                col + 1
            ),
            "a case file is plain text: a command, its arguments and typed lines cannot hold NUL or other control characters",
        )),
    }
}
