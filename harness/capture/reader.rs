//! The capture's reader thread: opens libpcap inside the server's
//! namespace, then reads the ring whenever the kernel says a packet is
//! there, writing the .pcap as it goes; answers "everything up to now"
//! requests by draining the ring after seeing them; at the end completes
//! the file, reads the counters, and only then closes the handle (the slow
//! part, which nobody waits for).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::{Active, BpfProgram, Savefile};

use super::{Shared, Stray, Summary, MAX_STRAYS};
use crate::packet::Packet;

/// What the reader needs to open the capture.
pub(super) struct Open {
    pub iface: String,
    pub filter: String,
    pub path: PathBuf,
    pub netns: String,
    pub shared: Arc<Shared>,
}

/// The open handle, the file it writes and the case's own filter.
struct Handle {
    cap: pcap::Capture<Active>,
    save: Savefile,
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
            s.opened = Some(Err(e.clone()));
            s.summary = Some(Err(e));
            shared.changed.notify_all();
            return;
        }
    };
    shared.lock().opened = Some(Ok(()));
    shared.changed.notify_all();
    read_until_stopped(handle, &open);
}

fn activate(open: &Open) -> Result<Handle, String> {
    let dev = open.iface.as_str();
    let bpf = format!("({}) or tcp", open.filter);
    // libpcap's default 2 MiB ring holds only ~32 of the veth's 64 KiB GSO
    // frames: a 64 KiB burst lost 39 of 71 packets; 16 MiB lost none.
    let mut cap = pcap::Capture::from_device(dev)
        .and_then(|c| {
            c.immediate_mode(true)
                .snaplen(262144)
                .buffer_size(16 << 20)
                .promisc(false)
                .open()
        })
        .map_err(|e| format!("open {dev} with libpcap: {e}"))?;
    cap.filter(&bpf, true)
        .map_err(|e| format!("set BPF filter `{bpf}` on {dev}: {e}"))?;
    cap = cap
        .setnonblock()
        .map_err(|e| format!("set {dev} non-blocking: {e}"))?;
    // A fresh file, not a truncated one: ext4 made a truncating open wait
    // 13 to 990 ms under load.
    match std::fs::remove_file(&open.path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("remove the old {}: {e}", open.path.display()))
        }
        _ => {}
    }
    let save = cap
        .savefile(&open.path)
        .map_err(|e| format!("create {}: {e}", open.path.display()))?;
    let keep = cap
        .compile(&open.filter, true)
        .map_err(|e| format!("compile BPF filter `{}`: {e}", open.filter))?;
    Ok(Handle { cap, save, keep })
}

fn read_until_stopped(mut h: Handle, open: &Open) {
    let shared = &open.shared;
    loop {
        wait_for_work(&h, shared);
        // A request seen now is answered by the drain below: whatever the
        // kernel queued before it was made is in the ring by then.
        let (asked, stop) = {
            let s = shared.lock();
            (s.asked, s.stop)
        };
        let failed = drain(&mut h, shared).err();
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

/// Sleeps in poll(2) until the ring has a packet or the eventfd a request,
/// and consumes the eventfd's count.
fn wait_for_work(h: &Handle, shared: &Shared) {
    // SAFETY: both fds belong to objects that outlive this call.
    let (cap_fd, wake_fd) = unsafe {
        (
            BorrowedFd::borrow_raw(h.cap.as_raw_fd()),
            BorrowedFd::borrow_raw(shared.wake.as_raw_fd()),
        )
    };
    let mut fds = [
        PollFd::new(cap_fd, PollFlags::POLLIN),
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

/// Reads the ring until it is empty; hands what it read over in one lock.
fn drain(h: &mut Handle, shared: &Shared) -> Result<(), String> {
    let mut kept = Vec::new();
    let mut strays = Vec::new();
    let result = loop {
        match h.cap.next_packet() {
            Ok(p) => {
                let ts = Duration::new(
                    p.header.ts.tv_sec as u64,
                    (p.header.ts.tv_usec as u32).saturating_mul(1000),
                );
                let pkt = Packet::from_ethernet(p.data, ts);
                if h.keep.filter(p.data) {
                    h.save.write(&p);
                    kept.extend(pkt);
                } else if let Some(pkt) = pkt {
                    strays.push(Stray {
                        ts,
                        src: pkt.src,
                        dst: pkt.dst,
                        flags: pkt.flags,
                    });
                }
            }
            Err(pcap::Error::TimeoutExpired) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        }
    };
    if !kept.is_empty() || !strays.is_empty() {
        let mut s = shared.lock();
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
/// handle (two RCU grace periods that the case no longer waits for).
fn finish(h: Handle, open: &Open) {
    let Handle {
        mut cap,
        mut save,
        keep,
    } = h;
    drop(keep);
    let flushed = save
        .flush()
        .map_err(|e| format!("flush {}: {e}", open.path.display()));
    // pcap_dump_close: the file is whole and closed before anyone is told.
    drop(save);
    let summary = flushed.and_then(|()| {
        let st = cap.stats().map_err(|e| {
            format!(
                "read capture stats on {} in netns {}: {e}",
                open.iface, open.netns
            )
        })?;
        Ok(Summary {
            path: open.path.clone(),
            received: st.received,
            dropped: st.dropped,
            if_dropped: st.if_dropped,
        })
    });
    open.shared.lock().summary = Some(summary);
    open.shared.changed.notify_all();
    drop(cap);
}
