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
//! | `sack` (anything after) | present | refused |
//! | `nop`, `sackOK` | present | sends it |
//!
//! The wire's own option, with every value, is [`crate::packet::TcpOption`].

use std::fmt;

use super::values::{number, small};
use super::{Malformed, Where};
use crate::packet::TcpOption;

/// One item of `options [...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opt {
    Nop,
    SackOk,
    /// SACK blocks: only "present" so far.
    Sack,
    Mss(Option<u16>),
    Wscale(Option<u8>),
    Ts {
        val: Option<u32>,
        ecr: Option<u32>,
    },
}

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
        ["sack", ..] => Opt::Sack,
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
                    ["val", v] if val.is_none() => val = Some(value("TS val", v)?),
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

impl Opt {
    /// Whether reader `w` can use this form (`o` as written, for messages).
    fn accepted_in(&self, w: Where, o: &str) -> Result<(), Malformed> {
        match (w, self) {
            (Where::Sends, Opt::Mss(None) | Opt::Wscale(None)) => Err(Malformed::new(
                format!("`{o}` needs its value to be sent"),
                "write `mss 1460`, `wscale 7`",
            )),
            (Where::Sends, Opt::Sack) => Err(Malformed::new(
                format!("unknown option `{o}`"),
                w.options_hint(),
            )),
            _ => Ok(()),
        }
    }

    /// The option's name, without its value (tcpdump's, as
    /// [`TcpOption::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            Opt::Nop => "nop",
            Opt::SackOk => "sackOK",
            Opt::Sack => "sack",
            Opt::Mss(_) => "mss",
            Opt::Wscale(_) => "wscale",
            Opt::Ts { .. } => "TS",
        }
    }

    /// Whether a captured option is this one: same name, and the values
    /// this one names.
    pub fn matches(&self, o: &TcpOption) -> bool {
        match (self, o) {
            (Opt::Nop, TcpOption::Nop)
            | (Opt::SackOk, TcpOption::SackOk)
            | (Opt::Sack, TcpOption::Sack(_)) => true,
            (Opt::Mss(want), TcpOption::Mss(v)) => want.is_none_or(|w| w == *v),
            (Opt::Wscale(want), TcpOption::Wscale(v)) => want.is_none_or(|w| w == *v),
            (Opt::Ts { val, ecr }, TcpOption::Ts { val: v, ecr: e }) => {
                val.is_none_or(|w| w == *v) && ecr.is_none_or(|w| w == *e)
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
            Opt::Sack => 2,
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
