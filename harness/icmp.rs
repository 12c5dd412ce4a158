//! An ICMP destination-unreachable message about a TCP segment: what the
//! capture keeps beside the case's TCP segments (the filter passes the
//! ones that quote its port), and what `HOST sends icmp ...` injects.
//!
//! The kinds are written in the case notation's words (`frag-needed mtu
//! 1400`, `port-unreachable`, ...) and printed as `tcpdump -nn` prints
//! them (`ICMP 192.168.2.105 unreachable - need to frag (mtu 1400), length
//! 36`: the quoted segment's destination, then the reason).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{Icmpv4Slice, Icmpv4Type, Ipv4HeaderSlice};

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

/// How many bytes of the quoted datagram a message carries: its IPv4
/// header and the first 8 bytes of TCP (ports and seq), RFC 792's minimum
/// and all that Linux reads.
pub const QUOTED: usize = 20 + 8;

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
        let tcp = quoted.get(ip.slice().len()..ip.slice().len() + 8)?;
        let port = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
        Some(Icmp {
            unreachable: Unreachable::of_header(h),
            about_src: SocketAddr::new(IpAddr::V4(ip.source_addr()), port(0)),
            about_dst: SocketAddr::new(IpAddr::V4(ip.destination_addr()), port(2)),
            about_seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
            len: icmp.slice().len() as u16,
        })
    }

    /// What tcpdump -nn prints after `ICMP `, before `, length N`.
    pub fn tcpdump_text(&self) -> String {
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
}
