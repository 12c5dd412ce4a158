//! Reading a case file. Every error names `file:line:` and gives a hint, so a
//! typo never turns into a panic or a silently skipped step.
//!
//! The shape: unindented lines are steps or block headers; a block's body is
//! the indented lines under its header. Blank lines and `#` lines are
//! ignored, and so is a comment at the end of a line (`comment`: two
//! blanks, then `#`; not after a command, typed or printed text).
//!
//! Where things go: [`step`] is the one dispatcher of steps (a new step is
//! one arm there and a function in its own module: `steps`, `wait`,
//! `faults`, `inject`); a new
//! block is one arm in `blocks::block`; packet lines are in `packets`,
//! words and hosts in `words`; `ours:` / `ncat:`, family (`ipv4:` /
//! `ipv6:`) and kernel marks in `mark`; `requires` here (its requirements
//! in `crate::kernel`).

mod blocks;
mod comment;
mod faults;
mod inject;
mod mark;
mod packets;
mod read;
mod repeat;
mod steps;
mod wait;
mod words;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod readme;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use super::error::ParseError;
use super::error::{bad, Bad};
use super::{Case, ItemKind};
use crate::lab::Side;
use crate::sockets::Family;
use blocks::{block, is_block};
pub use repeat::MAX_REPEAT;
use repeat::{is_repeat, repeat};
use words::{plain_text, port, split_word};

const STEP_HINT: &str = "a step is `HOST $ COMMAND`, `HOST types TEXT`, `HOST ^C`, `HOST ^\\`, \
     `HOST ^D`, `HOST ^Z`, `HOST fg`, `HOST kill -TERM|-KILL|-HUP|-USR1|-USR2`, `HOST prints TEXT`, `HOST prints nothing`, `HOST prints \"TEXT\"`, `HOST exits [CODE]`, `HOST sends SEGMENT`, `trace HOST` or `HOST trace`, `wait HOST ROW [gone] [at WINDOW]` or `HOST wait ROW ...`, \
     `drop|delay|reorder DIR [FLAGS] WHICH`, `heal [DIR]`, `netem DIR [loss P%] [delay D [[jitter] J]] ...`, `HOST sysctl NAME=VALUE`, `repeat N` (indented steps under it), a block (`packets`, `packets × N`, `sockets HOST`, `fds HOST`, `syscalls HOST`, or `HOST sockets` ...), `HOST route rto_min DUR|window BYTES`, `port N`, `ours-only REASON`, `ipv4-only REASON` or `requires REQUIREMENT`; a step or block may start with `ours:` or `ncat:` (one implementation only) or a kernel's mark (`kernel>=6.5:`, `kernel<6.5:`, `sysctl NAME:`, `module NAME:`), and with `ipv4:` or `ipv6:` (one address family only); HOST is client or server";

pub use read::{read, MAX_CASE_BYTES};

/// A block's line without its trailing comment (see `comment`): what record
/// mode compares with what it would write.
pub fn without_comment(line: &str) -> &str {
    comment::strip(line)
}

/// Reads ([`read`]) and parses the case file at `path`.
pub fn load(path: &Path) -> Result<Case, ParseError> {
    parse(path, &read(path, path)?)
}

/// A header line and the indented lines under it: (line number, the
/// header's mark, the header without it, body lines with their numbers).
type Group<'a> = (usize, mark::Marks, &'a str, Vec<(usize, &'a str)>);

pub fn parse(path: &Path, text: &str) -> Result<Case, ParseError> {
    let err = |line: usize, b: Bad| ParseError {
        path: path.to_path_buf(),
        line,
        msg: b.msg,
        hint: b.hint,
    };
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("case")
        .to_string();
    let mut case = Case {
        name,
        path: path.to_path_buf(),
        port: 11111,
        ours_only: None,
        family_only: None,
        requires: Vec::new(),
        items: Vec::new(),
    };

    let groups = group(text).map_err(|(n, b)| err(n, b))?;
    for (n, marks, head, body) in groups {
        if let Some(b) = mark::marked_directive(&marks, head) {
            return Err(err(n, b));
        }
        if let Some(rest) = head.strip_prefix("requires") {
            let req = requires(rest, !case.items.is_empty()).map_err(|b| err(n, b))?;
            case.requires.push(req);
            continue;
        }
        if let Some(rest) = head.strip_prefix("port") {
            if !rest.is_empty() && !rest.starts_with(' ') {
                return Err(err(n, bad(format!("unknown step `{head}`"), STEP_HINT)));
            }
            if !case.items.is_empty() {
                return Err(err(
                    n,
                    bad(
                        "`port` after the first step",
                        "put `port N` at the top of the file",
                    ),
                ));
            }
            case.port = port(rest.trim()).map_err(|b| err(n, b))?;
            continue;
        }
        if let Some(rest) = head.strip_prefix("ours-only") {
            if rest.trim().is_empty() || !rest.starts_with(' ') {
                return Err(err(
                    n,
                    bad(
                        "`ours-only` needs a reason",
                        "write `ours-only ncat's client keeps running after EOF`",
                    ),
                ));
            }
            case.ours_only = Some(rest.trim().to_string());
            continue;
        }
        if let Some(taken) = family_only(&mut case, head) {
            taken.map_err(|b| err(n, b))?;
            continue;
        }
        let kind = if is_repeat(head) {
            repeat(head, &body, step).map_err(|(line, b)| err(line.unwrap_or(n), b))?
        } else if is_block(head) {
            block(head, &body).map_err(|(line, b)| err(line.unwrap_or(n), b))?
        } else {
            step(head).map_err(|b| err(n, b))?
        };
        case.items.push(marks.item(n, kind));
    }
    if let Some((line, b)) = inject::uncaptured(&case) {
        return Err(err(line, b));
    }
    if let Some((line, b)) = mark::check_both_play(&case) {
        return Err(err(line, b));
    }
    if case.items.is_empty() {
        return Err(err(
            1,
            bad(
                "the case has no steps",
                "start with a command, e.g. `server $ nc -kl 11111`",
            ),
        ));
    }
    Ok(case)
}

/// `ipv4-only REASON` / `ipv6-only REASON`, at the top of the file, once:
/// None when `head` is not one; else whether it could be taken into
/// `case.family_only`.
fn family_only(case: &mut Case, head: &str) -> Option<Result<(), Bad>> {
    let (family, why) = family_only_words(head)?;
    let taken = why.and_then(|why| {
        if !case.items.is_empty() || case.family_only.is_some() {
            return Err(bad(
                format!(
                    "`{}` after the first step",
                    super::family::only_word(family)
                ),
                "put it at the top of the file, once",
            ));
        }
        case.family_only = Some((family, why));
        Ok(())
    });
    Some(taken)
}

/// The family an `ipv4-only REASON` / `ipv6-only REASON` line is for, and
/// its reason (or what is wrong with it).
fn family_only_words(head: &str) -> Option<(Family, Result<String, Bad>)> {
    super::family::FAMILIES.into_iter().find_map(|family| {
        let word = super::family::only_word(family);
        let rest = head.strip_prefix(word)?;
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            return None;
        }
        let why = match rest.trim() {
            "" => Err(bad(
                format!("`{word}` needs a reason"),
                &format!("write `{word} REASON`, e.g. `ipv4-only IPv6 has no broadcast address`"),
            )),
            why => Ok(why.to_string()),
        };
        Some((family, why))
    })
}

/// `requires REQUIREMENT` (the word already taken off): what the whole
/// case needs of the kernel, written before its first step.
fn requires(rest: &str, after_a_step: bool) -> Result<crate::kernel::Requirement, Bad> {
    use crate::kernel::REQUIREMENT_HINT;
    if !rest.starts_with([' ', '\t']) || rest.trim().is_empty() {
        return Err(bad(
            format!("`requires{rest}` needs a requirement"),
            REQUIREMENT_HINT,
        ));
    }
    if after_a_step {
        return Err(bad(
            "`requires` after the first step",
            "put `requires ...` at the top of the file for the whole case, or mark the step for the kernels it needs: `kernel>=6.5: STEP`",
        ));
    }
    rest.parse()
        .map_err(|m: crate::error::Malformed| m.or_hint(REQUIREMENT_HINT))
}

/// The file's lines grouped into steps, blocks and repeats (each with the
/// indented lines under it), comments and blank lines left out, each
/// header's mark split off.
fn group(text: &str) -> Result<Vec<Group<'_>>, (usize, Bad)> {
    // Editors on Windows start UTF-8 files with a byte order mark; left in,
    // it would sit invisibly in the first word (`unknown host `server``).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut groups: Vec<Group> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        plain_text(raw).map_err(|b| (n, b))?;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let Some(b) = mark::marked_body_line(trimmed) {
                return Err((n, b));
            }
            match groups.last_mut() {
                Some((_, _, head, body)) if is_block(head) => {
                    body.push((n, comment::strip(trimmed)))
                }
                Some((_, _, head, body)) if is_repeat(head) => {
                    body.push((n, comment::strip_step(trimmed)))
                }
                _ => {
                    return Err((
                        n,
                        bad(
                            "indented line outside a block",
                            "indent only the lines of a block (`packets`, `sockets HOST`, ...) or of a `repeat`; steps start at column 1",
                        ),
                    ))
                }
            }
        } else {
            let (marks, head) = mark::split_mark(trimmed).map_err(|b| (n, b))?;
            groups.push((n, marks, comment::strip_step(head), Vec::new()));
        }
    }
    Ok(groups)
}

/// The step dispatcher: a step's first words choose its parser.
fn step(head: &str) -> Result<ItemKind, Bad> {
    let (first, rest) = split_word(head);
    match first {
        "trace" => return steps::trace(rest),
        "wait" => return wait::wait(rest),
        "drop" | "delay" | "reorder" => return faults::rule(first, rest),
        "heal" => return faults::heal(rest),
        "netem" => return faults::netem(rest),
        _ => {}
    }
    let host = host_word(first, rest)?;
    let (verb, arg) = split_word(rest);
    match verb {
        "$" => steps::start(host, arg),
        "types" => Ok(steps::types(host, arg)),
        "prints" => steps::prints(host, arg),
        "trace" => steps::host_trace(host, arg),
        "wait" => wait::wait_on(host, arg),
        "^C" | "^\\" | "^Z" | "fg" if arg.is_empty() => Ok(steps::signal(host, verb)),
        "^D" if arg.is_empty() => Ok(ItemKind::Eof { host }),
        "kill" => steps::kill(host, arg),
        "exits" => steps::exits(host, arg),
        "sends" => inject::sends(host, arg),
        "sysctl" => faults::sysctl(host, arg),
        "route" => faults::route(host, arg),
        "" => Err(bad(format!("`{host}` alone is not a step"), STEP_HINT)),
        other => Err(bad(format!("unknown step `{host} {other}`"), STEP_HINT)),
    }
}

/// The host a step starts with; an unknown first word is an unknown step.
fn host_word(first: &str, rest: &str) -> Result<Side, Bad> {
    first.parse().map_err(|m: crate::error::Malformed| {
        let looks_like_host = rest.starts_with('$') || rest.starts_with('^');
        if looks_like_host {
            m
        } else {
            bad(format!("unknown step `{first}`"), STEP_HINT)
        }
    })
}
