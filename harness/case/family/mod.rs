//! Both address families. A case is written in IPv4's words, the seed's:
//! the client is 192.168.2.105 and the server 192.168.2.100. Every lab
//! also has the same hosts' IPv6 addresses (2001:db8:2::105 and ::100,
//! `lab::Side::addr6`), and a run in family 6 (`TCPLAB_FAMILY=6`) plays the
//! same case over IPv6, as packetdrill runs each script in both families:
//!
//! - in a command's words, a lab address stands for the same host in the
//!   run's family: `nc 192.168.2.100 11111` runs `nc 2001:db8:2::100
//!   11111`, and `192.168.2.100:11111` becomes `[2001:db8:2::100]:11111`;
//! - in `sockets`, `fds` and `wait` rows likewise (`[2001:db8:2::105]:*`,
//!   as ss and lsof print it), and an fds row naming a lab address has
//!   lsof's type `IPv6`;
//! - what cannot be mapped word for word (a syscall's sockaddr and the
//!   listener that accepts, the MSS a SYN offers) is written once per
//!   family, each item marked `ipv4:` or `ipv6:`; a case that makes sense
//!   in one family only says `ipv4-only REASON` at its top.
//!
//! Packet lines name `client` and `server`, never addresses: they hold in
//! either family as written. Typed text and expected output are data and
//! are never mapped. (Record mode maps a family-6 run's rows back:
//! `record::in_case_words`.)

use std::net::IpAddr;

use super::rows::{AddrPattern, FdExpect, SocketExpect};
use super::{Case, Item, ItemKind};
use crate::error::Malformed;
use crate::lab::Side;
use crate::sockets::Family;

/// The environment variable that chooses a run's family.
pub const ENV: &str = "TCPLAB_FAMILY";

/// The run's family from `TCPLAB_FAMILY`: unset, empty or `4` is IPv4 (the
/// seed's), `6` is IPv6; anything else is an error that says so.
pub fn from_env() -> Result<Family, Malformed> {
    match std::env::var(ENV) {
        Err(std::env::VarError::NotPresent) => Ok(Family::Ipv4),
        Ok(v) if v.is_empty() => Ok(Family::Ipv4),
        Ok(v) => parse(&v).ok_or_else(|| {
            Malformed::new(
                format!("{ENV}={v}: the family is 4 (IPv4, the default) or 6 (IPv6)"),
                "",
            )
        }),
        Err(e) => Err(Malformed::new(format!("{ENV}: {e}"), "")),
    }
}

/// `4`, `6`, `ipv4`, `ipv6` (any case).
pub fn parse(s: &str) -> Option<Family> {
    match s.to_ascii_lowercase().as_str() {
        "4" | "ipv4" => Some(Family::Ipv4),
        "6" | "ipv6" => Some(Family::Ipv6),
        _ => None,
    }
}

/// The digit `TCPLAB_FAMILY` takes: `4`, `6`.
pub fn digit(family: Family) -> char {
    match family {
        Family::Ipv4 => '4',
        Family::Ipv6 => '6',
    }
}

/// The item mark's word: `ipv4`, `ipv6` (`ipv6: syscalls client`).
pub use super::family_word as mark;

/// The case header's word: `ipv4-only`, `ipv6-only`.
pub fn only_word(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4-only",
        Family::Ipv6 => "ipv6-only",
    }
}

pub const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

/// Why a run in `family` leaves `case` out, if it does (`ipv4-only
/// REASON` in a family-6 run).
pub fn left_out(case: &Case, family: Family) -> Option<&str> {
    case.family_only
        .as_ref()
        .filter(|(only, _)| *only != family)
        .map(|(_, why)| why.as_str())
}

/// `case` as a run in `family` plays it: each lab address in commands and
/// rows stands for the same host in `family` (items keep their marks; the
/// run skips those of the other family). Family 4 is the case as written.
pub fn in_family(case: &Case, family: Family) -> Case {
    if family == Family::Ipv4 {
        return case.clone();
    }
    Case {
        items: case.items.iter().map(|i| item(i, family)).collect(),
        ..case.clone()
    }
}

fn item(item: &Item, family: Family) -> Item {
    Item {
        kind: kind(&item.kind, family),
        ..item.clone()
    }
}

fn kind(kind: &ItemKind, family: Family) -> ItemKind {
    match kind {
        ItemKind::Start { host, argv } => ItemKind::Start {
            host: *host,
            argv: argv.iter().map(|w| command_word(w, family)).collect(),
        },
        ItemKind::Sockets { host, rows } => ItemKind::Sockets {
            host: *host,
            rows: rows.iter().map(|r| socket_row(r, family)).collect(),
        },
        ItemKind::Fds { host, rows } => ItemKind::Fds {
            host: *host,
            rows: rows.iter().map(|r| fd_row(r, family)).collect(),
        },
        ItemKind::Wait {
            host,
            row,
            gone,
            at,
        } => ItemKind::Wait {
            host: *host,
            row: socket_row(row, family),
            gone: *gone,
            at: *at,
        },
        ItemKind::Repeat { times, steps } => ItemKind::Repeat {
            times: *times,
            steps: steps.iter().map(|i| item(i, family)).collect(),
        },
        other => other.clone(),
    }
}

/// A command's word with each lab address (`192.168.2.100`, a whole
/// address, not part of a longer number) written for `family`; one
/// followed by `:PORT` or `:*` is bracketed in IPv6
/// (`[2001:db8:2::100]:11111`, ss's `dst [2001:db8:2::105]:*`).
pub fn command_word(word: &str, family: Family) -> String {
    if family == Family::Ipv4 {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 16);
    let mut rest = word;
    let mut before: Option<char> = None;
    'scan: while !rest.is_empty() {
        let boundary_before = !before.is_some_and(|c| c.is_ascii_digit() || c == '.');
        for side in Side::ALL {
            let v4 = side.addr().to_string();
            let Some(after) = rest.strip_prefix(v4.as_str()) else {
                continue;
            };
            let mut next = after.chars();
            let boundary_after = match next.next() {
                None => true,
                Some(c) if c.is_ascii_digit() => false,
                Some('.') => !next.next().is_some_and(|c| c.is_ascii_digit()),
                Some(_) => true,
            };
            if !(boundary_before && boundary_after) {
                continue;
            }
            let with_port = after
                .strip_prefix(':')
                .is_some_and(|p| p.starts_with(|c: char| c.is_ascii_digit() || c == '*'));
            if with_port {
                out.push_str(&format!("[{}]", side.addr6()));
            } else {
                out.push_str(&side.addr6().to_string());
            }
            before = v4.chars().last();
            rest = after;
            continue 'scan;
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        before = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The lab address `ip` stands for in `family` (other addresses as they
/// are).
fn address(ip: IpAddr, family: Family) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Side::of(ip).map_or(ip, |side| side.ip(family)),
        IpAddr::V6(_) => ip,
    }
}

fn pattern(p: AddrPattern, family: Family) -> AddrPattern {
    AddrPattern {
        ip: p.ip.map(|ip| address(ip, family)),
        ..p
    }
}

fn socket_row(r: &SocketExpect, family: Family) -> SocketExpect {
    SocketExpect {
        local: pattern(r.local, family),
        peer: pattern(r.peer, family),
        ..r.clone()
    }
}

/// An fds row naming a lab IPv4 address is a socket of the run's family,
/// as lsof types it; a listener's row (`3u IPv6 TCP *:11111`), and one
/// that names an IPv6 address itself, is as written.
fn fd_row(r: &FdExpect, family: Family) -> FdExpect {
    let names_lab = std::iter::once(r.local).chain(r.peer).any(|p| {
        p.ip.is_some_and(|ip| ip.is_ipv4() && Side::of(ip).is_some())
    });
    FdExpect {
        local: pattern(r.local, family),
        peer: r.peer.map(|p| pattern(p, family)),
        family: if names_lab { family } else { r.family },
        ..r.clone()
    }
}

#[cfg(test)]
mod tests;
