//! tcpdump's part: libpcap on the server's veth, opened inside the server
//! namespace before any process of the case starts, so no SYN is ever missed.
//!
//! The handle is non-blocking and read by the case's own thread: the kernel
//! fills the ring whether or not we read, so "everything up to now" is simply
//! "read until the ring is empty" — no reader thread, no drain race.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::{Active, Savefile};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::packet::Packet;

pub struct Capture {
    cap: pcap::Capture<Active>,
    save: Savefile,
    packets: Vec<Packet>,
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
    /// matching packet is kept.
    pub fn open(netns: &Netns, iface: &str, filter: &str, path: &Path) -> Result<Capture> {
        let dev = iface.to_string();
        let bpf = filter.to_string();
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
        Ok(Capture {
            cap,
            save,
            packets: Vec::new(),
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
                    self.save.write(&p);
                    let ts = Duration::new(
                        p.header.ts.tv_sec as u64,
                        (p.header.ts.tv_usec as u32).saturating_mul(1000),
                    );
                    if let Some(pkt) = Packet::from_ethernet(p.data, ts) {
                        self.packets.push(pkt);
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
