//! A read-only picture of the host's own network namespace (links,
//! addresses, routes, qdiscs, the nftables ruleset and the `net.ipv4.*` /
//! `net.core.*` sysctls), taken before and after a run to prove the run
//! left it exactly as it was. Read over rtnetlink and /proc/sys from the
//! calling thread, which must be in the host namespace (the runner's main
//! thread is); the ruleset as `nft list ruleset` prints it, where nft is
//! installed.

use std::net::{Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::RouteAttribute;
use netlink_packet_route::tc::TcAttribute;
use rtnetlink::RouteMessageBuilder;

use crate::error::{Error, Result};

/// One line per link, address and route, sorted: stable while nothing
/// changes (counters and timers are left out).
pub fn snapshot() -> Result<Vec<String>> {
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
        let mut qdiscs = handle.qdisc().get().execute();
        while let Some(q) = qdiscs
            .try_next()
            .await
            .map_err(|e| Error::netlink("dump host qdiscs", e))?
        {
            // Kind and options only: statistics change with every packet.
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
        Ok::<_, Error>(lines)
    })?;
    lines.extend(ruleset()?);
    lines.extend(sysctls());
    lines.sort();
    Ok(lines)
}

/// Where nftables' command lives on Debian; called by path because sudo's
/// secure_path may lack /usr/sbin.
pub const NFT: &str = "/usr/sbin/nft";

/// `nft list ruleset`, one `nft` line per line; nothing if nft is not
/// installed (a host without nft has no ruleset we could change by
/// mistake through it; the fault rules are built over netlink).
fn ruleset() -> Result<Vec<String>> {
    if !std::path::Path::new(NFT).exists() {
        return Ok(Vec::new());
    }
    let out = std::process::Command::new(NFT)
        .args(["list", "ruleset"])
        .output()
        .map_err(|e| Error::io(format!("run {NFT} list ruleset"), e))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "{NFT} list ruleset failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // Keep the order (it is the ruleset's structure) in a sortable form.
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .enumerate()
        .map(|(i, l)| format!("nft {i:05} {l}"))
        .collect())
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

/// Every readable `net.ipv4.*` and `net.core.*` sysctl of the calling
/// thread's namespace, as `sysctl net.ipv4.x = value` lines.
fn sysctls() -> Vec<String> {
    let mut lines = Vec::new();
    for top in ["ipv4", "core"] {
        walk(&std::path::Path::new("/proc/sys/net").join(top), &mut lines);
    }
    lines
}

fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
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
        if let Ok(value) = std::fs::read_to_string(&path) {
            out.push(format!(
                "sysctl {name} = {}",
                value.trim_end().replace('\n', " ")
            ));
        }
    }
}

/// What differs between two snapshots, as `-`/`+` lines; empty if nothing.
pub fn diff(before: &[String], after: &[String]) -> Vec<String> {
    let gone = before
        .iter()
        .filter(|l| !after.contains(l))
        .map(|l| format!("- {l}"));
    let new = after
        .iter()
        .filter(|l| !before.contains(l))
        .map(|l| format!("+ {l}"));
    gone.chain(new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Action, Direction, Faults, Rule};
    use crate::lab::{Lab, Side};

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
            // An empty ruleset prints nothing: that is still a reading.
            ruleset().unwrap();
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
