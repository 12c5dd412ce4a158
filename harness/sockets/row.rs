//! One socket as the kernel reports it: [`SocketRow`], parsed from the raw
//! bytes of an `inet_diag_msg` and its attributes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6};

use super::info::{TcpInfo, INET_DIAG_CONG, INET_DIAG_INFO};
use super::state::TcpState;
use super::timer::{Timer, TimerKind};

/// Size of `struct inet_diag_msg`.
pub(super) const INET_DIAG_MSG_LEN: usize = 72;

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
    /// `ss -ti`'s part: present when the dump asked for it
    /// ([`super::SockDiag::dump_info`]) and the kernel has it for the
    /// socket (not for TIME-WAIT or request sockets).
    pub info: Option<TcpInfo>,
}

/// A sock_diag message this reader cannot take: too short, of another
/// address family, or of a TCP state it does not know.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadDiagMsg {
    #[error("inet_diag_msg of {0} bytes, expected at least {INET_DIAG_MSG_LEN}")]
    Short(usize),
    #[error("inet_diag_msg of address family {0}")]
    Family(u8),
    #[error("inet_diag_msg with unknown TCP state {0}")]
    State(u8),
}

impl SocketRow {
    pub fn family(&self) -> Family {
        Family::of(&self.local)
    }

    /// Parses one `struct inet_diag_msg` (the netlink payload, without the
    /// netlink header). Of the attributes after the 72-byte head only
    /// INET_DIAG_SKV6ONLY, INET_DIAG_INFO and INET_DIAG_CONG are read.
    pub fn parse(msg: &[u8]) -> std::result::Result<SocketRow, BadDiagMsg> {
        if msg.len() < INET_DIAG_MSG_LEN {
            return Err(BadDiagMsg::Short(msg.len()));
        }
        let u32_at = |at: usize| u32::from_ne_bytes(msg[at..at + 4].try_into().unwrap());
        let port_at = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
        let ip_at = |at: usize| -> std::result::Result<IpAddr, BadDiagMsg> {
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
                f => Err(BadDiagMsg::Family(f)),
            }
        };
        let state = TcpState::from_kernel(msg[1]).ok_or(BadDiagMsg::State(msg[1]))?;
        let timer = TimerKind::from_kernel(msg[2]).map(|kind| Timer {
            kind,
            left: Duration::from_millis(u64::from(u32_at(52))),
            retrans: msg[3],
        });
        let cookie = u64::from(u32_at(44)) | (u64::from(u32_at(48)) << 32);
        let attrs = &msg[INET_DIAG_MSG_LEN..];
        let v6only = attribute(attrs, INET_DIAG_SKV6ONLY).is_some_and(|v| v.first() == Some(&1));
        let info = attribute(attrs, INET_DIAG_INFO)
            .map(|i| TcpInfo::parse(i, attribute(attrs, INET_DIAG_CONG)));
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
            info,
        })
    }
}

/// INET_DIAG_SKV6ONLY (linux/inet_diag.h).
pub(super) const INET_DIAG_SKV6ONLY: u16 = 11;

/// The payload of the first netlink attribute of type `kind` in `attrs`.
pub(super) fn attribute(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A hand-built inet_diag_msg: a TIME-WAIT socket with 57,996 ms left.
    pub(in crate::sockets) fn raw_msg(family: u8) -> Vec<u8> {
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
        assert!(r.info.is_none() && r6.info.is_none());
        assert!(SocketRow::parse(&raw_msg(AF_INET)[..71]).is_err());
        let mut bad = raw_msg(AF_INET);
        bad[1] = 13;
        assert_eq!(
            SocketRow::parse(&bad).unwrap_err().to_string(),
            "inet_diag_msg with unknown TCP state 13"
        );
    }

    /// INET_DIAG_INFO and INET_DIAG_CONG after the head: the row carries
    /// them; a short tcp_info (an older kernel) is kept as short.
    #[test]
    fn parse_tcp_info_attributes() {
        let attr = |kind: u16, payload: &[u8]| {
            let mut a = Vec::new();
            a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
            a.extend_from_slice(&kind.to_ne_bytes());
            a.extend_from_slice(payload);
            while a.len() % 4 != 0 {
                a.push(0);
            }
            a
        };
        let info = crate::sockets::info::tests::raw_info();
        let mut m = raw_msg(AF_INET)[..INET_DIAG_MSG_LEN].to_vec();
        m.extend(attr(INET_DIAG_INFO, &info[..136]));
        m.extend(attr(INET_DIAG_CONG, b"reno\0"));
        let r = SocketRow::parse(&m).unwrap();
        let i = r.info.expect("tcp_info parsed");
        assert_eq!((i.len(), i.cong.as_deref()), (136, Some("reno")));
        assert!(i
            .to_string()
            .starts_with("ts sack reno wscale:7,7 rto:204 rtt:0.031/0.015"));
        assert_eq!(i.get(crate::sockets::field_named("snd_wnd").unwrap()), None);
    }
}
