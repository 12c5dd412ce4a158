//! The packet socket the capture reads, and the .pcap file it writes.
//!
//! This is what libpcap does on Linux, without the ring: libpcap 1.10
//! always maps a `PACKET_RX_RING`, and setting one up waits for an RCU
//! grace period (measured: 5 to 40 ms, median 11 ms, before the first
//! step could run) and tearing it down for another; its slots are fixed,
//! a few hundred whatever the packets' size. A plain `AF_PACKET` socket
//! opens in 0.2 ms, queues what it has not read in its receive buffer
//! (only what is queued takes memory), and counts what it had to drop in
//! the same `PACKET_STATISTICS` libpcap reports. The BPF filters are still
//! libpcap's (`pcap_compile`), the kernel's attached with
//! `SO_ATTACH_FILTER` as libpcap attaches it, and the file is libpcap's
//! format, read back by tcpdump. The ring stamps a frame at delivery
//! whatever the kernel's state; this socket's `SO_TIMESTAMPNS` does only
//! while the kernel's timestamp key is on, which `open` waits for (see
//! `stamps`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

use pcap::BpfProgram;

use super::stamps;
use crate::error::Error;

/// The most of a frame kept (libpcap's default snapshot length): a GSO
/// super-packet of the veth is at most 64 KiB and kept whole.
pub(super) const SNAPLEN: u32 = 262_144;

/// Room for what the reader has not read yet: about a thousand 64 KiB
/// frames. Only what is queued takes memory.
const RCVBUF: libc::c_int = 64 << 20;

const SOL_PACKET: libc::c_int = 263;
const PACKET_STATISTICS: libc::c_int = 6;

/// An `AF_PACKET` socket bound to one interface of the calling thread's
/// namespace, non-blocking, with a kernel filter.
pub(super) struct PacketSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// One frame as read: its time (the kernel's, as libpcap gets it), its
/// length on the wire and the bytes kept.
pub(super) struct Frame<'a> {
    pub ts: Duration,
    pub len: u32,
    pub data: &'a [u8],
}

/// `what` failed with the thread's errno.
fn last_error(what: &str) -> Error {
    Error::sys(what, nix::errno::Errno::last())
}

fn set_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> bool {
    // SAFETY: an int option from a local, its size given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

impl PacketSocket {
    /// Opens the socket on `iface` with `filter` (compiled by libpcap for
    /// Ethernet) attached before it is bound, so nothing else is queued.
    pub fn open(iface: &str, filter: &BpfProgram) -> Result<PacketSocket, Error> {
        // Protocol 0: no packet reaches the socket before bind, and bind
        // then needs no grace period (nothing to unhook).
        // SAFETY: plain socket(2).
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(last_error("socket(AF_PACKET)"));
        }
        // SAFETY: a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        attach(&fd, filter)?;
        if !set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF) {
            return Err(last_error("SO_RCVBUFFORCE"));
        }
        stamps::enable(fd.as_fd())?;
        let name = std::ffi::CString::new(iface)
            .map_err(|e| Error::msg(format!("interface name {iface:?}: {e}")))?;
        // SAFETY: a NUL-terminated name; the lookup runs in this thread's
        // namespace.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            return Err(last_error(&format!("find interface {iface}")));
        }
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = index as i32;
        // SAFETY: binding to a sockaddr_ll we own, its size given.
        let bound = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound != 0 {
            return Err(last_error(&format!("bind to {iface}")));
        }
        // The frames queued until now are stamped too: the kernel stamps
        // whatever it receives once the key is on, for every socket.
        stamps::taken_at_receive()?;
        Ok(PacketSocket {
            fd,
            buf: vec![0; SNAPLEN as usize],
        })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// The next queued frame, or None when the queue is empty.
    pub fn next(&mut self) -> Result<Option<Frame<'_>>, Error> {
        // MSG_TRUNC: the frame's whole length, even beyond the buffer.
        let (n, stamp) = match stamps::recv(self.fd.as_fd(), &mut self.buf, libc::MSG_TRUNC) {
            Ok(got) => got,
            Err(e) => {
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) => Ok(None),
                    // ENETDOWN is the socket's pending error from a bind to the
                    // interface while it was still down (the lab's links come
                    // up after the capture opens), or from its going down at
                    // the end: reading it clears it, and nothing was lost.
                    Some(libc::EINTR) | Some(libc::ENETDOWN) => self.next(),
                    _ => Err(Error::io("read the packet socket", e)),
                };
            }
        };
        let ts = stamp.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
        });
        let len = n as u32;
        let kept = (len as usize).min(self.buf.len());
        Ok(Some(Frame {
            ts,
            len,
            data: &self.buf[..kept],
        }))
    }

    /// The kernel's counters since the socket opened: frames that passed
    /// the filter, and those dropped for want of room (libpcap's
    /// `ps_recv` and `ps_drop`).
    pub fn stats(&self) -> Result<(u32, u32), Error> {
        let mut st = [0u32; 2];
        let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
        // SAFETY: struct tpacket_stats is two u32s; st has their room.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                PACKET_STATISTICS,
                st.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Err(last_error("PACKET_STATISTICS"));
        }
        Ok((st[0], st[1]))
    }
}

/// Attaches libpcap's program. Compiled on a dead handle, it accepts with
/// that handle's snapshot length (65535), which the kernel would cut frames
/// to: accepting returns SNAPLEN instead, as libpcap's live handle does.
fn attach(fd: &OwnedFd, filter: &BpfProgram) -> Result<(), Error> {
    const BPF_RET_K: u16 = 0x06;
    let insns = filter.get_instructions();
    // SAFETY: BpfInstruction is a transparent bpf_insn, laid out as the
    // kernel's sock_filter (u16 code, u8 jt, u8 jf, u32 k).
    let mut prog: Vec<libc::sock_filter> = insns
        .iter()
        .map(|i| unsafe { std::mem::transmute_copy::<_, libc::sock_filter>(i) })
        .collect();
    for i in &mut prog {
        if i.code == BPF_RET_K && i.k != 0 {
            i.k = SNAPLEN;
        }
    }
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points at prog, which lives through the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(last_error("SO_ATTACH_FILTER"));
    }
    Ok(())
}

/// The receive drops of `iface` as the kernel counts them for the calling
/// thread's namespace (`/proc/thread-self/net/dev`): what the interface
/// lost before any socket saw it (libpcap's `ps_ifdrop`).
pub(super) fn interface_drops(iface: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev").ok()?;
    text.lines().find_map(|l| {
        let (name, counters) = l.split_once(':')?;
        if name.trim() != iface {
            return None;
        }
        // rx: bytes packets errs drop ...
        counters.split_whitespace().nth(3)?.parse().ok()
    })
}

/// A .pcap file (libpcap's format: microseconds, Ethernet, SNAPLEN),
/// created fresh: a truncating open waited 13 to 990 ms on ext4 under load.
pub(super) struct PcapFile {
    out: BufWriter<File>,
}

impl PcapFile {
    pub fn create(path: &Path) -> Result<PcapFile, Error> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("remove the old {}", path.display()), e))
            }
            _ => {}
        }
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        let mut out = BufWriter::with_capacity(256 << 10, file);
        let mut head = Vec::with_capacity(24);
        head.extend(0xa1b2_c3d4u32.to_ne_bytes());
        head.extend(2u16.to_ne_bytes());
        head.extend(4u16.to_ne_bytes());
        head.extend(0i32.to_ne_bytes());
        head.extend(0u32.to_ne_bytes());
        head.extend(SNAPLEN.to_ne_bytes());
        head.extend(1u32.to_ne_bytes()); // LINKTYPE_ETHERNET
        out.write_all(&head)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        Ok(PcapFile { out })
    }

    /// Appends one record (the time truncated to microseconds, as
    /// libpcap's own records are).
    pub fn write(&mut self, f: &Frame<'_>) -> std::io::Result<()> {
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(f.ts.as_secs() as u32).to_ne_bytes());
        rec[4..8].copy_from_slice(&f.ts.subsec_micros().to_ne_bytes());
        rec[8..12].copy_from_slice(&(f.data.len() as u32).to_ne_bytes());
        rec[12..16].copy_from_slice(&f.len.to_ne_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(f.data)
    }

    /// Writes what is buffered and closes the file (no fsync: readers on
    /// this machine see it at once).
    pub fn close(self) -> std::io::Result<()> {
        self.out.into_inner().map_err(|e| e.into_error()).map(drop)
    }
}
