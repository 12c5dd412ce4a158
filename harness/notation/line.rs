//! One segment in tcpdump's notation, as a line writes it:
//!
//! ```text
//! client > server  [P.]  seq 1:7, ack 1, win 502, options [nop,nop,TS], length 6  at 0s..1s  dropped
//! [R.] seq rcv_nxt+1, ack snd_nxt, payload "hi\n", to port 22222, from port 40000
//! ```
//!
//! [`parse`] reads every form either reader knows and refuses, with a hint,
//! the forms the reader it is given cannot use (see [`Where`]).

use super::options::{self, Opt};
use super::reader::Where;
use super::timing::{tail, Mark, Timing};
use super::values::{
    number, offset_from, port, quoted, small, split_fields, split_word, MAX_SEGMENT,
};
use crate::error::Malformed;
use crate::icmp::Unreachable;
use crate::lab::Side;
use crate::packet::TcpFlags;

/// HOST's sequence number as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNum {
    /// `seq N`: relative to the sender's ISN, as tcpdump prints it
    /// (absolute N for a new connection).
    Rel(u32),
    /// `seq rcv_nxt+K` (`sends` only): K past what the peer expects from
    /// HOST next.
    RcvNxt(i64),
}

/// The acknowledgment number as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckNum {
    /// `ack N`: relative to the peer's ISN (absolute N for a new connection).
    Rel(u32),
    /// `ack snd_nxt+K` (`sends` only): K past the end of what the peer has sent.
    SndNxt(i64),
}

/// `client > server`: who sent it, who it went to.
pub type Dir = (Side, Side);

/// A segment line's fields; what a line leaves out is None.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    /// `client > server` (`packets` only, where it is required).
    pub dir: Option<Dir>,
    pub flags: TcpFlags,
    pub seq: Option<SeqNum>,
    /// The B of `seq A:B`: A plus the segment's length.
    pub seq_end: Option<u32>,
    pub ack: Option<AckNum>,
    pub win: Option<u16>,
    pub length: Option<u32>,
    /// `payload "TEXT"` (`sends` only).
    pub payload: Option<Vec<u8>>,
    pub options: Option<Vec<Opt>>,
    /// `to port N`, `from port N` (`sends` only).
    pub to_port: Option<u16>,
    pub from_port: Option<u16>,
    /// `after LO..HI` / `at LO..HI` (`packets` only).
    pub timing: Option<Timing>,
    /// `dropped`, `injected`, ... (`packets` only).
    pub mark: Option<Mark>,
    /// `icmp frag-needed mtu 1400`: an ICMP message about a segment, not a
    /// segment (no flags, no fields).
    pub icmp: Option<Unreachable>,
}

/// `icmp KIND` after the direction, then the packets line's timing and mark.
fn icmp_line(dir: Option<Dir>, words: &str, w: Where) -> Result<Line, Malformed> {
    let (words, timing, mark) = tail(words, 0)?;
    let line = Line {
        dir,
        timing,
        mark,
        icmp: Some(super::icmp::kind(words)?),
        ..Line::default()
    };
    refuse(&line, w)?;
    Ok(line)
}

/// Reads `text` as reader `w` takes it.
pub fn parse(text: &str, w: Where) -> Result<Line, Malformed> {
    let (dir, rest) = direction(text, w)?;
    if let Some(words) = super::icmp::strip_icmp(rest) {
        return icmp_line(dir, words, w);
    }
    let Some(inner) = rest.strip_prefix('[') else {
        return Err(Malformed::new(
            format!(
                "expected flags in brackets, e.g. `[S.]`, got `{}`",
                split_word(rest).0
            ),
            w.hint(),
        ));
    };
    let Some((letters, fields)) = inner.split_once(']') else {
        return Err(Malformed::new(
            "flags bracket not closed",
            "write flags as `[S.]` or `[R.]`",
        ));
    };
    let flags: TcpFlags = letters.parse().map_err(|m: crate::error::Malformed| {
        Malformed::new(
            format!("bad flags `[{letters}]`: {m}"),
            "flags are tcpdump's letters: `[S]`, `[S.]`, `[P.]`, `[F.]`, `[R]`, `[R.]`, `[.]`",
        )
    })?;
    let mut line = Line {
        dir,
        flags,
        ..Line::default()
    };
    let mut parts = split_fields(fields, w.options_hint_for_brackets())?;
    if let Some(last) = parts.last_mut() {
        let protected = last.rfind(['"', ']']).map_or(0, |i| i + 1);
        let (rest, timing, mark) = tail(last, protected)?;
        (*last, line.timing, line.mark) = (rest, timing, mark);
        if parts.len() == 1 && parts[0].is_empty() {
            parts.clear();
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for field in parts {
        let (key, val) = split_word(field);
        if seen.contains(&key) {
            return Err(Malformed::new(format!("`{key}` given twice"), w.hint()));
        }
        seen.push(key);
        line.field(key, val.trim_end(), w)?;
    }
    refuse(&line, w)?;
    Ok(line)
}

impl Where {
    fn options_hint_for_brackets(self) -> &'static str {
        match self {
            Where::Packets => "write options as `options [mss 1460,sackOK]`",
            Where::Sends => "write options as `options [nop,nop,TS]`",
        }
    }
}

/// `client > server` before the flags: required in `packets`, refused in
/// `sends` (HOST sends to the other host). The direction and the rest.
fn direction(text: &str, w: Where) -> Result<(Option<Dir>, &str), Malformed> {
    let text = text.trim_start();
    if w == Where::Sends {
        let first = split_word(text).0;
        if first.parse::<Side>().is_ok() {
            return Err(Malformed::new(
                format!("a sent segment goes from HOST to the other host: `{first} ...` before its flags"),
                "leave the direction out: `client sends [R] seq rcv_nxt`",
            ));
        }
        return Ok((None, text));
    }
    let (from, rest) = split_word(text);
    let (arrow, rest) = split_word(rest);
    let (to, rest) = split_word(rest);
    let from: Side = from.parse().map_err(|m: Malformed| m.or_hint(w.hint()))?;
    if arrow != ">" {
        return Err(Malformed::new(
            format!("expected `>` after `{from}`, got `{arrow}`"),
            w.hint(),
        ));
    }
    let to: Side = to.parse().map_err(|m: Malformed| m.or_hint(w.hint()))?;
    if from == to {
        return Err(Malformed::new(
            format!("`{from} > {to}`: a packet goes from one host to the other"),
            w.hint(),
        ));
    }
    Ok((Some((from, to)), rest.trim_start()))
}

impl Line {
    /// One `KEY VALUE` field.
    fn field(&mut self, key: &str, val: &str, w: Where) -> Result<(), Malformed> {
        match key {
            "seq" => (self.seq, self.seq_end) = seq(val, w)?,
            "ack" => self.ack = Some(ack(val, w)?),
            "win" => self.win = Some(small(key, val, w.hint(), "win is 0..65535")?),
            "length" => {
                let len = number(key, val, w.hint())?;
                if len > MAX_SEGMENT {
                    return Err(Malformed::new(
                        format!("length {len} exceeds {MAX_SEGMENT}"),
                        "a segment carries at most 65535 bytes",
                    ));
                }
                self.length = Some(len);
            }
            "payload" => self.payload = Some(quoted(val)?),
            "options" => self.options = Some(options::list(val, w)?),
            "to" => self.to_port = Some(port(key, val)?),
            "from" => self.from_port = Some(port(key, val)?),
            "" => return Err(Malformed::new("empty field between commas", w.hint())),
            other => {
                return Err(Malformed::new(
                    format!("unknown {} field `{other}`", w.noun()),
                    w.hint(),
                ))
            }
        }
        Ok(())
    }
}

/// `seq N`, `seq A:B`, `seq rcv_nxt[+K]`.
fn seq(val: &str, w: Where) -> Result<(Option<SeqNum>, Option<u32>), Malformed> {
    if let Some(k) = offset_from("rcv_nxt", val)? {
        return Ok((Some(SeqNum::RcvNxt(k)), None));
    }
    if val.contains("snd_nxt") {
        return Err(Malformed::new(
            "`seq` counts HOST's bytes: `snd_nxt` is the peer's",
            "write `seq rcv_nxt` (what the peer expects from HOST next)",
        ));
    }
    match val.split_once(':') {
        Some((a, b)) => {
            let (a, b) = (number("seq", a, w.hint())?, number("seq", b, w.hint())?);
            let problem = match b.checked_sub(a) {
                Some(len) if len <= MAX_SEGMENT => return Ok((Some(SeqNum::Rel(a)), Some(b))),
                Some(_) => "",
                None => ", and this one ends before it starts",
            };
            Err(Malformed::new(
                format!("seq {a}:{b}: the end is the start plus the segment's length (0 to {MAX_SEGMENT}){problem}"),
                "`seq A:B` covers bytes A up to B: `seq 1:7` is 6 bytes from relative seq 1",
            ))
        }
        None => Ok((Some(SeqNum::Rel(number("seq", val, w.hint())?)), None)),
    }
}

/// `ack N`, `ack snd_nxt[+K]`.
fn ack(val: &str, w: Where) -> Result<AckNum, Malformed> {
    if let Some(k) = offset_from("snd_nxt", val)? {
        return Ok(AckNum::SndNxt(k));
    }
    if val.contains("rcv_nxt") {
        return Err(Malformed::new(
            "`ack` acknowledges the peer's bytes: `rcv_nxt` is HOST's",
            "write `ack snd_nxt` (the end of what the peer has sent)",
        ));
    }
    Ok(AckNum::Rel(number("ack", val, w.hint())?))
}

/// What reader `w` cannot use, with how to say it its way.
fn refuse(line: &Line, w: Where) -> Result<(), Malformed> {
    match w {
        Where::Packets => {
            let named = matches!(line.seq, Some(SeqNum::RcvNxt(_)))
                || matches!(line.ack, Some(AckNum::SndNxt(_)));
            if named {
                return Err(Malformed::new(
                    "`rcv_nxt` and `snd_nxt` say where a connection stands when HOST sends; a packets line pins the numbers tcpdump prints",
                    "write relative numbers, e.g. `seq 1:7, ack 1`",
                ));
            }
            if line.payload.is_some() {
                return Err(Malformed::new(
                    "a packets line does not pin the payload",
                    "`length N` pins its size; `HOST prints TEXT` asserts what a program received",
                ));
            }
            if line.to_port.is_some() || line.from_port.is_some() {
                return Err(Malformed::new(
                    "`to port` and `from port` aim a sent segment; a packets line's direction names its hosts",
                    "the case's `port N` says which port the capture holds",
                ));
            }
        }
        Where::Sends => {
            if let Some(t) = line.timing {
                return Err(Malformed::new(
                    format!("`{t}`: a sent segment leaves when its step runs; it has no timing window"),
                    "put the window on the `packets` line that shows it, e.g. `client > server  [R]  seq 1  at 0s..1s  injected`",
                ));
            }
            if let Some(m) = line.mark {
                return Err(Malformed::new(
                    format!(
                        "`{}` is what a packets line says happened to a captured packet",
                        m.word()
                    ),
                    "a sent segment shows as `injected` on the `packets` line after it",
                ));
            }
        }
    }
    Ok(())
}
