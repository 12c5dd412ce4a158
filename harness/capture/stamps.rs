//! The capture's times: taken when the kernel receives a frame, not when
//! the reader reads it.
//!
//! A packet socket with `SO_TIMESTAMPNS` reports `skb->tstamp`, and the
//! kernel sets that at receive (`net_timestamp_check` in `netif_rx` and
//! `__netif_receive_skb_core`, `net_timestamp_set` in `dev_queue_xmit_nit`
//! for a frame sent) only while the global static key
//! `netstamp_needed_key` is on. Otherwise `__sock_recv_timestamp` stamps
//! the frame at `recvmsg`. The first timestamping socket of the machine
//! turns the key on through `net_enable_timestamp`, which leaves the
//! switch to a kworker (`netstamp_work`), and the last one's close turns it
//! off the same way. Measured with load 6 to 8 on 2 cores: 8, 22 and 42 ms
//! from `setsockopt` to the key on, every frame in between stamped when
//! read; a capture-vs-tcpdump run at load 6 had every frame 0.84 to
//! 1.25 ms late, its first three 3 µs apart (three reads) where tcpdump's
//! were 16 to 22 µs apart. tcpdump's ring is not affected: `tpacket_rcv`
//! takes the time itself when the frame has none.
//!
//! So the process keeps one timestamping socket of its own open for its
//! whole life (the key stays on between captures, as with any program
//! that asks for timestamps, `tcpdump -j`, chrony), and the first capture
//! waits until the key is seen on: a probe datagram sent on the loopback
//! of a private namespace (nothing goes on the host's or a lab's) and
//! read back. `sendto` on `lo` runs `netif_rx` before it returns, so a
//! frame stamped at receive carries a time before the clock read taken
//! just before `recvmsg`; one stamped at the read, a time after it.
//! Cost: the first capture of a process 0.85 to 2 ms more (the private
//! namespace and one probe) when the key is already on, plus the
//! kworker's delay when it is not; every later capture nothing.
//!
//! This changes nothing of the host's configuration: the key is what any
//! socket asking for timestamps turns on, and it goes off (deferred) when
//! the process exits, its socket and private namespace with it.

use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::Error;

const SO_TIMESTAMPNS: libc::c_int = 35;

/// How long the first capture waits for the key (the kworker ran within
/// 42 ms under load 8).
const LIMIT: Duration = Duration::from_secs(5);

/// Between two probes while the key is off: the kernel tells nobody when
/// its kworker has switched it.
const POLL: Duration = Duration::from_millis(1);

/// The process's own timestamping socket (in its private namespace), and
/// whether its probe has seen the key on: from then on the key stays on,
/// this socket counting among those that want it.
struct Keeper {
    sock: UdpSocket,
    seen_on: bool,
}

static KEEPER: Mutex<Option<Keeper>> = Mutex::new(None);

/// Asks for `SO_TIMESTAMPNS` on `fd`.
pub(super) fn enable(fd: BorrowedFd<'_>) -> Result<(), Error> {
    let on: libc::c_int = 1;
    // SAFETY: an int option from a local, its size given.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(Error::sys("SO_TIMESTAMPNS", nix::errno::Errno::last()));
    }
    Ok(())
}

/// The SCM_TIMESTAMPNS of a received message.
pub(super) fn of(msg: &libc::msghdr) -> Option<Duration> {
    // SAFETY: walking the control buffer recvmsg filled, with its macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == SO_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// Returns once frames are stamped when the kernel receives them: at once
/// after the first time in the process; the first time, once the probe
/// sees the key on, or an error after [`LIMIT`].
pub(super) fn taken_at_receive() -> Result<(), Error> {
    let mut keeper = KEEPER.lock().unwrap_or_else(|e| e.into_inner());
    if keeper.is_none() {
        *keeper = Some(Keeper {
            sock: open_keeper()?,
            seen_on: false,
        });
    }
    let k = keeper.as_mut().expect("set just above");
    let deadline = Instant::now() + LIMIT;
    while !k.seen_on {
        k.seen_on = stamped_at_receive(&k.sock, deadline)?;
        if !k.seen_on {
            if Instant::now() >= deadline {
                return Err(Error::msg(format!(
                    "the kernel's receive timestamps (netstamp_needed_key) were still off {} s after our socket asked for them: frames would be stamped when read, not when received",
                    LIMIT.as_secs()
                )));
            }
            std::thread::sleep(POLL); // poll interval of this wait
        }
    }
    Ok(())
}

/// A UDP socket on the loopback of a private namespace, connected to
/// itself, non-blocking, with `SO_TIMESTAMPNS`.
fn open_keeper() -> crate::error::Result<UdpSocket> {
    crate::netns::private("the capture's timestamp probe", || {
        let sock = UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| Error::io("bind a UDP socket to 127.0.0.1", e))?;
        let addr = sock.local_addr().map_err(|e| Error::io("getsockname", e))?;
        sock.connect(addr)
            .map_err(|e| Error::io(format!("connect to {addr}"), e))?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::io("O_NONBLOCK", e))?;
        enable(sock.as_fd())?;
        Ok(sock)
    })
}

/// Sends one datagram to `sock` and reads it back: whether its stamp was
/// taken before the read began (at receive), not during it.
fn stamped_at_receive(sock: &UdpSocket, deadline: Instant) -> Result<bool, Error> {
    sock.send(b"t")
        .map_err(|e| Error::io("send the timestamp probe on lo", e))?;
    loop {
        let before = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        match read_stamp(sock)? {
            Some(stamp) => return Ok(stamp < before),
            None => {
                let left = deadline.saturating_duration_since(Instant::now());
                let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
                let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                let ready = poll(&mut fds, ms).unwrap_or(0);
                if ready == 0 && Instant::now() >= deadline {
                    return Err(Error::msg(format!(
                        "the timestamp probe sent on a private namespace's lo did not come back within {} s",
                        LIMIT.as_secs()
                    )));
                }
            }
        }
    }
}

/// recvmsg(2) of one message into `buf` with `flags`: its length (the
/// whole frame's under MSG_TRUNC) and its SCM_TIMESTAMPNS, if any.
pub(super) fn recv(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: libc::c_int,
) -> std::io::Result<(usize, Option<Duration>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one cmsg holding a timespec.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; zero is a valid start.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: the buffers msg points at live through the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((n as usize, of(&msg)))
}

/// The stamp of the next datagram on `sock`, None while none is queued.
fn read_stamp(sock: &UdpSocket) -> Result<Option<Duration>, Error> {
    match recv(sock.as_fd(), &mut [0u8; 16], 0) {
        Ok((_, Some(stamp))) => Ok(Some(stamp)),
        Ok((_, None)) => Err(Error::msg(
            "the timestamp probe came back without SCM_TIMESTAMPNS",
        )),
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
            _ => Err(Error::io("read the timestamp probe", e)),
        },
    }
}
