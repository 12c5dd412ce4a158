//! A read-only picture of the host's own network namespace (links,
//! addresses, routes), taken before and after a run to prove the run left
//! it exactly as it was. Read over rtnetlink from the calling thread, which
//! must be in the host namespace (the runner's main thread is).

use std::net::{Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::RouteAttribute;
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
        Ok::<_, Error>(lines)
    })?;
    lines.sort();
    Ok(lines)
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
