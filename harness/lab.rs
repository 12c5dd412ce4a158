//! The two hosts and the cable: a `client` and a `server` network namespace
//! joined by one veth pair, configured over rtnetlink from threads that live
//! inside each namespace, so nothing is ever created in the host's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::error::{Error, Result};
use crate::netns::{self, Netns};

/// One of the lab's two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub const ALL: [Side; 2] = [Side::Client, Side::Server];

    /// The seed's addresses: client .105, server .100, on 192.168.2.0/24.
    pub fn addr(self) -> Ipv4Addr {
        match self {
            Side::Client => Ipv4Addr::new(192, 168, 2, 105),
            Side::Server => Ipv4Addr::new(192, 168, 2, 100),
        }
    }

    /// The veth end inside this side's namespace.
    pub fn iface(self) -> &'static str {
        match self {
            Side::Client => "veth-c",
            Side::Server => "veth-s",
        }
    }

    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    /// Which side owns `ip`, if either.
    pub fn of(ip: IpAddr) -> Option<Side> {
        Side::ALL.into_iter().find(|s| IpAddr::V4(s.addr()) == ip)
    }
}

pub const PREFIX_LEN: u8 = 24;

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

impl FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Side, String> {
        match s {
            "client" => Ok(Side::Client),
            "server" => Ok(Side::Server),
            _ => Err(format!(
                "unknown host `{s}` (the lab has `client` and `server`)"
            )),
        }
    }
}

/// Every name we create starts with this, then the owner's pid: a sweep can
/// tell our leftovers from other people's namespaces and from live runs.
pub const NAME_PREFIX: &str = "tcplab-";

static SEQ: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A case's pair of namespaces. Dropping it kills what runs inside and
/// deletes both namespaces (the veth goes with them).
#[derive(Debug)]
pub struct Lab {
    client: Netns,
    server: Netns,
}

impl Lab {
    /// Builds the pair for `case`. The first lab of a process first sweeps
    /// what dead runs of ours left behind.
    pub fn new(case: &str) -> Result<Lab> {
        SWEEP.call_once(|| {
            sweep_stale();
        });
        let stem = format!(
            "{NAME_PREFIX}{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            sanitize(case)
        );
        let client = Netns::create(&format!("{stem}-client"))?;
        let server = Netns::create(&format!("{stem}-server"))?;
        let lab = Lab { client, server };
        lab.wire().map_err(|e| e.context(format!("lab {stem}")))?;
        Ok(lab)
    }

    pub fn netns(&self, side: Side) -> &Netns {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Creates the veth from inside the client namespace with its peer's
    /// target namespace set, so each end is born where it lives; then
    /// addresses and links up on each side.
    fn wire(&self) -> Result<()> {
        let server_fd: RawFd = self.server.fd().as_raw_fd();
        let client_name = self.client.name().to_string();
        self.client.run("configure client", move || {
            rtnl(&client_name, move |handle| async move {
                let peer = LinkUnspec::new_with_name(Side::Server.iface())
                    .setns_by_fd(server_fd)
                    .build();
                let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                    .name(Side::Client.iface().to_string())
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                    .build();
                handle.link().add(veth).execute().await.map_err(|e| {
                    Error::netlink(
                        format!(
                            "create veth {} (peer {})",
                            Side::Client.iface(),
                            Side::Server.iface()
                        ),
                        e,
                    )
                })?;
                configure(&handle, Side::Client).await
            })
        })?;
        let server_name = self.server.name().to_string();
        self.server.run("configure server", move || {
            rtnl(&server_name, |handle| async move {
                configure(&handle, Side::Server).await
            })
        })
    }
}

/// Runs an rtnetlink conversation on the current thread; its socket opens in
/// the thread's namespace.
fn rtnl<F, Fut>(ns: &str, f: F) -> Result<()>
where
    F: FnOnce(Handle) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::io("start tokio runtime", e))?;
    rt.block_on(async {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| Error::io("open NETLINK_ROUTE socket", e))?;
        tokio::spawn(conn);
        f(handle).await
    })
    .map_err(|e| e.context(format!("netns {ns}")))
}

async fn index_of(handle: &Handle, name: &str) -> Result<u32> {
    let link = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .map_err(|e| Error::netlink(format!("look up link {name}"), e))?
        .ok_or_else(|| Error::msg(format!("link {name} not found")))?;
    Ok(link.header.index)
}

async fn up(handle: &Handle, name: &str) -> Result<()> {
    let index = index_of(handle, name).await?;
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("set link {name} up"), e))
}

async fn configure(handle: &Handle, side: Side) -> Result<()> {
    let iface = side.iface();
    let index = index_of(handle, iface).await?;
    handle
        .address()
        .add(index, IpAddr::V4(side.addr()), PREFIX_LEN)
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("add {}/{PREFIX_LEN} to {iface}", side.addr()), e))?;
    up(handle, "lo").await?;
    up(handle, iface).await
}

fn sanitize(case: &str) -> String {
    let s: String = case
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    if s.is_empty() {
        "case".into()
    } else {
        s
    }
}

/// The pid a name of ours carries, if it is one of ours.
pub fn owner_of(name: &str) -> Option<i32> {
    name.strip_prefix(NAME_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    // EPERM still means "exists".
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Removes namespaces of ours whose owner is dead (a run killed with
/// SIGKILL): kills their processes, then deletes them. Names that are not
/// ours, and names of live owners, are never touched. Returns what it swept.
pub fn sweep_stale() -> Vec<String> {
    let mut swept = Vec::new();
    for name in netns::list() {
        let Some(pid) = owner_of(&name) else { continue };
        if pid as u32 == std::process::id() || alive(pid) {
            continue;
        }
        if netns::remove(&std::path::Path::new(netns::NETNS_DIR).join(&name)).is_ok() {
            swept.push(name);
        }
    }
    swept
}
