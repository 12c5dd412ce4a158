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
    let by_inode: HashMap<u64, &SocketRow> = sockets
        .iter()
        .filter(|r| r.inode != 0)
        .map(|r| (r.inode, r))
        .collect();
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).map_err(|e| Error::io(format!("list {dir}"), e))?;
    let mut rows = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("list {dir}"), e))?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let link = match fs::read_link(entry.path()) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("readlink {dir}/{fd}"), e)),
        };
        let Some(inode) = link.to_str().and_then(socket_inode) else {
            continue;
        };
        let Some(row) = by_inode.get(&inode) else {
            continue;
        };
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
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
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
/// IPv6 addresses in brackets, v4-mapped ones as plain IPv4 (the TYPE
/// column still says IPv6).
fn lsof_endpoint(addr: &SocketAddr) -> String {
    let ip = match addr.ip() {
        a if a.is_unspecified() => "*".to_string(),
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("[{a}]"),
        },
    };
    let port = if addr.port() == 0 {
        "*".to_string()
    } else {
        addr.port().to_string()
    };
    format!("{ip}:{port}")
}

impl fmt::Display for FdRow {
    /// `5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:43068 (ESTABLISHED)`:
    /// lsof's FD, TYPE and NAME columns (the peer is left out while it is
    /// the wildcard, as for listeners).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{} {} TCP {}",
            self.fd,
            self.mode,
            self.family,
            lsof_endpoint(&self.local)
        )?;
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

    // Expected lines: lsof 4.95 -nP -i on ncat -kl 11111 and its peers, and
    // on a dual-stack listener on 33333 reached over 127.0.0.1.
    #[rstest]
    #[case(
        fd_row(4, TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"),
        "4u IPv4 TCP *:11111 (LISTEN)"
    )]
    #[case(
        fd_row(3, TcpState::Listen, "[::]:11111", "[::]:0"),
        "3u IPv6 TCP *:11111 (LISTEN)"
    )]
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
        fd_row(
            7,
            TcpState::Established,
            "[::ffff:127.0.0.1]:33333",
            "[::ffff:127.0.0.1]:4"
        ),
        "7u IPv6 TCP 127.0.0.1:33333->127.0.0.1:4 (ESTABLISHED)"
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
        assert!(
            err.contains("/proc/2147483647/fd") && err.contains("ENOENT"),
            "{err}"
        );
    }

    // ---- Live checks against lsof (root: the lab needs namespaces) ----

    use crate::lab::{Lab, Side};
    use crate::sockets::live::wait_for;
    use crate::sockets::{table, SockDiag};
    use std::process::{Child, Command, Stdio};

    /// `ip netns exec NS lsof -nP -i [-a -p PID]` as `FD TYPE NODE NAME
    /// (STATE)` (our Display's form) and the inode; None when lsof cannot
    /// be run. lsof exits 1 when it finds nothing.
    fn lsof_rows(ns: &str, pid: Option<i32>) -> Option<Vec<(String, u64)>> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "lsof", "-nP", "-i"]);
        if let Some(pid) = pid {
            cmd.args(["-a", "-p", &pid.to_string()]);
        }
        let out = cmd.stderr(Stdio::null()).output().ok()?;
        if !out.status.success() && !out.stdout.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        Some(
            text.lines()
                .skip(1)
                .map(|l| {
                    let t: Vec<&str> = l.split_whitespace().collect();
                    // COMMAND PID USER FD TYPE DEVICE SIZE/OFF NODE NAME [STATE]; for
                    // sockets DEVICE holds the inode and NODE the protocol.
                    (
                        format!("{} {} {} {}", t[3], t[4], t[7], t[8..].join(" ")),
                        t[5].parse().unwrap(),
                    )
                })
                .collect(),
        )
    }

    /// This test process's own sockets, opened by threads inside a lab's
    /// namespaces: a v4 and a v6-only listener on one port (as `ncat -l`
    /// makes them), a dual-stack listener on another, one connection to
    /// each port (the second one v4-mapped on the server) and one over IPv6
    /// between the lab's IPv6 addresses, accepted by the v6-only listener
    /// (`IPv6 TCP [2001:db8:2::100]:11111->[2001:db8:2::105]:PORT`); our
    /// rows must be lsof's.
    #[test]
    fn live_fds_match_lsof() {
        use nix::sys::socket::{
            bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
            SockaddrIn6,
        };
        use std::net::{TcpListener, TcpStream};
        assert!(
            nix::unistd::geteuid().is_root(),
            "needs root for namespaces: run `cargo test` (the runner uses sudo -E) or as root"
        );
        let lab = Lab::new("fds-check").unwrap();
        let server = SockDiag::open(lab.netns(Side::Server)).unwrap();
        let client = SockDiag::open(lab.netns(Side::Client)).unwrap();
        let (l6, l4, ld) = lab
            .netns(Side::Server)
            .run("listen", || {
                let l6 = socket(
                    AddressFamily::Inet6,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )
                .map_err(|e| Error::sys("socket", e))?;
                setsockopt(&l6, sockopt::Ipv6V6Only, &true).map_err(|e| Error::sys("v6only", e))?;
                let any: SockaddrIn6 = "[::]:11111"
                    .parse::<std::net::SocketAddrV6>()
                    .unwrap()
                    .into();
                bind(std::os::fd::AsRawFd::as_raw_fd(&l6), &any)
                    .map_err(|e| Error::sys("bind", e))?;
                listen(&l6, Backlog::new(10).unwrap()).map_err(|e| Error::sys("listen", e))?;
                let l4 = TcpListener::bind("0.0.0.0:11111").map_err(|e| Error::io("bind", e))?;
                let ld = TcpListener::bind("[::]:11112").map_err(|e| Error::io("bind", e))?;
                Ok((TcpListener::from(l6), l4, ld))
            })
            .unwrap();
        let (c, cd, c6) = lab
            .netns(Side::Client)
            .run("connect", || {
                let c = TcpStream::connect("192.168.2.100:11111").map_err(|e| Error::io("c", e))?;
                let cd =
                    TcpStream::connect("192.168.2.100:11112").map_err(|e| Error::io("cd", e))?;
                let c6 = TcpStream::connect("[2001:db8:2::100]:11111")
                    .map_err(|e| Error::io("c6", e))?;
                Ok((c, cd, c6))
            })
            .unwrap();
        let (s, _) = l4.accept().unwrap();
        let (sd, _) = ld.accept().unwrap();
        let (s6, _) = l6.accept().unwrap();
        let me = std::process::id() as i32;
        for (side, diag) in [(Side::Server, &server), (Side::Client, &client)] {
            let rows = diag.dump().unwrap();
            let ours = socket_fds(me, &rows).unwrap();
            let expected = if side == Side::Server { 6 } else { 3 };
            assert_eq!(ours.len(), expected, "{side}: {ours:?}");
            assert!(ours.iter().all(|r| r.mode == 'u'));
            let Some(theirs) = lsof_rows(diag.netns(), Some(me)) else {
                panic!(
                    "lsof not available: install it (apt-get install lsof; ci/install-deps does)"
                );
            };
            eprintln!("{side}:");
            for (r, (line, node)) in ours.iter().zip(&theirs) {
                eprintln!("  ours: {r}\n  lsof: {line}");
                assert_eq!((r.to_string(), r.inode), (line.clone(), *node));
            }
            assert_eq!(ours.len(), theirs.len(), "{side}: lsof: {theirs:?}");
        }
        // Once the client process's socket is closed, nothing of it shows.
        drop(c);
        let rows = wait_for(&client, "FIN-WAIT-2", |rows| {
            rows.iter().any(|r| r.state == TcpState::FinWait2)
        });
        let fds = socket_fds(me, &rows).unwrap();
        // In fd order, which follows whatever other tests' threads opened
        // and closed meanwhile (in a TCG guest c6 got fd 29 below cd's 31),
        // so as a set: sorted by port.
        let mut left: Vec<(Family, u16)> = fds.iter().map(|r| (r.family, r.peer.port())).collect();
        left.sort_by_key(|&(_, port)| port);
        assert_eq!(
            left,
            [(Family::Ipv6, 11111), (Family::Ipv4, 11112)],
            "{fds:?}"
        );
        let rows = wait_for(&server, "CLOSE-WAIT", |rows| {
            rows.iter().any(|r| r.state == TcpState::CloseWait)
        });
        let fds = socket_fds(me, &rows).unwrap();
        assert!(
            fds.iter()
                .any(|r| r.state == TcpState::CloseWait && r.to_string().ends_with("(CLOSE_WAIT)")),
            "{fds:?}"
        );
        drop((s, sd, s6, cd, c6, l4, l6, ld));
    }

    struct Proc(Child);

    impl Drop for Proc {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn ncat(ns: &str, args: &[&str]) -> Proc {
        Proc(
            Command::new("ip")
                .args(["netns", "exec", ns, "ncat"])
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn ss_text(ns: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-tan", "-o"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The manual check of the brief, kept runnable: `ncat -kl 11111` on the
    /// server, `ncat 192.168.2.100 11111` on the client; prints our rows
    /// next to ss's and lsof's, then kills the client and does the same for
    /// TIME-WAIT. Needs ncat, ss and lsof.
    #[test]
    #[ignore = "manual: needs ncat, ss and lsof; prints a side-by-side"]
    fn ncat_side_by_side() {
        let lab = Lab::new("ncat-check").unwrap();
        let (sns, cns) = (
            lab.netns(Side::Server).name(),
            lab.netns(Side::Client).name(),
        );
        let server = SockDiag::open(lab.netns(Side::Server)).unwrap();
        let client = SockDiag::open(lab.netns(Side::Client)).unwrap();
        let srv = ncat(sns, &["-kl", "11111"]);
        wait_for(&server, "listen", |r| {
            r.iter().filter(|r| r.state == TcpState::Listen).count() == 2
        });
        let cli = ncat(cns, &["192.168.2.100", "11111"]);
        wait_for(&client, "connect", |r| {
            r.iter().any(|r| r.state == TcpState::Established)
        });
        let show = |diag: &SockDiag, ns: &str, pid: i32| {
            let rows = diag.dump().unwrap();
            println!(
                "--- {ns}: ours\n{}--- ss -tan -o\n{}",
                table(&rows),
                ss_text(ns)
            );
            println!("--- fds of {pid}: ours");
            for r in socket_fds(pid, &rows).unwrap() {
                println!("{r}   node {}", r.inode);
            }
            println!("--- lsof -nP -i");
            for (line, node) in lsof_rows(ns, None).unwrap_or_default() {
                println!("{line}   node {node}");
            }
        };
        show(&server, sns, srv.0.id() as i32);
        show(&client, cns, cli.0.id() as i32);
        let cpid = cli.0.id() as i32;
        drop(cli);
        let rows = wait_for(&client, "TIME-WAIT", |r| {
            r.iter().any(|r| r.state == TcpState::TimeWait)
        });
        println!(
            "--- after killing the client\n--- {cns}: ours\n{}--- ss -tan -o\n{}",
            table(&rows),
            ss_text(cns)
        );
        println!("(client pid {cpid} gone)");
        show(&server, sns, srv.0.id() as i32);
    }
}
