//! Lines of a `packets` block: `client > server  [P.]  seq 1:7, ack 1, length 6`.

use super::super::error::{bad, Bad};
use super::super::expect::{Mark, OptExpect, PacketExpect, Timing};
use super::super::rows::Window;
use super::words::split_word;
use crate::lab::Side;
use crate::packet::TcpFlags;

const PACKET_HINT: &str =
    "a packet line is `client > server  [FLAGS]  seq A[:B], ack N, win N, options [...], length N`, \
     then optionally `after LO..HI` or `at LO..HI` and a mark: `dropped`, `delayed`, `reordered`, `duplicated` or `injected`";

/// The hint for two marks on one line: every mark, as in [`PACKET_HINT`].
const MARKS_HINT: &str =
    "a packet is `dropped`, `delayed`, `reordered`, `duplicated` or `injected`, once";

/// `client > server  [P.]  seq 1:7, ack 1, length 6`
pub(super) fn packet_line(line: usize, text: &str) -> Result<PacketExpect, Bad> {
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
    let (fields, timing, mark) = tail(fields)?;
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
        timing,
        mark,
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
                    Some((a, b)) => seq_range(number(key, a)?, number(key, b)?)?,
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
                let len = number(key, val)?;
                if len > MAX_SEGMENT {
                    return Err(bad(
                        format!("length {len} exceeds {MAX_SEGMENT}"),
                        "a segment carries at most 65535 bytes",
                    ));
                }
                p.length = Some(len);
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

/// The words after the fields, in either order: a timing (`after LO..HI`,
/// `at LO..HI`) and a mark (`Mark::WORDS`: `dropped`, `delayed`, ...).
fn tail(fields: &str) -> Result<(&str, Option<Timing>, Option<Mark>), Bad> {
    const TIMING_HINT: &str = "write `after 0.9s..1.3s` (since the previous packet) or `at 0.2s..0.4s` (since the latest action step)";
    let (mut rest, mut timing, mut mark) = (fields.trim_end(), None, None);
    loop {
        let (head, last) = rest.rsplit_once(char::is_whitespace).unwrap_or(("", rest));
        if let Some((_, m)) = Mark::WORDS.iter().find(|(w, _)| *w == last) {
            if mark.replace(*m).is_some() {
                return Err(bad("two marks on one packet", MARKS_HINT));
            }
            rest = head.trim_end();
            continue;
        }
        let (head2, word) = head
            .trim_end()
            .rsplit_once(char::is_whitespace)
            .unwrap_or(("", head.trim_end()));
        let kind = match word {
            "after" => Timing::After,
            "at" => Timing::At,
            _ if last.contains("..") => {
                return Err(bad(
                    format!("a time window `{last}` without `after` or `at` before it"),
                    TIMING_HINT,
                ))
            }
            _ => return Ok((rest, timing, mark)),
        };
        let w = Window::parse(last).map_err(|b| bad(b.msg, TIMING_HINT))?;
        if timing.replace(kind(w)).is_some() {
            return Err(bad("two timings on one packet", TIMING_HINT));
        }
        rest = head2.trim_end();
    }
}

/// The most bytes one TCP segment can carry (an IP datagram's length field).
const MAX_SEGMENT: u32 = 65535;

/// `seq A:B`: B is A plus the segment's length.
fn seq_range(a: u32, b: u32) -> Result<(u32, Option<u32>), Bad> {
    match b.checked_sub(a) {
        Some(len) if len <= MAX_SEGMENT => Ok((a, Some(b))),
        _ => Err(bad(
            format!(
                "seq {a}:{b}: the end is the start plus the segment's length (0 to {MAX_SEGMENT})"
            ),
            "write `seq 1:7` for 6 bytes from relative seq 1",
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::super::super::expect::Mark;
    use super::{MARKS_HINT, PACKET_HINT};

    #[test]
    fn the_hints_name_every_mark_a_line_may_end_in() {
        for (word, _) in Mark::WORDS {
            let word = format!("`{word}`");
            assert!(PACKET_HINT.contains(&word), "{word} missing: {PACKET_HINT}");
            assert!(MARKS_HINT.contains(&word), "{word} missing: {MARKS_HINT}");
        }
    }
}
