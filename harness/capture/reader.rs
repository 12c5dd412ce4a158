//! The capture's reader thread: opens the packet socket inside the
//! server's namespace, then reads it whenever the kernel says a frame is
//! there, writing the .pcap as it goes; answers "everything up to now"
//! requests by reading until the socket is empty after seeing them; at the
//! end completes the file, reads the counters, and only then closes the
//! socket (an RCU grace period, which nobody waits for).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::BpfProgram;

use super::shared::{Shared, Stray, Summary, MAX_STRAYS};
use super::socket::{interface_drops, PacketSocket, PcapFile};
use crate::error::Error;
use crate::packet::Packet;

/// What the reader needs to open the capture.
pub(super) struct Open {
    pub iface: String,
    pub filter: String,
    pub path: PathBuf,
    pub netns: String,
    pub shared: Arc<Shared>,
}

/// The open socket, the file it writes and the case's own filter.
struct Handle {
    sock: PacketSocket,
    /// The interface's receive drops when the socket opened.
    if_drops: u64,
    file: PcapFile,
    /// The case's filter, run here on what the kernel's wider one passed.
    keep: BpfProgram,
}

/// Runs on a thread inside the capture's namespace until asked to stop.
pub(super) fn run(open: Open) {
    let shared = open.shared.clone();
    let handle = match activate(&open) {
        Ok(h) => h,
        Err(e) => {
            let mut s = shared.lock();
            s.opened = Some(Err(e.duplicate()));
            s.summary = Some(Err(e));
            shared.changed.notify_all();
            return;
        }
    };
    shared.lock().opened = Some(Ok(()));
    shared.changed.notify_all();
    read_until_stopped(handle, &open);
}

fn activate(open: &Open) -> Result<Handle, Error> {
    let dev = open.iface.as_str();
    let bpf = format!("({}) or tcp", open.filter);
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET)
        .map_err(|e| Error::pcap("libpcap for Ethernet", e))?;
    let wide = dead
        .compile(&bpf, true)
        .map_err(|e| Error::pcap(format!("compile BPF filter `{bpf}`"), e))?;
    let keep = dead
        .compile(&open.filter, true)
        .map_err(|e| Error::pcap(format!("compile BPF filter `{}`", open.filter), e))?;
    let sock =
        PacketSocket::open(dev, &wide).map_err(|e| e.context(format!("capture on {dev}")))?;
    let file = PcapFile::create(&open.path)?;
    let if_drops = interface_drops(dev).unwrap_or(0);
    Ok(Handle {
        sock,
        if_drops,
        file,
        keep,
    })
}

fn read_until_stopped(mut h: Handle, open: &Open) {
    let shared = &open.shared;
    loop {
        wait_for_work(&h, shared);
        // A request seen now is answered by the reads below: whatever the
        // kernel queued before it was made is in the socket by then.
        let (asked, stop) = {
            let s = shared.lock();
            (s.asked, s.stop)
        };
        let failed = drain(&mut h, open).err();
        let mut s = shared.lock();
        s.answered = asked;
        if let Some(e) = failed {
            s.failed = Some(e);
        }
        let end = stop || s.failed.is_some();
        drop(s);
        shared.changed.notify_all();
        if end {
            break;
        }
    }
    finish(h, open);
}

/// Sleeps in poll(2) until the socket has a frame or the eventfd a
/// request, and consumes the eventfd's count.
fn wait_for_work(h: &Handle, shared: &Shared) {
    // SAFETY: the eventfd belongs to `shared`, which outlives this call.
    let wake_fd = unsafe { BorrowedFd::borrow_raw(shared.wake.as_raw_fd()) };
    let mut fds = [
        PollFd::new(h.sock.fd().as_fd(), PollFlags::POLLIN),
        PollFd::new(wake_fd, PollFlags::POLLIN),
    ];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(Errno::EINTR) => {}
        // Cannot happen with valid fds; do not spin on it.
        Err(_) => std::thread::sleep(Duration::from_millis(1)),
    }
    let mut count = [0u8; 8];
    // SAFETY: reading 8 bytes into a local buffer from our non-blocking
    // eventfd (EAGAIN when there was no request).
    unsafe { libc::read(shared.wake.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
}

/// Reads the socket until it is empty; hands what it read over in one
/// lock.
fn drain(h: &mut Handle, open: &Open) -> Result<(), Error> {
    let mut kept = Vec::new();
    let mut strays = Vec::new();
    let result = loop {
        let frame = match h.sock.next() {
            Ok(Some(f)) => f,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let pkt = Packet::from_ethernet(frame.data, frame.ts);
        if h.keep.filter(frame.data) {
            if let Err(e) = h.file.write(&frame) {
                break Err(Error::io(format!("write {}", open.path.display()), e));
            }
            kept.extend(pkt);
        } else if let Some(pkt) = pkt {
            strays.push(Stray {
                ts: frame.ts,
                src: pkt.src,
                dst: pkt.dst,
                flags: pkt.flags,
            });
        }
    };
    if !kept.is_empty() || !strays.is_empty() {
        let mut s = open.shared.lock();
        s.read += (kept.len() + strays.len()) as u64;
        s.packets.append(&mut kept);
        let room = MAX_STRAYS.saturating_sub(s.strays_noted);
        let over = strays.len().saturating_sub(room);
        strays.truncate(room);
        s.strays_noted += strays.len();
        s.strays.append(&mut strays);
        s.strays_uncounted += over as u64;
    }
    result
}

/// Completes the file, reads the counters, says so, then closes the
/// socket (an RCU grace period that the case no longer waits for).
fn finish(h: Handle, open: &Open) {
    let Handle {
        sock,
        if_drops,
        file,
        keep,
    } = h;
    drop(keep);
    // The file is whole and closed before anyone is told.
    let closed = file
        .close()
        .map_err(|e| Error::io(format!("write {}", open.path.display()), e));
    let summary = closed.and_then(|()| {
        let (received, dropped) = sock.stats().map_err(|e| {
            e.context(format!(
                "read capture counters on {} in netns {}",
                open.iface, open.netns
            ))
        })?;
        Ok(Summary {
            path: open.path.clone(),
            received,
            dropped,
            if_dropped: interface_drops(&open.iface)
                .map_or(0, |n| n.saturating_sub(if_drops) as u32),
        })
    });
    open.shared.lock().summary = Some(summary);
    open.shared.changed.notify_all();
    drop(sock);
}
