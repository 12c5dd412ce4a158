//! TCP options as a line writes them, the one model for both readers:
//! tcpdump's names (`nop`, `mss 1460`, `wscale 7`, `sackOK`, `sack`, `TS val
//! N ecr N`), each value optional where the reader can do without it.
//!
//! | written | in `packets` | in `sends` |
//! | --- | --- | --- |
//! | `mss 1460`, `wscale 7` | pins the value | sends it |
//! | `mss`, `wscale` | present, any value | refused: a value is needed to send |
//! | `TS val 5 ecr 7` | pins both | sends both |
//! | `TS`, `TS ecr 0` | present, pins what is given | fills in HOST's clock, the peer's latest TSval |
//! | `TS val clock+10`, `TS val ts_recent-1` | refused: a capture shows numbers | HOST's TS clock + 10 ms; the peer's latest TSecr - 1 |
//! | `sack 1001:2001 3001:4001` (or tcpdump's `sack 2 {1001:2001}{3001:4001}`) | pins the blocks | sends them |
//! | `sack` | present, any blocks | refused: blocks are needed to send |
//! | `nop`, `sackOK` | present | sends it |
//!
//! SACK blocks are relative to the ISN of the host they acknowledge, as
//! tcpdump prints them (and as `ack N` is).
//!
//! The wire's own option, with every value, is [`crate::packet::TcpOption`].

use std::fmt;

use super::reader::Where;
use super::values::{number, offset_from, small};
use crate::error::Malformed;
use crate::packet::TcpOption;

/// One item of `options [...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opt {
    Nop,
    SackOk,
    /// SACK blocks, relative to the acknowledged host's ISN; None: any.
    Sack(Option<Vec<(u32, u32)>>),
    Mss(Option<u16>),
    Wscale(Option<u8>),
    Ts {
        val: Option<TsVal>,
        ecr: Option<u32>,
    },
}

/// A TSval as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsVal {
    /// `TS val N`.
    Abs(u32),
    /// `TS val clock+K` (`sends` only): HOST's TCP timestamp clock when
    /// the segment leaves, plus K ticks (milliseconds on Linux).
    Clock(i64),
    /// `TS val ts_recent+K` (`sends` only): the TSecr of the peer's latest
    /// segment (the TSval of HOST's that the peer holds as `ts_recent`,
    /// what its PAWS check compares with), plus K.
    TsRecent(i64),
}

impl fmt::Display for TsVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, k) = match *self {
            TsVal::Abs(v) => return write!(f, "{v}"),
            TsVal::Clock(k) => ("clock", k),
            TsVal::TsRecent(k) => ("ts_recent", k),
        };
        match k {
            0 => f.write_str(name),
            k if k > 0 => write!(f, "{name}+{k}"),
            k => write!(f, "{name}{k}"),
        }
    }
}

/// The most SACK blocks an option holds (40 bytes of options, 2 + 8 each).
pub const MAX_SACK_BLOCKS: usize = 4;

impl Where {
    fn options_hint(self) -> &'static str {
        match self {
            Where::Packets => "options are tcpdump's: `options [mss 1460,sackOK,TS,nop,wscale 7]`; a name alone matches any value",
            Where::Sends => "options are tcpdump's: `options [nop,nop,TS]`, `[mss 1460,sackOK,nop,wscale 7]`, \
                 `[nop,nop,TS val 5 ecr 7]`; `TS` alone takes HOST's clock and the peer's latest TSval",
        }
    }
}

/// `options [...]`'s value: the list, each item in a form `w` accepts.
pub(super) fn list(val: &str, w: Where) -> Result<Vec<Opt>, Malformed> {
    let hint = w.options_hint();
    let inner = val
        .trim()
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| Malformed::new("options go in brackets", hint))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let opt = item(o, hint)?;
            opt.accepted_in(w, o)?;
            Ok(opt)
        })
        .collect()
}

/// One option, in any form either reader accepts.
fn item(o: &str, hint: &str) -> Result<Opt, Malformed> {
    const RANGES: &str = "mss is 0..65535, wscale 0..255 (Linux uses at most 14)";
    let words: Vec<&str> = o.split_whitespace().collect();
    let value = |key: &str, v: &str| {
        number(key, v, hint).map_err(|_| Malformed::new(format!("bad option value in `{o}`"), hint))
    };
    Ok(match words.as_slice() {
        ["nop"] => Opt::Nop,
        ["sackOK"] => Opt::SackOk,
        ["sack"] => Opt::Sack(None),
        ["sack", ..] => Opt::Sack(Some(sack_blocks(o, hint)?)),
        ["mss"] => Opt::Mss(None),
        ["mss", v] => {
            value("mss", v)?;
            Opt::Mss(Some(small("mss", v, hint, RANGES)?))
        }
        ["wscale"] => Opt::Wscale(None),
        ["wscale", v] => {
            value("wscale", v)?;
            Opt::Wscale(Some(small("wscale", v, hint, RANGES)?))
        }
        ["TS", rest @ ..] => {
            let (mut val, mut ecr) = (None, None);
            for pair in rest.chunks(2) {
                match pair {
                    ["val", v] if val.is_none() => val = Some(ts_val(o, v, hint)?),
                    ["ecr", v] if ecr.is_none() => ecr = Some(value("TS ecr", v)?),
                    _ => {
                        return Err(Malformed::new(
                            format!("bad TS option `{o}`"),
                            "write `TS`, `TS ecr 0` or `TS val N ecr N`",
                        ))
                    }
                }
            }
            Opt::Ts { val, ecr }
        }
        _ => return Err(Malformed::new(format!("unknown option `{o}`"), hint)),
    })
}

/// `TS val N`, `TS val clock+K`, `TS val ts_recent+K`.
fn ts_val(o: &str, v: &str, hint: &str) -> Result<TsVal, Malformed> {
    if let Some(k) = offset_from("clock", v)? {
        return Ok(TsVal::Clock(k));
    }
    if let Some(k) = offset_from("ts_recent", v)? {
        return Ok(TsVal::TsRecent(k));
    }
    number("TS val", v, hint)
        .map(TsVal::Abs)
        .map_err(|_| Malformed::new(format!("bad option value in `{o}`"), hint))
}

/// `sack 1001:2001 3001:4001`, or as tcpdump prints it, `sack 2
/// {1001:2001}{3001:4001}` (the count must then be the blocks').
fn sack_blocks(o: &str, hint: &str) -> Result<Vec<(u32, u32)>, Malformed> {
    const SACK_HINT: &str = "write `sack 1001:2001` or `sack 1001:2001 3001:4001` (relative, as tcpdump's `sack 2 {1001:2001}{3001:4001}`, which reads too)";
    let body = o.trim_start().strip_prefix("sack").unwrap_or(o);
    let mut tokens: Vec<&str> = body
        .split(|c: char| c.is_whitespace() || c == '{' || c == '}')
        .filter(|t| !t.is_empty())
        .collect();
    let count = match tokens.first() {
        Some(n) if !n.contains(':') => {
            let n: usize = n
                .parse()
                .map_err(|_| Malformed::new(format!("bad SACK option `{o}`"), SACK_HINT))?;
            tokens.remove(0);
            Some(n)
        }
        _ => None,
    };
    let blocks: Vec<(u32, u32)> = tokens
        .iter()
        .map(|b| {
            let (l, r) = b.split_once(':').ok_or_else(|| {
                Malformed::new(format!("bad SACK block `{b}` in `{o}`"), SACK_HINT)
            })?;
            let num =
                |v: &str| number("sack", v, hint).map_err(|e| Malformed::new(e.msg, SACK_HINT));
            Ok((num(l)?, num(r)?))
        })
        .collect::<Result<_, Malformed>>()?;
    if blocks.is_empty() || blocks.len() > MAX_SACK_BLOCKS {
        return Err(Malformed::new(
            format!("`{o}`: a SACK option holds 1 to {MAX_SACK_BLOCKS} blocks"),
            SACK_HINT,
        ));
    }
    if count.is_some_and(|n| n != blocks.len()) {
        return Err(Malformed::new(
            format!(
                "`{o}` counts {} blocks but lists {}",
                count.unwrap_or(0),
                blocks.len()
            ),
            SACK_HINT,
        ));
    }
    Ok(blocks)
}

impl Opt {
    /// Whether reader `w` can use this form (`o` as written, for messages).
    fn accepted_in(&self, w: Where, o: &str) -> Result<(), Malformed> {
        match (w, self) {
            (Where::Sends, Opt::Mss(None) | Opt::Wscale(None)) => Err(Malformed::new(
                format!("`{o}` needs its value to be sent"),
                "write `mss 1460`, `wscale 7`",
            )),
            (Where::Sends, Opt::Sack(None)) => Err(Malformed::new(
                "`sack` needs its blocks to be sent",
                "write `sack 1001:2001`: relative to the peer's ISN, as `ack N` is",
            )),
            (Where::Packets, Opt::Ts { val: Some(v @ (TsVal::Clock(_) | TsVal::TsRecent(_))), .. }) => {
                Err(Malformed::new(
                    format!("`TS val {v}` says what HOST sends; a packets line pins the TSval tcpdump prints"),
                    "write `TS`, `TS val N` or `TS ecr N`",
                ))
            }
            _ => Ok(()),
        }
    }

    /// The option's name, without its value (tcpdump's, as
    /// [`TcpOption::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            Opt::Nop => "nop",
            Opt::SackOk => "sackOK",
            Opt::Sack(_) => "sack",
            Opt::Mss(_) => "mss",
            Opt::Wscale(_) => "wscale",
            Opt::Ts { .. } => "TS",
        }
    }

    /// Whether a captured option is this one: same name, and the values
    /// this one names.
    pub fn matches(&self, o: &TcpOption) -> bool {
        match (self, o) {
            (Opt::Nop, TcpOption::Nop) | (Opt::SackOk, TcpOption::SackOk) => true,
            (Opt::Sack(want), TcpOption::Sack(blocks)) => want.as_ref().is_none_or(|w| w == blocks),
            (Opt::Mss(want), TcpOption::Mss(v)) => want.is_none_or(|w| w == *v),
            (Opt::Wscale(want), TcpOption::Wscale(v)) => want.is_none_or(|w| w == *v),
            (Opt::Ts { val, ecr }, TcpOption::Ts { val: v, ecr: e }) => {
                val.is_none_or(|w| w == TsVal::Abs(*v)) && ecr.is_none_or(|w| w == *e)
            }
            _ => false,
        }
    }

    /// Bytes the option takes on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            Opt::Nop => 1,
            Opt::Mss(_) => 4,
            Opt::Wscale(_) => 3,
            Opt::SackOk => 2,
            Opt::Sack(blocks) => 2 + 8 * blocks.as_ref().map_or(0, Vec::len),
            Opt::Ts { .. } => 10,
        }
    }
}

/// The written form, which parses back to the same option.
impl fmt::Display for Opt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opt::Mss(Some(v)) => write!(f, "mss {v}"),
            Opt::Wscale(Some(v)) => write!(f, "wscale {v}"),
            // tcpdump's form: `sack 2 {1001:2001}{3001:4001}`.
            Opt::Sack(Some(blocks)) => {
                write!(f, "sack {} ", blocks.len())?;
                for (l, r) in blocks {
                    write!(f, "{{{l}:{r}}}")?;
                }
                Ok(())
            }
            Opt::Ts { val, ecr } => {
                f.write_str("TS")?;
                if let Some(v) = val {
                    write!(f, " val {v}")?;
                }
                if let Some(e) = ecr {
                    write!(f, " ecr {e}")?;
                }
                Ok(())
            }
            other => f.write_str(other.name()),
        }
    }
}
