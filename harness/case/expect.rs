//! Packet expectations and the observed packets they are held against, both
//! printed in tcpdump's notation with relative seq/ack.

use std::fmt;

use crate::flow::Isns;
use crate::lab::Side;
use crate::packet::{OptionList, Packet, TcpFlags, TcpOption};

/// One line of a `packets` block. Fields left out are not checked.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketExpect {
    pub line: usize,
    pub from: Side,
    pub to: Side,
    pub flags: TcpFlags,
    /// `seq 1` or `seq 1:7` (start, and end when given).
    pub seq: Option<(u32, Option<u32>)>,
    pub ack: Option<u32>,
    pub win: Option<u16>,
    pub length: Option<u32>,
    pub options: Option<Vec<OptExpect>>,
}

/// One item of `options [...]`: a name, and a value only where the case
/// names one (`mss 1460` pins the MSS, `wscale` only asks that it be there).
#[derive(Clone, Debug, PartialEq)]
pub enum OptExpect {
    Nop,
    SackOk,
    Sack,
    Mss(Option<u16>),
    Wscale(Option<u8>),
    Ts { val: Option<u32>, ecr: Option<u32> },
}

impl OptExpect {
    fn matches(&self, o: &TcpOption) -> bool {
        match (self, o) {
            (OptExpect::Nop, TcpOption::Nop)
            | (OptExpect::SackOk, TcpOption::SackOk)
            | (OptExpect::Sack, TcpOption::Sack(_)) => true,
            (OptExpect::Mss(want), TcpOption::Mss(v)) => want.is_none_or(|w| w == *v),
            (OptExpect::Wscale(want), TcpOption::Wscale(v)) => want.is_none_or(|w| w == *v),
            (OptExpect::Ts { val, ecr }, TcpOption::Ts { val: v, ecr: e }) => {
                val.is_none_or(|w| w == *v) && ecr.is_none_or(|w| w == *e)
            }
            _ => false,
        }
    }
}

impl fmt::Display for OptExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptExpect::Nop => f.write_str("nop"),
            OptExpect::SackOk => f.write_str("sackOK"),
            OptExpect::Sack => f.write_str("sack"),
            OptExpect::Mss(None) => f.write_str("mss"),
            OptExpect::Mss(Some(v)) => write!(f, "mss {v}"),
            OptExpect::Wscale(None) => f.write_str("wscale"),
            OptExpect::Wscale(Some(v)) => write!(f, "wscale {v}"),
            OptExpect::Ts { val, ecr } => {
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

/// A captured packet seen from the lab: which host sent it, and numbers
/// relative to each side's ISN.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub from: Side,
    pub to: Side,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub len: u32,
    pub options: Vec<TcpOption>,
}

impl Seen {
    /// None for a packet between addresses that are not the lab's.
    pub fn new(p: &Packet, isns: &Isns) -> Option<Seen> {
        Some(Seen {
            from: Side::of(p.src.ip())?,
            to: Side::of(p.dst.ip())?,
            flags: p.flags,
            seq: isns.seq(p),
            ack: isns.ack(p),
            win: p.win,
            len: p.len(),
            options: p.options.clone(),
        })
    }

    /// All packets of a capture, in order.
    pub fn all(packets: &[Packet]) -> Vec<Seen> {
        let isns = Isns::from_packets(packets);
        packets.iter().filter_map(|p| Seen::new(p, &isns)).collect()
    }

    /// `seq A[:B]` where tcpdump shows a seq, and `ack N` where the ACK
    /// flag is set: how both an observed line and a recorded expectation
    /// begin.
    pub fn seq_ack_fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        if self.shows_seq() {
            fields.push(if self.len > 0 {
                format!("seq {}:{}", self.seq, self.seq.wrapping_add(self.len))
            } else {
                format!("seq {}", self.seq)
            });
        }
        if self.flags.contains(TcpFlags::ACK) {
            fields.push(format!("ack {}", self.ack));
        }
        fields
    }

    /// tcpdump prints seq only for segments that take sequence space or
    /// carry RST.
    fn shows_seq(&self) -> bool {
        self.len > 0
            || self.flags.contains(TcpFlags::SYN)
            || self.flags.contains(TcpFlags::FIN)
            || self.flags.contains(TcpFlags::RST)
    }
}

/// `client > server  [S.]  ` with the flags padded so columns line up.
fn head(f: &mut fmt::Formatter<'_>, from: Side, to: Side, flags: TcpFlags) -> fmt::Result {
    write!(f, "{from} > {to}  {:<6}", format!("[{flags}]"))
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        head(f, self.from, self.to, self.flags)?;
        let mut fields = self.seq_ack_fields();
        fields.push(format!("win {}", self.win));
        if !self.options.is_empty() {
            fields.push(format!("options {}", OptionList(&self.options)));
        }
        fields.push(format!("length {}", self.len));
        f.write_str(&fields.join(", "))
    }
}

impl fmt::Display for PacketExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        head(f, self.from, self.to, self.flags)?;
        let mut fields = Vec::new();
        match self.seq {
            Some((s, Some(e))) => fields.push(format!("seq {s}:{e}")),
            Some((s, None)) => fields.push(format!("seq {s}")),
            None => {}
        }
        if let Some(a) = self.ack {
            fields.push(format!("ack {a}"));
        }
        if let Some(w) = self.win {
            fields.push(format!("win {w}"));
        }
        if let Some(opts) = &self.options {
            let items: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
            fields.push(format!("options [{}]", items.join(",")));
        }
        if let Some(l) = self.length {
            fields.push(format!("length {l}"));
        }
        f.write_str(fields.join(", ").trim_end())
    }
}

impl PacketExpect {
    /// Why `seen` is not this packet, or None when it is.
    pub fn mismatch(&self, seen: &Seen) -> Option<String> {
        if (self.from, self.to) != (seen.from, seen.to) {
            return Some(format!(
                "direction: expected {} > {}, saw {} > {}",
                self.from, self.to, seen.from, seen.to
            ));
        }
        if self.flags != seen.flags {
            return Some(format!(
                "flags: expected [{}], saw [{}]",
                self.flags, seen.flags
            ));
        }
        if let Some((start, end)) = self.seq {
            if start != seen.seq {
                return Some(format!("seq: expected {start}, saw {}", seen.seq));
            }
            let seen_end = seen.seq.wrapping_add(seen.len);
            if let Some(end) = end {
                if end != seen_end {
                    return Some(format!(
                        "seq: expected {start}:{end}, saw {start}:{seen_end}"
                    ));
                }
            }
        }
        if let Some(ack) = self.ack {
            if !seen.flags.contains(TcpFlags::ACK) || ack != seen.ack {
                return Some(format!("ack: expected {ack}, saw {}", seen.ack));
            }
        }
        if let Some(win) = self.win {
            if win != seen.win {
                return Some(format!("win: expected {win}, saw {}", seen.win));
            }
        }
        if let Some(len) = self.length {
            if len != seen.len {
                return Some(format!("length: expected {len}, saw {}", seen.len));
            }
        }
        if let Some(opts) = &self.options {
            let ok = opts.len() == seen.options.len()
                && opts.iter().zip(&seen.options).all(|(e, o)| e.matches(o));
            if !ok {
                let want: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
                return Some(format!(
                    "options: expected [{}], saw {}",
                    want.join(","),
                    OptionList(&seen.options)
                ));
            }
        }
        None
    }
}

/// Where a block and the capture part ways.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// Index of the first packet that differs (in both lists).
    pub index: usize,
    pub reason: String,
}

/// Compares a block with the packets captured for it: same count, same
/// order, each matching. None when they agree.
pub fn compare(expected: &[PacketExpect], seen: &[Seen]) -> Option<Divergence> {
    for (i, (e, s)) in expected.iter().zip(seen).enumerate() {
        if let Some(reason) = e.mismatch(s) {
            return Some(Divergence { index: i, reason });
        }
    }
    match expected.len().cmp(&seen.len()) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(Divergence {
            index: seen.len(),
            reason: format!(
                "missing packet: expected {} packets, captured {}",
                expected.len(),
                seen.len()
            ),
        }),
        std::cmp::Ordering::Less => Some(Divergence {
            index: expected.len(),
            reason: format!(
                "extra packet: expected {} packets, captured {}",
                expected.len(),
                seen.len()
            ),
        }),
    }
}
