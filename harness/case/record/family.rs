//! A family-6 run's observations in the case file's words, for record
//! mode: a case is written in IPv4's words (see `case::family`), so the
//! rows of a block not marked `ipv6:` get the lab's IPv4 addresses back
//! (and lsof's type IPv4 where they name one), and a recorded block still
//! reads as the seed's in both families.

use std::net::{IpAddr, SocketAddr};

use super::super::outcome::{Observation, Observed};
use super::super::Case;
use crate::fds::FdRow;
use crate::lab::Side;
use crate::sockets::{Family, SocketRow};

/// `observed` (a run in family 6) with the lab's IPv6 addresses written
/// as its IPv4 ones in every block not marked `ipv6:`.
pub fn in_case_words(case: &Case, observed: &[Observed]) -> Vec<Observed> {
    let marked_v6 = |line: usize| {
        case.items
            .iter()
            .any(|i| i.line == line && i.family == Some(Family::Ipv6))
    };
    observed
        .iter()
        .map(|o| {
            if marked_v6(o.line) {
                return o.clone();
            }
            let what = match &o.what {
                Observation::Sockets(rows) => {
                    Observation::Sockets(rows.iter().map(socket_row_v4).collect())
                }
                Observation::Fds(rows) => Observation::Fds(rows.iter().map(fd_row_v4).collect()),
                other => other.clone(),
            };
            Observed { line: o.line, what }
        })
        .collect()
}

/// The lab's IPv6 address `a` names, as its IPv4 one.
fn back_to_v4(a: SocketAddr) -> Option<SocketAddr> {
    match a.ip() {
        IpAddr::V6(_) => Side::of(a.ip()).map(|s| SocketAddr::new(s.addr().into(), a.port())),
        IpAddr::V4(_) => None,
    }
}

fn socket_row_v4(r: &SocketRow) -> SocketRow {
    SocketRow {
        local: back_to_v4(r.local).unwrap_or(r.local),
        peer: back_to_v4(r.peer).unwrap_or(r.peer),
        ..r.clone()
    }
}

fn fd_row_v4(r: &FdRow) -> FdRow {
    let (local, peer) = (back_to_v4(r.local), back_to_v4(r.peer));
    FdRow {
        family: if local.is_some() || peer.is_some() {
            Family::Ipv4
        } else {
            r.family
        },
        local: local.unwrap_or(r.local),
        peer: peer.unwrap_or(r.peer),
        ..r.clone()
    }
}
