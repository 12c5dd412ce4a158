//! Putting a frame on HOST's own veth end, from inside HOST's namespace.
//!
//! Everything that touches a link runs on a thread that [`Netns::run`] has
//! moved into one of the lab's namespaces, and checks there, before it
//! sends, that it is where it means to be:
//!
//! 1. the thread's `/proc/thread-self/ns/net` is the lab's namespace (same
//!    nsfs device and inode as `/run/netns/NAME`), not the host's;
//! 2. the interface named [`Side::iface`] exists there and is a veth
//!    (`IFLA_INFO_KIND` "veth", read over rtnetlink);
//! 3. the frame's source MAC is that veth's own address and its IPv4 or
//!    IPv6 source is HOST's address (the frame speaks for HOST and nobody
//!    else).
//!
//! Only then is an `AF_PACKET` socket opened (protocol 0: it receives
//! nothing), bound to the veth's ifindex, and the frame sent with
//! `sendto`. The socket is closed before the thread ends: no handle that
//! could send elsewhere ever leaves this module.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo};

use super::frame::{mac_string, Macs};
use crate::error::{Error, Result};
use crate::lab::{Lab, Side};
use crate::netns::Netns;

/// One veth end, as the kernel describes it inside its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethEnd {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
}

/// What [`send`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Wall-clock time the frame was built for, just before `sendto`
    /// (since the Unix epoch, like libpcap's timestamps).
    pub at: Duration,
    pub iface: VethEnd,
    pub bytes: usize,
}

/// The hardware addresses a frame from `side` carries: its own veth end's
/// and the peer's, each read inside its own namespace (/sys/class/net
/// would show the reader's namespace, not the lab's).
pub fn macs(lab: &Lab, side: Side) -> Result<Macs> {
    let src = veth_end(lab, side)?;
    let dst = veth_end(lab, side.peer())?;
    Ok(Macs {
        src: src.mac,
        dst: dst.mac,
    })
}

/// `side`'s veth end, looked up (and checked to be a veth) inside its namespace.
pub fn veth_end(lab: &Lab, side: Side) -> Result<VethEnd> {
    let ns = lab.netns(side);
    let (dev, ino) = ns_id(ns)?;
    let name = ns.name().to_string();
    ns.run("look up veth", move || {
        in_namespace(&name, dev, ino)?;
        lookup(&name, side.iface())
    })
}

/// Sends `frame` on `side`'s veth end from inside `side`'s namespace,
/// after the checks in the module docs. The frame reaches the peer as if
/// `side`'s kernel had sent it; `side`'s own stack never sees it.
pub fn send(lab: &Lab, side: Side, frame: &[u8]) -> Result<Sent> {
    let frame = frame.to_vec();
    send_built(lab, side, move |_| Ok((frame, ()))).map(|(sent, ())| sent)
}

/// Like [`send`], with the frame built by `make` inside the namespace's
/// thread, after the checks, at the wall-clock time it is given (since the
/// epoch): so a TSval computed from it is the one of the moment of sending,
/// not of before the namespace lookups (a few ms). `make`'s own result
/// comes back with [`Sent`]; its error is returned as is and nothing is sent.
pub fn send_built<T, F>(lab: &Lab, side: Side, make: F) -> Result<(Sent, T)>
where
    T: Send + 'static,
    F: FnOnce(Duration) -> Result<(Vec<u8>, T)> + Send + 'static,
{
    let ns = lab.netns(side);
    let (dev, ino) = ns_id(ns)?;
    let name = ns.name().to_string();
    ns.run("inject a segment", move || {
        in_namespace(&name, dev, ino)?;
        let end = lookup(&name, side.iface())?;
        let at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let (frame, made) = make(at)?;
        claims(&frame, &end, side).map_err(|m| Error::msg(format!("netns {name}: {m}")))?;
        let bytes = transmit(&frame, &end).map_err(|e| e.context(format!("netns {name}")))?;
        Ok((
            Sent {
                at,
                iface: end,
                bytes,
            },
            made,
        ))
    })
}

/// nsfs device and inode of the namespace's name: what the thread's own
/// namespace must be.
pub(super) fn ns_id(ns: &Netns) -> Result<(u64, u64)> {
    let m = std::fs::metadata(ns.path())
        .map_err(|e| Error::io(format!("stat {}", ns.path().display()), e))?;
    Ok((m.dev(), m.ino()))
}

pub(super) fn in_namespace(name: &str, dev: u64, ino: u64) -> Result<()> {
    let m = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| Error::io("stat /proc/thread-self/ns/net", e))?;
    if (m.dev(), m.ino()) != (dev, ino) {
        return Err(Error::msg(format!(
            "refusing to inject: this thread is in net namespace {}:{}, not in netns {name} ({dev}:{ino})",
            m.dev(),
            m.ino()
        )));
    }
    Ok(())
}

/// The link named `iface` in the calling thread's namespace; an error
/// unless it is a veth with an Ethernet address.
fn lookup(ns: &str, iface: &str) -> Result<VethEnd> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::io("start tokio runtime", e))?;
    let msg = rt.block_on(async {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| Error::io("open NETLINK_ROUTE socket", e))?;
        tokio::spawn(conn);
        handle
            .link()
            .get()
            .match_name(iface.to_string())
            .execute()
            .try_next()
            .await
            .map_err(|e| Error::netlink(format!("netns {ns}: look up link {iface}"), e))?
            .ok_or_else(|| Error::msg(format!("netns {ns}: no link {iface}")))
    })?;
    let mut is_veth = false;
    let mut mac = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::LinkInfo(infos) => {
                is_veth |= infos
                    .iter()
                    .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth)));
            }
            LinkAttribute::Address(a) => mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            _ => {}
        }
    }
    if !is_veth {
        return Err(Error::msg(format!(
            "refusing to inject: {iface} in netns {ns} is not a veth"
        )));
    }
    let mac = mac.ok_or_else(|| {
        Error::msg(format!(
            "netns {ns}: {iface} has no 6-byte hardware address"
        ))
    })?;
    Ok(VethEnd {
        name: iface.to_string(),
        index: msg.header.index,
        mac,
    })
}

/// The frame's IP source address, if it is an Ethernet II frame of IPv4
/// or IPv6.
fn source_ip(frame: &[u8]) -> Option<std::net::IpAddr> {
    match frame.get(12..14)? {
        [0x08, 0x00] => {
            let a: [u8; 4] = frame.get(26..30)?.try_into().ok()?;
            (frame.len() >= 14 + 20).then_some(a.into())
        }
        [0x86, 0xdd] => {
            let a: [u8; 16] = frame.get(22..38)?.try_into().ok()?;
            (frame.len() >= 14 + 40).then_some(a.into())
        }
        _ => None,
    }
}

/// The frame must be HOST's own: Ethernet source = its veth, IP source =
/// its address (in the frame's family).
fn claims(frame: &[u8], end: &VethEnd, side: Side) -> std::result::Result<(), String> {
    let Some(src_ip) = source_ip(frame) else {
        return Err(format!(
            "refusing to inject: not an Ethernet II IPv4 or IPv6 frame ({} bytes)",
            frame.len()
        ));
    };
    let src_mac: [u8; 6] = frame[6..12].try_into().expect("6 bytes");
    if src_mac != end.mac {
        return Err(format!(
            "refusing to inject: source MAC {} is not {}'s ({})",
            mac_string(&src_mac),
            end.name,
            mac_string(&end.mac)
        ));
    }
    if Side::of(src_ip) != Some(side) {
        let family = crate::sockets::Family::of(&std::net::SocketAddr::new(src_ip, 0));
        return Err(format!(
            "refusing to inject: source address {src_ip} is not the {side}'s ({})",
            side.ip(family)
        ));
    }
    Ok(())
}

fn sockaddr_ll(index: u32) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = index as i32;
    sll
}

/// AF_PACKET socket bound to the veth, one `sendto`, closed on return.
fn transmit(frame: &[u8], end: &VethEnd) -> Result<usize> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Error::io(
            "open AF_PACKET socket",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    let bound = sockaddr_ll(end.index);
    // SAFETY: `bound` is a valid sockaddr_ll of `len` bytes.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&bound as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    if rc < 0 {
        return Err(Error::io(
            format!(
                "bind AF_PACKET socket to {} (ifindex {})",
                end.name, end.index
            ),
            std::io::Error::last_os_error(),
        ));
    }
    let mut to = sockaddr_ll(end.index);
    // The frame's own ethertype (claims() has checked it is IPv4 or IPv6).
    to.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` and `to` are valid for the lengths given.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    if n < 0 {
        return Err(Error::io(
            format!("sendto on {} (ifindex {})", end.name, end.index),
            std::io::Error::last_os_error(),
        ));
    }
    if n as usize != frame.len() {
        return Err(Error::msg(format!(
            "sendto on {}: sent {n} of {} bytes",
            end.name,
            frame.len()
        )));
    }
    Ok(n as usize)
}
