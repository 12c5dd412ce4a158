//! A captured TCP segment, in the terms tcpdump prints: flags as letters,
//! options as `[mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7]`.

use crate::error::Malformed;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket, TcpOptionElement, TransportSlice};

pub use crate::icmp::Icmp;

/// TCP flag bits, printed in tcpdump's letters and order (`S.`, `F.`, `P.`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// tcpdump's table order: that is the order the letters print in.
    const LETTERS: [(TcpFlags, char); 8] = [
        (TcpFlags::FIN, 'F'),
        (TcpFlags::SYN, 'S'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::ACK, '.'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::CWR, 'W'),
    ];

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }

    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names the seed's ladder uses: SYN, SYN+ACK, FIN+ACK, PSH+ACK.
    pub fn names(self) -> String {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::ACK, "ACK"),
        ];
        let parts: Vec<&str> = NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("+")
        }
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (flag, letter) in TcpFlags::LETTERS {
            if self.contains(flag) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for TcpFlags {
    type Err = Malformed;
    /// Accepts tcpdump's letters in any order, each at most once.
    fn from_str(s: &str) -> Result<TcpFlags, Malformed> {
        if s == "none" {
            return Ok(TcpFlags(0));
        }
        let mut flags = TcpFlags(0);
        for c in s.chars() {
            let Some((flag, _)) = TcpFlags::LETTERS.iter().find(|(_, l)| *l == c) else {
                return Err(Malformed::new(
                    format!("`{c}` is not a TCP flag letter (tcpdump's letters: S F R P . U E W)"),
                    "",
                ));
            };
            if flags.contains(*flag) {
                return Err(Malformed::new(format!("flag `{c}` given twice"), ""));
            }
            flags = flags | *flag;
        }
        if flags.0 == 0 {
            return Err(Malformed::new("no flags (write [.] for a bare ACK)", ""));
        }
        Ok(flags)
    }
}

/// One TCP option, printed as tcpdump prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    Nop,
    Mss(u16),
    Wscale(u8),
    SackOk,
    Sack(Vec<(u32, u32)>),
    Ts { val: u32, ecr: u32 },
}

impl TcpOption {
    /// Bytes the option takes on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::Wscale(_) => 3,
            TcpOption::SackOk => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Ts { .. } => 10,
        }
    }

    /// tcpdump's name for the option, without its value.
    pub fn name(&self) -> &'static str {
        match self {
            TcpOption::Nop => "nop",
            TcpOption::Mss(_) => "mss",
            TcpOption::Wscale(_) => "wscale",
            TcpOption::SackOk => "sackOK",
            TcpOption::Sack(_) => "sack",
            TcpOption::Ts { .. } => "TS",
        }
    }
}

impl fmt::Display for TcpOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOption::Nop => f.write_str("nop"),
            TcpOption::Mss(v) => write!(f, "mss {v}"),
            TcpOption::Wscale(v) => write!(f, "wscale {v}"),
            TcpOption::SackOk => f.write_str("sackOK"),
            // tcpdump's form: the count, then the blocks with nothing between.
            TcpOption::Sack(blocks) => {
                write!(f, "sack {} ", blocks.len())?;
                for (l, r) in blocks {
                    write!(f, "{{{l}:{r}}}")?;
                }
                Ok(())
            }
            TcpOption::Ts { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
        }
    }
}

/// Options list as tcpdump prints it: `[mss 1460,sackOK,nop]`.
pub struct OptionList<'a>(pub &'a [TcpOption]);

impl fmt::Display for OptionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, o) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{o}")?;
        }
        f.write_str("]")
    }
}

/// A TCP segment as captured, with absolute sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Capture time since the Unix epoch (libpcap's timestamp).
    pub ts: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub options: Vec<TcpOption>,
    pub payload: Vec<u8>,
    /// An ICMP destination-unreachable message about one of the case's
    /// segments, not a segment: its addresses are the message's (ports 0),
    /// its TCP fields empty, and this says what it reports.
    pub icmp: Option<Icmp>,
}

impl Packet {
    /// Parses an Ethernet frame; None for anything that is not TCP over IP
    /// (or an ICMP destination-unreachable message quoting TCP).
    pub fn from_ethernet(frame: &[u8], ts: Duration) -> Option<Packet> {
        Packet::from_sliced(SlicedPacket::from_ethernet(frame).ok()?, ts)
    }

    /// Parses a bare IP datagram (what NFQUEUE hands to a verdict thread);
    /// None for anything that is not TCP.
    pub fn from_ip(datagram: &[u8], ts: Duration) -> Option<Packet> {
        Packet::from_sliced(SlicedPacket::from_ip(datagram).ok()?, ts)
    }

    fn from_sliced(sliced: SlicedPacket<'_>, ts: Duration) -> Option<Packet> {
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match sliced.net? {
            NetSlice::Ipv4(ip) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            NetSlice::Ipv6(ip) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            NetSlice::Arp(_) => return None,
        };
        let tcp = match sliced.transport? {
            TransportSlice::Tcp(tcp) => tcp,
            TransportSlice::Icmpv4(icmp) => {
                return Some(Packet::icmp(ts, (src_ip, dst_ip), Icmp::parse(&icmp)?))
            }
            TransportSlice::Icmpv6(icmp) => {
                return Some(Packet::icmp(ts, (src_ip, dst_ip), Icmp::parse6(&icmp)?))
            }
            _ => return None,
        };
        let flag_bits = [
            (tcp.fin(), TcpFlags::FIN),
            (tcp.syn(), TcpFlags::SYN),
            (tcp.rst(), TcpFlags::RST),
            (tcp.psh(), TcpFlags::PSH),
            (tcp.ack(), TcpFlags::ACK),
            (tcp.urg(), TcpFlags::URG),
            (tcp.ece(), TcpFlags::ECE),
            (tcp.cwr(), TcpFlags::CWR),
        ];
        let flags = flag_bits
            .into_iter()
            .filter(|(on, _)| *on)
            .fold(TcpFlags::default(), |acc, (_, f)| acc | f);
        let options = tcp
            .options_iterator()
            .filter_map(|o| o.ok())
            .map(|o| match o {
                TcpOptionElement::Noop => TcpOption::Nop,
                TcpOptionElement::MaximumSegmentSize(v) => TcpOption::Mss(v),
                TcpOptionElement::WindowScale(v) => TcpOption::Wscale(v),
                TcpOptionElement::SelectiveAcknowledgementPermitted => TcpOption::SackOk,
                TcpOptionElement::SelectiveAcknowledgement(first, rest) => TcpOption::Sack(
                    std::iter::once(first)
                        .chain(rest.into_iter().flatten())
                        .collect(),
                ),
                TcpOptionElement::Timestamp(val, ecr) => TcpOption::Ts { val, ecr },
            })
            .collect();
        Some(Packet {
            ts,
            src: SocketAddr::new(src_ip, tcp.source_port()),
            dst: SocketAddr::new(dst_ip, tcp.destination_port()),
            flags,
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            win: tcp.window_size(),
            options,
            payload: tcp.payload().to_vec(),
            icmp: None,
        })
    }

    /// An ICMP message from `src` to `dst` about a segment.
    pub fn icmp(ts: Duration, (src, dst): (IpAddr, IpAddr), icmp: Icmp) -> Packet {
        Packet {
            ts,
            src: SocketAddr::new(src, 0),
            dst: SocketAddr::new(dst, 0),
            flags: TcpFlags::default(),
            seq: 0,
            ack: 0,
            win: 0,
            options: Vec::new(),
            payload: Vec::new(),
            icmp: Some(icmp),
        }
    }

    /// The connection a packet belongs to, as (this way's source, its
    /// destination): its own ends, or, for an ICMP message, those of the
    /// segment it quotes, turned to the message's way (it goes back to the
    /// segment's sender).
    pub fn conn_ends(&self) -> (SocketAddr, SocketAddr) {
        match &self.icmp {
            Some(i) => (i.about_dst, i.about_src),
            None => (self.src, self.dst),
        }
    }

    pub fn len(&self) -> u32 {
        self.payload.len() as u32
    }

    /// The sender's TCP timestamp (TSval), if the segment carries one.
    pub fn tsval(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Ts { val, .. } => Some(*val),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// Sequence space the segment takes: payload, plus one for SYN and FIN.
    pub fn seq_space(&self) -> u32 {
        self.len()
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }
}

/// Writes `a.b.c.d.port` as tcpdump -nn does (IPv6: `addr.port`).
pub struct Endpoint(pub SocketAddr);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0.ip(), self.0.port())
    }
}

#[cfg(test)]
impl Packet {
    /// A segment for tests: `src > dst` (`ADDR:PORT`) with these flags
    /// (tcpdump's letters), seq and ack, win 502, no options and `len`
    /// bytes of `x`.
    pub fn sample(
        ts: Duration,
        src: &str,
        dst: &str,
        flags: &str,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> Packet {
        Packet {
            ts,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            flags: flags.parse().unwrap(),
            seq,
            ack,
            win: 502,
            options: vec![],
            payload: vec![b'x'; len],
            icmp: None,
        }
    }
}
