//! An ICMP destination-unreachable message about a TCP segment: what the
//! capture keeps beside the case's TCP segments (the filter passes the
//! ones that quote its port), and what `HOST sends icmp ...` injects.
//!
//! The kinds are written in the case notation's words (`frag-needed mtu
//! 1400`, `port-unreachable`, ...) in either family, and printed as
//! `tcpdump -nn` prints them (`ICMP 192.168.2.105 unreachable - need to
//! frag (mtu 1400), length 36`: the quoted segment's destination, then the
//! reason). Over IPv6 the same kinds are ICMPv6's (RFC 4443): a
//! destination-unreachable code, or packet-too-big for `frag-needed`
//! (`ICMP6, packet too big, mtu 1400, length 1240`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::icmpv6::DestUnreachableCode;
use etherparse::{Icmpv4Slice, Icmpv4Type, Icmpv6Slice, Icmpv6Type, Ipv4HeaderSlice};
use etherparse::{IpNumber, Ipv6HeaderSlice};

/// Why the destination was unreachable (ICMP type 3, by code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// Code 0, `net-unreachable`.
    Net,
    /// Code 1, `host-unreachable`.
    Host,
    /// Code 2, `proto-unreachable`.
    Protocol,
    /// Code 3, `port-unreachable`.
    Port,
    /// Code 4, `frag-needed mtu N`: the next hop's MTU (RFC 1191).
    FragNeeded { mtu: u16 },
    /// Code 13, `admin-prohibited` (a filter's reject, RFC 1812).
    AdminProhibited,
    /// Any other code, as captured.
    Other(u8),
}

impl Unreachable {
    /// The words a case writes, and the kinds they stand for (the MTU of
    /// `frag-needed` follows as `mtu N`).
    pub const WORDS: [(&'static str, Unreachable); 6] = [
        ("net-unreachable", Unreachable::Net),
        ("host-unreachable", Unreachable::Host),
        ("proto-unreachable", Unreachable::Protocol),
        ("port-unreachable", Unreachable::Port),
        ("frag-needed", Unreachable::FragNeeded { mtu: 0 }),
        ("admin-prohibited", Unreachable::AdminProhibited),
    ];

    pub fn code(self) -> u8 {
        match self {
            Unreachable::Net => 0,
            Unreachable::Host => 1,
            Unreachable::Protocol => 2,
            Unreachable::Port => 3,
            Unreachable::FragNeeded { .. } => 4,
            Unreachable::AdminProhibited => 13,
            Unreachable::Other(c) => c,
        }
    }

    /// The ICMP header's kind, as etherparse writes it.
    pub fn header(self) -> DestUnreachableHeader {
        match self {
            Unreachable::Net => DestUnreachableHeader::Network,
            Unreachable::Host => DestUnreachableHeader::Host,
            Unreachable::Protocol => DestUnreachableHeader::Protocol,
            Unreachable::Port => DestUnreachableHeader::Port,
            Unreachable::FragNeeded { mtu } => {
                DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu }
            }
            Unreachable::AdminProhibited => DestUnreachableHeader::FilterProhibited,
            Unreachable::Other(c) => {
                DestUnreachableHeader::from_values(c, 0).unwrap_or(DestUnreachableHeader::Host)
            }
        }
    }

    /// The ICMPv6 message standing for this kind (RFC 4443):
    /// packet-too-big for `frag-needed`, else a destination-unreachable
    /// code; None for `proto-unreachable`, which ICMPv6 says with a
    /// parameter problem instead, and for an ICMPv4-only code.
    pub fn icmpv6(self) -> Option<Icmpv6Type> {
        let code = match self {
            Unreachable::FragNeeded { mtu } => {
                return Some(Icmpv6Type::PacketTooBig { mtu: mtu.into() })
            }
            Unreachable::Net => DestUnreachableCode::NoRoute,
            Unreachable::Host => DestUnreachableCode::Address,
            Unreachable::Port => DestUnreachableCode::Port,
            Unreachable::AdminProhibited => DestUnreachableCode::Prohibited,
            Unreachable::Protocol | Unreachable::Other(_) => return None,
        };
        Some(Icmpv6Type::DestinationUnreachable(code))
    }

    /// The kind of an ICMPv6 message; None for one tcpdump prints as a
    /// hex dump (codes 2, 5, 6) or that is no error about a segment.
    fn of_icmpv6(t: Icmpv6Type) -> Option<Unreachable> {
        Some(match t {
            Icmpv6Type::PacketTooBig { mtu } => Unreachable::FragNeeded {
                mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
            },
            Icmpv6Type::DestinationUnreachable(code) => match code {
                DestUnreachableCode::NoRoute => Unreachable::Net,
                DestUnreachableCode::Prohibited => Unreachable::AdminProhibited,
                DestUnreachableCode::Address => Unreachable::Host,
                DestUnreachableCode::Port => Unreachable::Port,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn of_header(h: DestUnreachableHeader) -> Unreachable {
        match h {
            DestUnreachableHeader::Network => Unreachable::Net,
            DestUnreachableHeader::Host => Unreachable::Host,
            DestUnreachableHeader::Protocol => Unreachable::Protocol,
            DestUnreachableHeader::Port => Unreachable::Port,
            DestUnreachableHeader::FragmentationNeeded { next_hop_mtu } => {
                Unreachable::FragNeeded { mtu: next_hop_mtu }
            }
            DestUnreachableHeader::FilterProhibited => Unreachable::AdminProhibited,
            other => Unreachable::Other(other.code_u8()),
        }
    }
}

/// The case notation's words: `frag-needed mtu 1400`, `port-unreachable`.
impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreachable::FragNeeded { mtu } => write!(f, "frag-needed mtu {mtu}"),
            Unreachable::Other(c) => write!(f, "unreachable code {c}"),
            kind => {
                let word = Unreachable::WORDS
                    .iter()
                    .find(|(_, k)| k == kind)
                    .map_or("unreachable", |(w, _)| w);
                f.write_str(word)
            }
        }
    }
}

/// An ICMP destination-unreachable message that quotes a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp {
    pub unreachable: Unreachable,
    /// The quoted segment's source and destination (addresses and ports).
    pub about_src: SocketAddr,
    pub about_dst: SocketAddr,
    /// The quoted segment's sequence number: what the receiving kernel
    /// checks against its send window before it believes the message.
    pub about_seq: u32,
    /// The ICMP message's length, its header and the quoted bytes:
    /// tcpdump's `length N`.
    pub len: u16,
}

/// How many bytes of the quoted datagram an ICMPv4 message carries: its
/// IPv4 header and the first 8 bytes of TCP (ports and seq), RFC 792's
/// minimum and all that Linux reads.
pub const QUOTED: usize = 20 + 8;

/// The quoted TCP bytes Linux reads: ports and seq.
fn ports_seq(tcp: &[u8]) -> Option<(u16, u16, u32)> {
    let t = tcp.get(..8)?;
    Some((
        u16::from_be_bytes([t[0], t[1]]),
        u16::from_be_bytes([t[2], t[3]]),
        u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
    ))
}

impl Icmp {
    /// An ICMPv4 slice, if it is a destination-unreachable message quoting
    /// an IPv4 TCP segment (at least its ports and seq).
    pub fn parse(icmp: &Icmpv4Slice<'_>) -> Option<Icmp> {
        let Icmpv4Type::DestinationUnreachable(h) = icmp.icmp_type() else {
            return None;
        };
        let quoted = icmp.payload();
        let ip = Ipv4HeaderSlice::from_slice(quoted).ok()?;
        if ip.protocol() != etherparse::IpNumber::TCP {
            return None;
        }
        let (sport, dport, seq) = ports_seq(quoted.get(ip.slice().len()..)?)?;
        Some(Icmp {
            unreachable: Unreachable::of_header(h),
            about_src: SocketAddr::new(IpAddr::V4(ip.source_addr()), sport),
            about_dst: SocketAddr::new(IpAddr::V4(ip.destination_addr()), dport),
            about_seq: seq,
            len: icmp.slice().len() as u16,
        })
    }

    /// An ICMPv6 slice, if it is a destination-unreachable or
    /// packet-too-big message quoting an IPv6 TCP segment (its fixed
    /// header straight followed by TCP, as Linux sends one: at least its
    /// ports and seq).
    pub fn parse6(icmp: &Icmpv6Slice<'_>) -> Option<Icmp> {
        let unreachable = Unreachable::of_icmpv6(icmp.icmp_type())?;
        let quoted = icmp.payload();
        let ip = Ipv6HeaderSlice::from_slice(quoted).ok()?;
        if ip.next_header() != IpNumber::TCP {
            return None;
        }
        let (sport, dport, seq) = ports_seq(quoted.get(ip.slice().len()..)?)?;
        Some(Icmp {
            unreachable,
            about_src: SocketAddr::new(IpAddr::V6(ip.source_addr()), sport),
            about_dst: SocketAddr::new(IpAddr::V6(ip.destination_addr()), dport),
            about_seq: seq,
            len: u16::try_from(icmp.slice().len()).ok()?,
        })
    }

    /// What tcpdump -nn prints for the message, from `ICMP` (`ICMP6,`
    /// over IPv6) to before `, length N` (print-icmp.c, print-icmp6.c).
    pub fn tcpdump_text(&self) -> String {
        if self.about_dst.is_ipv6() {
            return format!("ICMP6, {}", self.tcpdump_text6());
        }
        format!("ICMP {}", self.tcpdump_text4())
    }

    fn tcpdump_text4(&self) -> String {
        let (dst, port) = (self.about_dst.ip(), self.about_dst.port());
        match self.unreachable {
            Unreachable::Net => format!("net {dst} unreachable"),
            Unreachable::Host => format!("host {dst} unreachable"),
            Unreachable::Protocol => format!("{dst} protocol 6 unreachable"),
            Unreachable::Port => format!("{dst} tcp port {port} unreachable"),
            Unreachable::FragNeeded { mtu } => {
                format!("{dst} unreachable - need to frag (mtu {mtu})")
            }
            Unreachable::AdminProhibited => {
                format!("host {dst} unreachable - admin prohibited filter")
            }
            Unreachable::Other(c) => format!("{dst} unreachable - #{c}"),
        }
    }

    /// print-icmp6.c: the type's name, then the code's and the quoted
    /// destination, or the MTU.
    fn tcpdump_text6(&self) -> String {
        let (dst, port) = (self.about_dst.ip(), self.about_dst.port());
        let unreachable = "destination unreachable, unreachable";
        match self.unreachable {
            Unreachable::FragNeeded { mtu } => format!("packet too big, mtu {mtu}"),
            Unreachable::Net => format!("{unreachable} route {dst}"),
            // tcpdump 4.99's name for code 1 starts with a space.
            Unreachable::AdminProhibited => {
                format!("destination unreachable,  unreachable prohibited {dst}")
            }
            Unreachable::Host => format!("{unreachable} address {dst}"),
            Unreachable::Port => format!("{unreachable} port, {dst} tcp port {port}"),
            // Never parsed from ICMPv6 nor built as it (see `icmpv6`).
            Unreachable::Protocol | Unreachable::Other(_) => {
                format!("destination unreachable, {}", self.unreachable)
            }
        }
    }
}
