//! The case's lab and observers, built as much at once as they can be.
//!
//! The capture opens on the server's veth as soon as it exists, while the
//! addresses and links go up (and, with fault steps, the veth is made
//! wire-sized) and the sock_diag sockets open; it is ready before the
//! first step, so no segment of the case is ever missed.

use std::path::Path;

use super::super::{Case, Implementation, ItemKind};
use crate::capture::Capture;
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::lab::{Lab, Side};
use crate::sockets::{Family, SockDiag};

/// What a case plays in: the lab, its capture, a sock_diag socket per side.
pub(super) struct Setup {
    pub lab: Lab,
    pub capture: Capture,
    pub diag: [SockDiag; 2],
}

/// Builds the lab for `case` with its capture writing `pcap`. Errors say
/// which part failed (`lab: ...`, `capture: ...`, `sock_diag: ...`).
pub(super) fn setup(
    case: &Case,
    nc: Implementation,
    family: Family,
    kernel: &Kernel,
    pcap: &Path,
) -> Result<Setup> {
    let lab = Lab::create(&case.name).map_err(|e| e.context("lab"))?;
    let capture = Capture::start(
        lab.netns(Side::Server),
        Side::Server.iface(),
        &capture_filter(case.port),
        pcap,
    )
    .map_err(|e| e.context("capture"))?;
    let (configured, diag) = std::thread::scope(|s| {
        let diag = s.spawn(|| Side::ALL.map(|side| SockDiag::open(lab.netns(side))));
        let configured = configure(case, nc, family, kernel, &lab);
        (configured, diag.join())
    });
    configured.map_err(|e| e.context("lab"))?;
    let [dc, ds] = diag.map_err(|_| Error::msg("sock_diag: the opening thread panicked"))?;
    let diag = [
        dc.map_err(|e| e.context("sock_diag"))?,
        ds.map_err(|e| e.context("sock_diag"))?,
    ];
    capture.ready().map_err(|e| e.context("capture"))?;
    Ok(Setup { lab, capture, diag })
}

/// Addresses and links up. Rules count segments and the capture must see
/// the same ones: a lab with fault steps has no GSO super-packets
/// (`faults::wire_sized`).
fn configure(
    case: &Case,
    nc: Implementation,
    family: Family,
    kernel: &Kernel,
    lab: &Lab,
) -> Result<()> {
    lab.configure()?;
    let faulty = case
        .items_played(nc, family, kernel)
        .any(|i| matches!(i.kind, ItemKind::Fault(_) | ItemKind::Netem { .. }));
    if faulty {
        crate::faults::wire_sized(lab)?;
    }
    Ok(())
}

/// The case's capture: TCP on its port, and ICMP destination-unreachable
/// messages that quote a TCP segment of that port (the quoted IPv4
/// header, 20 bytes for a Linux segment, then its ports), or ICMPv6
/// destination-unreachable and packet-too-big ones (the quoted IPv6
/// header, 40 bytes, then its ports): the ones a `sends icmp` step
/// injects, and any a kernel sends about the connection.
pub(crate) fn capture_filter(port: u16) -> String {
    format!(
        "tcp port {port} or (icmp[icmptype] == icmp-unreach and icmp[17] == 6 \
         and (icmp[28:2] == {port} or icmp[30:2] == {port})) \
         or (icmp6 and (icmp6[icmp6type] == icmp6-destinationunreach \
         or icmp6[icmp6type] == icmp6-packettoobig) and icmp6[14] == 6 \
         and (icmp6[48:2] == {port} or icmp6[50:2] == {port}))"
    )
}
