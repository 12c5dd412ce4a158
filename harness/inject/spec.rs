//! What a case writes after `HOST sends `: one segment in the notation of a
//! `packets` line, with numbers a case can know before the run.
//!
//! ```text
//! [R.] seq rcv_nxt+1, ack snd_nxt
//! [P.] seq 1:7, ack 1, payload "hello\n"
//! [.] seq rcv_nxt+100000, length 10, win 502, options [nop,nop,TS]
//! [S] seq 0, to port 22222
//! ```
//!
//! Numbers are relative as tcpdump prints them: `seq N` is HOST's ISN + N,
//! `ack N` the peer's ISN + N. Two names count from where the connection
//! stands now: `rcv_nxt` is what the peer expects from HOST next (the
//! peer's latest ACK), `snd_nxt` is what the peer has sent up to (what HOST
//! should acknowledge); both take `+K` / `-K`. Left out, `seq` is
//! `rcv_nxt` and (with the ACK flag) `ack` is `snd_nxt`: what HOST's kernel
//! would send. `to port N` aims at a new connection instead of the captured
//! one: no ISN is known, so its numbers are absolute and the two names are
//! refused.

use std::fmt;
use std::str::FromStr;

use crate::packet::TcpFlags;

/// The byte `length N` fills the payload with (visible in a program's output).
pub const FILL_BYTE: u8 = b'x';

/// The source port of a new connection (`to port N`) unless `from port N`.
pub const DEFAULT_FROM_PORT: u16 = 40000;

/// The most option bytes a TCP header holds.
const MAX_OPTION_BYTES: usize = 40;

/// A parse error: what is wrong, and how to write it instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub msg: String,
    pub hint: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

fn err(msg: impl Into<String>, hint: &str) -> SpecError {
    SpecError {
        msg: msg.into(),
        hint: (!hint.is_empty()).then(|| hint.to_string()),
    }
}

pub const SEGMENT_HINT: &str = "a segment is `[FLAGS] seq N|rcv_nxt[+K][:END], ack N|snd_nxt[+K], \
     win N, options [nop,nop,TS], length N | payload \"TEXT\", to port N, from port N`";

/// HOST's sequence number as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNum {
    /// `seq N`: HOST's ISN + N (absolute N for a new connection).
    Rel(u32),
    /// `seq rcv_nxt+K`: K past what the peer expects from HOST next.
    RcvNxt(i64),
}

/// The acknowledgment number as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckNum {
    /// `ack N`: the peer's ISN + N (absolute N for a new connection).
    Rel(u32),
    /// `ack snd_nxt+K`: K past the end of what the peer has sent.
    SndNxt(i64),
}

/// One item of `options [...]`; `TS` without values is filled in from the
/// connection (HOST's clock, the peer's latest TSval).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptSpec {
    Nop,
    Mss(u16),
    Wscale(u8),
    SackOk,
    Ts { val: Option<u32>, ecr: Option<u32> },
}

impl OptSpec {
    /// Bytes the option takes on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            OptSpec::Nop => 1,
            OptSpec::Mss(_) => 4,
            OptSpec::Wscale(_) => 3,
            OptSpec::SackOk => 2,
            OptSpec::Ts { .. } => 10,
        }
    }
}

/// The payload: given bytes, or N copies of [`FILL_BYTE`] (`length N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Bytes(Vec<u8>),
    Filled(u32),
}

impl Data {
    pub fn len(&self) -> u32 {
        match self {
            Data::Bytes(b) => b.len() as u32,
            Data::Filled(n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Data::Bytes(b) => b.clone(),
            Data::Filled(n) => vec![FILL_BYTE; *n as usize],
        }
    }
}

/// One segment to inject, as written; [`super::conn::Conn::resolve`] turns
/// it into absolute numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSpec {
    pub flags: TcpFlags,
    /// None: `rcv_nxt`.
    pub seq: Option<SeqNum>,
    /// None: `snd_nxt` with the ACK flag, 0 without.
    pub ack: Option<AckNum>,
    /// None: the window HOST last advertised.
    pub win: Option<u16>,
    /// None: `nop,nop,TS` when the connection uses timestamps, else none.
    pub options: Option<Vec<OptSpec>>,
    pub data: Data,
    /// `to port N`: a new connection to port N of the peer.
    pub to_port: Option<u16>,
    /// `from port N`: HOST's port for a new connection.
    pub from_port: Option<u16>,
}

impl FromStr for SegmentSpec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<SegmentSpec, SpecError> {
        let rest = text.trim_start();
        let inner = rest.strip_prefix('[').ok_or_else(|| {
            err(
                format!(
                    "expected flags in brackets first, got `{}`",
                    first_word(rest)
                ),
                SEGMENT_HINT,
            )
        })?;
        let (flags, fields) = inner
            .split_once(']')
            .ok_or_else(|| err("flags bracket not closed", "write flags as `[R.]`"))?;
        let flags: TcpFlags = flags.parse().map_err(|m: String| {
            err(
                format!("bad flags `[{flags}]`: {m}"),
                "flags are tcpdump's letters: `[R]`, `[R.]`, `[S]`, `[.]`, `[P.]`, `[F.]`",
            )
        })?;
        let mut spec = SegmentSpec {
            flags,
            seq: None,
            ack: None,
            win: None,
            options: None,
            data: Data::Bytes(Vec::new()),
            to_port: None,
            from_port: None,
        };
        let mut end: Option<u32> = None;
        let mut length: Option<u32> = None;
        let mut payload: Option<Vec<u8>> = None;
        let mut seen: Vec<&str> = Vec::new();
        for field in split_fields(fields)? {
            let (key, val) = split_word(field);
            if seen.contains(&key) {
                return Err(err(format!("`{key}` given twice"), SEGMENT_HINT));
            }
            seen.push(key);
            match key {
                "seq" => {
                    let (start, stop) = seq_value(val)?;
                    spec.seq = Some(start);
                    end = stop;
                }
                "ack" => spec.ack = Some(ack_value(val)?),
                "win" => spec.win = Some(small(key, val)?),
                "length" => length = Some(number(key, val)?),
                "payload" => payload = Some(quoted(val)?),
                "options" => spec.options = Some(options(val)?),
                "to" => spec.to_port = Some(port(key, val)?),
                "from" => spec.from_port = Some(port(key, val)?),
                "" => return Err(err("empty field between commas", SEGMENT_HINT)),
                other => {
                    return Err(err(
                        format!("unknown segment field `{other}`"),
                        SEGMENT_HINT,
                    ))
                }
            }
        }
        spec.data = data(&spec, end, length, payload)?;
        check(&spec)?;
        Ok(spec)
    }
}

/// The payload from `seq A:B`, `length N` and `payload "..."`, which must agree.
fn data(
    spec: &SegmentSpec,
    end: Option<u32>,
    length: Option<u32>,
    payload: Option<Vec<u8>>,
) -> Result<Data, SpecError> {
    let span = match (spec.seq, end) {
        (Some(SeqNum::Rel(a)), Some(b)) => Some(b.checked_sub(a).ok_or_else(|| {
            err(
                format!("`seq {a}:{b}` ends before it starts"),
                "`seq A:B` covers bytes A up to B",
            )
        })?),
        _ => None,
    };
    let data = match (payload, length) {
        (Some(p), Some(n)) if p.len() as u32 != n => {
            return Err(err(
                format!("`length {n}` but the payload has {} bytes", p.len()),
                "give `payload` alone, or `length N` alone to fill with `x`",
            ))
        }
        (Some(p), _) => Data::Bytes(p),
        (None, Some(n)) => Data::Filled(n),
        (None, None) => Data::Filled(span.unwrap_or(0)),
    };
    if let Some(n) = span.filter(|n| *n != data.len()) {
        return Err(err(
            format!("`seq` spans {n} bytes but the payload has {}", data.len()),
            "`seq A:B` carries B-A bytes",
        ));
    }
    if data == Data::Filled(0) {
        return Ok(Data::Bytes(Vec::new()));
    }
    Ok(data)
}

/// Combinations that cannot be built or mean nothing.
fn check(spec: &SegmentSpec) -> Result<(), SpecError> {
    if spec.ack.is_some() && !spec.flags.contains(TcpFlags::ACK) {
        return Err(err(
            "`ack` without the ACK flag: the receiver ignores it",
            "add `.` to the flags, e.g. `[R.]`, or leave `ack` out",
        ));
    }
    if spec.to_port.is_some() {
        let named = matches!(spec.seq, Some(SeqNum::RcvNxt(_)))
            || matches!(spec.ack, Some(AckNum::SndNxt(_)));
        if named {
            return Err(err(
                "`rcv_nxt` / `snd_nxt` need the captured connection, and `to port` starts a new one",
                "give absolute numbers with `to port`, e.g. `[S] seq 1000, to port 22222`",
            ));
        }
        if spec.flags.contains(TcpFlags::ACK) && spec.ack.is_none() {
            return Err(err(
                "a new connection has no `snd_nxt` to acknowledge",
                "write the ack number, e.g. `ack 1`",
            ));
        }
    } else if spec.from_port.is_some() {
        return Err(err(
            "`from port` only goes with `to port` (a new connection)",
            "the captured connection already has HOST's port",
        ));
    }
    let opt_bytes: usize = spec.options.iter().flatten().map(OptSpec::wire_len).sum();
    if opt_bytes > MAX_OPTION_BYTES {
        return Err(err(
            format!("options take {opt_bytes} bytes; a TCP header holds {MAX_OPTION_BYTES}"),
            "drop some options",
        ));
    }
    let total = spec.data.len() as usize + 20 + 20 + opt_bytes.div_ceil(4) * 4;
    if total > 1500 {
        return Err(err(
            format!("the segment would be {total} bytes; the veth's MTU is 1500"),
            "send at most 1448 bytes of payload with timestamps (1460 without)",
        ));
    }
    Ok(())
}

fn first_word(s: &str) -> &str {
    split_word(s).0
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

/// Splits at commas outside brackets and double quotes.
fn split_fields(s: &str) -> Result<Vec<&str>, SpecError> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut quoted, mut escaped) = (0i32, 0usize, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            ',' if depth == 0 && !quoted => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(err(
            "unterminated `\"`",
            "close the payload's quote: `payload \"hello\\n\"`",
        ));
    }
    if depth != 0 {
        return Err(err(
            "unbalanced brackets",
            "write options as `options [nop,nop,TS]`",
        ));
    }
    let last = s[start..].trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    Ok(out)
}

fn number(key: &str, s: &str) -> Result<u32, SpecError> {
    s.parse().map_err(|_| {
        err(
            format!("`{key}` needs a number from 0 to 4294967295, got `{s}`"),
            SEGMENT_HINT,
        )
    })
}

fn small<T: TryFrom<u32>>(key: &str, s: &str) -> Result<T, SpecError> {
    let n = number(key, s)?;
    T::try_from(n).map_err(|_| {
        err(
            format!("`{key} {n}` does not fit its field"),
            "win is 0..65535, mss 0..65535, wscale 0..14",
        )
    })
}

fn port(key: &str, val: &str) -> Result<u16, SpecError> {
    let hint = "write `to port 22222` / `from port 40000`";
    let n = val
        .strip_prefix("port")
        .map(str::trim)
        .ok_or_else(|| err(format!("`{key}` needs `port N`, got `{val}`"), hint))?;
    match n.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(err(format!("`{key} port` needs 1..65535, got `{n}`"), hint)),
    }
}

/// `NAME`, `NAME+K` or `NAME-K` (spaces allowed around the sign).
fn offset_from(name: &str, val: &str) -> Result<Option<i64>, SpecError> {
    let compact: String = val.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(rest) = compact.strip_prefix(name) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some(0));
    }
    let bad = || {
        err(
            format!("bad offset in `{val}`"),
            &format!("write `{name}`, `{name}+1` or `{name}-1` (up to 4294967295)"),
        )
    };
    // By the sign's character, not byte 1: `rcv_nxté` must be an error,
    // not a slice through the middle of a character.
    let (sign, digits) = if let Some(d) = rest.strip_prefix('+') {
        (1, d)
    } else if let Some(d) = rest.strip_prefix('-') {
        (-1, d)
    } else {
        return Err(bad());
    };
    let k: u32 = digits.parse().map_err(|_| bad())?;
    Ok(Some(sign * i64::from(k)))
}

fn seq_value(val: &str) -> Result<(SeqNum, Option<u32>), SpecError> {
    if let Some(k) = offset_from("rcv_nxt", val)? {
        return Ok((SeqNum::RcvNxt(k), None));
    }
    if val.contains("snd_nxt") {
        return Err(err(
            "`seq` counts HOST's bytes: `snd_nxt` is the peer's",
            "write `seq rcv_nxt` (what the peer expects from HOST next)",
        ));
    }
    match val.split_once(':') {
        Some((a, b)) => Ok((
            SeqNum::Rel(number("seq", a.trim())?),
            Some(number("seq", b.trim())?),
        )),
        None => Ok((SeqNum::Rel(number("seq", val)?), None)),
    }
}

fn ack_value(val: &str) -> Result<AckNum, SpecError> {
    if let Some(k) = offset_from("snd_nxt", val)? {
        return Ok(AckNum::SndNxt(k));
    }
    if val.contains("rcv_nxt") {
        return Err(err(
            "`ack` acknowledges the peer's bytes: `rcv_nxt` is HOST's",
            "write `ack snd_nxt` (the end of what the peer has sent)",
        ));
    }
    Ok(AckNum::Rel(number("ack", val)?))
}

const PAYLOAD_HINT: &str = "write `payload \"TEXT\"` with escapes \\n \\r \\t \\0 \\\\ \\\" \\xNN";

/// `"hello\n"` to bytes.
fn quoted(val: &str) -> Result<Vec<u8>, SpecError> {
    let inner = val
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| val.len() >= 2)
        .ok_or_else(|| err(format!("payload must be quoted, got `{val}`"), PAYLOAD_HINT))?;
    let mut out = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let b = match chars.next() {
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('\\') => b'\\',
            Some('"') => b'"',
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| err(format!("bad escape `\\x{hex}` in payload"), PAYLOAD_HINT))?
            }
            other => {
                return Err(err(
                    format!("unknown escape `\\{}` in payload", other.unwrap_or(' ')),
                    PAYLOAD_HINT,
                ))
            }
        };
        out.push(b);
    }
    Ok(out)
}

const OPTIONS_HINT: &str =
    "options are tcpdump's: `options [nop,nop,TS]`, `[mss 1460,sackOK,nop,wscale 7]`, \
     `[nop,nop,TS val 5 ecr 7]`; `TS` alone takes HOST's clock and the peer's latest TSval";

fn options(val: &str) -> Result<Vec<OptSpec>, SpecError> {
    let inner = val
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| err("options go in brackets", OPTIONS_HINT))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let words: Vec<&str> = o.split_whitespace().collect();
            Ok(match words.as_slice() {
                ["nop"] => OptSpec::Nop,
                ["sackOK"] => OptSpec::SackOk,
                ["mss", v] => OptSpec::Mss(small("mss", v)?),
                ["wscale", v] => OptSpec::Wscale(small("wscale", v)?),
                ["TS", rest @ ..] => ts_option(o, rest)?,
                ["mss"] | ["wscale"] => {
                    return Err(err(
                        format!("`{o}` needs its value to be sent"),
                        "write `mss 1460`, `wscale 7`",
                    ))
                }
                _ => return Err(err(format!("unknown option `{o}`"), OPTIONS_HINT)),
            })
        })
        .collect()
}

fn ts_option(o: &str, rest: &[&str]) -> Result<OptSpec, SpecError> {
    let (mut val, mut ecr) = (None, None);
    for pair in rest.chunks(2) {
        match pair {
            ["val", v] if val.is_none() => val = Some(number("TS val", v)?),
            ["ecr", v] if ecr.is_none() => ecr = Some(number("TS ecr", v)?),
            _ => {
                return Err(err(
                    format!("bad TS option `{o}`"),
                    "write `TS`, `TS ecr 0` or `TS val N ecr N`",
                ))
            }
        }
    }
    Ok(OptSpec::Ts { val, ecr })
}

impl fmt::Display for OptSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptSpec::Nop => f.write_str("nop"),
            OptSpec::Mss(v) => write!(f, "mss {v}"),
            OptSpec::Wscale(v) => write!(f, "wscale {v}"),
            OptSpec::SackOk => f.write_str("sackOK"),
            OptSpec::Ts { val, ecr } => {
                f.write_str("TS")?;
                if let Some(v) = val {
                    write!(f, " val {v}")?;
                }
                if let Some(e) = ecr {
                    write!(f, " ecr {e}")?;
                }
                Ok(())
            }
        }
    }
}

fn signed(f: &mut fmt::Formatter<'_>, name: &str, k: i64) -> fmt::Result {
    match k {
        0 => f.write_str(name),
        k if k > 0 => write!(f, "{name}+{k}"),
        k => write!(f, "{name}{k}"),
    }
}

/// The canonical form, which parses back to the same spec: what a report
/// prints for the step.
impl fmt::Display for SegmentSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.flags)?;
        let mut sep = " ";
        let mut field = |f: &mut fmt::Formatter<'_>| {
            let s = sep;
            sep = ", ";
            f.write_str(s)
        };
        match self.seq {
            Some(SeqNum::Rel(a)) => {
                field(f)?;
                match &self.data {
                    Data::Filled(n) => write!(f, "seq {a}:{}", a.wrapping_add(*n))?,
                    Data::Bytes(_) => write!(f, "seq {a}")?,
                }
            }
            Some(SeqNum::RcvNxt(k)) => {
                field(f)?;
                f.write_str("seq ")?;
                signed(f, "rcv_nxt", k)?;
            }
            None => {}
        }
        match self.ack {
            Some(AckNum::Rel(a)) => {
                field(f)?;
                write!(f, "ack {a}")?;
            }
            Some(AckNum::SndNxt(k)) => {
                field(f)?;
                f.write_str("ack ")?;
                signed(f, "snd_nxt", k)?;
            }
            None => {}
        }
        if let Some(w) = self.win {
            field(f)?;
            write!(f, "win {w}")?;
        }
        if let Some(opts) = &self.options {
            field(f)?;
            let list: Vec<String> = opts.iter().map(ToString::to_string).collect();
            write!(f, "options [{}]", list.join(","))?;
        }
        match &self.data {
            Data::Filled(n) if !matches!(self.seq, Some(SeqNum::Rel(_))) => {
                field(f)?;
                write!(f, "length {n}")?;
            }
            Data::Bytes(b) if !b.is_empty() => {
                field(f)?;
                write!(f, "payload \"{}\"", escape(b))?;
            }
            _ => {}
        }
        if let Some(p) = self.to_port {
            field(f)?;
            write!(f, "to port {p}")?;
        }
        if let Some(p) = self.from_port {
            field(f)?;
            write!(f, "from port {p}")?;
        }
        Ok(())
    }
}

/// Bytes as a payload literal: printable ASCII as is, the rest escaped.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}
