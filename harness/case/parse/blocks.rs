//! Blocks: a header (`packets`, `sockets HOST`, `fds HOST`, `syscalls HOST`,
//! or with the host first, `HOST sockets`) and the indented lines under it,
//! each parsed by its expectation type.

use super::super::calls::CallExpect;
use super::super::error::{bad, Bad};
use super::super::rows::{FdExpect, SocketExpect};
use super::super::ItemKind;
use super::packets::packet_line;
use super::words::{host, split_word};
use crate::lab::Side;

const BLOCKS: [&str; 4] = ["packets", "sockets", "fds", "syscalls"];

pub(super) fn is_block(head: &str) -> bool {
    head.split_whitespace()
        .next()
        .is_some_and(|w| BLOCKS.contains(&w))
        || host_first(head).is_some()
}

/// `client sockets`, `server fds`, `server syscalls`: a host's block with
/// the host first, as steps write it; the header as `sockets client`.
fn host_first(head: &str) -> Option<String> {
    let (first, rest) = split_word(head);
    let (kw, more) = split_word(rest);
    let host_block = BLOCKS[1..].contains(&kw) && first.parse::<Side>().is_ok();
    host_block.then(|| format!("{kw} {first} {more}").trim_end().to_string())
}

type BlockErr = (Option<usize>, Bad);

/// The most connections a `packets × N` block may count.
pub const MAX_CONNECTIONS: usize = 1_000_000;

/// `× N` (or `x N`) after `packets`: how many connections.
fn connections(rest: &str) -> Result<usize, Bad> {
    const HINT: &str = "`packets` alone, or `packets × N` for N connections that each show the packets below (`x` for `×` is fine)";
    let (times, n) = split_word(rest);
    if times != "×" && times != "x" {
        return Err(bad(
            format!("`packets` takes nothing after it but `× N`, got `{rest}`"),
            HINT,
        ));
    }
    match n.parse::<usize>() {
        Ok(c) if (1..=MAX_CONNECTIONS).contains(&c) => Ok(c),
        _ => Err(bad(
            format!("bad connection count `{n}`: a number from 1 to {MAX_CONNECTIONS}"),
            HINT,
        )),
    }
}

pub(super) fn block(head: &str, body: &[(usize, &str)]) -> Result<ItemKind, BlockErr> {
    let canonical = host_first(head);
    let head = canonical.as_deref().unwrap_or(head);
    let (kw, rest) = split_word(head);
    let example = match kw {
        "packets" => "`  client > server  [S]  seq 0`",
        "sockets" => "`  LISTEN 0.0.0.0:11111 0.0.0.0:*`",
        "fds" => "`  4u IPv4 TCP *:11111 (LISTEN)`",
        _ => "`  accept(4, ...) = 5`",
    };
    let each = match kw {
        "packets" if !rest.is_empty() => Some(connections(rest).map_err(|b| (None, b))?),
        _ => None,
    };
    let host = match kw {
        "packets" => None,
        _ => Some(host(rest).map_err(|b| {
            (
                None,
                Bad {
                    msg: format!("`{kw}`: {}", b.msg),
                    hint: Some(format!("write `{kw} client` or `{kw} server`")),
                },
            )
        })?),
    };
    if body.is_empty() {
        return Err((
            None,
            bad(
                format!("`{head}` block has no lines"),
                &format!("indent its lines under it, e.g. {example}, or write `  none`"),
            ),
        ));
    }
    let none = body.len() == 1 && body[0].1 == "none";
    Ok(match (kw, host) {
        ("packets", _) => packets_block(body, each)?,
        ("sockets", Some(host)) => ItemKind::Sockets {
            host,
            rows: lines(body, none, SocketExpect::parse)?,
        },
        ("fds", Some(host)) => ItemKind::Fds {
            host,
            rows: lines(body, none, FdExpect::parse)?,
        },
        ("syscalls", Some(_)) if none => {
            return Err((
                Some(body[0].0),
                bad(
                    "a `syscalls` block needs calls",
                    "list the calls expected, in order",
                ),
            ))
        }
        (_, Some(host)) => ItemKind::Syscalls {
            host,
            calls: lines(body, none, CallExpect::parse)?,
        },
        _ => unreachable!("is_block admits only known blocks"),
    })
}

/// Each body line parsed by `f`; none for a body of `none`.
fn lines<T>(
    body: &[(usize, &str)],
    none: bool,
    f: impl Fn(usize, &str) -> Result<T, Bad>,
) -> Result<Vec<T>, BlockErr> {
    if none {
        return Ok(Vec::new());
    }
    body.iter()
        .map(|(n, l)| f(*n, l).map_err(|b| (Some(*n), b)))
        .collect()
}

/// The body of a `packets` block: its alternatives; with `each`, those of
/// one connection of `packets × N`.
fn packets_block(body: &[(usize, &str)], each: Option<usize>) -> Result<ItemKind, BlockErr> {
    let mut alts = Vec::new();
    for alt in body.split(|(_, l)| *l == "or") {
        if alt.is_empty() {
            let at = body.iter().find(|(_, l)| *l == "or").map(|(n, _)| *n);
            return Err((
                at,
                bad(
                    "`or` must stand between two lists of packets",
                    "write the alternatives above and below the `or` line",
                ),
            ));
        }
        let none = alt.len() == 1 && alt[0].1 == "none";
        if none && each.is_some() {
            return Err((
                Some(alt[0].0),
                bad(
                    "a connection has packets: `none` means no connection",
                    "write `packets` and `  none` for a capture with nothing in it",
                ),
            ));
        }
        alts.push(lines(alt, none, packet_line)?);
    }
    Ok(match each {
        Some(count) => ItemKind::PacketsEach { count, alts },
        None => ItemKind::Packets(alts),
    })
}
