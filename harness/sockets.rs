//! What `ss -tan -o` shows, read from NETLINK_SOCK_DIAG inside one namespace.
//!
//! A [`SockDiag`] holds a sock_diag socket opened by a thread inside the
//! namespace; a dump covers that namespace only, so open one per side.
//! [`SockDiag::dump`] asks for every TCP socket of AF_INET and AF_INET6 in
//! every state `ss -tan` shows (request sockets in SYN-RECV and TIME-WAIT
//! sockets included) and returns one [`SocketRow`] per socket, in the
//! kernel's order, which is ss's order.
//!
//! The request is built with netlink-packet-sock-diag; the replies are parsed
//! here from the raw bytes. The crate drops `idiag_expires` for TIME-WAIT
//! sockets (the one timer a life-cycle test cares most about) and the
//! `idiag_retrans` of keepalive and persist timers, and it would decode
//! attributes we never asked for; the fixed 72-byte `inet_diag_msg` head is
//! all we need:
//!
//! ```text
//!  0 family u8, state u8, timer u8, retrans u8
//!  4 sockid: sport be16, dport be16, src [u8; 16], dst [u8; 16], if u32, cookie [u32; 2]
//! 52 expires u32 (ms)   56 rqueue u32   60 wqueue u32   64 uid u32   68 inode u32
//! ```
//!
//! (`expires` sits 68 bytes into the netlink message, after its 16-byte
//! header.) The offset was checked against `ss -tan -o` on live sockets:
//! TIME-WAIT 60,000 ms vs ss `59sec`, an orphaned FIN-WAIT-2 with
//! tcp_fin_timeout 5 s 5,000 ms vs ss `4.996ms`, SYN-SENT 1,000 ms vs ss
//! `996ms`; `live_dump_matches_ss` below repeats it on every test run.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::str::FromStr;
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

use crate::error::{Error, Result};
use crate::netns::Netns;

/// The states a dump asks for: bits 1 (ESTABLISHED) to 12 (NEW_SYN_RECV).
/// Bit 13 (TCP_BOUND_INACTIVE: bound, neither listening nor connecting;
/// kernel >= 6.6) is left out: `ss -tan` (iproute2 6.1, kernel 6.18) does
/// not show such sockets either (measured).
const DUMP_STATES: u32 = ((1 << 13) - 1) & !1;

/// Kernel's TCP_NEW_SYN_RECV: a request socket; reported as SYN-RECV.
const TCP_NEW_SYN_RECV: u8 = 12;

/// Size of `struct inet_diag_msg`.
const INET_DIAG_MSG_LEN: usize = 72;
const NLMSG_HDR_LEN: usize = 16;

/// How long a dump may wait for the kernel before it is reported as failed.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP state, as `ss` and the kernel know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Established,
    SynSent,
    /// Also the kernel's NEW_SYN_RECV (request sockets), as ss shows them.
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    /// ss's `UNCONN`, lsof's `CLOSE`.
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
}

impl TcpState {
    pub const ALL: [TcpState; 11] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
    ];

    /// From the kernel's `TCP_*` number (include/net/tcp_states.h).
    pub fn from_kernel(state: u8) -> Option<TcpState> {
        match state {
            1..=11 => Some(TcpState::ALL[state as usize - 1]),
            TCP_NEW_SYN_RECV => Some(TcpState::SynRecv),
            _ => None,
        }
    }

    /// The kernel's `TCP_*` number.
    pub fn kernel(self) -> u8 {
        self as u8 + 1
    }

    /// As `ss` prints it: `ESTAB`, `SYN-SENT`, `UNCONN`, ...
    pub fn ss_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTAB",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynRecv => "SYN-RECV",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::Close => "UNCONN",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// As `lsof` prints it (the names of /proc/net/tcp): `ESTABLISHED`,
    /// `FIN_WAIT1`, `CLOSE_WAIT`, ...
    pub fn lsof_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// States the kernel leaves by itself within about an RTT (if the peer
    /// answers): SYN-SENT, SYN-RECV, FIN-WAIT-1, CLOSING, LAST-ACK. The
    /// others last until a process acts (ESTAB, CLOSE-WAIT, LISTEN), the
    /// peer acts (FIN-WAIT-2) or a long timer fires (TIME-WAIT).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            TcpState::SynSent
                | TcpState::SynRecv
                | TcpState::FinWait1
                | TcpState::Closing
                | TcpState::LastAck
        )
    }
}

impl fmt::Display for TcpState {
    /// ss's name; honours width and alignment (`{:<10}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.ss_name())
    }
}

impl FromStr for TcpState {
    type Err = String;

    /// Accepts, in any case and with `-` or `_`: ss's names (`ESTAB`,
    /// `FIN-WAIT-1`, `UNCONN`), lsof's (`ESTABLISHED`, `FIN_WAIT1`,
    /// `CLOSE`), RFC 793's (`SYN-RECEIVED`, `CLOSED`) and ss's filter names
    /// (`listening`, `closed`).
    fn from_str(s: &str) -> Result<TcpState, String> {
        let norm = s.trim().to_ascii_uppercase().replace('_', "-");
        let state = match norm.as_str() {
            "ESTAB" | "ESTABLISHED" => TcpState::Established,
            "SYN-SENT" => TcpState::SynSent,
            "SYN-RECV" | "SYN-RECEIVED" => TcpState::SynRecv,
            "FIN-WAIT-1" | "FIN-WAIT1" => TcpState::FinWait1,
            "FIN-WAIT-2" | "FIN-WAIT2" => TcpState::FinWait2,
            "TIME-WAIT" => TcpState::TimeWait,
            "UNCONN" | "CLOSE" | "CLOSED" => TcpState::Close,
            "CLOSE-WAIT" => TcpState::CloseWait,
            "LAST-ACK" => TcpState::LastAck,
            "LISTEN" | "LISTENING" => TcpState::Listen,
            "CLOSING" => TcpState::Closing,
            _ => {
                let names: Vec<&str> = TcpState::ALL.iter().map(|s| s.ss_name()).collect();
                return Err(format!(
                    "unknown TCP state `{s}` (expected one of {}, or lsof's names such as \
                     ESTABLISHED, CLOSE_WAIT)",
                    names.join(", ")
                ));
            }
        };
        Ok(state)
    }
}

/// The kind of timer a socket has pending, as ss names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Retransmission (also SYN, SYN-ACK, loss probe): ss's `on`.
    On,
    Keepalive,
    /// The TIME-WAIT (or orphaned FIN-WAIT-2) lifetime.
    TimeWait,
    /// Zero-window probe.
    Persist,
}

impl TimerKind {
    /// From `idiag_timer`; 0 (no timer) and unknown values give None.
    pub fn from_kernel(timer: u8) -> Option<TimerKind> {
        match timer {
            1 => Some(TimerKind::On),
            2 => Some(TimerKind::Keepalive),
            3 => Some(TimerKind::TimeWait),
            4 => Some(TimerKind::Persist),
            _ => None,
        }
    }

    pub fn ss_name(self) -> &'static str {
        match self {
            TimerKind::On => "on",
            TimerKind::Keepalive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::Persist => "persist",
        }
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.ss_name())
    }
}

/// A socket's pending timer at the moment of the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    pub kind: TimerKind,
    /// Time left (the kernel reports milliseconds).
    pub left: Duration,
    /// Retransmissions (On), unanswered probes (Keepalive, Persist); 0 for
    /// TimeWait.
    pub retrans: u8,
}

impl fmt::Display for Timer {
    /// `timer:(timewait,58sec,0)`, as `ss -o`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timer:({},{},{})",
            self.kind,
            format_ms(self.left),
            self.retrans
        )
    }
}

/// A duration as ss prints timers (misc/ss.c `print_ms_timer`): `476ms`,
/// `1.098sec`, `9.501sec`, `58sec`, `1min5sec`, `12min`. Milliseconds are
/// shown only below 10 s; seconds only below 10 min; 0 gives an empty
/// string, as in ss.
///
/// Between 1 and 10 s, ss up to iproute2 6.10 (e.g. the installed 6.1)
/// prints `9.501ms` for 9501 ms; later ss prints `9.501sec` ("ss: fix
/// expired time format of timer", 2024). We print the unambiguous later form.
pub fn format_ms(d: Duration) -> String {
    let timeout = d.as_millis().min(u128::from(u32::MAX)) as u64;
    let mut secs = timeout / 1000;
    let minutes = secs / 60;
    secs %= 60;
    let mut msecs = timeout % 1000;
    let mut out = String::new();
    if minutes > 0 {
        msecs = 0;
        out.push_str(&format!("{minutes}min"));
        if minutes > 9 {
            secs = 0;
        }
    }
    if secs > 0 {
        if secs > 9 {
            msecs = 0;
        }
        out.push_str(&format!("{secs}{}", if msecs > 0 { "." } else { "sec" }));
    }
    if msecs > 0 {
        out.push_str(&format!(
            "{msecs:03}{}",
            if secs > 0 { "sec" } else { "ms" }
        ));
    }
    out
}

/// IPv4 or IPv6, named as lsof's TYPE column names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &SocketAddr) -> Family {
        match addr {
            SocketAddr::V4(_) => Family::Ipv4,
            SocketAddr::V6(_) => Family::Ipv6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// One TCP socket, one line of `ss -tan -o`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SocketRow {
    pub state: TcpState,
    /// An AF_INET6 socket's addresses are always V6 (v4-mapped included),
    /// so `Family::of(&row.local)` is the socket's family.
    pub local: SocketAddr,
    /// `0.0.0.0:0` / `[::]:0` for listeners.
    pub peer: SocketAddr,
    /// Bytes not yet read by the process; for LISTEN, connections waiting
    /// for accept().
    pub recv_q: u32,
    /// Bytes sent and not yet acknowledged (SYN and FIN count one); for
    /// LISTEN, the backlog.
    pub send_q: u32,
    pub timer: Option<Timer>,
    /// 0 for sockets no process holds any more (TIME-WAIT, request
    /// sockets, orphans); matches /proc/PID/fd's `socket:[INODE]`.
    pub inode: u64,
    pub uid: u32,
    /// SO_BINDTODEVICE interface (ss's `%IFNAME`, not printed here), or 0.
    pub ifindex: u32,
    /// The kernel's socket cookie (ss's `sk:`).
    pub cookie: u64,
    /// IPV6_V6ONLY of an IPv6 listener (the kernel reports it for LISTEN
    /// and CLOSE only). ss prints a dual-stack wildcard as `*:11111`, a
    /// v6-only one as `[::]:11111`.
    pub v6only: bool,
}

impl SocketRow {
    pub fn family(&self) -> Family {
        Family::of(&self.local)
    }

    /// Parses one `struct inet_diag_msg` (the netlink payload, without the
    /// netlink header). Of the attributes after the 72-byte head only
    /// INET_DIAG_SKV6ONLY is read.
    pub fn parse(msg: &[u8]) -> std::result::Result<SocketRow, String> {
        if msg.len() < INET_DIAG_MSG_LEN {
            return Err(format!(
                "inet_diag_msg of {} bytes, expected at least {INET_DIAG_MSG_LEN}",
                msg.len()
            ));
        }
        let u32_at = |at: usize| u32::from_ne_bytes(msg[at..at + 4].try_into().unwrap());
        let port_at = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
        let ip_at = |at: usize| -> std::result::Result<IpAddr, String> {
            match msg[0] {
                AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(
                    msg[at],
                    msg[at + 1],
                    msg[at + 2],
                    msg[at + 3],
                ))),
                AF_INET6 => {
                    let b: [u8; 16] = msg[at..at + 16].try_into().unwrap();
                    Ok(IpAddr::V6(Ipv6Addr::from(b)))
                }
                f => Err(format!("inet_diag_msg of address family {f}")),
            }
        };
        let state = TcpState::from_kernel(msg[1])
            .ok_or_else(|| format!("inet_diag_msg with unknown TCP state {}", msg[1]))?;
        let timer = TimerKind::from_kernel(msg[2]).map(|kind| Timer {
            kind,
            left: Duration::from_millis(u64::from(u32_at(52))),
            retrans: msg[3],
        });
        let cookie = u64::from(u32_at(44)) | (u64::from(u32_at(48)) << 32);
        let v6only = attribute(&msg[INET_DIAG_MSG_LEN..], INET_DIAG_SKV6ONLY)
            .is_some_and(|v| v.first() == Some(&1));
        Ok(SocketRow {
            state,
            local: SocketAddr::new(ip_at(8)?, port_at(4)),
            peer: SocketAddr::new(ip_at(24)?, port_at(6)),
            recv_q: u32_at(56),
            send_q: u32_at(60),
            timer,
            inode: u64::from(u32_at(68)),
            uid: u32_at(64),
            ifindex: u32_at(40),
            cookie,
            v6only,
        })
    }
}

/// INET_DIAG_SKV6ONLY (linux/inet_diag.h).
const INET_DIAG_SKV6ONLY: u16 = 11;

/// The payload of the first netlink attribute of type `kind` in `attrs`.
fn attribute(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let ty = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if ty == kind {
            return Some(&attrs[4..len]);
        }
        attrs = &attrs[((len + 3) & !3).min(attrs.len())..];
    }
    None
}

/// ss's split of an endpoint into address and port: `192.168.2.100` /
/// `[::1]`, `*` for port 0, and `*` for the IPv6 wildcard of a socket that
/// is not v6-only (it also takes IPv4).
fn ss_endpoint(addr: &SocketAddr, v6only: bool) -> (String, String) {
    let ip = match addr.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) if a.is_unspecified() && !v6only => "*".to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let port = if addr.port() == 0 {
        "*".to_string()
    } else {
        addr.port().to_string()
    };
    (ip, port)
}

impl fmt::Display for SocketRow {
    /// `ESTAB      0      0      192.168.2.100:11111 192.168.2.105:43068`,
    /// then ` timer:(...)` when a timer is pending. Fixed widths wide enough
    /// for IPv4; [`table`] sizes columns to the rows, as ss does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (la, lp) = ss_endpoint(&self.local, self.v6only);
        let (pa, pp) = ss_endpoint(&self.peer, self.v6only);
        let mut line = format!(
            "{:<10} {:<6} {:<6} {la:>15}:{lp:<5} {pa:>15}:{pp:<5}",
            self.state, self.recv_q, self.send_q
        );
        match &self.timer {
            Some(t) => line.push_str(&format!(" {t}")),
            None => line.truncate(line.trim_end().len()),
        }
        f.write_str(&line)
    }
}

/// Rows as `ss -tan -o` lays them out: a header, the state column as wide as
/// the widest state, addresses right-aligned and ports left-aligned on the
/// `:`. One line per row, each ending in a newline.
pub fn table(rows: &[SocketRow]) -> String {
    let cells: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                ss_endpoint(&r.local, r.v6only),
                ss_endpoint(&r.peer, r.v6only),
            )
        })
        .collect();
    // State, local address, local port, peer address, peer port: at least
    // as wide as the headers.
    let mut widths = [5, 13, 4, 12, 4];
    for (r, ((la, lp), (pa, pp))) in rows.iter().zip(&cells) {
        let lens = [
            r.state.ss_name().len(),
            la.len(),
            lp.len(),
            pa.len(),
            pp.len(),
        ];
        for (w, len) in widths.iter_mut().zip(lens) {
            *w = (*w).max(len);
        }
    }
    let [sw, law, lpw, paw, ppw] = widths;
    let mut out = format!(
        "{:<sw$} {:<6} {:<6} {:>law$}:{:<lpw$} {:>paw$}:{:<ppw$}\n",
        "State", "Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port"
    );
    for (r, ((la, lp), (pa, pp))) in rows.iter().zip(&cells) {
        let mut line = format!(
            "{:<sw$} {:<6} {:<6} {la:>law$}:{lp:<lpw$} {pa:>paw$}:{pp:<ppw$}",
            r.state, r.recv_q, r.send_q
        );
        if let Some(t) = &r.timer {
            line.push_str(&format!(" {t}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// True when nothing is in flight: no socket in a transient state
/// ([`TcpState::is_transient`]: SYN-SENT, SYN-RECV, FIN-WAIT-1, CLOSING,
/// LAST-ACK) and no non-listening socket with unacknowledged data
/// (`send_q > 0`; a listener's send_q is its backlog, not data). A case
/// waits for this before asserting states, so that it does not race the
/// kernel's last ACK. Long-lived states (ESTAB, CLOSE-WAIT, FIN-WAIT-2,
/// TIME-WAIT, LISTEN) and unread received data (recv_q) count as settled.
pub fn settled(rows: &[SocketRow]) -> bool {
    rows.iter()
        .all(|r| !r.state.is_transient() && (r.state == TcpState::Listen || r.send_q == 0))
}

/// A NETLINK_SOCK_DIAG socket living in one network namespace. The fd is
/// close-on-exec (netlink-sys opens it with SOCK_CLOEXEC), so programs the
/// harness spawns do not inherit it.
#[derive(Debug)]
pub struct SockDiag {
    netns: String,
    /// The socket and the last sequence number used; locked for a whole
    /// dump so that concurrent dumps never read each other's replies.
    inner: Mutex<(netlink_sys::Socket, u32)>,
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
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (socket, seq) = &mut *guard;
        let mut rows = Vec::new();
        for (family, name) in [(AF_INET, "IPv4"), (AF_INET6, "IPv6")] {
            *seq = seq.wrapping_add(1);
            dump_family(socket, family, *seq, &mut rows).map_err(|e| {
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
            extensions: ExtensionFlags::empty(),
            states: StateFlags::from_bits_retain(DUMP_STATES),
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
            SOCK_DIAG_BY_FAMILY => rows.push(SocketRow::parse(payload).map_err(Reply::Malformed)?),
            _ => {}
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(TcpState::Established, "ESTAB", "ESTABLISHED", 1)]
    #[case(TcpState::SynSent, "SYN-SENT", "SYN_SENT", 2)]
    #[case(TcpState::SynRecv, "SYN-RECV", "SYN_RECV", 3)]
    #[case(TcpState::FinWait1, "FIN-WAIT-1", "FIN_WAIT1", 4)]
    #[case(TcpState::FinWait2, "FIN-WAIT-2", "FIN_WAIT2", 5)]
    #[case(TcpState::TimeWait, "TIME-WAIT", "TIME_WAIT", 6)]
    #[case(TcpState::Close, "UNCONN", "CLOSE", 7)]
    #[case(TcpState::CloseWait, "CLOSE-WAIT", "CLOSE_WAIT", 8)]
    #[case(TcpState::LastAck, "LAST-ACK", "LAST_ACK", 9)]
    #[case(TcpState::Listen, "LISTEN", "LISTEN", 10)]
    #[case(TcpState::Closing, "CLOSING", "CLOSING", 11)]
    fn state_names(#[case] s: TcpState, #[case] ss: &str, #[case] lsof: &str, #[case] k: u8) {
        assert_eq!(s.to_string(), ss);
        assert_eq!(s.lsof_name(), lsof);
        assert_eq!(s.kernel(), k);
        assert_eq!(TcpState::from_kernel(k), Some(s));
        assert_eq!(ss.parse::<TcpState>(), Ok(s));
        assert_eq!(lsof.parse::<TcpState>(), Ok(s));
        assert_eq!(ss.to_lowercase().parse::<TcpState>(), Ok(s));
    }

    #[rstest]
    #[case("SYN-RECEIVED", TcpState::SynRecv)]
    #[case("CLOSED", TcpState::Close)]
    #[case("listening", TcpState::Listen)]
    #[case("fin-wait-1", TcpState::FinWait1)]
    #[case("FIN_WAIT_2", TcpState::FinWait2)]
    #[case(" established ", TcpState::Established)]
    fn state_aliases(#[case] name: &str, #[case] s: TcpState) {
        assert_eq!(name.parse::<TcpState>(), Ok(s));
    }

    #[rstest]
    #[case("")]
    #[case("ESTA")]
    #[case("SYN")]
    #[case("bound-inactive")]
    fn state_rejects(#[case] name: &str) {
        let err = name.parse::<TcpState>().unwrap_err();
        assert!(err.contains("ESTAB") && err.contains(name.trim()), "{err}");
    }

    #[test]
    fn kernel_states() {
        assert_eq!(
            TcpState::from_kernel(TCP_NEW_SYN_RECV),
            Some(TcpState::SynRecv)
        );
        assert_eq!(TcpState::from_kernel(0), None);
        assert_eq!(TcpState::from_kernel(13), None);
        let transient: Vec<_> = TcpState::ALL
            .into_iter()
            .filter(|s| s.is_transient())
            .collect();
        assert_eq!(
            transient,
            [
                TcpState::SynSent,
                TcpState::SynRecv,
                TcpState::FinWait1,
                TcpState::LastAck,
                TcpState::Closing
            ]
        );
    }

    // Expected strings follow misc/ss.c print_ms_timer (with the 2024 "sec"
    // fix for 1..10 s).
    #[rstest]
    #[case(0, "")]
    #[case(1, "001ms")]
    #[case(476, "476ms")]
    #[case(1000, "1sec")]
    #[case(1098, "1.098sec")]
    #[case(9501, "9.501sec")]
    #[case(9999, "9.999sec")]
    #[case(10_000, "10sec")]
    #[case(10_999, "10sec")]
    #[case(57_996, "57sec")]
    #[case(59_999, "59sec")]
    #[case(60_000, "1min")]
    #[case(61_500, "1min1sec")]
    #[case(119_999, "1min59sec")]
    #[case(600_000, "10min")]
    #[case(659_000, "10min")]
    fn timer_format(#[case] ms: u64, #[case] text: &str) {
        assert_eq!(format_ms(Duration::from_millis(ms)), text);
    }

    #[rstest]
    #[case(TimerKind::TimeWait, 58_123, 0, "timer:(timewait,58sec,0)")]
    #[case(TimerKind::On, 204, 0, "timer:(on,204ms,0)")]
    #[case(TimerKind::On, 3_010, 2, "timer:(on,3.010sec,2)")]
    #[case(TimerKind::Keepalive, 7_200_000, 0, "timer:(keepalive,120min,0)")]
    #[case(TimerKind::Persist, 400, 1, "timer:(persist,400ms,1)")]
    fn timer_display(
        #[case] kind: TimerKind,
        #[case] ms: u64,
        #[case] retrans: u8,
        #[case] text: &str,
    ) {
        let t = Timer {
            kind,
            left: Duration::from_millis(ms),
            retrans,
        };
        assert_eq!(t.to_string(), text);
    }

    fn row(state: TcpState, local: &str, peer: &str) -> SocketRow {
        SocketRow {
            state,
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: None,
            inode: 0,
            uid: 0,
            ifindex: 0,
            cookie: 0,
            v6only: true,
        }
    }

    #[rstest]
    #[case(
        row(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"),
        "LISTEN     0      0              0.0.0.0:11111         0.0.0.0:*"
    )]
    #[case(
        row(TcpState::Established, "192.168.2.100:11111", "192.168.2.105:43068"),
        "ESTAB      0      0        192.168.2.100:11111   192.168.2.105:43068"
    )]
    #[case(
        row(TcpState::Listen, "[::]:11111", "[::]:0"),
        "LISTEN     0      0                 [::]:11111            [::]:*"
    )]
    #[case(
        row(TcpState::Established, "[::ffff:192.168.2.100]:11111", "[::1]:5"),
        "ESTAB      0      0      [::ffff:192.168.2.100]:11111           [::1]:5"
    )]
    #[case(
        SocketRow { v6only: false, ..row(TcpState::Listen, "[::]:11112", "[::]:0") },
        "LISTEN     0      0                    *:11112               *:*"
    )]
    fn row_display(#[case] r: SocketRow, #[case] text: &str) {
        assert_eq!(r.to_string(), text);
    }

    #[test]
    fn row_display_timer() {
        let mut r = row(
            TcpState::TimeWait,
            "192.168.2.105:43068",
            "192.168.2.100:11111",
        );
        r.timer = Some(Timer {
            kind: TimerKind::TimeWait,
            left: Duration::from_millis(58_500),
            retrans: 0,
        });
        assert_eq!(
            r.to_string(),
            "TIME-WAIT  0      0        192.168.2.105:43068   192.168.2.100:11111 \
             timer:(timewait,58sec,0)"
        );
    }

    #[test]
    fn table_aligns_like_ss() {
        let mut tw = row(
            TcpState::TimeWait,
            "192.168.2.100:11111",
            "192.168.2.105:53118",
        );
        tw.timer = Some(Timer {
            kind: TimerKind::TimeWait,
            left: Duration::from_secs(56),
            retrans: 0,
        });
        let mut listen = row(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0");
        listen.send_q = 10;
        let mut listen6 = row(TcpState::Listen, "[::]:11111", "[::]:0");
        listen6.send_q = 10;
        let rows = [
            listen,
            tw,
            row(
                TcpState::Established,
                "192.168.2.100:11111",
                "192.168.2.105:33036",
            ),
            listen6,
        ];
        // Measured: `ss -tan -o` (iproute2 6.1) in the same situation, with
        // its trailing blanks and Process header removed.
        let ss = "\
State     Recv-Q Send-Q Local Address:Port   Peer Address:Port
LISTEN    0      10           0.0.0.0:11111       0.0.0.0:*
TIME-WAIT 0      0      192.168.2.100:11111 192.168.2.105:53118 timer:(timewait,56sec,0)
ESTAB     0      0      192.168.2.100:11111 192.168.2.105:33036
LISTEN    0      10              [::]:11111          [::]:*
";
        let ours: String = table(&rows)
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect();
        assert_eq!(ours, ss);
    }

    #[test]
    fn settled_rules() {
        let mut listen = row(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0");
        listen.send_q = 128;
        let est = row(
            TcpState::Established,
            "192.168.2.100:11111",
            "192.168.2.105:4",
        );
        assert!(settled(&[]));
        assert!(settled(&[listen.clone(), est.clone()]));
        let mut busy = est.clone();
        busy.send_q = 1;
        assert!(!settled(&[listen.clone(), busy]));
        let mut unread = est.clone();
        unread.recv_q = 10;
        assert!(settled(&[unread]));
        for s in [
            TcpState::SynSent,
            TcpState::SynRecv,
            TcpState::FinWait1,
            TcpState::LastAck,
        ] {
            assert!(!settled(&[
                listen.clone(),
                row(s, "192.168.2.100:1", "192.168.2.105:2")
            ]));
        }
        for s in [TcpState::TimeWait, TcpState::CloseWait, TcpState::FinWait2] {
            assert!(settled(&[row(s, "192.168.2.100:1", "192.168.2.105:2")]));
        }
    }

    /// A hand-built inet_diag_msg: a TIME-WAIT socket with 57,996 ms left.
    fn raw_msg(family: u8) -> Vec<u8> {
        let mut m = vec![0u8; INET_DIAG_MSG_LEN + 8];
        m[0] = family;
        m[1] = 6; // TIME_WAIT
        m[2] = 3; // timewait timer
        m[3] = 0;
        m[4..6].copy_from_slice(&43068u16.to_be_bytes());
        m[6..8].copy_from_slice(&11111u16.to_be_bytes());
        if family == AF_INET {
            m[8..12].copy_from_slice(&[192, 168, 2, 105]);
            m[24..28].copy_from_slice(&[192, 168, 2, 100]);
        } else {
            m[8..24].copy_from_slice(&"fd00::105".parse::<Ipv6Addr>().unwrap().octets());
            m[24..40].copy_from_slice(&"fd00::100".parse::<Ipv6Addr>().unwrap().octets());
        }
        m[40..44].copy_from_slice(&2u32.to_ne_bytes());
        m[44..48].copy_from_slice(&0x1234u32.to_ne_bytes());
        m[48..52].copy_from_slice(&0x1u32.to_ne_bytes());
        m[52..56].copy_from_slice(&57_996u32.to_ne_bytes());
        m[56..60].copy_from_slice(&7u32.to_ne_bytes());
        m[60..64].copy_from_slice(&9u32.to_ne_bytes());
        m[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        m[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        if family == AF_INET6 {
            // INET_DIAG_SKV6ONLY = 1 (nla_len 5, padded to 8).
            m[72..74].copy_from_slice(&5u16.to_ne_bytes());
            m[74..76].copy_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
            m[76] = 1;
        }
        m
    }

    #[test]
    fn parse_inet_diag_msg() {
        let r = SocketRow::parse(&raw_msg(AF_INET)).unwrap();
        assert_eq!(r.state, TcpState::TimeWait);
        assert_eq!(r.local, "192.168.2.105:43068".parse().unwrap());
        assert_eq!(r.peer, "192.168.2.100:11111".parse().unwrap());
        assert_eq!(
            r.timer,
            Some(Timer {
                kind: TimerKind::TimeWait,
                left: Duration::from_millis(57_996),
                retrans: 0
            })
        );
        assert_eq!((r.recv_q, r.send_q, r.uid, r.inode), (7, 9, 1000, 4242));
        assert_eq!((r.ifindex, r.cookie), (2, 0x1_0000_1234));
        assert_eq!(r.family(), Family::Ipv4);
        let r6 = SocketRow::parse(&raw_msg(AF_INET6)).unwrap();
        assert_eq!(r6.local, "[fd00::105]:43068".parse().unwrap());
        assert_eq!(r6.family(), Family::Ipv6);
        assert!(r6.v6only && !r.v6only);
        assert!(SocketRow::parse(&raw_msg(AF_INET)[..71]).is_err());
        let mut bad = raw_msg(AF_INET);
        bad[1] = 13;
        assert!(SocketRow::parse(&bad).unwrap_err().contains("state 13"));
    }

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

    // ---- Live check against ss (root: the lab needs namespaces) ----

    /// `ip netns exec NS ss -tan -o`, as token lists without the header;
    /// None when ss cannot be run.
    fn ss_rows(ns: &str) -> Option<Vec<Vec<String>>> {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-tan", "-o"])
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        Some(
            text.lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .collect(),
        )
    }

    /// Milliseconds of an ss timer value; also reads ss <= 6.10's
    /// `9.501ms` (meaning 9.501 s).
    fn parse_ss_ms(v: &str) -> u64 {
        let (mut ms, mut rest) = (0u64, v);
        if let Some((m, r)) = rest.split_once("min") {
            ms += m.parse::<u64>().unwrap() * 60_000;
            rest = r;
        }
        if let Some((sec, frac)) = rest.split_once('.') {
            let frac = frac.trim_end_matches("sec").trim_end_matches("ms");
            ms += sec.parse::<u64>().unwrap() * 1000 + frac.parse::<u64>().unwrap();
        } else if let Some(sec) = rest.strip_suffix("sec") {
            ms += sec.parse::<u64>().unwrap() * 1000;
        } else if let Some(m) = rest.strip_suffix("ms") {
            ms += m.parse::<u64>().unwrap();
        }
        ms
    }

    #[rstest]
    #[case("56sec", 56_000)]
    #[case("9.501ms", 9_501)]
    #[case("9.501sec", 9_501)]
    #[case("476ms", 476)]
    #[case("1min5sec", 65_000)]
    #[case("12min", 720_000)]
    fn ss_timer_values(#[case] text: &str, #[case] ms: u64) {
        assert_eq!(parse_ss_ms(text), ms);
    }

    /// Compares our rows with ss's line by line: state, queues and
    /// addresses exactly, the timer's kind and count exactly and its time
    /// within 1 s (ss prints whole seconds above 10 s, and runs a little
    /// later). Returns the side-by-side for the log.
    fn compare_with_ss(
        ours: &[SocketRow],
        ss: &[Vec<String>],
    ) -> std::result::Result<String, String> {
        let mut log = String::new();
        if ours.len() != ss.len() {
            return Err(format!(
                "{} rows, ss shows {}:\n{}{ss:?}",
                ours.len(),
                ss.len(),
                table(ours)
            ));
        }
        for (r, theirs) in ours.iter().zip(ss) {
            let mine: Vec<String> = r
                .to_string()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            log.push_str(&format!("  ours: {r}\n  ss:   {}\n", theirs.join(" ")));
            if mine[..5] != theirs[..5] || mine.len() != theirs.len() {
                return Err(format!(
                    "row differs: ours `{r}`, ss `{}`",
                    theirs.join(" ")
                ));
            }
            if let (Some(t), Some(text)) = (&r.timer, theirs.get(5)) {
                let inner = text.trim_start_matches("timer:(").trim_end_matches(')');
                let parts: Vec<&str> = inner.split(',').collect();
                let ss_ms = parse_ss_ms(parts[1]);
                let our_ms = t.left.as_millis() as u64;
                if parts[0] != t.kind.ss_name()
                    || parts[2] != t.retrans.to_string()
                    || our_ms.abs_diff(ss_ms) > 1000
                {
                    return Err(format!(
                        "timer differs: ours `{t}` ({our_ms} ms), ss `{text}`"
                    ));
                }
                log.push_str(&format!("  timer: ours {our_ms} ms, ss {text}\n"));
            }
        }
        Ok(log)
    }

    /// Dumps, runs ss, compares; retried a few times in case a timer fired
    /// between the two snapshots. Always Some: a missing ss fails the test.
    fn check_against_ss(diag: &SockDiag) -> Option<String> {
        let mut last = String::new();
        for _ in 0..3 {
            let ours = diag.dump().unwrap();
            let ss = ss_rows(diag.netns())
                .expect("ss not available: install iproute2 (ci/install-deps does)");
            match compare_with_ss(&ours, &ss) {
                Ok(log) => return Some(log),
                Err(e) => last = e,
            }
        }
        panic!("netns {}: {last}", diag.netns());
    }

    fn wait_for(
        diag: &SockDiag,
        what: &str,
        pred: impl Fn(&[SocketRow]) -> bool,
    ) -> Vec<SocketRow> {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let rows = diag.dump().unwrap();
            if pred(&rows) {
                return rows;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: timed out; rows:\n{}",
                table(&rows)
            );
            std::thread::sleep(Duration::from_millis(5)); // poll interval of this wait
        }
    }

    /// A real lab: listeners, two connections (one through the v6
    /// listener, so v4-mapped), a SYN-SENT socket to an absent host, then
    /// an active close that leaves FIN-WAIT-2 and TIME-WAIT rows with
    /// timewait timers. Each stage is compared with `ss -tan -o`.
    #[test]
    fn live_dump_matches_ss() {
        use crate::lab::{Lab, Side};
        use std::net::{TcpListener, TcpStream};
        assert!(
            nix::unistd::geteuid().is_root(),
            "needs root for namespaces: run `cargo test` (the runner uses sudo -E) or as root"
        );
        let lab = Lab::new("sockets-check").unwrap();
        let server = SockDiag::open(lab.netns(Side::Server)).unwrap();
        let client = SockDiag::open(lab.netns(Side::Client)).unwrap();
        let (l4, l6) = lab
            .netns(Side::Server)
            .run("listen", || {
                let l4 = TcpListener::bind("0.0.0.0:11111").map_err(|e| Error::io("bind", e))?;
                let l6 = TcpListener::bind("[::]:11112").map_err(|e| Error::io("bind", e))?;
                Ok((l4, l6))
            })
            .unwrap();
        let (c4, c6, syn) = lab
            .netns(Side::Client)
            .run("connect", || {
                let c4 =
                    TcpStream::connect("192.168.2.100:11111").map_err(|e| Error::io("c4", e))?;
                let c6 =
                    TcpStream::connect("192.168.2.100:11112").map_err(|e| Error::io("c6", e))?;
                use nix::sys::socket::{
                    connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
                };
                let syn = socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                    None,
                )
                .map_err(|e| Error::sys("socket", e))?;
                match connect(syn.as_raw_fd(), &SockaddrIn::new(192, 168, 2, 1, 11111)) {
                    Err(Errno::EINPROGRESS) => {}
                    other => return Err(Error::msg(format!("connect to absent host: {other:?}"))),
                }
                Ok((c4, c6, syn))
            })
            .unwrap();
        let (s4, _) = l4.accept().unwrap();
        let (s6, _) = l6.accept().unwrap();

        // The netlink fd is close-on-exec.
        let fd = server.inner.lock().unwrap().0.as_raw_fd();
        let flags = nix::fcntl::fcntl(
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::fcntl::FcntlArg::F_GETFD,
        )
        .unwrap();
        assert!(
            flags & libc::FD_CLOEXEC != 0,
            "sock_diag fd {fd} lacks FD_CLOEXEC"
        );

        let rows = server.dump().unwrap();
        eprintln!("server:\n{}", table(&rows));
        let states: Vec<_> = rows.iter().map(|r| (r.state, r.local.port())).collect();
        assert_eq!(
            states,
            [
                (TcpState::Listen, 11111),
                (TcpState::Established, 11111),
                (TcpState::Listen, 11112),
                (TcpState::Established, 11112)
            ]
        );
        assert!(rows.iter().all(|r| r.inode != 0));
        assert_eq!(
            rows[3].local,
            "[::ffff:192.168.2.100]:11112".parse().unwrap()
        );
        assert!(settled(&rows));

        let rows = client.dump().unwrap();
        eprintln!("client:\n{}", table(&rows));
        let sent = rows
            .iter()
            .find(|r| r.state == TcpState::SynSent)
            .expect("a SYN-SENT row");
        assert_eq!(sent.peer, "192.168.2.1:11111".parse().unwrap());
        assert_eq!(sent.send_q, 1, "the SYN is one unacknowledged byte");
        assert!(matches!(
            sent.timer,
            Some(Timer {
                kind: TimerKind::On,
                ..
            })
        ));
        assert!(!settled(&rows));
        if let Some(log) = check_against_ss(&client) {
            eprintln!("client vs ss:\n{log}");
            eprintln!("server vs ss:\n{}", check_against_ss(&server).unwrap());
        }
        drop(syn);
        assert!(settled(&client.dump().unwrap()));

        // Client closes first: FIN-WAIT-2 (orphaned: timewait timer, of
        // tcp_fin_timeout, here 5 s so that ss shows a sub-10 s value), then
        // TIME-WAIT once the server closes too.
        lab.netns(Side::Client)
            .run("set tcp_fin_timeout", || {
                std::fs::write("/proc/sys/net/ipv4/tcp_fin_timeout", "5")
                    .map_err(|e| Error::io("write tcp_fin_timeout", e))
            })
            .unwrap();
        drop(c4);
        let rows = wait_for(&client, "FIN-WAIT-2", |rows| {
            rows.iter()
                .any(|r| r.state == TcpState::FinWait2 && r.peer.port() == 11111)
        });
        let fw2 = rows.iter().find(|r| r.state == TcpState::FinWait2).unwrap();
        assert_eq!(fw2.timer.map(|t| t.kind), Some(TimerKind::TimeWait));
        assert!(fw2.timer.unwrap().left <= Duration::from_secs(5), "{fw2}");
        assert_eq!(fw2.inode, 0);
        if let Some(log) = check_against_ss(&client) {
            eprintln!("client FIN-WAIT-2 vs ss:\n{log}");
        }
        drop(s4);
        let rows = wait_for(&client, "TIME-WAIT", |rows| {
            rows.iter()
                .any(|r| r.state == TcpState::TimeWait && r.peer.port() == 11111)
        });
        let tw = rows.iter().find(|r| r.state == TcpState::TimeWait).unwrap();
        let t = tw.timer.expect("TIME-WAIT has a timer");
        assert_eq!((t.kind, t.retrans, tw.inode), (TimerKind::TimeWait, 0, 0));
        assert!(
            t.left > Duration::from_secs(55) && t.left <= Duration::from_secs(60),
            "{t}"
        );
        assert!(settled(&rows));
        if let Some(log) = check_against_ss(&client) {
            eprintln!("client TIME-WAIT vs ss:\n{log}");
        }
        drop((c6, s6, l4, l6));
    }
}
