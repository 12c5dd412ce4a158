//! The NETLINK_SOCK_DIAG socket of one namespace and its dump of every TCP
//! socket there.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Mutex;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use nix::errno::Errno;
use nix::sys::socket::{recv, setsockopt, sockopt, MsgFlags};
use nix::sys::time::TimeVal;

use super::row::SocketRow;
use crate::error::{Error, Result};
use crate::netns::Netns;

/// The states a dump asks for: bits 1 (ESTABLISHED) to 12 (NEW_SYN_RECV).
/// Bit 13 (TCP_BOUND_INACTIVE: bound, neither listening nor connecting;
/// kernel >= 6.6) is left out: `ss -tan` (iproute2 6.1, kernel 6.18) does
/// not show such sockets either (measured).
const DUMP_STATES: u32 = ((1 << 13) - 1) & !1;

/// The kernel's number for LISTEN (include/net/tcp_states.h).
const TCP_LISTEN: u32 = 10;

const NLMSG_HDR_LEN: usize = 16;

/// How long a dump may wait for the kernel before it is reported as failed.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A NETLINK_SOCK_DIAG socket living in one network namespace. The fd is
/// close-on-exec (netlink-sys opens it with SOCK_CLOEXEC), so programs the
/// harness spawns do not inherit it.
#[derive(Debug)]
pub struct SockDiag {
    netns: String,
    /// The socket and the last sequence number used; locked for a whole
    /// dump so that concurrent dumps never read each other's replies.
    pub(super) inner: Mutex<(netlink_sys::Socket, u32)>,
}

impl SockDiag {
    /// Opens the socket from a thread inside `netns`; it stays there, and
    /// can be used from any thread.
    pub fn open(netns: &Netns) -> Result<SockDiag> {
        let name = netns.name().to_string();
        let socket = netns
            .run("open NETLINK_SOCK_DIAG socket", || {
                let mut s = netlink_sys::Socket::new(NETLINK_SOCK_DIAG)
                    .map_err(|e| Error::io("open NETLINK_SOCK_DIAG socket", e))?;
                s.bind_auto()
                    .map_err(|e| Error::io("bind NETLINK_SOCK_DIAG socket", e))?;
                s.connect(&netlink_sys::SocketAddr::new(0, 0))
                    .map_err(|e| Error::io("connect NETLINK_SOCK_DIAG socket to the kernel", e))?;
                Ok(s)
            })
            .map_err(|e| e.context(format!("netns {name}")))?;
        setsockopt(
            &socket.as_fd(),
            sockopt::ReceiveTimeout,
            &TimeVal::new(RECV_TIMEOUT.as_secs() as _, 0),
        )
        .map_err(|e| {
            Error::sys(
                format!("netns {name}: set SO_RCVTIMEO on sock_diag socket"),
                e,
            )
        })?;
        Ok(SockDiag {
            netns: name,
            inner: Mutex::new((socket, 0)),
        })
    }

    /// The namespace the socket lives in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Every TCP socket of the namespace, IPv4 first, then IPv6, each in the
    /// kernel's order (listeners, then established/request/TIME-WAIT hash).
    pub fn dump(&self) -> Result<Vec<SocketRow>> {
        self.dump_states(DUMP_STATES, ExtensionFlags::empty())
    }

    /// [`SockDiag::dump`] with what `ss -ti` adds: each full socket's
    /// `struct tcp_info` and congestion control ([`SocketRow::info`]).
    /// Asked for only where a case names such a field: the kernel locks
    /// each socket to fill it in.
    pub fn dump_info(&self) -> Result<Vec<SocketRow>> {
        self.dump_states(DUMP_STATES, ExtensionFlags::INFO | ExtensionFlags::CONG)
    }

    /// Every TCP socket but the listeners: what a settle looks at (a
    /// listener is always settled). Leaving LISTEN out of the request
    /// spares the kernel its walk of the listening hash, which a namespace
    /// with a private established hash still shares with the host (its
    /// buckets are the host's: 1.7 % of a teardown run's samples went to
    /// that walk, measured with perf).
    pub fn dump_connections(&self) -> Result<Vec<SocketRow>> {
        self.dump_states(DUMP_STATES & !(1 << TCP_LISTEN), ExtensionFlags::empty())
    }

    fn dump_states(&self, states: u32, ext: ExtensionFlags) -> Result<Vec<SocketRow>> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (socket, seq) = &mut *guard;
        let mut rows = Vec::new();
        for (family, name) in [(AF_INET, "IPv4"), (AF_INET6, "IPv6")] {
            *seq = seq.wrapping_add(1);
            dump_family(socket, family, *seq, states, ext.clone(), &mut rows).map_err(|e| {
                e.context(format!(
                    "netns {}: sock_diag dump of {name} TCP sockets",
                    self.netns
                ))
            })?;
        }
        Ok(rows)
    }
}

fn dump_family(
    socket: &netlink_sys::Socket,
    family: u8,
    seq: u32,
    states: u32,
    extensions: ExtensionFlags,
    rows: &mut Vec<SocketRow>,
) -> Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions,
            states: StateFlags::from_bits_retain(states),
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut out = vec![0u8; request.buffer_len()];
    request.serialize(&mut out);
    socket
        .send(&out, 0)
        .map_err(|e| Error::io("send request", e))?;

    // Dump replies come in datagrams of at most 32 KiB (the kernel caps its
    // dump buffers there); MSG_TRUNC makes a longer one visible as such.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = loop {
            match recv(socket.as_raw_fd(), &mut buf, MsgFlags::MSG_TRUNC) {
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    return Err(Error::sys(
                        format!("recv: no reply within {} s", RECV_TIMEOUT.as_secs()),
                        Errno::EAGAIN,
                    ))
                }
                Err(e) => return Err(Error::sys("recv", e)),
                Ok(n) => break n,
            }
        };
        if n > buf.len() {
            return Err(Error::msg(format!(
                "recv: datagram of {n} bytes truncated to {}",
                buf.len()
            )));
        }
        match parse_datagram(&buf[..n], seq, rows) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(Reply::Errno(errno)) => return Err(Error::sys("kernel replied", errno)),
            Err(Reply::Malformed(what)) => return Err(Error::msg(format!("reply: {what}"))),
        }
    }
}

enum Reply {
    Errno(Errno),
    Malformed(String),
}

/// Appends the rows of one datagram; Ok(true) once NLMSG_DONE is seen.
/// Messages of other sequence numbers (a dump abandoned earlier) are skipped.
fn parse_datagram(
    data: &[u8],
    seq: u32,
    rows: &mut Vec<SocketRow>,
) -> std::result::Result<bool, Reply> {
    let mut at = 0;
    while at + NLMSG_HDR_LEN <= data.len() {
        let u32_at = |i: usize| u32::from_ne_bytes(data[i..i + 4].try_into().unwrap());
        let len = u32_at(at) as usize;
        let kind = u16::from_ne_bytes([data[at + 4], data[at + 5]]);
        let msg_seq = u32_at(at + 8);
        if len < NLMSG_HDR_LEN || at + len > data.len() {
            return Err(Reply::Malformed(format!(
                "netlink message of length {len} at offset {at} of a {}-byte datagram",
                data.len()
            )));
        }
        let payload = &data[at + NLMSG_HDR_LEN..at + len];
        at += (len + 3) & !3;
        if msg_seq != seq {
            continue;
        }
        let error_code = || {
            payload
                .get(..4)
                .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                .unwrap_or(0)
        };
        match kind {
            NLMSG_DONE => {
                let code = error_code();
                return if code < 0 {
                    Err(Reply::Errno(Errno::from_raw(-code)))
                } else {
                    Ok(true)
                };
            }
            NLMSG_ERROR => {
                let code = error_code();
                if code < 0 {
                    return Err(Reply::Errno(Errno::from_raw(-code)));
                }
            }
            SOCK_DIAG_BY_FAMILY => {
                rows.push(SocketRow::parse(payload).map_err(|e| Reply::Malformed(e.to_string()))?)
            }
            _ => {}
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::row::tests::raw_msg;

    #[test]
    fn parse_datagram_frames() {
        let msg = |kind: u16, seq: u32, payload: &[u8]| {
            let mut m = Vec::new();
            m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(&2u16.to_ne_bytes());
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&0u32.to_ne_bytes());
            m.extend_from_slice(payload);
            while m.len() % 4 != 0 {
                m.push(0);
            }
            m
        };
        let mut data = msg(SOCK_DIAG_BY_FAMILY, 7, &raw_msg(AF_INET));
        data.extend(msg(SOCK_DIAG_BY_FAMILY, 6, &raw_msg(AF_INET))); // stale
        data.extend(msg(SOCK_DIAG_BY_FAMILY, 7, &raw_msg(AF_INET6)));
        let mut rows = Vec::new();
        assert!(matches!(parse_datagram(&data, 7, &mut rows), Ok(false)));
        assert_eq!(rows.len(), 2);
        let done = msg(NLMSG_DONE, 7, &0i32.to_ne_bytes());
        assert!(matches!(parse_datagram(&done, 7, &mut rows), Ok(true)));
        let err = msg(NLMSG_ERROR, 7, &(-(libc::EPERM)).to_ne_bytes());
        assert!(matches!(
            parse_datagram(&err, 7, &mut rows),
            Err(Reply::Errno(Errno::EPERM))
        ));
        let mut cut = msg(SOCK_DIAG_BY_FAMILY, 7, &raw_msg(AF_INET));
        cut.truncate(40);
        assert!(matches!(
            parse_datagram(&cut, 7, &mut rows),
            Err(Reply::Malformed(_))
        ));
    }
}
