//! strace for the lab: a process started with `Spawn { trace: true, .. }`
//! runs under ptrace, and its network system calls are recorded and printed
//! as `strace -f -e trace=network` prints them, plus read/write/close on
//! sockets: `accept(4, {sa_family=AF_INET, sin_port=htons(43068),
//! sin_addr=inet_addr("192.168.2.105")}, [128 => 16]) = 5`.
//!
//! How (x86_64 only), as `strace -f --seccomp-bpf`:
//! - The child calls PTRACE_TRACEME before exec, then installs a seccomp
//!   filter that returns SECCOMP_RET_TRACE for the calls of interest only
//!   (see [`TRAPPED`]); the thread that spawned it (a thread made for the
//!   purpose, see [`spawn_traced`]) is its tracer and the only thread that
//!   ever makes ptrace calls for it or waits for it
//!   (`waitpid(-1, __WALL | __WNOTHREAD)`).
//! - After the post-exec SIGTRAP: TRACESYSGOOD | EXITKILL | TRACECLONE |
//!   TRACEFORK | TRACEVFORK | TRACEEXEC | TRACESECCOMP, then PTRACE_CONT.
//! - A trapped call stops at its entry (PTRACE_EVENT_SECCOMP), where
//!   PTRACE_GET_SYSCALL_INFO gives its number and arguments, kept per thread
//!   id. If it is recorded (read/write/close: only on a socket) or changes
//!   which descriptors are sockets, PTRACE_SYSCALL runs it to its exit stop
//!   for the result; otherwise PTRACE_CONT. Inputs (send buffers, sockaddrs
//!   given to bind/connect, option values) are read from the tracee at
//!   entry, outputs at exit, with process_vm_readv. Everything else
//!   (poll, mmap, ...) runs without a stop: one nc session costs ~40 stops
//!   instead of ~345 with PTRACE_SYSCALL on every call.
//! - Signals are passed on to the tracee unchanged, so a process dies of ^C
//!   exactly as it would untraced. Group-stops (SIGSTOP and friends) are not
//!   kept: the tracee is resumed, as strace without `--seize` does.
//! - Which descriptors are sockets is tracked per descriptor table: added by
//!   socket/socketpair/accept/accept4 and dups of sockets, removed by close,
//!   dup2 over them and close_range; reread from /proc at exec.
//!
//! Left out: calls that never return (the process dies inside them) are not
//! recorded (strace prints them `<unfinished ...>`); control messages are
//! shown as a pointer; `sin6_scope_id` is a number (strace may print
//! `if_nametoindex("lo")`); strace's padding of ` = ` to column 40 is not
//! reproduced.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::IoSliceMut;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Bytes of a buffer shown before `...`, as `strace -s 32` (its default).
pub const STRLEN: usize = 32;

/// One completed system call of a traced process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The thread that made it (strace -f's first column).
    pub pid: i32,
    pub name: String,
    /// Each argument as strace renders it.
    pub args: Vec<String>,
    /// Raw result: negative errno on failure.
    pub ret: i64,
}

/// `name(args) = result`, as strace prints it; `{:#}` prefixes the thread id
/// as `strace -f` does.
impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{} ", self.pid)?;
        }
        write!(
            f,
            "{}({}) = {}",
            self.name,
            self.args.join(", "),
            result(self.ret)
        )
    }
}

/// strace's right-hand side: `6`, `-1 ECONNREFUSED (Connection refused)`,
/// `? ERESTARTSYS (To be restarted if SA_RESTART is set)`.
pub fn result(ret: i64) -> String {
    match errno_of(ret) {
        None => ret.to_string(),
        Some(n) if restart_errno(n).is_some() => {
            format!("? {} ({})", errno_name(ret), errno_desc(ret))
        }
        Some(_) => format!("-1 {} ({})", errno_name(ret), errno_desc(ret)),
    }
}

fn errno_of(ret: i64) -> Option<i32> {
    (-4095..0).contains(&ret).then_some(-ret as i32)
}

/// Kernel-internal restart codes a tracer sees when a signal interrupts a call.
fn restart_errno(n: i32) -> Option<(&'static str, &'static str)> {
    Some(match n {
        512 => ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
        513 => ("ERESTARTNOINTR", "To be restarted"),
        514 => ("ERESTARTNOHAND", "To be restarted if no handler"),
        515 => ("ENOIOCTLCMD", "No ioctl command"),
        516 => ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
        _ => return None,
    })
}

/// errno names and strerror texts, 0..=133.
fn errno_table() -> &'static [(String, String)] {
    static TABLE: OnceLock<Vec<(String, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=133)
            .map(|n| {
                let name = format!("{:?}", Errno::from_raw(n));
                let name = if name == "UnknownErrno" {
                    String::new()
                } else {
                    name
                };
                let desc = std::io::Error::from_raw_os_error(n).to_string();
                let desc = desc
                    .strip_suffix(&format!(" (os error {n})"))
                    .unwrap_or(&desc)
                    .to_string();
                (name, desc)
            })
            .collect()
    })
}

/// The errno name of a raw result: `ECONNREFUSED` for -111; `` for a
/// result that is not an error.
pub fn errno_name(ret: i64) -> &'static str {
    let Some(n) = errno_of(ret) else { return "" };
    if let Some((name, _)) = restart_errno(n) {
        return name;
    }
    match errno_table().get(n as usize) {
        Some((name, _)) if !name.is_empty() => name,
        _ => "E???",
    }
}

/// strerror of a raw result, as strace shows it in parentheses.
pub fn errno_desc(ret: i64) -> &'static str {
    let Some(n) = errno_of(ret) else { return "" };
    if let Some((_, desc)) = restart_errno(n) {
        return desc;
    }
    match errno_table().get(n as usize) {
        Some((_, desc)) => desc,
        None => "Unknown error",
    }
}

// ---------------------------------------------------------------------------
// Rendering of values.

/// A buffer as strace quotes it (`-s 32`): `"11111\n"`, octal for bytes
/// without a C escape, `...` after the 32nd byte.
pub fn quote(data: &[u8]) -> String {
    let shown = &data[..data.len().min(STRLEN)];
    quote_shown(shown, data.len() > STRLEN)
}

/// `shown` quoted, `...` appended when the buffer was longer.
fn quote_shown(shown: &[u8], more: bool) -> String {
    let mut s = String::with_capacity(shown.len() + 8);
    s.push('"');
    for (i, &c) in shown.iter().enumerate() {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\x0c' => s.push_str("\\f"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'\x0b' => s.push_str("\\v"),
            b' '..=b'~' => s.push(c as char),
            _ => {
                // As short as it can be unless an octal digit follows.
                s.push('\\');
                let next_octal = matches!(shown.get(i + 1), Some(b'0'..=b'7'));
                if next_octal || c >> 6 != 0 {
                    s.push((b'0' + (c >> 6)) as char);
                }
                if next_octal || c >> 3 != 0 {
                    s.push((b'0' + ((c >> 3) & 7)) as char);
                }
                s.push((b'0' + (c & 7)) as char);
            }
        }
    }
    s.push('"');
    if more {
        s.push_str("...");
    }
    s
}

/// A pointer as strace prints one it does not decode.
fn ptr(addr: u64) -> String {
    if addr == 0 {
        "NULL".into()
    } else {
        format!("{addr:#x}")
    }
}

fn lookup(table: &[(u64, &'static str)], v: u64) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == v).map(|(_, n)| *n)
}

/// A name from `table`, else the number.
fn named(table: &[(u64, &'static str)], v: i64) -> String {
    lookup(table, v as u64).map_or_else(|| v.to_string(), str::to_string)
}

/// `A|B|0x40`, or `0`.
fn flags(table: &[(u64, &'static str)], v: u64) -> String {
    if v == 0 {
        return "0".into();
    }
    let mut left = v;
    let mut parts: Vec<String> = Vec::new();
    for (bit, name) in table {
        if left & bit == *bit && *bit != 0 {
            parts.push((*name).into());
            left &= !bit;
        }
    }
    if left != 0 {
        parts.push(format!("{left:#x}"));
    }
    parts.join("|")
}

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const AF_NETLINK: u64 = 16;

const FAMILIES: &[(u64, &str)] = &[
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

const SOCK_TYPES: &[(u64, &str)] = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (6, "SOCK_DCCP"),
    (10, "SOCK_PACKET"),
];

const SOCK_FLAGS: &[(u64, &str)] = &[(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")];

const IPPROTOS: &[(u64, &str)] = &[
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

const NETLINK_PROTOS: &[(u64, &str)] = &[
    (0, "NETLINK_ROUTE"),
    (4, "NETLINK_SOCK_DIAG"),
    (9, "NETLINK_AUDIT"),
    (16, "NETLINK_GENERIC"),
];

const SOL_IP: u64 = 0;
const SOL_SOCKET: u64 = 1;
const SOL_TCP: u64 = 6;
const SOL_IPV6: u64 = 41;

const LEVELS: &[(u64, &str)] = &[
    (SOL_IP, "SOL_IP"),
    (SOL_SOCKET, "SOL_SOCKET"),
    (SOL_TCP, "SOL_TCP"),
    (17, "SOL_UDP"),
    (SOL_IPV6, "SOL_IPV6"),
    (255, "SOL_RAW"),
    (263, "SOL_PACKET"),
    (270, "SOL_NETLINK"),
];

const SO_LINGER: u64 = 13;
const SO_RCVTIMEO_OLD: u64 = 20;
const SO_SNDTIMEO_OLD: u64 = 21;

const SO_NAMES: &[(u64, &str)] = &[
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

const TCP_NAMES: &[(u64, &str)] = &[
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

const IP_NAMES: &[(u64, &str)] = &[
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

const IPV6_NAMES: &[(u64, &str)] = &[
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
const NOT_INT: &[(u64, u64)] = &[
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

const MSG_FLAGS: &[(u64, &str)] = &[
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

const SHUT_HOW: &[(u64, &str)] = &[(0, "SHUT_RD"), (1, "SHUT_WR"), (2, "SHUT_RDWR")];

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

/// A socket address as strace decodes it.
pub fn sockaddr(b: &[u8]) -> String {
    if b.len() < 2 {
        return format!("{{sa_family=???, sa_data={}}}", quote_shown(b, false));
    }
    let fam = u16::from_ne_bytes([b[0], b[1]]) as u64;
    let name = family(fam as i64);
    let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let ne32 = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    match fam {
        AF_INET if b.len() >= 8 => format!(
            "{{sa_family={name}, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}",
            be16(2),
            Ipv4Addr::new(b[4], b[5], b[6], b[7])
        ),
        AF_INET6 if b.len() >= 24 => {
            let mut addr = [0u8; 16];
            addr.copy_from_slice(&b[8..24]);
            let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let scope = if b.len() >= 28 {
                format!(", sin6_scope_id={}", ne32(24))
            } else {
                String::new()
            };
            format!(
                "{{sa_family={name}, sin6_port=htons({}), sin6_flowinfo=htonl({flow}), \
                 inet_pton({name}, \"{}\", &sin6_addr){scope}}}",
                be16(2),
                Ipv6Addr::from(addr)
            )
        }
        AF_UNIX if b.len() == 2 => format!("{{sa_family={name}}}"),
        AF_UNIX if b[2] == 0 => {
            format!(
                "{{sa_family={name}, sun_path=@{}}}",
                quote_shown(&b[3..], false)
            )
        }
        AF_UNIX => {
            let path = &b[2..];
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            format!(
                "{{sa_family={name}, sun_path={}}}",
                quote_shown(&path[..end], false)
            )
        }
        AF_NETLINK if b.len() >= 12 => {
            format!(
                "{{sa_family={name}, nl_pid={}, nl_groups={:08x}}}",
                ne32(4),
                ne32(8)
            )
        }
        _ => format!("{{sa_family={name}, sa_data={}}}", quote(&b[2..])),
    }
}

// ---------------------------------------------------------------------------
// Reading the tracee.

/// The address space calls are decoded from.
pub(crate) trait Memory {
    /// Up to `len` bytes at `addr` (fewer where the range runs into an
    /// unmapped page); None when nothing there is readable.
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>>;

    fn u32_at(&self, addr: u64) -> Option<u32> {
        let b = self.read(addr, 4).filter(|b| b.len() == 4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Another process's memory, through process_vm_readv.
struct Remote(Pid);

impl Memory for Remote {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if len == 0 {
            return Some(Vec::new());
        }
        if addr == 0 {
            return None;
        }
        let mut buf = vec![0u8; len];
        let n = process_vm_readv(
            self.0,
            &mut [IoSliceMut::new(&mut buf)],
            &[RemoteIoVec {
                base: addr as usize,
                len,
            }],
        )
        .ok()?;
        if n == 0 {
            return None;
        }
        buf.truncate(n);
        Some(buf)
    }
}

fn u64_of(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 8)
        .map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap()))
}

fn u32_of(b: &[u8], i: usize) -> u32 {
    b.get(i..i + 4)
        .map_or(0, |s| u32::from_ne_bytes(s.try_into().unwrap()))
}

/// The first `len` bytes at `addr`, quoted (a pointer if unreadable).
fn buffer(mem: &dyn Memory, addr: u64, len: u64) -> String {
    let want = (len as usize).min(STRLEN);
    match mem.read(addr, want) {
        Some(b) if b.len() == want => quote_shown(&b, len as usize > STRLEN),
        _ => ptr(addr),
    }
}

/// A sockaddr of `len` bytes at `addr`; NULL, or a pointer when empty or
/// unreadable.
fn sockaddr_at(mem: &dyn Memory, addr: u64, len: u32) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    if len == 0 {
        return ptr(addr);
    }
    match mem.read(addr, (len as usize).min(128)) {
        Some(b) if !b.is_empty() => sockaddr(&b),
        _ => ptr(addr),
    }
}

/// A value-result length: `[16]`, or `[128 => 16]` when the kernel changed it.
fn len_inout(lenp: u64, before: Option<u32>, after: Option<u32>, ok: bool) -> String {
    if lenp == 0 {
        return "NULL".into();
    }
    match (before, after) {
        (Some(b), Some(a)) if ok && a != b => format!("[{b} => {a}]"),
        (Some(b), _) => format!("[{b}]"),
        (None, _) => ptr(lenp),
    }
}

/// An option's value: `[1]`, `{l_onoff=1, l_linger=0}`, or quoted bytes.
fn optval(mem: &dyn Memory, level: u64, name: u64, addr: u64, len: u32) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    let Some(b) = mem.read(addr, (len as usize).min(64)) else {
        return ptr(addr);
    };
    let i32_at = |i: usize| u32_of(&b, i) as i32;
    let i64_at = |i: usize| u64_of(&b, i) as i64;
    match (level, name) {
        (SOL_SOCKET, SO_LINGER) if b.len() >= 8 => {
            format!("{{l_onoff={}, l_linger={}}}", i32_at(0), i32_at(4))
        }
        (SOL_SOCKET, SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD) if b.len() >= 16 => {
            format!("{{tv_sec={}, tv_usec={}}}", i64_at(0), i64_at(8))
        }
        _ if b.len() >= 4 && (len == 4 || !NOT_INT.contains(&(level, name))) => {
            format!("[{}]", i32_at(0))
        }
        _ => quote(&b),
    }
}

/// `struct msghdr` as strace prints it. `data`: bytes to show across the
/// iovecs (the result of recvmsg), None for all of them (sendmsg);
/// `namelen_before`: msg_namelen at entry, for recvmsg's `16 => 0`.
fn msghdr(mem: &dyn Memory, addr: u64, data: Option<u64>, namelen_before: Option<u32>) -> String {
    let Some(m) = mem.read(addr, 56).filter(|m| m.len() == 56) else {
        return ptr(addr);
    };
    let (name, namelen) = (u64_of(&m, 0), u32_of(&m, 8));
    let (iov, iovlen) = (u64_of(&m, 16), u64_of(&m, 24));
    let (control, controllen) = (u64_of(&m, 32), u64_of(&m, 40));
    let msg_flags_v = u32_of(&m, 48);
    let shown_namelen = match namelen_before {
        Some(b) if b != namelen => format!("{b} => {namelen}"),
        _ => namelen.to_string(),
    };
    let name_len = namelen_before.map_or(namelen, |b| b.min(namelen));
    let mut s = format!(
        "{{msg_name={}, msg_namelen={shown_namelen}, msg_iov=",
        sockaddr_at(mem, name, name_len)
    );
    if iov == 0 {
        s.push_str("NULL");
    } else {
        let count = iovlen.min(STRLEN as u64) as usize;
        match mem.read(iov, count * 16).filter(|v| v.len() == count * 16) {
            None => s.push_str(&ptr(iov)),
            Some(v) => {
                let mut left = data.unwrap_or(u64::MAX);
                let items: Vec<String> = (0..count)
                    .map(|i| {
                        let (base, len) = (u64_of(&v, i * 16), u64_of(&v, i * 16 + 8));
                        let show = len.min(left);
                        left -= show;
                        format!("{{iov_base={}, iov_len={len}}}", buffer(mem, base, show))
                    })
                    .collect();
                s.push('[');
                s.push_str(&items.join(", "));
                if iovlen > count as u64 {
                    s.push_str(", ...");
                }
                s.push(']');
            }
        }
    }
    s.push_str(&format!(", msg_iovlen={iovlen}"));
    if controllen != 0 {
        s.push_str(&format!(", msg_control={}", ptr(control)));
    }
    s.push_str(&format!(
        ", msg_controllen={controllen}, msg_flags={}}}",
        msg_flags(msg_flags_v as i64)
    ));
    s
}

// ---------------------------------------------------------------------------
// The calls.

/// The calls recorded (read/write/close only on sockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Socket,
    Bind,
    Connect,
    Listen,
    Accept,
    Accept4,
    Getsockname,
    Getpeername,
    Setsockopt,
    Getsockopt,
    Sendto,
    Recvfrom,
    Sendmsg,
    Recvmsg,
    Shutdown,
    Read,
    Write,
    Close,
}

impl Call {
    fn of(nr: i64) -> Option<Call> {
        use Call::*;
        Some(match nr {
            libc::SYS_socket => Socket,
            libc::SYS_bind => Bind,
            libc::SYS_connect => Connect,
            libc::SYS_listen => Listen,
            libc::SYS_accept => Accept,
            libc::SYS_accept4 => Accept4,
            libc::SYS_getsockname => Getsockname,
            libc::SYS_getpeername => Getpeername,
            libc::SYS_setsockopt => Setsockopt,
            libc::SYS_getsockopt => Getsockopt,
            libc::SYS_sendto => Sendto,
            libc::SYS_recvfrom => Recvfrom,
            libc::SYS_sendmsg => Sendmsg,
            libc::SYS_recvmsg => Recvmsg,
            libc::SYS_shutdown => Shutdown,
            libc::SYS_read => Read,
            libc::SYS_write => Write,
            libc::SYS_close => Close,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        use Call::*;
        match self {
            Socket => "socket",
            Bind => "bind",
            Connect => "connect",
            Listen => "listen",
            Accept => "accept",
            Accept4 => "accept4",
            Getsockname => "getsockname",
            Getpeername => "getpeername",
            Setsockopt => "setsockopt",
            Getsockopt => "getsockopt",
            Sendto => "sendto",
            Recvfrom => "recvfrom",
            Sendmsg => "sendmsg",
            Recvmsg => "recvmsg",
            Shutdown => "shutdown",
            Read => "read",
            Write => "write",
            Close => "close",
        }
    }

    /// Recorded only when the first argument is a socket.
    fn sockets_only(self) -> bool {
        matches!(self, Call::Read | Call::Write | Call::Close)
    }
}

/// What is kept of a call between its entry and its exit.
pub(crate) struct Pending {
    call: Call,
    args: [u64; 6],
    /// Arguments rendered from memory at entry (inputs).
    early: Vec<String>,
    /// A value-result length (or msg_namelen) as it was at entry.
    len_before: Option<u32>,
}

/// Entry: reads what the call takes in.
fn enter(call: Call, args: [u64; 6], mem: &dyn Memory) -> Pending {
    use Call::*;
    let a = args;
    let (early, len_before) = match call {
        Bind | Connect => (vec![sockaddr_at(mem, a[1], a[2] as u32)], None),
        Setsockopt => (
            vec![optval(
                mem,
                a[1] as u32 as u64,
                a[2] as u32 as u64,
                a[3],
                a[4] as u32,
            )],
            None,
        ),
        Sendto => (
            vec![buffer(mem, a[1], a[2]), sockaddr_at(mem, a[4], a[5] as u32)],
            None,
        ),
        Write => (vec![buffer(mem, a[1], a[2])], None),
        Sendmsg => (vec![msghdr(mem, a[1], None, None)], None),
        Accept | Accept4 | Getsockname | Getpeername => (vec![], lenp(mem, a[1], a[2])),
        Recvfrom => (vec![], lenp(mem, a[4], a[5])),
        Getsockopt => (vec![], lenp(mem, a[3], a[4])),
        Recvmsg => (vec![], mem.u32_at(a[1].wrapping_add(8))),
        _ => (vec![], None),
    };
    Pending {
        call,
        args,
        early,
        len_before,
    }
}

/// The length behind a value-result pointer, when the buffer is given.
fn lenp(mem: &dyn Memory, buf: u64, lenp: u64) -> Option<u32> {
    if buf == 0 && lenp == 0 {
        return None;
    }
    mem.u32_at(lenp)
}

/// Exit: reads what the call gave back and renders the whole call.
fn leave(p: Pending, pid: i32, ret: i64, mem: &dyn Memory) -> Record {
    use Call::*;
    let a = p.args;
    let ok = errno_of(ret).is_none();
    let fd = (a[0] as i32).to_string();
    let mut early = p.early.into_iter();
    let mut next = || early.next().unwrap_or_default();
    let addr_out = |addr: u64, lenp: u64| -> (String, String) {
        let after = if ok && lenp != 0 {
            mem.u32_at(lenp)
        } else {
            None
        };
        let shown = match (ok, after) {
            _ if addr == 0 => "NULL".into(),
            (true, Some(n)) => sockaddr_at(mem, addr, n.min(p.len_before.unwrap_or(n))),
            _ => ptr(addr),
        };
        (shown, len_inout(lenp, p.len_before, after, ok))
    };
    let args: Vec<String> = match p.call {
        Socket => {
            let domain = a[0] as i32 as i64;
            vec![
                family(domain),
                sock_type(a[1] as i64),
                protocol(domain, a[2] as i32 as i64),
            ]
        }
        Bind | Connect => vec![fd, next(), (a[2] as u32).to_string()],
        Listen => vec![fd, (a[1] as i32).to_string()],
        Accept | Getsockname | Getpeername => {
            let (addr, len) = addr_out(a[1], a[2]);
            vec![fd, addr, len]
        }
        Accept4 => {
            let (addr, len) = addr_out(a[1], a[2]);
            vec![fd, addr, len, flags(SOCK_FLAGS, a[3] as u32 as u64)]
        }
        Setsockopt => vec![
            fd,
            level(a[1] as i32 as i64),
            optname(a[1] as i32 as i64, a[2] as i32 as i64),
            next(),
            (a[4] as u32).to_string(),
        ],
        Getsockopt => {
            let after = if ok { mem.u32_at(a[4]) } else { None };
            let value = match after {
                Some(n) => optval(mem, a[1] as u32 as u64, a[2] as u32 as u64, a[3], n),
                None => ptr(a[3]),
            };
            vec![
                fd,
                level(a[1] as i32 as i64),
                optname(a[1] as i32 as i64, a[2] as i32 as i64),
                value,
                len_inout(a[4], p.len_before, after, ok),
            ]
        }
        Sendto => {
            let (data, to) = (next(), next());
            vec![
                fd,
                data,
                a[2].to_string(),
                msg_flags(a[3] as i64),
                to,
                (a[5] as u32).to_string(),
            ]
        }
        Recvfrom => {
            let data = if ok {
                buffer(mem, a[1], ret as u64)
            } else {
                ptr(a[1])
            };
            let (from, len) = addr_out(a[4], a[5]);
            vec![
                fd,
                data,
                a[2].to_string(),
                msg_flags(a[3] as i64),
                from,
                len,
            ]
        }
        Sendmsg => vec![fd, next(), msg_flags(a[2] as i64)],
        Recvmsg => {
            let msg = if ok {
                msghdr(mem, a[1], Some(ret as u64), p.len_before)
            } else {
                ptr(a[1])
            };
            vec![fd, msg, msg_flags(a[2] as i64)]
        }
        Shutdown => vec![fd, named(SHUT_HOW, a[1] as i32 as i64)],
        Read => {
            let data = if ok {
                buffer(mem, a[1], ret as u64)
            } else {
                ptr(a[1])
            };
            vec![fd, data, a[2].to_string()]
        }
        Write => vec![fd, next(), a[2].to_string()],
        Close => vec![fd],
    };
    Record {
        pid,
        name: p.call.name().into(),
        args,
        ret,
    }
}

// ---------------------------------------------------------------------------
// The tracer.

/// What a traced process's tracer thread publishes: the records, and the
/// exit status once it has reaped the process.
#[derive(Default)]
pub(crate) struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
    stops: AtomicU64,
}

#[derive(Default)]
struct LogState {
    records: Vec<Record>,
    status: Option<ExitStatus>,
    /// Set when the tracer thread ended without an exit status: why.
    broken: Option<String>,
}

impl Log {
    pub(crate) fn records(&self) -> Vec<Record> {
        self.state.lock().unwrap().records.clone()
    }

    /// ptrace stops handled so far.
    pub(crate) fn stops(&self) -> u64 {
        self.stops.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.state.lock().unwrap().status
    }

    /// Waits for the exit status: Ok(None) when `deadline` passes first,
    /// Err when the tracer thread ended without one.
    pub(crate) fn wait_status(
        &self,
        deadline: Instant,
    ) -> std::result::Result<Option<ExitStatus>, String> {
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(s) = st.status {
                return Ok(Some(s));
            }
            if let Some(why) = &st.broken {
                return Err(why.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            st = self.changed.wait_timeout(st, left).unwrap().0;
        }
    }

    fn push(&self, r: Record) {
        self.state.lock().unwrap().records.push(r);
    }

    fn finish(&self, status: ExitStatus) {
        self.state.lock().unwrap().status = Some(status);
        self.changed.notify_all();
    }

    fn fail(&self, why: String) {
        let mut st = self.state.lock().unwrap();
        if st.status.is_none() && st.broken.is_none() {
            st.broken = Some(why);
        }
        drop(st);
        self.changed.notify_all();
    }
}

/// Marks the log broken if the tracer thread ends (or panics) before the
/// traced process has been reaped, so nobody waits forever.
struct Orphaned(Arc<Log>);

impl Drop for Orphaned {
    fn drop(&mut self) {
        let why = if std::thread::panicking() {
            "the tracer thread panicked"
        } else {
            "the tracer thread ended"
        };
        self.0.fail(why.into());
    }
}

/// Starts a traced process: a new thread runs `start`, which must fork the
/// child from that thread (PTRACE_TRACEME and [`install_filter`] before
/// exec) and return its pid and whatever handles the caller needs once the
/// child sits in its stop after exec. The thread then sets the options,
/// becomes the tracer for good, and records the calls until the child and
/// everything it forked are gone. Returns once the options are set.
pub(crate) fn spawn_traced<T, F>(label: &str, start: F) -> Result<(T, Arc<Log>)>
where
    T: Send + 'static,
    F: FnOnce() -> Result<(i32, T)> + Send + 'static,
{
    let log = Arc::new(Log::default());
    let (tx, rx) = std::sync::mpsc::channel::<Result<T>>();
    let thread_log = log.clone();
    std::thread::Builder::new()
        .name(format!("trace {label}"))
        .spawn(move || {
            let _orphaned = Orphaned(thread_log.clone());
            let (pid, handles) = match start() {
                Ok(started) => started,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut tracer = Tracer::new(Pid::from_raw(pid), &thread_log);
            if let Err(e) = tracer.attach() {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL));
                let _ = tx.send(Err(e));
                return;
            }
            let _ = tx.send(Ok(handles));
            tracer.run();
        })
        .map_err(|e| Error::io("spawn tracer thread", e))?;
    let handles = rx
        .recv()
        .map_err(|_| Error::msg("the tracer thread ended before the process started"))??;
    Ok((handles, log))
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const CLONE_FILES: u64 = 0x400;

type Fds = Rc<RefCell<HashSet<i32>>>;

/// One traced thread.
struct Task {
    /// The descriptor table's sockets (shared by threads that share it).
    fds: Fds,
    /// Seen its first stop (a new thread's SIGSTOP, suppressed).
    started: bool,
    /// The call in progress: number and arguments from its entry.
    entry: Option<(i64, [u64; 6])>,
    /// The same, when it is one that gets recorded.
    pending: Option<Pending>,
}

impl Task {
    fn new(fds: Fds, started: bool) -> Task {
        Task {
            fds,
            started,
            entry: None,
            pending: None,
        }
    }
}

struct Tracer<'a> {
    main: Pid,
    log: &'a Log,
    tasks: HashMap<Pid, Task>,
}

/// Lets the tracee run to its next seccomp stop (or signal, or event).
fn resume(tid: Pid, sig: Option<Signal>) {
    // ESRCH: killed (SIGKILL) meanwhile; its exit is reported next.
    let _ = ptrace::cont(tid, sig);
}

/// Lets the tracee run the call it stopped at, and stop again at its exit.
fn resume_to_exit(tid: Pid) {
    let _ = ptrace::syscall(tid, None);
}

/// The calls that stop a traced process: the recorded ones, those that
/// change which descriptors are sockets, and those that create tasks (their
/// flags say whether the descriptor table is shared). fcntl stops only for
/// F_DUPFD and F_DUPFD_CLOEXEC.
const TRAPPED: &[i64] = &[
    libc::SYS_socket,
    libc::SYS_bind,
    libc::SYS_connect,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_shutdown,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_close,
    libc::SYS_socketpair,
    libc::SYS_dup,
    libc::SYS_dup2,
    libc::SYS_dup3,
    libc::SYS_close_range,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_fork,
    libc::SYS_vfork,
];

/// Calls whose result changes the set of socket descriptors.
fn changes_fds(nr: i64) -> bool {
    matches!(
        nr,
        libc::SYS_socket
            | libc::SYS_accept
            | libc::SYS_accept4
            | libc::SYS_socketpair
            | libc::SYS_dup
            | libc::SYS_dup2
            | libc::SYS_dup3
            | libc::SYS_fcntl
            | libc::SYS_close_range
    )
}

/// The seccomp program: SECCOMP_RET_TRACE for [`TRAPPED`] (native x86_64
/// calls only), SECCOMP_RET_ALLOW for everything else.
pub(crate) fn seccomp_filter() -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    // Jumps are relative to the next instruction.
    let to = |from: usize, target: usize| (target - from - 1) as u8;
    let fcntl = 3 + TRAPPED.len();
    let (allow, trace) = (fcntl + 4, fcntl + 5);
    // struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 i.
    let mut p = vec![load(4), jeq(AUDIT_ARCH_X86_64, 0, to(1, allow)), load(0)];
    for (i, nr) in TRAPPED.iter().enumerate() {
        p.push(jeq(*nr as u32, to(3 + i, trace), 0));
    }
    p.push(jeq(libc::SYS_fcntl as u32, 0, to(fcntl, allow)));
    p.push(load(24)); // args[1], low half: the command
    p.push(jeq(libc::F_DUPFD as u32, to(fcntl + 2, trace), 0));
    p.push(jeq(libc::F_DUPFD_CLOEXEC as u32, to(fcntl + 3, trace), 0));
    p.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    p.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_TRACE));
    p
}

/// Installs `filter` in the calling process: for the child between fork and
/// exec, after PTRACE_TRACEME (async-signal-safe: one prctl). Until its
/// tracer sets PTRACE_O_TRACESECCOMP (at the stop after exec) the trapped
/// calls fail with ENOSYS: the child must not make one before exec (std's
/// Command reports exec errors with a write; see host.rs `fork_traced`).
///
/// # Safety
/// For a child between fork and exec: it changes the process for good.
pub(crate) unsafe fn install_filter(filter: &[libc::sock_filter]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prog points at a valid program for the duration of the call.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn exit_status(ws: &WaitStatus) -> Option<ExitStatus> {
    match *ws {
        WaitStatus::Exited(_, code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
        WaitStatus::Signaled(_, sig, core) => Some(ExitStatus::from_raw(
            sig as i32 | if core { 0x80 } else { 0 },
        )),
        _ => None,
    }
}

/// The socket descriptors of a task, from /proc.
fn sockets_in_proc(tid: Pid) -> HashSet<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{tid}/fd")) else {
        return HashSet::new();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

impl<'a> Tracer<'a> {
    fn new(main: Pid, log: &'a Log) -> Tracer<'a> {
        Tracer {
            main,
            log,
            tasks: HashMap::new(),
        }
    }

    /// Sets the options, the child sitting in its stop after exec.
    fn attach(&mut self) -> Result<()> {
        let pid = self.main;
        let options = Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_EXITKILL
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACEEXEC
            | Options::PTRACE_O_TRACESECCOMP;
        ptrace::setoptions(pid, options)
            .map_err(|e| Error::sys(format!("PTRACE_SETOPTIONS {pid}"), e))?;
        self.tasks.insert(
            pid,
            Task::new(Rc::new(RefCell::new(sockets_in_proc(pid))), true),
        );
        Ok(())
    }

    /// Stop after stop until no tracee is left.
    fn run(&mut self) {
        resume(self.main, None);
        loop {
            let ws = match waitpid(
                None::<Pid>,
                Some(WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD),
            ) {
                Ok(ws) => ws,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => return,
                Err(e) => {
                    self.log.fail(format!("tracer: waitpid: {e}"));
                    return;
                }
            };
            match ws {
                WaitStatus::PtraceSyscall(tid)
                | WaitStatus::PtraceEvent(tid, _, libc::PTRACE_EVENT_SECCOMP) => {
                    self.log.stops.fetch_add(1, Ordering::Relaxed);
                    match self.syscall_stop(tid) {
                        true => resume_to_exit(tid),
                        false => resume(tid, None),
                    }
                }
                WaitStatus::PtraceEvent(tid, _, event) => {
                    self.log.stops.fetch_add(1, Ordering::Relaxed);
                    self.event(tid, event);
                    resume(tid, None);
                }
                WaitStatus::Stopped(tid, sig) => {
                    self.log.stops.fetch_add(1, Ordering::Relaxed);
                    let task = self
                        .tasks
                        .entry(tid)
                        .or_insert_with(|| Task::new(Fds::default(), false));
                    if !task.started && sig == Signal::SIGSTOP {
                        // A new thread or child's first stop.
                        task.started = true;
                        resume(tid, None);
                    } else if matches!(
                        sig,
                        Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
                    ) && ptrace::getsiginfo(tid) == Err(Errno::EINVAL)
                    {
                        // Group-stop: not kept (see the module's comment).
                        resume(tid, None);
                    } else {
                        // Signal-delivery-stop: deliver it.
                        resume(tid, Some(sig));
                    }
                }
                WaitStatus::Exited(tid, _) | WaitStatus::Signaled(tid, _, _) => {
                    self.tasks.remove(&tid);
                    if tid == self.main {
                        if let Some(status) = exit_status(&ws) {
                            self.log.finish(status);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn event(&mut self, tid: Pid, event: i32) {
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                let Ok(new) = ptrace::getevent(tid) else {
                    return;
                };
                let new = Pid::from_raw(new as i32);
                let Some(parent) = self.tasks.get(&tid) else {
                    return;
                };
                // Shares the descriptor table only with CLONE_FILES.
                let flags = match parent.entry {
                    Some((libc::SYS_clone, args)) => Some(args[0]),
                    Some((libc::SYS_clone3, args)) => {
                        Remote(tid).read(args[0], 8).map(|b| u64_of(&b, 0))
                    }
                    _ => None,
                };
                let shared = match flags {
                    Some(f) => f & CLONE_FILES != 0,
                    None => event == libc::PTRACE_EVENT_CLONE,
                };
                let fds = if shared {
                    parent.fds.clone()
                } else {
                    Rc::new(RefCell::new(parent.fds.borrow().clone()))
                };
                // The child's first stop may have come already.
                match self.tasks.get_mut(&new) {
                    Some(task) => task.fds = fds,
                    None => {
                        self.tasks.insert(new, Task::new(fds, false));
                    }
                }
            }
            libc::PTRACE_EVENT_EXEC => {
                // The thread that exec'd now has the leader's id; exec closed
                // the close-on-exec descriptors.
                let fds = Rc::new(RefCell::new(sockets_in_proc(tid)));
                let task = self
                    .tasks
                    .entry(tid)
                    .or_insert_with(|| Task::new(Fds::default(), true));
                task.fds = fds;
                task.entry = None;
                task.pending = None;
            }
            _ => {}
        }
    }

    /// A call's entry (its seccomp stop) or exit. True when the exit must
    /// be seen too: the call is recorded or changes the socket descriptors.
    fn syscall_stop(&mut self, tid: Pid) -> bool {
        let Ok(info) = ptrace::syscall_info(tid) else {
            return false;
        };
        if info.arch != AUDIT_ARCH_X86_64 {
            return false;
        }
        let task = self
            .tasks
            .entry(tid)
            .or_insert_with(|| Task::new(Fds::default(), true));
        let mem = Remote(tid);
        let (nr, args) = match info.op {
            // SAFETY: op says which member of the union is valid.
            libc::PTRACE_SYSCALL_INFO_SECCOMP => unsafe {
                (info.u.seccomp.nr, info.u.seccomp.args)
            },
            libc::PTRACE_SYSCALL_INFO_ENTRY => unsafe { (info.u.entry.nr, info.u.entry.args) },
            libc::PTRACE_SYSCALL_INFO_EXIT => {
                // SAFETY: as above.
                let ret = unsafe { info.u.exit }.sval;
                let Some((nr, args)) = task.entry.take() else {
                    return false;
                };
                track_fds(&mut task.fds.borrow_mut(), nr, args, ret, &mem);
                if let Some(p) = task.pending.take() {
                    self.log.push(leave(p, tid.as_raw(), ret, &mem));
                }
                return false;
            }
            _ => return false,
        };
        let nr = nr as i64;
        task.entry = Some((nr, args));
        task.pending = Call::of(nr)
            .filter(|c| !c.sockets_only() || task.fds.borrow().contains(&(args[0] as i32)))
            .map(|c| enter(c, args, &mem));
        task.pending.is_some() || changes_fds(nr)
    }
}

/// Keeps the set of socket descriptors up to date after a call returned.
fn track_fds(fds: &mut HashSet<i32>, nr: i64, a: [u64; 6], ret: i64, mem: &dyn Memory) {
    let ok = errno_of(ret).is_none();
    let fd = a[0] as i32;
    match nr {
        libc::SYS_socket | libc::SYS_accept | libc::SYS_accept4 if ok => {
            fds.insert(ret as i32);
        }
        libc::SYS_socketpair if ok => {
            if let Some(b) = mem.read(a[3], 8).filter(|b| b.len() == 8) {
                fds.insert(u32_of(&b, 0) as i32);
                fds.insert(u32_of(&b, 4) as i32);
            }
        }
        libc::SYS_close if ret != -(libc::EBADF as i64) => {
            fds.remove(&fd);
        }
        libc::SYS_dup if ok && fds.contains(&fd) => {
            fds.insert(ret as i32);
        }
        libc::SYS_fcntl
            if ok
                && fds.contains(&fd)
                && matches!(a[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) =>
        {
            fds.insert(ret as i32);
        }
        libc::SYS_dup2 | libc::SYS_dup3 if ok && a[0] != a[1] => {
            if fds.contains(&fd) {
                fds.insert(a[1] as i32);
            } else {
                fds.remove(&(a[1] as i32));
            }
        }
        libc::SYS_close_range if ok && a[2] & libc::CLOSE_RANGE_CLOEXEC as u64 == 0 => {
            let (lo, hi) = (a[0] as u32, a[1] as u32);
            fds.retain(|&f| !(lo..=hi).contains(&(f as u32)));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Memory made of regions: (address, bytes).
    struct Fake(Vec<(u64, Vec<u8>)>);

    impl Memory for Fake {
        fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
            self.0.iter().find_map(|(base, bytes)| {
                let off = addr.checked_sub(*base)? as usize;
                (off < bytes.len() || (len == 0 && off == bytes.len()))
                    .then(|| bytes[off..bytes.len().min(off + len)].to_vec())
            })
        }
    }

    fn v4(port: u16, ip: [u8; 4]) -> Vec<u8> {
        let mut b = (AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(ip);
        b.extend([0u8; 8]);
        b
    }

    fn v6(port: u16, flow: u32, ip: Ipv6Addr, scope: u32) -> Vec<u8> {
        let mut b = (AF_INET6 as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(flow.to_be_bytes());
        b.extend(ip.octets());
        b.extend(scope.to_ne_bytes());
        b
    }

    fn unix(path: &[u8]) -> Vec<u8> {
        let mut b = (AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend(path);
        b
    }

    /// Runs one call through entry and exit; `mem` serves both.
    fn call(nr: i64, args: [u64; 6], ret: i64, mem: &Fake) -> String {
        let p = enter(Call::of(nr).expect("a recorded call"), args, mem);
        leave(p, 7, ret, mem).to_string()
    }

    #[rstest]
    #[case(b"11111\n", r#""11111\n""#)]
    #[case(b"", r#""""#)]
    #[case(
        b"\x017\x018\x00\x00a\xff\x7f\x80\t\r\x0b\x0c\x1b\"\\x",
        r#""\0017\18\0\0a\377\177\200\t\r\v\f\33\"\\x""#
    )]
    #[case(&[b'a'; 40], r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"..."#)]
    #[case(&[b'a'; 32], r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa""#)]
    #[case(&(0u8..33).collect::<Vec<u8>>(), r#""\0\1\2\3\4\5\6\7\10\t\n\v\f\r\16\17\20\21\22\23\24\25\26\27\30\31\32\33\34\35\36\37"..."#)]
    #[case("é".as_bytes(), r#""\303\251""#)]
    #[case(b"\x00\x31", r#""\0001""#)]
    fn quotes_like_strace(#[case] data: &[u8], #[case] want: &str) {
        // Expected texts are strace 6.1's output for the same bytes.
        assert_eq!(quote(data), want);
    }

    #[rstest]
    #[case(v4(11111, [0, 0, 0, 0]), r#"{sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("0.0.0.0")}"#)]
    #[case(v4(43068, [192, 168, 2, 105]), r#"{sa_family=AF_INET, sin_port=htons(43068), sin_addr=inet_addr("192.168.2.105")}"#)]
    #[case(v6(11111, 0, Ipv6Addr::UNSPECIFIED, 0), r#"{sa_family=AF_INET6, sin6_port=htons(11111), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::", &sin6_addr), sin6_scope_id=0}"#)]
    #[case(v6(9, 0, "::ffff:127.0.0.1".parse().unwrap(), 0), r#"{sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}"#)]
    #[case(v6(9, 7, "fe80::1".parse().unwrap(), 1), r#"{sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(7), inet_pton(AF_INET6, "fe80::1", &sin6_addr), sin6_scope_id=1}"#)]
    #[case(
        unix(b"/run/x.sock\0\0\0"),
        r#"{sa_family=AF_UNIX, sun_path="/run/x.sock"}"#
    )]
    #[case(unix(b"\0abstract"), r#"{sa_family=AF_UNIX, sun_path=@"abstract"}"#)]
    #[case(vec![0, 0, 1, 2], r#"{sa_family=AF_UNSPEC, sa_data="\1\2"}"#)]
    #[case(vec![99, 0, 1], r#"{sa_family=99, sa_data="\1"}"#)]
    fn decodes_sockaddrs(#[case] bytes: Vec<u8>, #[case] want: &str) {
        assert_eq!(sockaddr(&bytes), want);
    }

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

    #[rstest]
    #[case(6, "6")]
    #[case(0, "0")]
    #[case(-111, "-1 ECONNREFUSED (Connection refused)")]
    #[case(-11, "-1 EAGAIN (Resource temporarily unavailable)")]
    #[case(-115, "-1 EINPROGRESS (Operation now in progress)")]
    #[case(-107, "-1 ENOTCONN (Transport endpoint is not connected)")]
    #[case(-512, "? ERESTARTSYS (To be restarted if SA_RESTART is set)")]
    fn renders_results(#[case] ret: i64, #[case] want: &str) {
        assert_eq!(result(ret), want);
    }

    #[test]
    fn names_errnos() {
        assert_eq!(errno_name(-111), "ECONNREFUSED");
        assert_eq!(errno_name(-104), "ECONNRESET");
        assert_eq!(errno_name(-32), "EPIPE");
        assert_eq!(errno_name(-512), "ERESTARTSYS");
        assert_eq!(errno_name(5), "");
        assert_eq!(errno_name(0), "");
    }

    const BUF: u64 = 0x7000;
    const ADDR: u64 = 0x8000;
    const LEN: u64 = 0x9000;

    /// Calls as the project's nc and ncat make them, and as strace 6.1
    /// printed them (for the probe calls: a Python script run under strace).
    #[rstest]
    #[case(libc::SYS_socket, [10, 1, 6, 0, 0, 0], 3, vec![], "socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3")]
    #[case(libc::SYS_socket, [2, 0o2004001, 0, 0, 0, 0], 3, vec![], "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 3")]
    #[case(libc::SYS_setsockopt, [3, 1, 2, BUF, 4, 0], 0, vec![(BUF, 1i32.to_ne_bytes().to_vec())], "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0")]
    #[case(libc::SYS_setsockopt, [3, 41, 26, BUF, 4, 0], 0, vec![(BUF, 1i32.to_ne_bytes().to_vec())], "setsockopt(3, SOL_IPV6, IPV6_V6ONLY, [1], 4) = 0")]
    #[case(libc::SYS_setsockopt, [3, 1, 13, BUF, 8, 0], 0, vec![(BUF, [1i32.to_ne_bytes(), 0i32.to_ne_bytes()].concat())], "setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0")]
    #[case(libc::SYS_setsockopt, [3, 1, 8, BUF, 8, 0], 0, vec![(BUF, [1i32.to_ne_bytes(), 0i32.to_ne_bytes()].concat())], "setsockopt(3, SOL_SOCKET, SO_RCVBUF, [1], 8) = 0")]
    #[case(libc::SYS_bind, [3, ADDR, 28, 0, 0, 0], 0, vec![(ADDR, v6(11111, 0, Ipv6Addr::UNSPECIFIED, 0))], r#"bind(3, {sa_family=AF_INET6, sin6_port=htons(11111), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::", &sin6_addr), sin6_scope_id=0}, 28) = 0"#)]
    #[case(libc::SYS_bind, [4, ADDR, 16, 0, 0, 0], 0, vec![(ADDR, v4(11111, [0; 4]))], r#"bind(4, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("0.0.0.0")}, 16) = 0"#)]
    #[case(libc::SYS_listen, [3, 10, 0, 0, 0, 0], 0, vec![], "listen(3, 10) = 0")]
    #[case(libc::SYS_accept, [4, ADDR, LEN, 0, 0, 0], 5, vec![(ADDR, v4(43068, [192, 168, 2, 105])), (LEN, 16u32.to_ne_bytes().to_vec())], r#"accept(4, {sa_family=AF_INET, sin_port=htons(43068), sin_addr=inet_addr("192.168.2.105")}, [16]) = 5"#)]
    #[case(libc::SYS_accept, [4, 0, 0, 0, 0, 0], 5, vec![], "accept(4, NULL, NULL) = 5")]
    #[case(libc::SYS_accept4, [3, ADDR, LEN, 0o2000000, 0, 0], 5, vec![(ADDR, v4(49492, [127, 0, 0, 1])), (LEN, 16u32.to_ne_bytes().to_vec())], r#"accept4(3, {sa_family=AF_INET, sin_port=htons(49492), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5"#)]
    #[case(libc::SYS_getpeername, [3, ADDR, LEN, 0, 0, 0], -107, vec![(LEN, 16u32.to_ne_bytes().to_vec())], "getpeername(3, 0x8000, [16]) = -1 ENOTCONN (Transport endpoint is not connected)")]
    #[case(libc::SYS_getsockopt, [4, 1, 4, BUF, LEN, 0], 0, vec![(BUF, 0i32.to_ne_bytes().to_vec()), (LEN, 4u32.to_ne_bytes().to_vec())], "getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0")]
    #[case(libc::SYS_recvfrom, [5, BUF, 8192, 0, 0, 0], 6, vec![(BUF, b"11111\n".to_vec())], r#"recvfrom(5, "11111\n", 8192, 0, NULL, NULL) = 6"#)]
    #[case(libc::SYS_recvfrom, [5, BUF, 8192, 0, 0, 0], 0, vec![(BUF, b"11111\n".to_vec())], r#"recvfrom(5, "", 8192, 0, NULL, NULL) = 0"#)]
    #[case(libc::SYS_recvfrom, [5, BUF, 10, 0, 0, 0], -11, vec![], "recvfrom(5, 0x7000, 10, 0, NULL, NULL) = -1 EAGAIN (Resource temporarily unavailable)")]
    #[case(libc::SYS_recvfrom, [5, BUF, 3, 2, 0, 0], 1, vec![(BUF, b"p".to_vec())], r#"recvfrom(5, "p", 3, MSG_PEEK, NULL, NULL) = 1"#)]
    #[case(libc::SYS_sendto, [3, BUF, 6, 0, 0, 0], 6, vec![(BUF, b"11111\n".to_vec())], r#"sendto(3, "11111\n", 6, 0, NULL, 0) = 6"#)]
    #[case(libc::SYS_sendto, [4, BUF, 3, 0x4040, 0, 0], 3, vec![(BUF, vec![0, 1, 2])], r#"sendto(4, "\0\1\2", 3, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0) = 3"#)]
    #[case(libc::SYS_sendto, [6, BUF, 1, 0, ADDR, 28], 1, vec![(BUF, b"u".to_vec()), (ADDR, v6(9, 0, "::ffff:127.0.0.1".parse().unwrap(), 0))], r#"sendto(6, "u", 1, 0, {sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 1"#)]
    #[case(libc::SYS_connect, [3, ADDR, 16, 0, 0, 0], -111, vec![(ADDR, v4(11111, [192, 168, 2, 100]))], r#"connect(3, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("192.168.2.100")}, 16) = -1 ECONNREFUSED (Connection refused)"#)]
    #[case(libc::SYS_shutdown, [4, 1, 0, 0, 0, 0], 0, vec![], "shutdown(4, SHUT_WR) = 0")]
    #[case(libc::SYS_write, [5, BUF, 40, 0, 0, 0], 40, vec![(BUF, vec![b'x'; 40])], r#"write(5, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"..., 40) = 40"#)]
    #[case(libc::SYS_read, [4, BUF, 100, 0, 0, 0], 40, vec![(BUF, vec![b'x'; 100])], r#"read(4, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"..., 100) = 40"#)]
    #[case(libc::SYS_close, [5, 0, 0, 0, 0, 0], 0, vec![], "close(5) = 0")]
    fn renders_calls(
        #[case] nr: i64,
        #[case] args: [u64; 6],
        #[case] ret: i64,
        #[case] mem: Vec<(u64, Vec<u8>)>,
        #[case] want: &str,
    ) {
        assert_eq!(call(nr, args, ret, &Fake(mem)), want);
    }

    /// accept's length goes 128 => 16: read at entry and at exit.
    #[test]
    fn value_result_lengths_show_both_values() {
        let entry = Fake(vec![(LEN, 128u32.to_ne_bytes().to_vec())]);
        let p = enter(Call::Accept, [4, ADDR, LEN, 0, 0, 0], &entry);
        let exit = Fake(vec![
            (ADDR, v4(43068, [192, 168, 2, 105])),
            (LEN, 16u32.to_ne_bytes().to_vec()),
        ]);
        assert_eq!(
            leave(p, 1, 5, &exit).to_string(),
            r#"accept(4, {sa_family=AF_INET, sin_port=htons(43068), sin_addr=inet_addr("192.168.2.105")}, [128 => 16]) = 5"#
        );
    }

    /// A peer address asked for on a stream socket: the kernel sets the
    /// length to 0 and strace shows the pointer.
    #[test]
    fn an_address_left_empty_shows_as_a_pointer() {
        let entry = Fake(vec![(LEN, 16u32.to_ne_bytes().to_vec())]);
        let p = enter(Call::Recvfrom, [5, BUF, 10, 0, ADDR, LEN], &entry);
        let exit = Fake(vec![
            (BUF, vec![]),
            (ADDR, vec![0; 16]),
            (LEN, 0u32.to_ne_bytes().to_vec()),
        ]);
        assert_eq!(
            leave(p, 1, 0, &exit).to_string(),
            r#"recvfrom(5, "", 10, 0, 0x8000, [16 => 0]) = 0"#
        );
    }

    fn msghdr_bytes(name: u64, namelen: u32, iov: u64, iovlen: u64) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend(name.to_ne_bytes());
        m.extend(namelen.to_ne_bytes());
        m.extend([0u8; 4]);
        m.extend(iov.to_ne_bytes());
        m.extend(iovlen.to_ne_bytes());
        m.extend(0u64.to_ne_bytes());
        m.extend(0u64.to_ne_bytes());
        m.extend([0u8; 8]);
        m
    }

    fn iovecs(v: &[(u64, u64)]) -> Vec<u8> {
        v.iter()
            .flat_map(|(b, l)| [b.to_ne_bytes(), l.to_ne_bytes()].concat())
            .collect()
    }

    #[test]
    fn renders_sendmsg_and_recvmsg() {
        const MSG: u64 = 0x5000;
        const IOV: u64 = 0x6000;
        let send = Fake(vec![
            (MSG, msghdr_bytes(0, 0, IOV, 2)),
            (IOV, iovecs(&[(BUF, 5), (BUF + 0x100, 6)])),
            (BUF, b"hello".to_vec()),
            (BUF + 0x100, b" world".to_vec()),
        ]);
        assert_eq!(
            call(libc::SYS_sendmsg, [4, MSG, 0x4000, 0, 0, 0], 11, &send),
            r#"sendmsg(4, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="hello", iov_len=5}, {iov_base=" world", iov_len=6}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL) = 11"#
        );
        let entry = Fake(vec![(MSG, msghdr_bytes(ADDR, 16, IOV, 1))]);
        let p = enter(Call::Recvmsg, [5, MSG, 0, 0, 0, 0], &entry);
        let mut data = b"hello world\0\x01\x02".to_vec();
        data.resize(100, b'z');
        let exit = Fake(vec![
            (MSG, msghdr_bytes(ADDR, 0, IOV, 1)),
            (IOV, iovecs(&[(BUF, 100)])),
            (BUF, data),
        ]);
        assert_eq!(
            leave(p, 1, 14, &exit).to_string(),
            r#"recvmsg(5, {msg_name=0x8000, msg_namelen=16 => 0, msg_iov=[{iov_base="hello world\0\1\2", iov_len=100}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 14"#
        );
    }

    #[test]
    fn alternate_display_prefixes_the_thread() {
        let r = Record {
            pid: 22200,
            name: "listen".into(),
            args: vec!["3".into(), "10".into()],
            ret: 0,
        };
        assert_eq!(format!("{r:#}"), "22200 listen(3, 10) = 0");
        assert_eq!(r.to_string(), "listen(3, 10) = 0");
    }

    #[test]
    fn tracks_socket_descriptors() {
        let mem = Fake(vec![(
            BUF,
            [7i32.to_ne_bytes(), 8i32.to_ne_bytes()].concat(),
        )]);
        let mut fds = HashSet::new();
        let a = |x: &[u64]| {
            let mut v = [0u64; 6];
            v[..x.len()].copy_from_slice(x);
            v
        };
        track_fds(&mut fds, libc::SYS_socket, a(&[2, 1, 6]), 3, &mem);
        track_fds(&mut fds, libc::SYS_accept, a(&[3, 0, 0]), 5, &mem);
        track_fds(&mut fds, libc::SYS_socket, a(&[2, 1, 6]), -24, &mem);
        track_fds(&mut fds, libc::SYS_socketpair, a(&[1, 1, 0, BUF]), 0, &mem);
        track_fds(&mut fds, libc::SYS_dup, a(&[5]), 9, &mem);
        track_fds(
            &mut fds,
            libc::SYS_fcntl,
            a(&[5, libc::F_DUPFD_CLOEXEC as u64, 20]),
            20,
            &mem,
        );
        track_fds(&mut fds, libc::SYS_close, a(&[7]), 0, &mem);
        track_fds(&mut fds, libc::SYS_dup2, a(&[0, 8]), 8, &mem);
        assert_eq!(fds, HashSet::from([3, 5, 9, 20]));
        track_fds(
            &mut fds,
            libc::SYS_close_range,
            a(&[4, u32::MAX as u64, 0]),
            0,
            &mem,
        );
        assert_eq!(fds, HashSet::from([3]));
    }
}

/// The tracer against real processes in a lab: needs root (the cargo runner
/// provides it) and the project's nc (built with the package) or ncat.
#[cfg(test)]
mod live {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use nix::sys::signal::Signal;

    use super::Record;
    use crate::host::{Process, Spawn};
    use crate::lab::{Lab, Side};

    fn root() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests need root (network namespaces, ptrace): run them through cargo's runner (ci/as-root)"
        );
    }

    /// target/debug/nc next to this test binary (target/debug/deps/...), else
    /// /usr/bin/ncat, which makes the same calls.
    fn nc() -> PathBuf {
        let exe = std::env::current_exe().expect("current_exe");
        let ours = exe
            .parent()
            .and_then(|deps| deps.parent())
            .map(|dir| dir.join("nc"));
        if let Some(p) = ours.filter(|p| p.is_file()) {
            return p;
        }
        let ncat = PathBuf::from("/usr/bin/ncat");
        assert!(
            ncat.is_file(),
            "no nc: neither target/debug/nc (cargo build --bin nc; the runner builds it) nor /usr/bin/ncat"
        );
        ncat
    }

    fn spawn(lab: &Lab, side: Side, program: PathBuf, args: &[&str], trace: bool) -> Process {
        let label = format!("{} {}", program.display(), args.join(" "));
        let spawn = Spawn {
            program,
            args: args.iter().map(Into::into).collect(),
            label,
            trace,
        };
        Process::spawn(lab.netns(side), &spawn).expect("spawn")
    }

    fn until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
        }
    }

    fn shown(records: &[Record]) -> String {
        records.iter().map(|r| format!("  {r:#}\n")).collect()
    }

    /// Finds `wanted` (prefix, suffix) in order; panics with the records.
    fn in_order(records: &[Record], wanted: &[(&str, &str)]) {
        let mut next = 0;
        for (prefix, suffix) in wanted {
            match records[next..].iter().position(|r| {
                let s = r.to_string();
                s.starts_with(prefix) && s.ends_with(suffix)
            }) {
                Some(k) => next += k + 1,
                None => panic!(
                    "no `{prefix}...{suffix}` after record {next}; recorded:\n{}",
                    shown(records)
                ),
            }
        }
    }

    #[test]
    fn records_the_server_side_of_a_session() {
        root();
        let deadline = Instant::now() + Duration::from_secs(10);
        let lab = Lab::new("syscalls-check").expect("lab");
        let mut server = spawn(&lab, Side::Server, nc(), &["-kl", "11111"], true);
        assert!(server.traced());
        until(deadline, "the server to listen on fd 4 and sleep", || {
            server
                .syscalls()
                .iter()
                .any(|r| r.to_string() == "listen(4, 10) = 0")
                && server.is_idle()
        });
        let mut client = spawn(&lab, Side::Client, nc(), &["192.168.2.100", "11111"], false);
        assert!(client.syscalls().is_empty() && !client.traced());
        client.type_line("11111").expect("type");
        assert!(
            server.wait_stdout_line("11111", deadline),
            "the server did not print the line"
        );
        client.signal(Signal::SIGINT).expect("^C");
        let status = client.wait_exit(deadline).expect("client exit");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGINT)
        );
        until(deadline, "the server to close fd 5", || {
            server
                .syscalls()
                .iter()
                .any(|r| r.to_string() == "close(5) = 0")
                && server.is_idle()
        });
        let records = server.syscalls();
        in_order(
            &records,
            &[
                ("socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3", ""),
                ("setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0", ""),
                ("setsockopt(3, SOL_IPV6, IPV6_V6ONLY, [1], 4) = 0", ""),
                (
                    r#"bind(3, {sa_family=AF_INET6, sin6_port=htons(11111), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::", &sin6_addr), sin6_scope_id=0}, 28) = 0"#,
                    "",
                ),
                ("listen(3, 10) = 0", ""),
                ("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 4", ""),
                ("setsockopt(4, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0", ""),
                (
                    r#"bind(4, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("0.0.0.0")}, 16) = 0"#,
                    "",
                ),
                ("listen(4, 10) = 0", ""),
                // `[16]`, or `[128 => 16]` when given a sockaddr_storage.
                (
                    r#"accept(4, {sa_family=AF_INET, sin_port=htons("#,
                    "16]) = 5",
                ),
                (r#"recvfrom(5, "11111\n", "#, ") = 6"),
                (r#"recvfrom(5, "", "#, ") = 0"),
                ("close(5) = 0", ""),
            ],
        );
        // Only sockets: the line printed on stdout is no write(1, ...).
        assert!(
            records.iter().all(|r| !matches!(r.name.as_str(), "read" | "write" | "close") || r.args[0] != "1"),
            "a call on a non-socket was recorded:\n{}",
            shown(&records)
        );
        assert!(
            records.iter().all(|r| r.pid == server.pid()),
            "one thread:\n{}",
            shown(&records)
        );
        // ^C reaches a traced process and kills it as it would untraced.
        server.signal(Signal::SIGINT).expect("^C the server");
        let status = server.wait_exit(deadline).expect("server exit");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGINT)
        );
        assert!(server.try_exit().is_some() && server.is_idle());
        assert!(server.trace_stops() > 0);
        eprintln!(
            "{} stops; recorded:\n{}",
            server.trace_stops(),
            shown(&records)
        );
    }

    /// A shell that forks nc, whose connect is refused, then exits 3: the
    /// child is followed through fork and exec, and the exit code arrives.
    #[test]
    fn follows_forks_and_reports_errors() {
        root();
        let deadline = Instant::now() + Duration::from_secs(10);
        let lab = Lab::new("syscalls-fork").expect("lab");
        let script = format!("{} 192.168.2.100 11111 </dev/null; exit 3", nc().display());
        let mut sh = spawn(&lab, Side::Client, "/bin/sh".into(), &["-c", &script], true);
        let status = sh.wait_exit(deadline).expect("sh exit");
        assert_eq!(status.code(), Some(3));
        let records = sh.syscalls();
        in_order(
            &records,
            &[
                ("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3", ""),
                (
                    r#"connect(3, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("192.168.2.100")}, 16) = -1 ECONNREFUSED (Connection refused)"#,
                    "",
                ),
            ],
        );
        assert!(
            records.iter().all(|r| r.pid != sh.pid()),
            "the shell itself made no socket call:\n{}",
            shown(&records)
        );
        assert_eq!(
            super::errno_name(records.iter().find(|r| r.name == "connect").unwrap().ret),
            "ECONNREFUSED"
        );
    }

    /// A traced start that fails in exec fails as an untraced one does,
    /// with exec's errno, and does not hang: the child is forked by the
    /// tracer thread itself (see host.rs `fork_traced`).
    #[test]
    fn a_failed_exec_is_an_error() {
        root();
        let lab = Lab::new("syscalls-exec").expect("lab");
        let dir = std::env::temp_dir();
        let bad_interp = dir.join(format!("tcplab-bad-interp-{}", std::process::id()));
        let not_exec = dir.join(format!("tcplab-not-exec-{}", std::process::id()));
        std::fs::write(&bad_interp, "#!/nonexistent/interpreter\n").expect("write");
        std::fs::write(&not_exec, "#!/bin/sh\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad_interp, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        for (program, errno) in [
            (PathBuf::from("/nonexistent/nc"), "ENOENT"),
            (PathBuf::from("no-such-program-on-path"), "ENOENT"),
            (bad_interp.clone(), "ENOENT"),
            (not_exec.clone(), "EACCES"),
        ] {
            for trace in [false, true] {
                let label = program.display().to_string();
                let spawn = Spawn {
                    program: program.clone(),
                    args: Vec::new(),
                    label,
                    trace,
                };
                match Process::spawn(lab.netns(Side::Client), &spawn) {
                    Ok(p) => panic!(
                        "{} (trace {trace}) started: pid {}",
                        program.display(),
                        p.pid()
                    ),
                    Err(e) => assert!(e.to_string().contains(errno), "trace {trace}: {e}"),
                }
            }
        }
        let _ = std::fs::remove_file(&bad_interp);
        let _ = std::fs::remove_file(&not_exec);
    }

    /// The cost of tracing one nc session (run by hand:
    /// `cargo test --lib syscalls::live::cost -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn cost() {
        root();
        let lab = Lab::new("syscalls-cost").expect("lab");
        for trace in [false, true, false, true] {
            let mut times = Vec::new();
            let mut stops = Vec::new();
            for _ in 0..30 {
                let deadline = Instant::now() + Duration::from_secs(10);
                let t0 = Instant::now();
                let mut server = spawn(&lab, Side::Server, nc(), &["-l", "11111"], trace);
                let mut client;
                loop {
                    // Until the server listens: connection refused before.
                    assert!(Instant::now() < deadline, "the server never listened");
                    client = spawn(&lab, Side::Client, nc(), &["192.168.2.100", "11111"], false);
                    until(deadline, "the client to connect or fail", || {
                        client.is_idle()
                    });
                    if client.try_exit().is_none() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
                }
                client.type_line("11111").expect("type");
                assert!(server.wait_stdout_line("11111", deadline));
                client.signal(Signal::SIGINT).expect("^C");
                client.wait_exit(deadline).expect("client exit");
                server.wait_exit(deadline).expect("server exit");
                times.push(t0.elapsed());
                stops.push(server.trace_stops());
            }
            times.sort();
            stops.sort();
            eprintln!(
                "traced={trace}: spawn-to-exit median {:?} (min {:?}, max {:?}), stops median {}",
                times[times.len() / 2],
                times[0],
                times[times.len() - 1],
                stops[stops.len() / 2]
            );
        }
    }
}
