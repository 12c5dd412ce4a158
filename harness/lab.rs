//! The two hosts and the cable: a `client` and a `server` network namespace
//! joined by one veth pair, configured over rtnetlink from threads that live
//! inside each namespace, so nothing is ever created in the host's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Once, OnceLock};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressHeaderFlags;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkMessage};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::error::{Error, Malformed, Result};
use crate::netns::{self, Netns};
use crate::owner::{self, Probe};
use crate::sockets::Family;
use crate::steering;

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

    /// The IPv6 addresses mirror the seed's: `2001:db8:2::105` and
    /// `2001:db8:2::100` on `2001:db8:2::/64`, in the documentation prefix
    /// (RFC 3849), so `.105` and `::105` name the same host in either
    /// family.
    pub fn addr6(self) -> Ipv6Addr {
        match self {
            Side::Client => Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x105),
            Side::Server => Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x100),
        }
    }

    /// This side's address in `family`: every lab has both.
    pub fn ip(self, family: Family) -> IpAddr {
        match family {
            Family::Ipv4 => IpAddr::V4(self.addr()),
            Family::Ipv6 => IpAddr::V6(self.addr6()),
        }
    }

    /// Which side owns `ip` (in either family), if either.
    pub fn of(ip: IpAddr) -> Option<Side> {
        let family = match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        };
        Side::ALL.into_iter().find(|s| s.ip(family) == ip)
    }
}

/// The IPv4 prefix length: 192.168.2.0/24.
pub const PREFIX_LEN: u8 = 24;
/// The IPv6 prefix length: 2001:db8:2::/64.
pub const PREFIX_LEN6: u8 = 64;

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

impl FromStr for Side {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Side, Malformed> {
        match s {
            "client" => Ok(Side::Client),
            "server" => Ok(Side::Server),
            _ => Err(Malformed::new(
                format!("unknown host `{s}` (the lab has `client` and `server`)"),
                "",
            )),
        }
    }
}

/// Every name we create starts with this, then the owner's token (its pid,
/// see [`crate::owner`]): a sweep can tell our leftovers from other
/// people's namespaces and from live runs.
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
    /// Builds the pair for `case`: [`Lab::create`], then
    /// [`Lab::configure`].
    pub fn new(case: &str) -> Result<Lab> {
        let lab = Lab::create(case)?;
        lab.configure()?;
        Ok(lab)
    }

    /// The two namespaces (made at once, each on its own thread) and the
    /// veth between them, its links still down and without addresses: a
    /// capture can open on the server's end while [`Lab::configure`] runs.
    /// The first lab of a process takes the run's owner token and first
    /// sweeps what dead runs of ours left behind, including names a dead
    /// earlier holder of the same token left.
    pub fn create(case: &str) -> Result<Lab> {
        let owner = first_sweep()?;
        let stem = format!(
            "{NAME_PREFIX}{}-{}-{}",
            owner.token(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            sanitize(case)
        );
        let (client, server) = std::thread::scope(|s| {
            let server = s.spawn(|| Netns::create(&format!("{stem}-server")));
            let client = Netns::create(&format!("{stem}-client"));
            let server = server
                .join()
                .unwrap_or_else(|_| Err(Error::msg("namespace thread panicked")));
            (client, server)
        });
        let lab = Lab {
            client: client?,
            server: server?,
        };
        lab.veth().map_err(|e| e.context(format!("lab {stem}")))?;
        Ok(lab)
    }

    pub fn netns(&self, side: Side) -> &Netns {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Creates the veth from inside the client namespace with its peer's
    /// target namespace set, so each end is born where it lives.
    fn veth(&self) -> Result<()> {
        let server_fd: RawFd = self.server.fd().as_raw_fd();
        let client_name = self.client.name().to_string();
        self.client.run("create the veth", move || {
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
                })
            })
        })
    }

    /// Addresses and links up, on both sides at once; each end's receive
    /// queue steers a flow to one CPU ([`crate::steering`]), so a direction
    /// of a connection keeps its order across the veth.
    pub fn configure(&self) -> Result<()> {
        let mask = online_mask()?;
        let side = |side: Side| {
            let ns = self.netns(side);
            let name = ns.name().to_string();
            steering::keep_flows_in_order(ns, side.iface(), mask.clone())?;
            ns.run("configure", move || {
                rtnl(&name, move |handle| async move {
                    configure(&handle, side).await
                })
            })
        };
        let (client, server) = std::thread::scope(|s| {
            let server = s.spawn(|| side(Side::Server));
            (side(Side::Client), server.join())
        });
        client?;
        server.unwrap_or_else(|_| Err(Error::msg("configuration thread panicked")))
    }
}

/// The online CPUs' mask, read once a process.
fn online_mask() -> Result<String> {
    static MASK: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    MASK.get_or_init(|| steering::online_mask().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::msg)
}

/// The run's owner token; the first call of a process also sweeps what
/// dead runs of ours left (once: a sweep mid-run could take names a test
/// of the sweep itself has just left for its own).
fn first_sweep() -> Result<&'static owner::Owner> {
    let owner = owner::this_run()?;
    SWEEP.call_once(|| {
        remove_all_of(NAME_PREFIX, owner.token());
        sweep_stale();
    });
    Ok(owner)
}

/// Both namespaces go with one look through /proc for what still runs in
/// them.
impl Drop for Lab {
    fn drop(&mut self) {
        netns::remove_together(&mut [&mut self.client, &mut self.server]);
    }
}

/// Runs an rtnetlink conversation on the current thread; its socket opens in
/// the thread's namespace.
pub(crate) fn rtnl<T, F, Fut>(ns: &str, f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
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

/// The link called `name`, as the kernel reports it now.
async fn link(handle: &Handle, name: &str) -> Result<LinkMessage> {
    handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .map_err(|e| Error::netlink(format!("look up link {name}"), e))?
        .ok_or_else(|| Error::msg(format!("link {name} not found")))
}

async fn index_of(handle: &Handle, name: &str) -> Result<u32> {
    Ok(link(handle, name).await?.header.index)
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
    // IFA_F_NODAD: without it the address is "tentative" while duplicate
    // address detection runs (a second or more after the link comes up),
    // and a connect from it fails with EADDRNOTAVAIL or waits; only this
    // lab's two hosts are on the link, so there is nothing to detect.
    let mut add6 = handle
        .address()
        .add(index, IpAddr::V6(side.addr6()), PREFIX_LEN6);
    add6.message_mut().header.flags = AddressHeaderFlags::Nodad;
    add6.execute().await.map_err(|e| {
        Error::netlink(
            format!("add {}/{PREFIX_LEN6} nodad to {iface}", side.addr6()),
            e,
        )
    })?;
    up(handle, "lo").await?;
    up(handle, iface).await?;
    operational(handle, iface).await?;
    solicited(iface, side.addr6()).await
}

/// Waits until `iface` has joined `addr`'s solicited-node multicast group
/// (ff02::1:ffXX:XXXX, RFC 4291), read from /proc/thread-self/net/igmp6 of
/// the calling thread's namespace. Until then the kernel drops a neighbor
/// solicitation for `addr` unanswered, and the peer asks again only 1 s
/// later. The join is the address's DAD work, run from a workqueue that
/// takes the rtnl lock, so it may come after the address and links are up:
/// an IPv6 connect right after `Lab::new` waited 1 s in 12 of 300 tries
/// with four labs made at a time, every one of them before the join (0 of
/// the 284 made after it).
async fn solicited(iface: &str, addr: Ipv6Addr) -> Result<()> {
    let [.., a, b, c] = addr.octets();
    let group = format!("ff0200000000000000000001ff{a:02x}{b:02x}{c:02x}");
    let joined = || -> Result<bool> {
        let path = "/proc/thread-self/net/igmp6";
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io(format!("read {path}"), e))?;
        // `2 veth-s ff0200000000000000000001ff000100 1 00000004 0`
        Ok(text.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.get(1) == Some(&iface) && w.get(2) == Some(&group.as_str())
        }))
    };
    poll_kernel(
        &format!("{iface} has not joined {addr}'s solicited-node group {group}"),
        || {
            let seen = joined();
            async move { Ok((!seen?).then(String::new)) }
        },
    )
    .await
}

/// Waits until the kernel has taken `name` (a veth end) into service. The
/// end brought up first gets its carrier when the other comes up, but
/// sends through the `noop` qdisc, which drops everything, until the
/// kernel's link-watch work activates its real one; that work takes the
/// rtnl lock, which other labs' set-ups and teardowns hold. A SYN sent
/// meanwhile was lost and sent again 1 s later: 8 of 600 connects right
/// after `Lab::new` with four labs made at a time, 0 of 2000 with this
/// wait. The work sets the operational state to up just before it
/// activates the qdisc.
async fn operational(handle: &Handle, name: &str) -> Result<()> {
    use netlink_packet_route::link::{LinkAttribute, State};
    poll_kernel(
        &format!("link {name} up but not operational"),
        || async move {
            let state = link(handle, name)
                .await?
                .attributes
                .into_iter()
                .find_map(|a| match a {
                    LinkAttribute::OperState(s) => Some(s),
                    _ => None,
                });
            Ok((state != Some(State::Up)).then(|| format!(" (operstate {state:?})")))
        },
    )
    .await
}

/// Asks `seen` from 100 µs apart, doubling up to 5 ms, until it answers
/// `None` (ready) or 5 s have passed: the kernel announces neither the
/// link-watch work nor a group join, so the wait asks often at first.
/// What `seen` answers when not ready ends the timeout's message.
async fn poll_kernel<F, Fut>(what: &str, mut seen: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_micros(100);
    loop {
        let Some(state) = seen().await? else {
            return Ok(());
        };
        if started.elapsed() > std::time::Duration::from_secs(5) {
            return Err(Error::msg(format!("{what} after 5 s{state}")));
        }
        tokio::time::sleep(pause).await; // poll interval of this wait
        pause = (pause * 2).min(std::time::Duration::from_millis(5));
    }
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

/// The owner token a name starting with `prefix` carries, if any.
pub fn token_of<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    name.strip_prefix(prefix)?
        .split('-')
        .next()
        .filter(|t| !t.is_empty())
}

fn alive(pid: i32) -> bool {
    // EPERM still means "exists".
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Removes the names `PREFIX TOKEN-...` (and what runs in them); returns
/// those removed.
fn remove_all_of(prefix: &str, token: &str) -> Vec<String> {
    netns::list()
        .into_iter()
        .filter(|n| token_of(prefix, n) == Some(token))
        .filter(|n| netns::remove(&std::path::Path::new(netns::NETNS_DIR).join(n)).is_ok())
        .collect()
}

/// Removes namespaces of ours whose owner is dead (a run killed with
/// SIGKILL): kills their processes, then deletes them. Names that are not
/// ours, and names of live owners, are never touched. Returns what it swept.
pub fn sweep_stale() -> Vec<String> {
    sweep_stale_prefixed(NAME_PREFIX)
}

/// [`sweep_stale`] for names `PREFIX TOKEN-...`: an owner is dead when its
/// token's lock is free ([`crate::owner`]); a token without a lock file
/// (tcplab before locks) is judged by its pid, as then. Lock files left
/// without names are removed too.
pub fn sweep_stale_prefixed(prefix: &str) -> Vec<String> {
    let mut tokens: Vec<String> = netns::list()
        .iter()
        .filter_map(|n| token_of(prefix, n).map(String::from))
        .collect();
    tokens.sort();
    tokens.dedup();
    let mut swept = Vec::new();
    for token in &tokens {
        match owner::probe(token) {
            Probe::Held => {}
            Probe::NoLock => {
                if owner::pid_of(token).is_some_and(|pid| !alive(pid)) {
                    swept.extend(remove_all_of(prefix, token));
                }
            }
            Probe::Dead(claim) => {
                swept.extend(remove_all_of(prefix, token));
                if !netns::list()
                    .iter()
                    .any(|n| token_of(prefix, n) == Some(token))
                {
                    claim.finish();
                }
            }
        }
    }
    for token in owner::tokens() {
        if tokens.contains(&token) {
            continue;
        }
        if let Probe::Dead(claim) = owner::probe(&token) {
            // Another prefix may still hold names of this token.
            if !netns::list()
                .iter()
                .any(|n| n.contains(&format!("{token}-")))
            {
                claim.finish();
            }
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::Owner;

    fn name(token: &str, what: &str) -> String {
        format!("{NAME_PREFIX}{token}-0-labtest-{what}")
    }

    fn exists(name: &str) -> bool {
        netns::list().iter().any(|n| n == name)
    }

    /// DAD would leave the address tentative for a second after the link
    /// comes up: a connect then fails (EADDRNOTAVAIL) or its SYN waits.
    #[test]
    fn an_ipv6_connect_right_after_the_lab_is_up_is_answered_at_once() {
        use std::net::{SocketAddr, TcpListener, TcpStream};
        let lab = Lab::new("ipv6-at-once").unwrap();
        let server = SocketAddr::new(IpAddr::V6(Side::Server.addr6()), 11111);
        let listener = lab
            .netns(Side::Server)
            .run("listen", move || {
                TcpListener::bind(server).map_err(|e| Error::io("bind", e))
            })
            .unwrap();
        let started = std::time::Instant::now();
        let local = lab
            .netns(Side::Client)
            .run("connect", move || {
                let c = TcpStream::connect_timeout(&server, std::time::Duration::from_millis(900))
                    .map_err(|e| Error::io(format!("connect to {server}"), e))?;
                c.local_addr().map_err(|e| Error::io("local address", e))
            })
            .unwrap();
        // A lost SYN is sent again after 1 s; within 900 ms it was the first.
        assert!(started.elapsed() < std::time::Duration::from_millis(900));
        assert_eq!(local.ip(), IpAddr::V6(Side::Client.addr6()));
        drop(listener);
    }

    #[test]
    fn each_address_names_its_side_in_either_family() {
        for side in Side::ALL {
            assert_eq!(Side::of(side.ip(Family::Ipv4)), Some(side));
            assert_eq!(Side::of(side.ip(Family::Ipv6)), Some(side));
        }
        assert_eq!(Side::Client.addr6().to_string(), "2001:db8:2::105");
        assert_eq!(Side::Server.addr6().to_string(), "2001:db8:2::100");
        assert_eq!(Side::of("2001:db8:2::1".parse().unwrap()), None);
        assert_eq!(Side::of("::ffff:192.168.2.100".parse().unwrap()), None);
    }

    #[test]
    fn token_of_reads_pid_and_numbered_tokens_and_nothing_else() {
        assert_eq!(token_of(NAME_PREFIX, "tcplab-42-0-x-client"), Some("42"));
        assert_eq!(
            token_of(NAME_PREFIX, "tcplab-42.3-7-x-server"),
            Some("42.3")
        );
        assert_eq!(token_of(NAME_PREFIX, "tcplab--0-x"), None);
        assert_eq!(token_of(NAME_PREFIX, "other-42-0-x"), None);
    }

    #[test]
    fn sweep_removes_a_dead_owners_names_and_lock_and_keeps_a_live_owners() {
        let _one = crate::owner::one_token_test();
        // The process's first sweep (another test's first lab) must not
        // take the dead owner's name before this test's sweep does: done
        // here first, it is never done again.
        first_sweep().unwrap();
        let live = Owner::take().unwrap();
        let dead = Owner::take().unwrap();
        let keep = Netns::create(&name(live.token(), "live")).unwrap();
        let gone = Netns::create(&name(dead.token(), "dead")).unwrap();
        let dead_name = gone.name().to_string();
        let dead_token = dead.token().to_string();
        // A killed run: its name stays, its lock is released.
        std::mem::forget(gone);
        drop(dead);
        // The dead owner's lock is free once no process holds its file: a
        // child another test's thread forks holds a copy until its exec
        // (CLOEXEC), long enough in a TCG guest (ci/kernels) for a sweep
        // to find the lock held: swept again until the name is gone, 5 s
        // at most. Another suite running at the same time may sweep the
        // dead name first (any run's sweep takes a dead owner's names):
        // what must hold is that it is gone after ours, and the live one
        // is not.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut swept = sweep_stale();
        while exists(&dead_name) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20)); // poll interval of this wait
            swept = sweep_stale();
        }
        assert!(!exists(&dead_name), "{dead_name} left; swept {swept:?}");
        assert!(exists(keep.name()));
        assert!(matches!(owner::probe(&dead_token), Probe::NoLock));
    }

    /// Run by the next test inside a new pid namespace: one sweep, as the
    /// first lab of a run there would do.
    #[test]
    #[ignore = "run by sweep_in_another_pid_namespace_leaves_a_live_owner_alone"]
    fn sweep_once_in_this_pid_namespace() {
        if std::env::var_os("TCPLAB_TEST_SWEEP_ONCE").is_some() {
            println!("swept: {:?}", sweep_stale());
        }
    }

    /// A container's run cannot see this process's pid; it must still see
    /// that this run lives.
    #[test]
    fn sweep_in_another_pid_namespace_leaves_a_live_owner_alone() {
        let _one = crate::owner::one_token_test();
        let live = Owner::take().unwrap();
        let keep = Netns::create(&name(live.token(), "pidns")).unwrap();
        let out = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "--ignored", "--nocapture"])
            .arg("lab::tests::sweep_once_in_this_pid_namespace")
            .env("TCPLAB_TEST_SWEEP_ONCE", "1")
            .output()
            .expect("unshare (util-linux)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("swept: "),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            exists(keep.name()),
            "the sweep in a pid namespace removed it: {stdout}"
        );
    }
}
