//! Reading a case file. Every error names `file:line:` and gives a hint, so a
//! typo never turns into a panic or a silently skipped step.
//!
//! The shape: unindented lines are steps or block headers; a block's body is
//! the indented lines under its header. Blank lines and `#` lines are
//! ignored. New step kinds and blocks slot into `item` and `block`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::calls::CallExpect;
use super::expect::{OptExpect, PacketExpect};
use super::rows::{FdExpect, SocketExpect, Window};
use super::{Case, Interrupt, Item, ItemKind};
use crate::lab::Side;
use crate::packet::TcpFlags;

#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub path: PathBuf,
    pub line: usize,
    pub msg: String,
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.msg)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// An error before it knows its file.
pub struct Bad {
    msg: String,
    hint: Option<String>,
}

pub fn bad(msg: impl Into<String>, hint: &str) -> Bad {
    Bad {
        msg: msg.into(),
        hint: (!hint.is_empty()).then(|| hint.to_string()),
    }
}

const STEP_HINT: &str = "a step is `HOST $ COMMAND`, `HOST types TEXT`, `HOST ^C`, `HOST ^\\`, \
     `HOST ^D`, `HOST ^Z`, `HOST fg`, `HOST prints TEXT`, `HOST exits [CODE]`, `trace HOST`, `wait HOST ROW [gone] [at WINDOW]`, \
     a block (`packets`, `sockets HOST`, `fds HOST`, `syscalls HOST`), `port N` or `ours-only REASON`; HOST is client or server";

pub fn load(path: &Path) -> Result<Case, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|e| ParseError {
        path: path.to_path_buf(),
        line: 0,
        msg: format!("cannot read: {e}"),
        hint: None,
    })?;
    parse(path, &text)
}

/// A header line and the indented lines under it: (line number, header,
/// body lines with their numbers).
type Group<'a> = (usize, &'a str, Vec<(usize, &'a str)>);

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
        items: Vec::new(),
    };

    let mut groups: Vec<Group> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            match groups.last_mut() {
                Some((_, head, body)) if is_block(head) => body.push((n, trimmed)),
                _ => {
                    return Err(err(
                        n,
                        bad(
                            "indented line outside a block",
                            "indent only the lines of a `packets` block; steps start at column 1",
                        ),
                    ))
                }
            }
        } else {
            groups.push((n, trimmed, Vec::new()));
        }
    }

    for (n, head, body) in groups {
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
        let kind = if is_block(head) {
            block(head, &body).map_err(|(line, b)| err(line.unwrap_or(n), b))?
        } else {
            step(head).map_err(|b| err(n, b))?
        };
        case.items.push(Item { line: n, kind });
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

const BLOCKS: [&str; 4] = ["packets", "sockets", "fds", "syscalls"];

fn is_block(head: &str) -> bool {
    head.split_whitespace()
        .next()
        .is_some_and(|w| BLOCKS.contains(&w))
}

fn port(s: &str) -> Result<u16, Bad> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad(
            format!("bad port `{s}`"),
            "a TCP port is a number from 1 to 65535",
        )),
    }
}

fn step(head: &str) -> Result<ItemKind, Bad> {
    let (first, rest) = split_word(head);
    match first {
        "trace" => return Ok(ItemKind::Trace { host: host(rest)? }),
        "wait" => return wait(rest),
        _ => {}
    }
    let host: Side = first.parse().map_err(|m: String| {
        let looks_like_host = rest.starts_with('$') || rest.starts_with('^');
        if looks_like_host {
            bad(m, "")
        } else {
            bad(format!("unknown step `{first}`"), STEP_HINT)
        }
    })?;
    let (verb, arg) = split_word(rest);
    Ok(match verb {
        "$" => {
            let argv = shell_words(arg)?;
            if argv.is_empty() {
                return Err(bad(
                    "`$` without a command",
                    "write e.g. `server $ nc -kl 11111`",
                ));
            }
            ItemKind::Start { host, argv }
        }
        "types" => ItemKind::Type {
            host,
            text: arg.to_string(),
        },
        "prints" if !arg.is_empty() => ItemKind::Prints {
            host,
            text: arg.to_string(),
        },
        "prints" => {
            return Err(bad(
                "`prints` without text",
                "write the line the command prints",
            ))
        }
        "^C" if arg.is_empty() => ItemKind::Signal {
            host,
            signal: Interrupt::Int,
        },
        "^\\" if arg.is_empty() => ItemKind::Signal {
            host,
            signal: Interrupt::Quit,
        },
        "^Z" if arg.is_empty() => ItemKind::Signal {
            host,
            signal: Interrupt::Stop,
        },
        "fg" if arg.is_empty() => ItemKind::Signal {
            host,
            signal: Interrupt::Continue,
        },
        "^D" if arg.is_empty() => ItemKind::Eof { host },
        "exits" => ItemKind::Exits {
            host,
            code: if arg.is_empty() {
                None
            } else {
                Some(arg.parse().map_err(|_| {
                    bad(
                        format!("bad exit status `{arg}`"),
                        "an exit status is a number, e.g. `client exits 0`",
                    )
                })?)
            },
        },
        "" => return Err(bad(format!("`{host}` alone is not a step"), STEP_HINT)),
        other => return Err(bad(format!("unknown step `{host} {other}`"), STEP_HINT)),
    })
}

/// `client` or `server`, alone.
fn host(s: &str) -> Result<Side, Bad> {
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
    word.parse().map_err(|m: String| bad(m, ""))
}

const WAIT_HINT: &str = "write `wait HOST STATE LOCAL PEER [gone] [at LOW..HIGH]`, \
     e.g. `wait client TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 gone at 59s..61s`";

/// `wait client TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 gone at 59s..61s`
fn wait(rest: &str) -> Result<ItemKind, Bad> {
    let (h, mut row) = split_word(rest);
    let host: Side = h.parse().map_err(|m: String| bad(m, WAIT_HINT))?;
    let mut at = None;
    if let Some((r, w)) = row.rsplit_once(" at ") {
        at = Some(Window::parse(w.trim())?);
        row = r.trim_end();
    }
    let mut gone = false;
    if let Some(r) = row.strip_suffix(" gone") {
        gone = true;
        row = r.trim_end();
    }
    if row.is_empty() {
        return Err(bad("`wait` needs a socket row", WAIT_HINT));
    }
    Ok(ItemKind::Wait {
        host,
        row: SocketExpect::parse(0, row)?,
        gone,
        at,
    })
}

type BlockErr = (Option<usize>, Bad);

fn block(head: &str, body: &[(usize, &str)]) -> Result<ItemKind, BlockErr> {
    let (kw, rest) = split_word(head);
    let example = match kw {
        "packets" => "`  client > server  [S]  seq 0`",
        "sockets" => "`  LISTEN 0.0.0.0:11111 0.0.0.0:*`",
        "fds" => "`  4u IPv4 TCP *:11111 (LISTEN)`",
        _ => "`  accept(4, ...) = 5`",
    };
    let host = match kw {
        "packets" if !rest.is_empty() => {
            return Err((
                None,
                bad(
                    format!("`packets` takes nothing after it, got `{rest}`"),
                    "the packets go on the indented lines below",
                ),
            ))
        }
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
    Ok(match (kw, host) {
        ("packets", _) => {
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
                alts.push(lines(alt, none, packet_line)?);
            }
            ItemKind::Packets(alts)
        }
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

const PACKET_HINT: &str =
    "a packet line is `client > server  [FLAGS]  seq A[:B], ack N, win N, options [...], length N`";

/// `client > server  [P.]  seq 1:7, ack 1, length 6`
fn packet_line(line: usize, text: &str) -> Result<PacketExpect, Bad> {
    let (from, rest) = split_word(text);
    let (arrow, rest) = split_word(rest);
    let (to, rest) = split_word(rest);
    let from: Side = from.parse().map_err(|m: String| bad(m, PACKET_HINT))?;
    if arrow != ">" {
        return Err(bad(
            format!("expected `>` after `{from}`, got `{arrow}`"),
            PACKET_HINT,
        ));
    }
    let to: Side = to.parse().map_err(|m: String| bad(m, PACKET_HINT))?;
    if from == to {
        return Err(bad(
            format!("`{from} > {to}`: a packet goes from one host to the other"),
            PACKET_HINT,
        ));
    }
    let rest = rest.trim_start();
    let Some(inner) = rest.strip_prefix('[') else {
        return Err(bad("expected flags in brackets, e.g. `[S.]`", PACKET_HINT));
    };
    let Some((flags, fields)) = inner.split_once(']') else {
        return Err(bad("flags bracket not closed", "write flags as `[S.]`"));
    };
    let flags: TcpFlags = flags.parse().map_err(|m: String| {
        bad(
            format!("bad flags `[{flags}]`: {m}"),
            "write flags as tcpdump does: `[S]`, `[S.]`, `[P.]`, `[F.]`, `[R.]`, `[.]`",
        )
    })?;
    let mut p = PacketExpect {
        line,
        from,
        to,
        flags,
        seq: None,
        ack: None,
        win: None,
        length: None,
        options: None,
    };
    for field in split_fields(fields.trim())? {
        let (key, val) = split_word(field);
        let dup = |set: bool| {
            if set {
                Err(bad(format!("`{key}` given twice"), ""))
            } else {
                Ok(())
            }
        };
        match key {
            "seq" => {
                dup(p.seq.is_some())?;
                p.seq = Some(match val.split_once(':') {
                    Some((a, b)) => (number(key, a)?, Some(number(key, b)?)),
                    None => (number(key, val)?, None),
                });
            }
            "ack" => {
                dup(p.ack.is_some())?;
                p.ack = Some(number(key, val)?);
            }
            "win" => {
                dup(p.win.is_some())?;
                p.win = Some(
                    number(key, val)?
                        .try_into()
                        .map_err(|_| bad(format!("win {val} exceeds 65535"), ""))?,
                );
            }
            "length" => {
                dup(p.length.is_some())?;
                p.length = Some(number(key, val)?);
            }
            "options" => {
                dup(p.options.is_some())?;
                p.options = Some(options(val)?);
            }
            other => return Err(bad(format!("unknown packet field `{other}`"), PACKET_HINT)),
        }
    }
    Ok(p)
}

fn number(key: &str, s: &str) -> Result<u32, Bad> {
    s.trim()
        .parse()
        .map_err(|_| bad(format!("`{key}` needs a number, got `{s}`"), PACKET_HINT))
}

/// Splits `a, b, options [x,y], c` at the commas outside brackets.
fn split_fields(s: &str) -> Result<Vec<&str>, Bad> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(bad(
            "unbalanced brackets",
            "write options as `options [mss 1460,sackOK]`",
        ));
    }
    out.push(s[start..].trim());
    Ok(out.into_iter().filter(|f| !f.is_empty()).collect())
}

const OPTIONS_HINT: &str = "options are tcpdump's: `options [mss 1460,sackOK,TS,nop,wscale 7]`; a name alone matches any value";

fn options(val: &str) -> Result<Vec<OptExpect>, Bad> {
    let inner = val
        .trim()
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| bad("options go in brackets", OPTIONS_HINT))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let words: Vec<&str> = o.split_whitespace().collect();
            let num = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| bad(format!("bad option value in `{o}`"), OPTIONS_HINT))
            };
            Ok(match words.as_slice() {
                ["nop"] => OptExpect::Nop,
                ["sackOK"] => OptExpect::SackOk,
                ["sack", ..] => OptExpect::Sack,
                ["mss"] => OptExpect::Mss(None),
                ["mss", v] => OptExpect::Mss(Some(
                    num(v)?
                        .try_into()
                        .map_err(|_| bad("mss exceeds 65535", ""))?,
                )),
                ["wscale"] => OptExpect::Wscale(None),
                ["wscale", v] => OptExpect::Wscale(Some(
                    num(v)?
                        .try_into()
                        .map_err(|_| bad("wscale exceeds 255", ""))?,
                )),
                ["TS", rest @ ..] => {
                    let (mut val, mut ecr) = (None, None);
                    for pair in rest.chunks(2) {
                        match pair {
                            ["val", v] => val = Some(num(v)?),
                            ["ecr", v] => ecr = Some(num(v)?),
                            _ => {
                                return Err(bad(
                                    format!("bad TS option `{o}`"),
                                    "write `TS`, `TS ecr 0` or `TS val N ecr N`",
                                ))
                            }
                        }
                    }
                    OptExpect::Ts { val, ecr }
                }
                _ => return Err(bad(format!("unknown option `{o}`"), OPTIONS_HINT)),
            })
        })
        .collect()
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Words as a shell splits them: whitespace, '...' and "..." quoting.
fn shell_words(s: &str) -> Result<Vec<String>, Bad> {
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
