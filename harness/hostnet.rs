//! A read-only picture of the host's own network namespace (links,
//! addresses, routes, qdiscs, the nftables ruleset's generation and the
//! `net.ipv4.*` / `net.core.*` sysctls), taken before and after a run to
//! prove the run left it exactly as it was. Read over rtnetlink,
//! nfnetlink and /proc/sys from the calling thread, which must be in the
//! host namespace (the runner's main thread is).
//!
//! It is taken twice by every process of a run, so it is kept cheap
//! (measured, debug build: 12 to 16 ms a snapshot and 3 ms a comparison
//! before; the ruleset was `nft list ruleset`, 2.6 ms of exec, and the
//! comparison quadratic).

use std::net::{Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::RouteAttribute;
use netlink_packet_route::tc::TcAttribute;
use rtnetlink::RouteMessageBuilder;

use crate::error::{Error, Result};

/// One line per link, address, route and qdisc, and the ruleset's
/// generation, sorted: stable while nothing changes (counters and timers
/// are left out). About 1 ms.
pub fn links() -> Result<Vec<String>> {
    let mut lines = netlink_and_ruleset()?;
    lines.sort();
    Ok(lines)
}

/// `net.ipv4.*` (with every interface's conf) and `net.core.*`, one
/// `sysctl NAME = VALUE` line each, sorted: about 500 files, read on two
/// threads (threads made here start in this thread's namespace), 4 ms on
/// one.
pub fn sysctls() -> Vec<String> {
    let (mut conf, rest) = std::thread::scope(|s| {
        let conf = s.spawn(|| {
            let mut out = Vec::new();
            walk(std::path::Path::new(CONF), &mut out);
            out
        });
        let mut rest = Vec::new();
        for top in ["ipv4", "core"] {
            walk(&std::path::Path::new("/proc/sys/net").join(top), &mut rest);
        }
        (conf.join().unwrap_or_default(), rest)
    });
    conf.extend(rest);
    conf.sort();
    conf
}

/// Links, addresses, routes and qdiscs over rtnetlink, and the ruleset.
fn netlink_and_ruleset() -> Result<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::io("start tokio runtime", e))?;
    let mut lines = rt.block_on(async {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| Error::io("open NETLINK_ROUTE socket", e))?;
        tokio::spawn(conn);
        let mut lines = Vec::new();
        let mut links = handle.link().get().execute();
        while let Some(l) = links
            .try_next()
            .await
            .map_err(|e| Error::netlink("dump host links", e))?
        {
            let name = l.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            });
            lines.push(format!(
                "link {} {} flags {:?}",
                l.header.index,
                name.unwrap_or_default(),
                l.header.flags
            ));
        }
        let mut addrs = handle.address().get().execute();
        while let Some(a) = addrs
            .try_next()
            .await
            .map_err(|e| Error::netlink("dump host addresses", e))?
        {
            for attr in &a.attributes {
                if let AddressAttribute::Address(ip) = attr {
                    lines.push(format!(
                        "addr {} {ip}/{}",
                        a.header.index, a.header.prefix_len
                    ));
                }
            }
        }
        for msg in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let mut routes = handle.route().get(msg).execute();
            while let Some(r) = routes
                .try_next()
                .await
                .map_err(|e| Error::netlink("dump host routes", e))?
            {
                let keep: Vec<String> = r
                    .attributes
                    .iter()
                    .filter(|a| {
                        matches!(
                            a,
                            RouteAttribute::Destination(_)
                                | RouteAttribute::Gateway(_)
                                | RouteAttribute::Oif(_)
                                | RouteAttribute::Table(_)
                                | RouteAttribute::PrefSource(_)
                        )
                    })
                    .map(|a| format!("{a:?}"))
                    .collect();
                lines.push(format!(
                    "route {:?}/{} {:?} {}",
                    r.header.address_family,
                    r.header.destination_prefix_length,
                    r.header.kind,
                    keep.join(" ")
                ));
            }
        }
        lines.extend(qdiscs(&handle).await?);
        Ok::<_, Error>(lines)
    })?;
    lines.extend(ruleset()?);
    Ok(lines)
}

/// The host's qdiscs, kind and options only: statistics change with every
/// packet.
async fn qdiscs(handle: &rtnetlink::Handle) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut qdiscs = handle.qdisc().get().execute();
    while let Some(q) = qdiscs
        .try_next()
        .await
        .map_err(|e| Error::netlink("dump host qdiscs", e))?
    {
        let keep: Vec<String> = q
            .attributes
            .iter()
            .filter(|a| matches!(a, TcAttribute::Kind(_) | TcAttribute::Options(_)))
            .map(|a| format!("{a:?}"))
            .collect();
        lines.push(format!(
            "qdisc dev {} handle {:?} parent {:?} {}",
            q.header.index,
            q.header.handle,
            q.header.parent,
            keep.join(" ")
        ));
    }
    Ok(lines)
}

/// Where nftables' command lives on Debian; called by path because sudo's
/// secure_path may lack /usr/sbin.
pub const NFT: &str = "/usr/sbin/nft";

/// The nftables ruleset's generation, where nft is installed (a host
/// without nft has no ruleset we could change by mistake through it; the
/// fault rules are built over netlink). The kernel bumps the generation
/// with every committed change of the namespace's ruleset, so the same
/// number before and after a run means nobody changed it: what `nft`
/// itself asks first (NFT_MSG_GETGEN), 50 µs instead of running `nft list
/// ruleset`.
fn ruleset() -> Result<Vec<String>> {
    if !std::path::Path::new(NFT).exists() {
        return Ok(Vec::new());
    }
    let generation = nft_generation().map_err(|e| e.context("ask the nftables generation"))?;
    Ok(vec![format!(
        "nftables ruleset generation {generation} (`nft list ruleset` shows it)"
    )])
}

fn nft_generation() -> Result<u32> {
    use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_GETGEN: u16 = 16;
    const NFT_MSG_NEWGEN: u16 = 15;
    const NFTA_GEN_ID: u16 = 1;
    const NLMSG_ERROR: u16 = 2;
    let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| Error::io("open socket", e))?;
    sock.bind_auto().map_err(|e| Error::io("bind", e))?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(|e| Error::io("connect", e))?;
    // nlmsghdr (len, type, flags = NLM_F_REQUEST, seq, pid), then
    // nfgenmsg (AF_UNSPEC, NFNETLINK_V0, res_id 0).
    let mut req = Vec::with_capacity(20);
    req.extend(20u32.to_ne_bytes());
    req.extend(((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN).to_ne_bytes());
    req.extend(1u16.to_ne_bytes());
    req.extend(1u32.to_ne_bytes());
    req.extend(0u32.to_ne_bytes());
    req.extend([0u8, 0, 0, 0]);
    sock.send(&req, 0).map_err(|e| Error::io("send", e))?;
    let mut buf = vec![0u8; 8192];
    let n = sock
        .recv(&mut &mut buf[..], 0)
        .map_err(|e| Error::io("receive", e))?;
    let msg = &buf[..n];
    let u16_at = |i: usize| msg.get(i..i + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    match u16_at(4) {
        Some(NLMSG_ERROR) => {
            let code = msg
                .get(16..20)
                .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            return Err(Error::sys(
                "NFT_MSG_GETGEN",
                nix::errno::Errno::from_raw(code.abs()),
            ));
        }
        Some(t) if t == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN => {}
        other => return Err(Error::msg(format!("unexpected reply type {other:?}"))),
    }
    // Attributes after the 16-byte header and the 4-byte nfgenmsg.
    let mut at = 20;
    while let (Some(len), Some(kind)) = (u16_at(at), u16_at(at + 2)) {
        let len = usize::from(len);
        if len < 4 {
            break;
        }
        if kind & 0x3fff == NFTA_GEN_ID {
            if let Some(b) = msg.get(at + 4..at + 8) {
                return Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            }
        }
        at += (len + 3) & !3;
    }
    Err(Error::msg("the reply carries no NFTA_GEN_ID"))
}

/// Sysctls left out of the comparison. Measured: two reads of all 479
/// `net.ipv4.*`/`net.core.*` sysctls 2 s apart (and around a lab with
/// fault rules) differ nowhere; these two are left out on principle.
pub const VOLATILE_SYSCTLS: &[&str] = &[
    // All zeros until the first multi-queue driver asks for a key; then
    // the kernel fills it with random bytes, whoever runs.
    "net.core.netdev_rss_key",
    // A write-only trigger (mode 0200): there is no value to read.
    "net.ipv4.route.flush",
];

/// The per-interface `net.ipv4.conf.*` sysctls: most of them, read on a
/// thread of their own.
const CONF: &str = "/proc/sys/net/ipv4/conf";

/// Every readable sysctl under `dir` (but [`CONF`], unless `dir` is it),
/// as `sysctl net.ipv4.x = value` lines.
fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let (Ok(dir_fd), Ok(entries)) = (std::fs::File::open(dir), std::fs::read_dir(dir)) else {
        return;
    };
    // One read each: a sysctl's value is far shorter (the longest here,
    // netdev_rss_key, is left out). Files are opened relative to their
    // directory: a third less time than a path walk each (measured).
    let mut buf = [0u8; 4096];
    for entry in entries.flatten() {
        let path = entry.path();
        // The directory entry's type: no stat per file.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if path != std::path::Path::new(CONF) {
                walk(&path, out);
            }
            continue;
        }
        let name = path
            .strip_prefix("/proc/sys")
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('/', ".");
        if VOLATILE_SYSCTLS.contains(&name.as_str()) {
            continue;
        }
        let Ok(file) = std::ffi::CString::new(entry.file_name().as_encoded_bytes()) else {
            continue;
        };
        // SAFETY: openat(2) on a directory fd we hold and a NUL-terminated
        // name; the fd it returns is owned right away.
        let fd = unsafe {
            libc::openat(
                dir_fd.as_raw_fd(),
                file.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            continue;
        }
        // SAFETY: a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let Ok(n) = nix::unistd::read(&fd, &mut buf) else {
            continue;
        };
        out.push(format!(
            "sysctl {name} = {}",
            String::from_utf8_lossy(&buf[..n])
                .trim_end()
                .replace('\n', " ")
        ));
    }
}

/// What differs between two snapshots, as `-`/`+` lines; empty if nothing.
pub fn diff(before: &[String], after: &[String]) -> Vec<String> {
    use std::collections::BTreeSet;
    let (b, a): (BTreeSet<&String>, BTreeSet<&String>) =
        (before.iter().collect(), after.iter().collect());
    let gone = b.difference(&a).map(|l| format!("- {l}"));
    let new = a.difference(&b).map(|l| format!("+ {l}"));
    gone.chain(new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Action, Direction, Faults, Rule};
    use crate::lab::{Lab, Side};

    /// Both halves, as the runner compares them.
    fn snapshot() -> Result<Vec<String>> {
        let mut lines = links()?;
        lines.extend(sysctls());
        Ok(lines)
    }

    #[test]
    fn a_lab_with_fault_rules_and_sysctls_leaves_the_host_snapshot_identical() {
        assert!(nix::unistd::geteuid().is_root(), "needs root");
        let before = snapshot().unwrap();
        assert!(
            before.iter().any(|l| l.starts_with("qdisc ")),
            "no qdisc read"
        );
        assert!(
            before
                .iter()
                .any(|l| l.starts_with("sysctl net.ipv4.tcp_rfc1337 = ")),
            "no sysctl read"
        );
        if std::path::Path::new(NFT).exists() {
            assert!(
                before
                    .iter()
                    .any(|l| l.starts_with("nftables ruleset generation ")),
                "no nftables generation read"
            );
        }
        {
            let lab = Lab::new("hostnet-faults").unwrap();
            let mut faults = Faults::new();
            for direction in [Direction::TO_SERVER, Direction::TO_CLIENT] {
                let rule = Rule {
                    direction,
                    flags: "SYN".parse().unwrap(),
                    which: "every".parse().unwrap(),
                    action: Action::Drop,
                    origin: format!("{}:{}", file!(), line!()),
                };
                faults.add(&lab, rule).unwrap();
            }
            crate::sysctl::write(lab.netns(Side::Client), "net.ipv4.tcp_rfc1337", "1").unwrap();
            crate::sysctl::write(lab.netns(Side::Server), "net.core.somaxconn", "7").unwrap();
        }
        let after = snapshot().unwrap();
        assert_eq!(diff(&before, &after), Vec::<String>::new());
    }
}

#[cfg(test)]
mod generation_tests {
    use super::*;

    /// A change of the ruleset in a namespace moves that namespace's
    /// generation: the number the snapshot compares is the one nft sees.
    #[test]
    fn a_ruleset_change_moves_the_generation_that_nft_reports() {
        if !std::path::Path::new(NFT).exists() {
            eprintln!("skipped: no {NFT}");
            return;
        }
        let lab = crate::lab::Lab::new("hostnet-generation").unwrap();
        let ns = lab.netns(crate::lab::Side::Client);
        let before = ns.run("generation", nft_generation).unwrap();
        let path = ns.path().to_path_buf();
        let out = std::process::Command::new("/usr/bin/nsenter")
            .arg(format!("--net={}", path.display()))
            .args([NFT, "add", "table", "inet", "generation_test"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let after = ns.run("generation", nft_generation).unwrap();
        assert_ne!(before, after);
        let listed = std::process::Command::new("/usr/bin/nsenter")
            .arg(format!("--net={}", path.display()))
            .args([NFT, "list", "ruleset"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&listed.stdout).contains("generation_test"));
    }

    #[test]
    fn diff_names_what_went_and_what_came() {
        let a = ["x".to_string(), "y".to_string()];
        let b = ["y".to_string(), "z".to_string()];
        assert_eq!(diff(&a, &b), ["- x", "+ z"]);
        assert!(diff(&a, &a).is_empty());
    }
}
