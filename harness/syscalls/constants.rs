//! strace's constant tables: address families, socket types, protocols,
//! option levels and names, message flags. Pure functions over numbers.

use super::render::{flags, named};

pub(super) const AF_UNIX: u64 = 1;
pub(super) const AF_INET: u64 = 2;
pub(super) const AF_INET6: u64 = 10;
pub(super) const AF_NETLINK: u64 = 16;

pub(super) const FAMILIES: &[(u64, &str)] = &[
    (0, "AF_UNSPEC"),
    (AF_UNIX, "AF_UNIX"),
    (AF_INET, "AF_INET"),
    (AF_INET6, "AF_INET6"),
    (AF_NETLINK, "AF_NETLINK"),
    (17, "AF_PACKET"),
    (31, "AF_BLUETOOTH"),
    (38, "AF_ALG"),
    (40, "AF_VSOCK"),
    (44, "AF_XDP"),
];

pub(super) const SOCK_TYPES: &[(u64, &str)] = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (6, "SOCK_DCCP"),
    (10, "SOCK_PACKET"),
];

pub(super) const SOCK_FLAGS: &[(u64, &str)] =
    &[(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")];

pub(super) const IPPROTOS: &[(u64, &str)] = &[
    (0, "IPPROTO_IP"),
    (1, "IPPROTO_ICMP"),
    (6, "IPPROTO_TCP"),
    (17, "IPPROTO_UDP"),
    (41, "IPPROTO_IPV6"),
    (58, "IPPROTO_ICMPV6"),
    (132, "IPPROTO_SCTP"),
    (136, "IPPROTO_UDPLITE"),
    (255, "IPPROTO_RAW"),
    (262, "IPPROTO_MPTCP"),
];

pub(super) const NETLINK_PROTOS: &[(u64, &str)] = &[
    (0, "NETLINK_ROUTE"),
    (4, "NETLINK_SOCK_DIAG"),
    (9, "NETLINK_AUDIT"),
    (16, "NETLINK_GENERIC"),
];

pub(super) const SOL_IP: u64 = 0;
pub(super) const SOL_SOCKET: u64 = 1;
pub(super) const SOL_TCP: u64 = 6;
pub(super) const SOL_IPV6: u64 = 41;

pub(super) const LEVELS: &[(u64, &str)] = &[
    (SOL_IP, "SOL_IP"),
    (SOL_SOCKET, "SOL_SOCKET"),
    (SOL_TCP, "SOL_TCP"),
    (17, "SOL_UDP"),
    (SOL_IPV6, "SOL_IPV6"),
    (255, "SOL_RAW"),
    (263, "SOL_PACKET"),
    (270, "SOL_NETLINK"),
];

pub(super) const SO_LINGER: u64 = 13;
pub(super) const SO_ERROR: u64 = 4;
pub(super) const SO_RCVTIMEO_OLD: u64 = 20;
pub(super) const SO_SNDTIMEO_OLD: u64 = 21;

pub(super) const SO_NAMES: &[(u64, &str)] = &[
    (1, "SO_DEBUG"),
    (2, "SO_REUSEADDR"),
    (3, "SO_TYPE"),
    (4, "SO_ERROR"),
    (5, "SO_DONTROUTE"),
    (6, "SO_BROADCAST"),
    (7, "SO_SNDBUF"),
    (8, "SO_RCVBUF"),
    (9, "SO_KEEPALIVE"),
    (10, "SO_OOBINLINE"),
    (11, "SO_NO_CHECK"),
    (12, "SO_PRIORITY"),
    (SO_LINGER, "SO_LINGER"),
    (14, "SO_BSDCOMPAT"),
    (15, "SO_REUSEPORT"),
    (16, "SO_PASSCRED"),
    (17, "SO_PEERCRED"),
    (18, "SO_RCVLOWAT"),
    (19, "SO_SNDLOWAT"),
    (SO_RCVTIMEO_OLD, "SO_RCVTIMEO_OLD"),
    (SO_SNDTIMEO_OLD, "SO_SNDTIMEO_OLD"),
    (25, "SO_BINDTODEVICE"),
    (28, "SO_PEERNAME"),
    (29, "SO_TIMESTAMP_OLD"),
    (30, "SO_ACCEPTCONN"),
    (32, "SO_SNDBUFFORCE"),
    (33, "SO_RCVBUFFORCE"),
    (36, "SO_MARK"),
    (38, "SO_PROTOCOL"),
    (39, "SO_DOMAIN"),
    (40, "SO_RXQ_OVFL"),
    (46, "SO_BUSY_POLL"),
    (49, "SO_INCOMING_CPU"),
    (60, "SO_ZEROCOPY"),
    (66, "SO_RCVTIMEO_NEW"),
    (67, "SO_SNDTIMEO_NEW"),
];

pub(super) const TCP_NAMES: &[(u64, &str)] = &[
    (1, "TCP_NODELAY"),
    (2, "TCP_MAXSEG"),
    (3, "TCP_CORK"),
    (4, "TCP_KEEPIDLE"),
    (5, "TCP_KEEPINTVL"),
    (6, "TCP_KEEPCNT"),
    (7, "TCP_SYNCNT"),
    (8, "TCP_LINGER2"),
    (9, "TCP_DEFER_ACCEPT"),
    (10, "TCP_WINDOW_CLAMP"),
    (11, "TCP_INFO"),
    (12, "TCP_QUICKACK"),
    (13, "TCP_CONGESTION"),
    (14, "TCP_MD5SIG"),
    (18, "TCP_USER_TIMEOUT"),
    (23, "TCP_FASTOPEN"),
    (25, "TCP_NOTSENT_LOWAT"),
    (30, "TCP_FASTOPEN_CONNECT"),
];

pub(super) const IP_NAMES: &[(u64, &str)] = &[
    (1, "IP_TOS"),
    (2, "IP_TTL"),
    (3, "IP_HDRINCL"),
    (4, "IP_OPTIONS"),
    (8, "IP_PKTINFO"),
    (10, "IP_MTU_DISCOVER"),
    (11, "IP_RECVERR"),
    (13, "IP_RECVTOS"),
    (14, "IP_MTU"),
    (15, "IP_FREEBIND"),
    (19, "IP_TRANSPARENT"),
    (24, "IP_BIND_ADDRESS_NO_PORT"),
    (33, "IP_MULTICAST_TTL"),
    (34, "IP_MULTICAST_LOOP"),
    (35, "IP_ADD_MEMBERSHIP"),
    (36, "IP_DROP_MEMBERSHIP"),
];

pub(super) const IPV6_NAMES: &[(u64, &str)] = &[
    (16, "IPV6_UNICAST_HOPS"),
    (18, "IPV6_MULTICAST_HOPS"),
    (19, "IPV6_MULTICAST_LOOP"),
    (20, "IPV6_ADD_MEMBERSHIP"),
    (21, "IPV6_DROP_MEMBERSHIP"),
    (23, "IPV6_MTU_DISCOVER"),
    (24, "IPV6_MTU"),
    (25, "IPV6_RECVERR"),
    (26, "IPV6_V6ONLY"),
    (49, "IPV6_RECVPKTINFO"),
    (66, "IPV6_RECVTCLASS"),
    (67, "IPV6_TCLASS"),
];

/// Options whose value is not an int: strace decodes or quotes them.
pub(super) const NOT_INT: &[(u64, u64)] = &[
    (SOL_SOCKET, SO_LINGER),
    (SOL_SOCKET, SO_RCVTIMEO_OLD),
    (SOL_SOCKET, SO_SNDTIMEO_OLD),
    (SOL_SOCKET, 25),
    (SOL_SOCKET, 17),
    (SOL_SOCKET, 28),
    (SOL_TCP, 11),
    (SOL_TCP, 13),
    (SOL_TCP, 14),
    (SOL_IP, 4),
    (SOL_IP, 35),
    (SOL_IP, 36),
    (SOL_IPV6, 20),
    (SOL_IPV6, 21),
];

pub(super) const MSG_FLAGS: &[(u64, &str)] = &[
    (0x1, "MSG_OOB"),
    (0x2, "MSG_PEEK"),
    (0x4, "MSG_DONTROUTE"),
    (0x8, "MSG_CTRUNC"),
    (0x10, "MSG_PROXY"),
    (0x20, "MSG_TRUNC"),
    (0x40, "MSG_DONTWAIT"),
    (0x80, "MSG_EOR"),
    (0x100, "MSG_WAITALL"),
    (0x200, "MSG_FIN"),
    (0x400, "MSG_SYN"),
    (0x800, "MSG_CONFIRM"),
    (0x1000, "MSG_RST"),
    (0x2000, "MSG_ERRQUEUE"),
    (0x4000, "MSG_NOSIGNAL"),
    (0x8000, "MSG_MORE"),
    (0x10000, "MSG_WAITFORONE"),
    (0x20000000, "MSG_FASTOPEN"),
    (0x40000000, "MSG_CMSG_CLOEXEC"),
];

pub(super) const SHUT_HOW: &[(u64, &str)] = &[(0, "SHUT_RD"), (1, "SHUT_WR"), (2, "SHUT_RDWR")];

/// `AF_INET6`, or the number.
pub fn family(v: i64) -> String {
    named(FAMILIES, v)
}

/// `SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK`.
pub fn sock_type(v: i64) -> String {
    let v = v as u32 as u64;
    let kind = named(SOCK_TYPES, (v & 0xf) as i64);
    match v & !0xf {
        0 => kind,
        rest => format!("{kind}|{}", flags(SOCK_FLAGS, rest)),
    }
}

/// socket(2)'s third argument, named in the inet and netlink families.
pub fn protocol(domain: i64, v: i64) -> String {
    match domain as u64 {
        AF_INET | AF_INET6 => named(IPPROTOS, v),
        AF_NETLINK => named(NETLINK_PROTOS, v),
        _ => v.to_string(),
    }
}

/// `SOL_SOCKET`, `SOL_IPV6`, ...
pub fn level(v: i64) -> String {
    named(LEVELS, v)
}

/// `SO_REUSEADDR`, `IPV6_V6ONLY`, `TCP_NODELAY`, ... (names depend on the level).
pub fn optname(level: i64, v: i64) -> String {
    let table = match level as u64 {
        SOL_SOCKET => SO_NAMES,
        SOL_TCP => TCP_NAMES,
        SOL_IP => IP_NAMES,
        SOL_IPV6 => IPV6_NAMES,
        _ => &[],
    };
    named(table, v)
}

/// send/recv flags: `MSG_DONTWAIT|MSG_NOSIGNAL`, `0`.
pub fn msg_flags(v: i64) -> String {
    flags(MSG_FLAGS, v as u32 as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(family(10), "AF_INET6")]
    #[case(family(2), "AF_INET")]
    #[case(family(1), "AF_UNIX")]
    #[case(family(1234), "1234")]
    #[case(sock_type(1), "SOCK_STREAM")]
    #[case(sock_type(0o2000001), "SOCK_STREAM|SOCK_CLOEXEC")]
    #[case(sock_type(0o2004002), "SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK")]
    #[case(sock_type(0x10001), "SOCK_STREAM|0x10000")]
    #[case(sock_type(12), "12")]
    #[case(protocol(10, 6), "IPPROTO_TCP")]
    #[case(protocol(2, 0), "IPPROTO_IP")]
    #[case(protocol(2, 17), "IPPROTO_UDP")]
    #[case(protocol(1, 0), "0")]
    #[case(protocol(16, 4), "NETLINK_SOCK_DIAG")]
    #[case(level(1), "SOL_SOCKET")]
    #[case(level(41), "SOL_IPV6")]
    #[case(level(6), "SOL_TCP")]
    #[case(level(0), "SOL_IP")]
    #[case(level(999), "999")]
    #[case(optname(1, 2), "SO_REUSEADDR")]
    #[case(optname(1, 15), "SO_REUSEPORT")]
    #[case(optname(41, 26), "IPV6_V6ONLY")]
    #[case(optname(6, 1), "TCP_NODELAY")]
    #[case(optname(0, 1), "IP_TOS")]
    #[case(optname(6, 999), "999")]
    #[case(msg_flags(0), "0")]
    #[case(msg_flags(0x4040), "MSG_DONTWAIT|MSG_NOSIGNAL")]
    #[case(msg_flags(0x2 | 0x800000), "MSG_PEEK|0x800000")]
    fn names_constants(#[case] got: String, #[case] want: &str) {
        assert_eq!(got, want);
    }
}
