//! A scripted peer inside a live lab: one crafted TCP segment, sent on
//! HOST's own veth end as if HOST's kernel had sent it, so a case can ask
//! how the real stack on the other end answers segments a well-behaved peer
//! never sends (RFC 5961's blind resets and SYNs, RFC 1337's TIME-WAIT
//! assassination, data outside the window).
//!
//! The pipeline, one concern per module, each usable alone:
//!
//! | step | function | module |
//! | --- | --- | --- |
//! | the text after `HOST sends ` | `"[R.] seq rcv_nxt+1".parse::<SegmentSpec>()` | [`spec`] (grammar: `crate::notation`) |
//! | where the connection stands | [`Conn::latest`]`(packets, side, port)` | [`conn`] |
//! | absolute numbers, TS, window | [`Conn::resolve`] / [`conn::resolve_new`] (or [`resolve`] for both) | [`conn`] |
//! | the Ethernet frame | [`frame::build`]`(&packet, macs, ip_id)` | [`frame`] |
//! | the hardware addresses | [`wire::macs`]`(lab, side)` | [`wire`] |
//! | the send | [`wire::send`]`(lab, side, &frame)` | [`wire`] |
//!
//! [`inject`] runs them all. The currency between the steps is
//! [`Packet`], the capture's own type, with absolute numbers: the segment
//! to send is a `Packet`, so it prints, compares and draws like captured
//! ones, and the capture shows the injected segment again (as sent by
//! HOST: libpcap on the server's veth sees a frame sent on `veth-c` as
//! incoming and one sent on `veth-s` as outgoing).
//!
//! ## For the case format
//!
//! - Parse at load time: [`SegmentSpec`]'s `FromStr` (the notation's
//!   `sends` form, `crate::notation`) fails with a [`Malformed`]: `msg` and
//!   `hint`, ready for a `file:line:` prefix.
//! - At run time call [`resolve`] first: its `Err(String)` (no connection
//!   on the port, no ISN captured) is bad input, to report with the
//!   step's `file:line` before anything is sent; then [`inject`] (or
//!   `frame::build` + `wire::send`).
//! - Pass the captured packets *without* earlier injected ones when they
//!   must not count (an injected out-of-window data segment would otherwise
//!   move HOST's `snd_nxt`); resets never count toward `snd_nxt`.
//! - The returned [`Injected::packet`] equals (but for `ts`) the packet the
//!   capture will show ([`Injected::is`]): that is how the ladder can mark
//!   it as injected. HOST's own kernel never sees it, but sees the answers:
//!   an injected SYN to a listener draws its SYN-ACK, which HOST's kernel
//!   (no socket) answers with a RST, all in the capture.
//! - The kernel rate-limits some answers per socket: challenge ACKs (to an
//!   in-window RST, to a SYN on an established connection) at most one per
//!   `net.ipv4.tcp_invalid_ratelimit` (500 ms) per socket, counted in
//!   TcpExt `TCPACKSkippedChallenge`; duplicate ACKs to out-of-window
//!   *data* are not limited (measured: two in a row draw two ACKs). The
//!   global `tcp_challenge_ack_limit` is INT_MAX, i.e. off (kernel 6.18).
//!   A case that injects two such segments into one socket within 500 ms
//!   must expect one answer. See `live_tests.rs`.
//!
//! ## Why injection cannot leave the lab
//!
//! The only functions that send, [`wire::send`] and [`wire::send_built`]
//! (which [`inject`] uses), take a `&Lab` and a [`Side`]; a `Lab` only comes from `Lab::new`, which creates two fresh
//! namespaces. The AF_PACKET socket is opened on a thread inside that
//! side's namespace, after checking that the thread's namespace is the
//! lab's (nsfs inode), that the interface is the side's veth end (by name
//! and link kind), and that the frame's source MAC and IP are that side's;
//! the socket never leaves the thread. There is no path, argument or
//! interface name a caller could give to reach the host's namespace.

pub mod conn;
pub mod frame;
pub mod icmp;
pub mod icmp6;
pub mod spec;
pub mod wire;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tcpdump_tests;

use std::time::{Duration, SystemTime};

pub use conn::Conn;
pub use spec::{Malformed, SegmentSpec};
pub use wire::Sent;

use crate::error::{Error, Result};
use crate::lab::{Lab, Side};
use crate::packet::Packet;
use crate::sockets::Family;

/// An injected segment: what was sent and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    /// The segment with absolute numbers; `ts` is when it was sent.
    pub packet: Packet,
    /// The Ethernet frame as it left HOST's veth end.
    pub frame: Vec<u8>,
    pub sent: Sent,
}

impl Injected {
    /// Whether `captured` is this segment as the capture saw it (equal in
    /// everything but the capture time): how a report marks it as injected.
    pub fn is(&self, captured: &Packet) -> bool {
        Packet {
            ts: captured.ts,
            ..self.packet.clone()
        } == *captured
    }
}

/// `spec` as HOST (`side`) would send it at `now`: aimed at the latest
/// captured connection on `port` (in its family), or at a new one in
/// `family` when the spec says `to port N`. Errors are bad input (nothing
/// to aim at), never system errors.
pub fn resolve(
    spec: &SegmentSpec,
    side: Side,
    packets: &[Packet],
    port: u16,
    family: Family,
    now: Duration,
) -> std::result::Result<Packet, Malformed> {
    if spec.to_port.is_some() {
        return conn::resolve_new(spec, side, family, now);
    }
    Conn::latest(packets, side, port)?.resolve(spec, now)
}

/// Resolves `spec` against the capture (see [`resolve`]), builds the frame
/// and sends it from `side`'s veth end. Nothing is sent when resolving fails.
/// The numbers are resolved again inside the namespace's thread just before
/// `sendto`, so the TSval counts the milliseconds up to the send.
pub fn inject(
    lab: &Lab,
    side: Side,
    spec: &SegmentSpec,
    packets: &[Packet],
    port: u16,
    family: Family,
) -> Result<Injected> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let what = format!("{side} sends {spec}");
    resolve(spec, side, packets, port, family, now)
        .map_err(|m| Error::msg(format!("{what}: {m}")))?;
    let conn = match spec.to_port {
        Some(_) => None,
        None => Some(Conn::latest(packets, side, port).map_err(Error::msg)?),
    };
    let macs = wire::macs(lab, side)?;
    let spec = spec.clone();
    send(lab, side, move |now| {
        let mut packet = match &conn {
            Some(c) => c.resolve(&spec, now),
            None => conn::resolve_new(&spec, side, family, now),
        }
        .map_err(|m| Error::msg(format!("{what}: {m}")))?;
        packet.ts = now;
        let frame = frame::build(&packet, macs, frame::plausible_ip_id())
            .map_err(|m| Error::msg(format!("{what}: {m}")))?;
        Ok((frame, packet))
    })
}

/// Sends the frame `make` builds at the moment of sending (see
/// [`wire::send_built`]), with the packet it stands for.
fn send(
    lab: &Lab,
    side: Side,
    make: impl FnOnce(Duration) -> Result<(Vec<u8>, Packet)> + Send + 'static,
) -> Result<Injected> {
    let (sent, (frame, packet)) = wire::send_built(lab, side, move |now| {
        let (frame, packet) = make(now)?;
        Ok((frame.clone(), (frame, packet)))
    })?;
    Ok(Injected {
        frame,
        packet,
        sent,
    })
}

/// Sends `kind`, an ICMP destination-unreachable message, from `side` to
/// its peer about the peer's latest segment on `port` (see [`icmp`]).
/// Nothing is sent when there is no such segment.
pub fn inject_icmp(
    lab: &Lab,
    side: Side,
    kind: crate::icmp::Unreachable,
    packets: &[Packet],
    port: u16,
) -> Result<Injected> {
    let what = format!("{side} sends icmp {kind}");
    let quoted = icmp::quoted(packets, side, port)
        .map_err(|m| Error::msg(format!("{what}: {m}")))?
        .clone();
    let macs = wire::macs(lab, side)?;
    send(lab, side, move |now| {
        let packet = icmp::message(kind, side, &quoted, now);
        let frame = icmp::build(&packet, &quoted, macs, frame::plausible_ip_id())
            .map_err(|m| Error::msg(format!("{what}: {m}")))?;
        Ok((frame, packet))
    })
}
