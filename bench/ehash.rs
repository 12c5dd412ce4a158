//! Why a sock_diag dump costs milliseconds: a new network namespace shares
//! the host's TCP established-hash table (262,144 buckets on this 24 GB
//! machine), and a dump walks every bucket, whatever namespace asks. A
//! namespace created from a parent namespace whose
//! `net.ipv4.tcp_child_ehash_entries` is set gets a private table of that
//! size instead (Linux 6.1+).
//!
//! This measures one dump (IPv4 + IPv6, as `SockDiag::dump` does) of an
//! empty namespace both ways. Everything happens in namespaces owned by a
//! thread of the bench (the sysctl is written inside the first of them);
//! they vanish with the thread. Nothing touches the host's namespace.

use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};
use tcplab::error::Error;

use crate::pieces::thread_cpu;

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;

/// nlmsghdr + inet_diag_req_v2 for every TCP socket of `family`.
fn request(family: u8, seq: u32) -> [u8; 72] {
    let mut m = [0u8; 72];
    m[0..4].copy_from_slice(&72u32.to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[16] = family;
    m[17] = libc::IPPROTO_TCP as u8;
    m[20..24].copy_from_slice(&0xfffu32.to_ne_bytes());
    m
}

/// Sends one dump request and reads replies until NLMSG_DONE.
fn dump(fd: i32, family: u8, seq: u32, buf: &mut [u8]) -> Result<(), Error> {
    let req = request(family, seq);
    // SAFETY: fd is our netlink socket; req is 72 valid bytes.
    let n = unsafe { libc::send(fd, req.as_ptr().cast(), req.len(), 0) };
    if n < 0 {
        return Err(Error::sys(
            "send sock_diag request",
            nix::errno::Errno::last(),
        ));
    }
    loop {
        // SAFETY: buf is ours, its length is passed.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(Error::sys(
                "recv sock_diag reply",
                nix::errno::Errno::last(),
            ));
        }
        let mut off = 0usize;
        while off + 16 <= n as usize {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if ty == NLMSG_DONE {
                return Ok(());
            }
            if ty == NLMSG_ERROR {
                return Err(Error::msg("sock_diag answered with an error"));
            }
            if len < 16 {
                return Err(Error::msg("malformed netlink message"));
            }
            off += (len + 3) & !3;
        }
    }
}

/// In a thread: a fresh namespace (with a private table of `private`
/// buckets when given), then `rounds` dumps. Returns (wall, CPU) per dump.
fn cost(private: Option<u32>, rounds: u32) -> Result<(Duration, Duration), Error> {
    std::thread::spawn(move || -> Result<(Duration, Duration), Error> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys("unshare", e))?;
        if let Some(n) = private {
            // This thread's namespace: /proc/sys/net follows the opener.
            std::fs::write("/proc/sys/net/ipv4/tcp_child_ehash_entries", n.to_string())
                .map_err(|e| Error::io("set tcp_child_ehash_entries in our namespace", e))?;
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys("unshare", e))?;
        }
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(Error::sys(
                "socket(NETLINK_SOCK_DIAG)",
                nix::errno::Errno::last(),
            ));
        }
        let mut buf = vec![0u8; 64 * 1024];
        let (cpu0, t0) = (thread_cpu(), Instant::now());
        let mut res = Ok(());
        for i in 0..rounds {
            for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
                res = res.and_then(|_| dump(fd, family, 2 * i + family as u32, &mut buf));
            }
        }
        let (wall, cpu) = (t0.elapsed() / rounds, (thread_cpu() - cpu0) / rounds);
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
        res.map(|_| (wall, cpu))
    })
    .join()
    .map_err(|_| Error::msg("dump thread panicked"))?
}

/// (buckets of the host's table, shared cost, private cost) for a dump.
pub struct Ehash {
    pub host_buckets: String,
    pub shared: (Duration, Duration),
    pub private: (Duration, Duration),
    pub private_buckets: u32,
}

pub fn measure() -> Result<Ehash, Error> {
    let host_buckets = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_ehash_entries")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    Ok(Ehash {
        host_buckets,
        shared: cost(None, 50)?,
        private: cost(Some(1024), 50)?,
        private_buckets: 1024,
    })
}
