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

pub use crate::notation::line::{AckNum, SeqNum};
use crate::notation::options::TsVal;
pub use crate::notation::{escape, Malformed};
use crate::notation::{line, Opt, Where};
use crate::packet::TcpFlags;

/// The byte `length N` fills the payload with (visible in a program's output).
pub const FILL_BYTE: u8 = b'x';

/// The source port of a new connection (`to port N`) unless `from port N`.
pub const DEFAULT_FROM_PORT: u16 = 40000;

/// The most option bytes a TCP header holds.
const MAX_OPTION_BYTES: usize = 40;

fn err(msg: impl Into<String>, hint: &str) -> Malformed {
    Malformed::new(msg, hint)
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
    pub options: Option<Vec<Opt>>,
    pub data: Data,
    /// `to port N`: a new connection to port N of the peer.
    pub to_port: Option<u16>,
    /// `from port N`: HOST's port for a new connection.
    pub from_port: Option<u16>,
}

/// The notation's `sends` form (`crate::notation`, [`Where::Sends`]): a
/// packets line's fields without its direction, timing or mark, plus
/// `rcv_nxt` / `snd_nxt`, `payload` and `to port` / `from port`.
impl FromStr for SegmentSpec {
    type Err = Malformed;

    fn from_str(text: &str) -> Result<SegmentSpec, Malformed> {
        let l = line::parse(text, Where::Sends)?;
        if let Some(kind) = l.icmp {
            return Err(err(
                format!("`icmp {kind}` is an ICMP message, not a TCP segment"),
                "send it as `HOST sends icmp ...` (inject::icmp)",
            ));
        }
        let mut spec = SegmentSpec {
            flags: l.flags,
            seq: l.seq,
            ack: l.ack,
            win: l.win,
            options: l.options,
            data: Data::Bytes(Vec::new()),
            to_port: l.to_port,
            from_port: l.from_port,
        };
        spec.data = data(&spec, l.seq_end, l.length, l.payload)?;
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
) -> Result<Data, Malformed> {
    let span = match (spec.seq, end) {
        // The notation has checked that B is not before A.
        (Some(SeqNum::Rel(a)), Some(b)) => Some(b.wrapping_sub(a)),
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
fn check(spec: &SegmentSpec) -> Result<(), Malformed> {
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
        let ts_recent = spec.options.iter().flatten().any(|o| {
            matches!(
                o,
                Opt::Ts {
                    val: Some(TsVal::TsRecent(_)),
                    ..
                }
            )
        });
        if ts_recent {
            return Err(err(
                "`TS val ts_recent` needs the captured connection, and `to port` starts a new one",
                "give the TSval, e.g. `options [TS val 1000 ecr 0]`",
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
    let opt_bytes: usize = spec.options.iter().flatten().map(Opt::wire_len).sum();
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
