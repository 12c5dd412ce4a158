//! tcpdump's part: the kernel's packet tap on the server's veth, opened
//! inside the server namespace before any process of the case starts, so
//! no SYN is ever missed (see `socket` for why a packet socket and not
//! libpcap's ring).
//!
//! A reader thread (it lives in the server's namespace) opens the socket
//! and then reads it continuously into memory, writing the .pcap as it
//! goes: a capture read only at settles lost every packet after the first
//! few dozen connections (libpcap's ring has a fixed slot per packet).
//! [`Capture::poll`] is "everything up to now": it asks the reader, which
//! reads until the socket is empty *after* seeing the request, and waits
//! for its answer; so every packet the kernel queued before the call is in
//! [`Capture::packets`] after it.
//!
//! [`Capture::start`] returns while the reader opens, so the lab's setup
//! goes on meanwhile, and [`Capture::finish`] returns once the file is
//! complete, leaving the socket's close (an RCU grace period, 5 to 20 ms
//! of waiting) to the reader.
//!
//! The kernel's filter also passes every other TCP segment: those are not
//! kept or written (the file holds exactly what the case's filter matches,
//! as `tcpdump FILTER` would write), only noted as [`Stray`]s, so a case
//! that captures port 11111 while its server listens on 22222 can be told
//! so.

mod reader;
mod shared;
mod socket;
mod stamps;

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use shared::{Shared, State};
pub use shared::{Stray, Summary};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::packet::Packet;

pub struct Capture {
    shared: Arc<Shared>,
    packets: Vec<Packet>,
    strays: Vec<Stray>,
    strays_uncounted: u64,
    path: PathBuf,
    iface: String,
    netns: String,
    finished: bool,
}

impl Capture {
    /// Opens `iface` inside `netns` with `filter` (BPF syntax) and starts
    /// writing `path`. Returns once the handle is active: from then on every
    /// matching packet is kept, and every other TCP segment noted.
    pub fn open(netns: &Netns, iface: &str, filter: &str, path: &Path) -> Result<Capture> {
        let cap = Capture::start(netns, iface, filter, path)?;
        cap.ready()?;
        Ok(cap)
    }

    /// Starts opening `iface` inside `netns` and returns at once; the
    /// handle is active once [`Capture::ready`] returns (every other method
    /// waits for that too). `iface` must exist; it may still be down.
    pub fn start(netns: &Netns, iface: &str, filter: &str, path: &Path) -> Result<Capture> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        // SAFETY: eventfd(2) with valid flags; the fd is ours alone.
        let wake = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if wake < 0 {
            return Err(Error::io("eventfd", std::io::Error::last_os_error()));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            // SAFETY: a fresh fd that nothing else owns.
            wake: unsafe { OwnedFd::from_raw_fd(wake) },
        });
        let open = reader::Open {
            iface: iface.to_string(),
            filter: filter.to_string(),
            path: path.to_path_buf(),
            netns: netns.name().to_string(),
            shared: shared.clone(),
        };
        // The reader is detached: it ends by itself once asked to stop.
        drop(netns.spawn(move || {
            reader::run(open);
            Ok(())
        })?);
        Ok(Capture {
            shared,
            packets: Vec::new(),
            strays: Vec::new(),
            strays_uncounted: 0,
            path: path.to_path_buf(),
            iface: iface.to_string(),
            netns: netns.name().to_string(),
            finished: false,
        })
    }

    /// Waits until the handle is active, or says why it could not open.
    pub fn ready(&self) -> Result<()> {
        let s = self
            .shared
            .wait_for("open the capture", |s| s.opened.is_some())?;
        match &s.opened {
            Some(Err(e)) => Err(e
                .duplicate()
                .context(format!("capture in netns {}", self.netns))),
            _ => Ok(()),
        }
    }

    /// Takes every packet the kernel has queued so far. Returns how many
    /// were new.
    pub fn poll(&mut self) -> Result<usize> {
        self.ready()?;
        let asked = {
            let mut s = self.shared.lock();
            s.asked += 1;
            s.asked
        };
        self.shared.wake();
        let mut s = self.shared.wait_for("answer a request", |s| {
            s.answered >= asked || s.failed.is_some()
        })?;
        let before = self.packets.len();
        self.packets.append(&mut s.packets);
        self.strays.append(&mut s.strays);
        self.strays_uncounted = s.strays_uncounted;
        match &s.failed {
            Some(e) => Err(e.duplicate().context(format!(
                "read capture on {} in netns {}",
                self.iface, self.netns
            ))),
            None => Ok(self.packets.len() - before),
        }
    }

    /// Blocks until a packet is read that [`Capture::poll`] has not taken
    /// yet, or `timeout` passes: woken by the reader, not a sleep.
    pub fn wait_readable(&self, timeout: Duration) -> bool {
        self.shared
            .until(timeout, |s| {
                !s.packets.is_empty() || !s.strays.is_empty() || s.failed.is_some()
            })
            .1
    }

    /// How many TCP segments the reader has seen so far (kept or not):
    /// pass it to [`Capture::wait_activity`].
    pub fn activity(&self) -> u64 {
        self.shared.lock().read
    }

    /// Sleeps until the reader sees a TCP segment beyond the first `seen`,
    /// or `timeout` passes; returns the count then. For waits on what the
    /// lab does: a segment on the wire is when states change.
    pub fn wait_activity(&self, seen: u64, timeout: Duration) -> u64 {
        let (s, _) = self
            .shared
            .until(timeout, |s| s.read > seen || s.failed.is_some());
        s.read
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

    /// Reads to the end, completes the file (written and closed: anyone
    /// may read it once this returns) and reads the loss counters (the
    /// kernel's, as libpcap reports them). The socket itself closes
    /// afterwards, on the reader's thread.
    pub fn finish(mut self) -> Result<Summary> {
        self.finished = true;
        self.ready()?;
        self.shared.lock().stop = true;
        self.shared.wake();
        let s = self
            .shared
            .wait_for("complete the capture file", |s| s.summary.is_some())?;
        match s.summary.as_ref().expect("waited for it") {
            Ok(sum) => Ok(sum.clone()),
            Err(e) => Err(e.duplicate()),
        }
    }
}

/// A capture dropped without [`Capture::finish`] (a failed setup, a
/// panic): the reader completes the file and closes on its own.
impl Drop for Capture {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.lock().stop = true;
            self.shared.wake();
        }
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
    use crate::packet::TcpFlags;

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

#[cfg(test)]
#[path = "capture/tests.rs"]
mod live_tests;
