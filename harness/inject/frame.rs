//! An absolute segment ([`Packet`]) to the Ethernet II + IPv4 (or IPv6) +
//! TCP frame HOST's kernel would put on its veth, built by etherparse's
//! `PacketBuilder`, which fills in the IPv4 header checksum and the TCP
//! checksum over the pseudo-header of the segment's family (RFC 793's for
//! IPv4, RFC 8200's for IPv6).
//!
//! The IPv4 header is Linux's for a TCP socket: DF set, TTL 64 (the
//! `net.ipv4.ip_default_ttl` default), DSCP/ECN 0. Linux numbers IP ids per
//! socket from a random start; the capture keeps no IP header, so the id is
//! the caller's choice ([`plausible_ip_id`] is a random one). The IPv6
//! header: hop limit 64 (`net.ipv6.conf.*.hop_limit`), traffic class 0,
//! no extension headers; its flow label is the id's bits (Linux's is a
//! hash of the flow, `net.ipv6.auto_flowlabels`, which tcpdump -nn does
//! not print either).

use std::net::IpAddr;

use etherparse::{
    IpHeaders, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder, TcpHeader,
    TcpOptionElement,
};

use crate::error::Error;
use crate::packet::{Packet, TcpFlags, TcpOption};

/// Linux's default TTL (`net.ipv4.ip_default_ttl`), and its IPv6 hop limit.
pub const TTL: u8 = 64;

/// Hardware addresses of the frame: HOST's veth end and its peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Macs {
    pub src: [u8; 6],
    pub dst: [u8; 6],
}

/// `aa:bb:cc:dd:ee:ff`, as `ip link` prints it.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A random IP id, as Linux starts each socket's counter (`get_random_u16`).
pub fn plausible_ip_id() -> u16 {
    let mut b = [0u8; 2];
    // SAFETY: writes at most 2 bytes into `b`. getrandom(2) does not fail
    // for 2 bytes once the pool is initialised; should it, 0 is still a
    // valid id (Linux's own for DF packets without a socket).
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    u16::from_ne_bytes(b)
}

/// A segment (or ICMP message) that cannot be put on the wire as it
/// stands: which part of the frame, and why (etherparse's words, or ours).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {why}")]
pub struct Unbuildable {
    pub part: String,
    pub why: String,
}

impl Unbuildable {
    pub fn new(part: impl Into<String>, why: impl std::fmt::Display) -> Unbuildable {
        Unbuildable {
            part: part.into(),
            why: why.to_string(),
        }
    }
}

/// The Ethernet frame of `seg`, IPv4 or IPv6 as its addresses are.
pub fn build(seg: &Packet, macs: Macs, ip_id: u16) -> Result<Vec<u8>, Unbuildable> {
    let ip = match (seg.src.ip(), seg.dst.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut ip = Ipv4Header::new(0, TTL, IpNumber::TCP, src.octets(), dst.octets())
                .map_err(|e| Unbuildable::new("IPv4 header", e))?;
            ip.dont_fragment = true;
            ip.identification = ip_id;
            IpHeaders::Ipv4(ip, Default::default())
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::try_new(u32::from(ip_id))
                    .map_err(|e| Unbuildable::new("IPv6 flow label", e))?,
                payload_length: 0, // filled in on write
                next_header: IpNumber::TCP,
                hop_limit: TTL,
                source: src.octets(),
                destination: dst.octets(),
            },
            Default::default(),
        ),
        _ => {
            return Err(Unbuildable::new(
                format!("{} > {}", seg.src, seg.dst),
                "the two ends are of different families",
            ))
        }
    };
    let mut tcp = TcpHeader::new(seg.src.port(), seg.dst.port(), seg.seq, seg.win);
    let f = seg.flags;
    tcp.fin = f.contains(TcpFlags::FIN);
    tcp.syn = f.contains(TcpFlags::SYN);
    tcp.rst = f.contains(TcpFlags::RST);
    tcp.psh = f.contains(TcpFlags::PSH);
    tcp.ack = f.contains(TcpFlags::ACK);
    tcp.urg = f.contains(TcpFlags::URG);
    tcp.ece = f.contains(TcpFlags::ECE);
    tcp.cwr = f.contains(TcpFlags::CWR);
    tcp.acknowledgment_number = seg.ack;
    let options: Vec<TcpOptionElement> = seg.options.iter().map(element).collect();
    tcp.set_options(&options)
        .map_err(|e| Unbuildable::new(format!("TCP options {:?}", seg.options), e))?;
    let builder = PacketBuilder::ethernet2(macs.src, macs.dst)
        .ip(ip)
        .tcp_header(tcp);
    let mut frame = Vec::with_capacity(builder.size(seg.payload.len()));
    builder
        .write(&mut frame, &seg.payload)
        .map_err(|e| Unbuildable::new(format!("build frame {} > {}", seg.src, seg.dst), e))?;
    Ok(frame)
}

fn element(o: &TcpOption) -> TcpOptionElement {
    match o {
        TcpOption::Nop => TcpOptionElement::Noop,
        TcpOption::Mss(v) => TcpOptionElement::MaximumSegmentSize(*v),
        TcpOption::Wscale(v) => TcpOptionElement::WindowScale(*v),
        TcpOption::SackOk => TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOption::Sack(blocks) => {
            let mut rest = [None; 3];
            for (slot, b) in rest.iter_mut().zip(blocks.iter().skip(1)) {
                *slot = Some(*b);
            }
            TcpOptionElement::SelectiveAcknowledgement(
                blocks.first().copied().unwrap_or((0, 0)),
                rest,
            )
        }
        TcpOption::Ts { val, ecr } => TcpOptionElement::Timestamp(*val, *ecr),
    }
}

/// Writes `frames` (capture time since the epoch, Ethernet bytes) to a
/// .pcap file that `tcpdump -r` reads: the record a test or a report keeps
/// of what was injected.
pub fn save_pcap(
    path: &std::path::Path,
    frames: &[(std::time::Duration, &[u8])],
) -> Result<(), Error> {
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET)
        .map_err(|e| Error::pcap("open a pcap writer", e))?;
    let mut save = dead
        .savefile(path)
        .map_err(|e| Error::pcap(format!("create {}", path.display()), e))?;
    for (ts, data) in frames {
        let header = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: ts.as_secs() as libc::time_t,
                tv_usec: ts.subsec_micros() as libc::suseconds_t,
            },
            caplen: data.len() as u32,
            len: data.len() as u32,
        };
        save.write(&pcap::Packet::new(&header, data));
    }
    save.flush()
        .map_err(|e| Error::pcap(format!("flush {}", path.display()), e))
}

/// What `tcpdump ARGS -r FILE` prints of `frames` saved as a .pcap (a
/// temporary file named after `name`), for the tests that hold our frames
/// and lines to the real tcpdump.
#[cfg(test)]
pub fn tcpdump_reads(frames: &[(std::time::Duration, &[u8])], name: &str, args: &[&str]) -> String {
    let path = std::env::temp_dir().join(format!("tcplab-{name}-{}.pcap", std::process::id()));
    save_pcap(&path, frames).expect("pcap");
    let out = std::process::Command::new("tcpdump")
        .args(args)
        .arg("-r")
        .arg(&path)
        .output()
        .expect("run tcpdump (apt-get install tcpdump)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "tcpdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
