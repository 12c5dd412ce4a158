//! Listener and connection setup, call for call what ncat 7.93 does.
//!
//! The order of system calls here is part of the contract (the cases trace
//! them), so everything goes through nix/libc one call at a time rather than
//! std::net, which adds SOCK_CLOEXEC, different options and fd juggling.
//! Sockets stay blocking; the relay uses poll(2) to know when to call.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6,
};

use super::args::Only;

/// Backlog ncat passes to listen(2).
const BACKLOG: i32 = 10;

/// A failed system call, rendered as `what: Description (ENAME)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysError {
    pub what: String,
    pub errno: Errno,
}

impl SysError {
    pub fn new(what: impl Into<String>, errno: Errno) -> Self {
        Self {
            what: what.into(),
            errno,
        }
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({:?})", self.what, self.errno.desc(), self.errno)
    }
}

impl std::error::Error for SysError {}

/// socket(family, SOCK_STREAM, IPPROTO_TCP), no flags: no CLOEXEC, blocking.
fn tcp_socket(family: AddressFamily) -> Result<OwnedFd, Errno> {
    socket::socket(
        family,
        SockType::Stream,
        SockFlag::empty(),
        SockProtocol::Tcp,
    )
}

/// Opens the listeners: fd 3 on [::]:port, then fd 4 on 0.0.0.0:port;
/// with `only`, that family's alone (fd 3), as `ncat -6 -l` / `-4 -l`.
///
/// Like ncat, an IPv6 socket that the kernel refuses with EAFNOSUPPORT is
/// skipped silently (the IPv4 listener then becomes fd 3), unless -6 asked
/// for IPv6 alone; any other failure is fatal.
pub fn listen(port: u16, only: Option<Only>) -> Result<Vec<OwnedFd>, SysError> {
    let mut listeners = Vec::with_capacity(2);

    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let v6_socket = match only {
        Some(Only::V4) => Err(Errno::EAFNOSUPPORT),
        _ => tcp_socket(AddressFamily::Inet6),
    };
    match v6_socket {
        Ok(fd) => {
            socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
                .map_err(|e| SysError::new("setsockopt(SO_REUSEADDR)", e))?;
            // Without V6ONLY the [::] socket would also take IPv4 and the
            // 0.0.0.0 bind below would fail with EADDRINUSE.
            socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)
                .map_err(|e| SysError::new("setsockopt(IPV6_V6ONLY)", e))?;
            bind_and_listen(&fd, v6)?;
            listeners.push(fd);
        }
        Err(Errno::EAFNOSUPPORT) if only != Some(Only::V6) => {}
        Err(e) => return Err(SysError::new("socket(AF_INET6)", e)),
    }
    if only == Some(Only::V6) {
        return Ok(listeners);
    }

    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let fd = tcp_socket(AddressFamily::Inet).map_err(|e| SysError::new("socket(AF_INET)", e))?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
        .map_err(|e| SysError::new("setsockopt(SO_REUSEADDR)", e))?;
    bind_and_listen(&fd, v4)?;
    listeners.push(fd);

    Ok(listeners)
}

fn bind_and_listen(fd: &OwnedFd, addr: SocketAddr) -> Result<(), SysError> {
    bind_or_connect(fd, addr, socket::bind)
        .map_err(|e| SysError::new(format!("bind to {addr}"), e))?;
    socket::listen(fd, Backlog::new(BACKLOG).expect("10 is a valid backlog"))
        .map_err(|e| SysError::new(format!("listen on {addr}"), e))
}

/// Calls bind(2) or connect(2) with the sockaddr type matching `addr`.
fn bind_or_connect(
    fd: &OwnedFd,
    addr: SocketAddr,
    call: fn(i32, &dyn socket::SockaddrLike) -> nix::Result<()>,
) -> Result<(), Errno> {
    match addr {
        SocketAddr::V4(a) => call(fd.as_raw_fd(), &SockaddrIn::from(a)),
        SocketAddr::V6(a) => call(fd.as_raw_fd(), &SockaddrIn6::from(a)),
    }
}

/// accept(2) on a readable listener; the new descriptor is the lowest free
/// one (5 for the first client). The peer address is asked for, as ncat
/// does, so the traced call reads `accept(4, {sa_family=AF_INET, ...}, ...)`.
pub fn accept(listener: &OwnedFd) -> Result<OwnedFd, Errno> {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `peer` and `len` describe a writable buffer of `len` bytes.
    let raw = unsafe {
        libc::accept(
            listener.as_raw_fd(),
            std::ptr::addr_of_mut!(peer).cast::<libc::sockaddr>(),
            &mut len,
        )
    };
    let raw = Errno::result(raw)?;
    // SAFETY: accept just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// close(2) and nothing else. Dropping an OwnedFd in a debug build first
/// checks the descriptor with fcntl(F_GETFD), an extra call between the
/// peer's EOF and our FIN that traces would show; this avoids it.
pub fn close_now(fd: OwnedFd) {
    // SAFETY: we own the descriptor and give it up here.
    unsafe { libc::close(fd.into_raw_fd()) };
}

/// The client: socket = 3 of `addr`'s family, then a blocking connect(2).
/// With a source port, ncat's order first: SO_REUSEADDR, then bind to the
/// wildcard address and that port.
pub fn connect(addr: SocketAddr, source: Option<u16>) -> Result<OwnedFd, SysError> {
    let (family, name, any) = match addr {
        SocketAddr::V4(_) => (
            AddressFamily::Inet,
            "socket(AF_INET)",
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ),
        SocketAddr::V6(_) => (
            AddressFamily::Inet6,
            "socket(AF_INET6)",
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ),
    };
    let fd = tcp_socket(family).map_err(|e| SysError::new(name, e))?;
    if let Some(port) = source {
        socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
            .map_err(|e| SysError::new("setsockopt(SO_REUSEADDR)", e))?;
        let local = SocketAddr::new(any, port);
        bind_or_connect(&fd, local, socket::bind)
            .map_err(|e| SysError::new(format!("bind to {local}"), e))?;
    }
    bind_or_connect(&fd, addr, socket::connect)
        .map_err(|e| SysError::new(format!("connect to {addr}"), e))?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_format() {
        let e = SysError::new("bind to 0.0.0.0:11111", Errno::EADDRINUSE);
        assert_eq!(
            e.to_string(),
            "bind to 0.0.0.0:11111: Address already in use (EADDRINUSE)"
        );
        let e = SysError::new("connect to 192.168.2.100:11111", Errno::ECONNREFUSED);
        assert_eq!(
            e.to_string(),
            "connect to 192.168.2.100:11111: Connection refused (ECONNREFUSED)"
        );
    }
}
