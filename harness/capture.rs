//! tcpdump's part: libpcap on the server's veth, opened inside the server
//! namespace before any process of the case starts, so no SYN is ever missed.
//!
//! The handle is non-blocking and read by the case's own thread: the kernel
//! fills the ring whether or not we read, so "everything up to now" is simply
//! "read until the ring is empty" — no reader thread, no drain race.
//!
//! The kernel's filter also passes every other TCP segment: those are not
//! kept or written (the file holds exactly what the case's filter matches,
//! as `tcpdump FILTER` would write), only noted as [`Stray`]s, so a case
//! that captures port 11111 while its server listens on 22222 can be told
//! so.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::{Active, BpfProgram, Savefile};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::packet::{Packet, TcpFlags};

/// At most this many strays are noted (a bulk transfer on another port
/// must not fill memory); later ones are only counted.
const MAX_STRAYS: usize = 100_000;

/// A TCP segment on the interface that the case's filter does not keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stray {
    pub ts: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
}

pub struct Capture {
    cap: pcap::Capture<Active>,
    save: Savefile,
    /// The case's filter, run here on what the kernel's wider one passed.
    keep: BpfProgram,
    packets: Vec<Packet>,
    strays: Vec<Stray>,
    /// Strays beyond MAX_STRAYS, counted only.
    strays_uncounted: u64,
    path: PathBuf,
    iface: String,
    netns: String,
}

/// What a finished capture leaves: the file and the loss counters.
#[derive(Clone, Debug)]
pub struct Summary {
    pub path: PathBuf,
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

impl Capture {
    /// Opens `iface` inside `netns` with `filter` (BPF syntax) and starts
    /// writing `path`. Returns once the handle is active: from then on every
    /// matching packet is kept, and every other TCP segment noted.
    pub fn open(netns: &Netns, iface: &str, filter: &str, path: &Path) -> Result<Capture> {
        let dev = iface.to_string();
        let bpf = format!("({filter}) or tcp");
        let cap = netns
            .run("open capture", move || {
                // libpcap's default 2 MiB ring holds only ~32 of the veth's
                // 64 KiB GSO frames: a 64 KiB burst lost 39 of 71 packets;
                // 16 MiB lost none.
                let mut cap = pcap::Capture::from_device(dev.as_str())
                    .and_then(|c| {
                        c.immediate_mode(true)
                            .snaplen(262144)
                            .buffer_size(16 << 20)
                            .promisc(false)
                            .open()
                    })
                    .map_err(|e| Error::pcap(format!("open {dev} with libpcap"), e))?;
                cap.filter(&bpf, true)
                    .map_err(|e| Error::pcap(format!("set BPF filter `{bpf}` on {dev}"), e))?;
                cap.setnonblock()
                    .map_err(|e| Error::pcap(format!("set {dev} non-blocking"), e))
            })
            .map_err(|e| e.context(format!("capture in netns {}", netns.name())))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let save = cap
            .savefile(path)
            .map_err(|e| Error::pcap(format!("create {}", path.display()), e))?;
        let keep = cap
            .compile(filter, true)
            .map_err(|e| Error::pcap(format!("compile BPF filter `{filter}`"), e))?;
        Ok(Capture {
            cap,
            save,
            keep,
            packets: Vec::new(),
            strays: Vec::new(),
            strays_uncounted: 0,
            path: path.to_path_buf(),
            iface: iface.to_string(),
            netns: netns.name().to_string(),
        })
    }

    /// Reads every packet the kernel has queued so far. Returns how many
    /// were new.
    pub fn poll(&mut self) -> Result<usize> {
        let before = self.packets.len();
        loop {
            match self.cap.next_packet() {
                Ok(p) => {
                    let ts = Duration::new(
                        p.header.ts.tv_sec as u64,
                        (p.header.ts.tv_usec as u32).saturating_mul(1000),
                    );
                    let pkt = Packet::from_ethernet(p.data, ts);
                    if self.keep.filter(p.data) {
                        self.save.write(&p);
                        self.packets.extend(pkt);
                    } else if let Some(pkt) = pkt {
                        if self.strays.len() < MAX_STRAYS {
                            self.strays.push(Stray {
                                ts,
                                src: pkt.src,
                                dst: pkt.dst,
                                flags: pkt.flags,
                            });
                        } else {
                            self.strays_uncounted += 1;
                        }
                    }
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(e) => {
                    return Err(Error::pcap(
                        format!("read capture on {} in netns {}", self.iface, self.netns),
                        e,
                    ))
                }
            }
        }
        Ok(self.packets.len() - before)
    }

    /// Blocks until a packet is queued or `timeout` passes (poll(2) on the
    /// capture socket: an event, not a sleep).
    pub fn wait_readable(&self, timeout: Duration) -> bool {
        // SAFETY: the fd belongs to self.cap, which outlives this call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.cap.as_raw_fd()) };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)), Ok(n) if n > 0)
    }

    pub fn packets(&self) -> &[Packet] {
        &self.packets
    }

    /// The TCP segments the filter did not keep, in order (the first
    /// 100000; [`Capture::strays_uncounted`] counts the rest).
    pub fn strays(&self) -> &[Stray] {
        &self.strays
    }

    pub fn strays_uncounted(&self) -> u64 {
        self.strays_uncounted
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file and reads libpcap's loss counters.
    pub fn finish(mut self) -> Result<Summary> {
        self.poll()?;
        self.save
            .flush()
            .map_err(|e| Error::pcap(format!("flush {}", self.path.display()), e))?;
        let stats = self
            .cap
            .stats()
            .map_err(|e| Error::pcap(format!("read capture stats on {}", self.iface), e))?;
        Ok(Summary {
            path: self.path.clone(),
            received: stats.received,
            dropped: stats.dropped,
            if_dropped: stats.if_dropped,
        })
    }
}

/// Strays by the port their connection went to: the destination of each
/// flow's first segment (a SYN's is the port listened on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrayPort {
    pub port: u16,
    pub packets: usize,
    pub flows: usize,
    /// The first segment of the first flow to this port.
    pub first: Stray,
}

/// Groups `strays` (in capture order) by [`StrayPort`], busiest first.
pub fn stray_ports(strays: &[Stray]) -> Vec<StrayPort> {
    use std::collections::HashMap;
    let mut flows: HashMap<(SocketAddr, SocketAddr), u16> = HashMap::new();
    let mut ports: HashMap<u16, StrayPort> = HashMap::new();
    for s in strays {
        let key = (s.src.min(s.dst), s.src.max(s.dst));
        let mut new_flow = false;
        let port = *flows.entry(key).or_insert_with(|| {
            new_flow = true;
            s.dst.port()
        });
        let p = ports.entry(port).or_insert(StrayPort {
            port,
            packets: 0,
            flows: 0,
            first: *s,
        });
        p.packets += 1;
        p.flows += usize::from(new_flow);
    }
    let mut ports: Vec<StrayPort> = ports.into_values().collect();
    ports.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.port.cmp(&b.port)));
    ports
}

/// `22222 (3 packets in 1 connection, the first 192.168.2.105.40000 >
/// 192.168.2.100.22222 [S])`
impl std::fmt::Display for StrayPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::packet::Endpoint;
        write!(
            f,
            "{} ({} packet{} in {} connection{}, the first {} > {} [{}])",
            self.port,
            self.packets,
            if self.packets == 1 { "" } else { "s" },
            self.flows,
            if self.flows == 1 { "" } else { "s" },
            Endpoint(self.first.src),
            Endpoint(self.first.dst),
            self.first.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stray(src: &str, dst: &str, flags: TcpFlags) -> Stray {
        Stray {
            ts: Duration::ZERO,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            flags,
        }
    }

    #[test]
    fn strays_group_by_the_port_each_connection_went_to() {
        let (c, s) = ("192.168.2.105:40000", "192.168.2.100:22222");
        let ack = TcpFlags::ACK;
        let strays = [
            stray(c, s, TcpFlags::SYN),
            stray(s, c, TcpFlags::SYN | ack),
            stray(c, s, ack),
            stray("192.168.2.105:40001", "192.168.2.100:80", TcpFlags::SYN),
            stray("192.168.2.105:40002", s, TcpFlags::SYN),
        ];
        let ports = stray_ports(&strays);
        assert_eq!(ports.len(), 2);
        assert_eq!(
            (ports[0].port, ports[0].packets, ports[0].flows),
            (22222, 4, 2)
        );
        assert_eq!(
            (ports[1].port, ports[1].packets, ports[1].flows),
            (80, 1, 1)
        );
        assert_eq!(
            ports[0].to_string(),
            "22222 (4 packets in 2 connections, the first 192.168.2.105.40000 > 192.168.2.100.22222 [S])"
        );
    }
}
