//! What `lsof -nP -i` shows for one process, from /proc.
//!
//! /proc/PID/fd/N links to `socket:[INODE]` and sock_diag reports the same
//! inode: that join is lsof's. /proc works whatever namespace the process
//! lives in, but the socket rows must be dumped in the process's network
//! namespace ([`crate::sockets::SockDiag`] opened there): the caller passes
//! them. Socket inodes are unique machine-wide, so rows of another namespace
//! simply match nothing.
//!
//! Sockets whose inode is not among the rows are skipped: UNIX and netlink
//! sockets, and TCP sockets the kernel no longer hashes (never bound, or
//! closed by a RST and still held). `lsof -i` skips them too: without `-i`
//! it lists them as `sock ... protocol: TCP`.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::error::{Error, Result};
use crate::sockets::{Family, SocketRow, TcpState};

/// One TCP socket descriptor of a process, one line of `lsof -nP -i`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FdRow {
    pub fd: i32,
    /// lsof's access mode, from the `flags:` of /proc/PID/fdinfo/FD: `r`
    /// read-only, `w` write-only, `u` read and write (every socket).
    pub mode: char,
    pub family: Family,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub state: TcpState,
    pub inode: u64,
}

/// The TCP sockets among `pid`'s descriptors, joined with `sockets` (a
/// sock_diag dump of the process's namespace) by inode, in fd order. A
/// descriptor closed while it is being read is left out; a process that is
/// gone is an error (`ENOENT`).
pub fn socket_fds(pid: i32, sockets: &[SocketRow]) -> Result<Vec<FdRow>> {
    let by_inode: HashMap<u64, &SocketRow> =
        sockets.iter().filter(|r| r.inode != 0).map(|r| (r.inode, r)).collect();
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).map_err(|e| Error::io(format!("list {dir}"), e))?;
    let mut rows = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("list {dir}"), e))?;
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let link = match fs::read_link(entry.path()) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("readlink {dir}/{fd}"), e)),
        };
        let Some(inode) = link.to_str().and_then(socket_inode) else { continue };
        let Some(row) = by_inode.get(&inode) else { continue };
        let info = format!("/proc/{pid}/fdinfo/{fd}");
        let text = match fs::read_to_string(&info) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("read {info}"), e)),
        };
        let flags = fdinfo_flags(&text)
            .ok_or_else(|| Error::msg(format!("{info}: no `flags:` line in {text:?}")))?;
        rows.push(FdRow {
            fd,
            mode: access_mode(flags),
            family: row.family(),
            local: row.local,
            peer: row.peer,
            state: row.state,
            inode,
        });
    }
    rows.sort_by_key(|r| r.fd);
    Ok(rows)
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// The octal `flags:` of an fdinfo file.
fn fdinfo_flags(fdinfo: &str) -> Option<u32> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
}

/// lsof's mode letter for open flags.
fn access_mode(flags: u32) -> char {
    match flags & libc::O_ACCMODE as u32 {
        f if f == libc::O_RDONLY as u32 => 'r',
        f if f == libc::O_WRONLY as u32 => 'w',
        _ => 'u',
    }
}

/// lsof's form of an endpoint: `*` for the wildcard address and for port 0,
/// IPv6 addresses in brackets.
fn lsof_endpoint(addr: &SocketAddr) -> String {
    let ip = match addr.ip() {
        a if a.is_unspecified() => "*".to_string(),
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let port = if addr.port() == 0 { "*".to_string() } else { addr.port().to_string() };
    format!("{ip}:{port}")
}

impl fmt::Display for FdRow {
    /// `5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:43068 (ESTABLISHED)`:
    /// lsof's FD, TYPE and NAME columns (the peer is left out while it is
    /// the wildcard, as for listeners).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{} {} TCP {}", self.fd, self.mode, self.family, lsof_endpoint(&self.local))?;
        if !(self.peer.ip().is_unspecified() && self.peer.port() == 0) {
            write!(f, "->{}", lsof_endpoint(&self.peer))?;
        }
        write!(f, " ({})", self.state.lsof_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn fd_row(fd: i32, state: TcpState, local: &str, peer: &str) -> FdRow {
        let local: SocketAddr = local.parse().unwrap();
        FdRow {
            fd,
            mode: 'u',
            family: Family::of(&local),
            local,
            peer: peer.parse().unwrap(),
            state,
            inode: 1,
        }
    }

    // Expected lines: lsof 4.95 -nP -i on ncat -kl 11111 and its peers.
    #[rstest]
    #[case(fd_row(4, TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"), "4u IPv4 TCP *:11111 (LISTEN)")]
    #[case(fd_row(3, TcpState::Listen, "[::]:11111", "[::]:0"), "3u IPv6 TCP *:11111 (LISTEN)")]
    #[case(
        fd_row(5, TcpState::Established, "192.168.2.100:11111", "192.168.2.105:43068"),
        "5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:43068 (ESTABLISHED)"
    )]
    #[case(
        fd_row(3, TcpState::CloseWait, "192.168.2.105:53118", "192.168.2.100:11111"),
        "3u IPv4 TCP 192.168.2.105:53118->192.168.2.100:11111 (CLOSE_WAIT)"
    )]
    #[case(
        fd_row(5, TcpState::FinWait2, "192.168.2.100:11111", "192.168.2.105:53118"),
        "5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:53118 (FIN_WAIT2)"
    )]
    #[case(
        fd_row(6, TcpState::Established, "[::1]:11111", "[::1]:40000"),
        "6u IPv6 TCP [::1]:11111->[::1]:40000 (ESTABLISHED)"
    )]
    #[case(
        fd_row(7, TcpState::Established, "[::ffff:127.0.0.1]:33333", "[::ffff:127.0.0.1]:4"),
        "7u IPv6 TCP [::ffff:127.0.0.1]:33333->[::ffff:127.0.0.1]:4 (ESTABLISHED)"
    )]
    fn display(#[case] r: FdRow, #[case] text: &str) {
        assert_eq!(r.to_string(), text);
    }

    #[rstest]
    #[case("socket:[10952]", Some(10952))]
    #[case("socket:[]", None)]
    #[case("pipe:[10952]", None)]
    #[case("anon_inode:[eventpoll]", None)]
    #[case("/dev/null", None)]
    fn inode_of_link(#[case] link: &str, #[case] inode: Option<u64>) {
        assert_eq!(socket_inode(link), inode);
    }

    #[rstest]
    #[case("pos:\t0\nflags:\t02\nmnt_id:\t8\nino:\t10952\n", 'u')]
    #[case("pos:\t0\nflags:\t02004002\nmnt_id:\t8\n", 'u')]
    #[case("pos:\t0\nflags:\t0100000\n", 'r')]
    #[case("pos:\t0\nflags:\t02000001\n", 'w')]
    fn mode_of_fdinfo(#[case] fdinfo: &str, #[case] mode: char) {
        assert_eq!(fdinfo_flags(fdinfo).map(access_mode), Some(mode));
    }

    #[test]
    fn missing_process() {
        let err = socket_fds(i32::MAX, &[]).unwrap_err().to_string();
        assert!(err.contains("/proc/2147483647/fd") && err.contains("ENOENT"), "{err}");
    }
}
