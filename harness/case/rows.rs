//! Expectations on sockets (ss rows) and descriptors (lsof rows), in each
//! tool's notation, with `*` for what varies between runs (the client's
//! ephemeral port) and time windows for timers (`timer 58s..60s`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::error::{bad, Bad};
use super::info::InfoExpect;
use crate::fds::FdRow;
use crate::sockets::{Family, SocketRow, TcpState, TimerKind};

/// `192.168.2.105:*`, `*:11111`, `[::]:11111`, `0.0.0.0:*`, `*:*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrPattern {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
}

impl AddrPattern {
    pub fn parse(s: &str) -> Result<AddrPattern, Bad> {
        const HINT: &str =
            "an address is `192.168.2.105:*`, `*:11111`, `[::]:11111` or `0.0.0.0:*`";
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("bad address `{s}`"), HINT))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip = match host {
            "*" => None,
            h => Some(
                h.parse()
                    .map_err(|_| bad(format!("bad IP address `{h}` in `{s}`"), HINT))?,
            ),
        };
        let port = match port {
            "*" => None,
            p => Some(match p.parse::<u16>() {
                Ok(n) => n,
                Err(_) => {
                    return Err(bad(
                        format!("bad port `{p}` in `{s}`"),
                        "a port is 0-65535, or `*` for any",
                    ))
                }
            }),
        };
        Ok(AddrPattern { ip, port })
    }

    pub fn matches(&self, a: &SocketAddr) -> bool {
        self.ip.is_none_or(|ip| ip == a.ip()) && self.port.is_none_or(|p| p == a.port())
    }
}

impl fmt::Display for AddrPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            None => f.write_str("*")?,
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            Some(ip) => write!(f, "{ip}")?,
        }
        match self.port {
            None => f.write_str(":*"),
            Some(p) => write!(f, ":{p}"),
        }
    }
}

/// The notation's durations and windows, the same units everywhere
/// (`crate::notation::duration`).
pub use crate::notation::duration::{show as show_duration, Window};

/// `300us`, `200ms`, `1.5s`, `1min`; at most a day.
pub fn duration(s: &str) -> Result<Duration, Bad> {
    crate::notation::duration::parse(s)
}

/// One row of a `sockets HOST` block, ss's columns:
/// `STATE [RECV-Q SEND-Q] LOCAL PEER [timer[ KIND] WINDOW] [FIELD VALUE]...`,
/// the fields `ss -ti`'s ([`InfoExpect`]: `cwnd 10 rtt 0ms..5ms`).
#[derive(Clone, Debug, PartialEq)]
pub struct SocketExpect {
    pub line: usize,
    /// `1000 × TIME-WAIT ...`: how many sockets the row stands for.
    pub count: usize,
    pub state: TcpState,
    pub queues: Option<(u32, u32)>,
    pub local: AddrPattern,
    pub peer: AddrPattern,
    pub timer: Option<(Option<TimerKind>, Window)>,
    /// What `ss -ti` must show; none asked, the dump leaves tcp_info out.
    pub info: Vec<InfoExpect>,
}

/// The most sockets one row may stand for.
pub const MAX_SOCKETS: usize = 1_000_000;

const SOCKET_HINT: &str =
    "a socket row is `STATE LOCAL PEER [timer WINDOW] [ss -ti fields]`, e.g. `TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 timer 58s..60s` or `ESTAB 192.168.2.105:* 192.168.2.100:11111 cwnd 10 rtt 0ms..5ms`";

impl SocketExpect {
    pub fn parse(line: usize, text: &str) -> Result<SocketExpect, Bad> {
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let count = match words.as_slice() {
            [n, "×" | "x", ..] => {
                let count = n
                    .parse::<usize>()
                    .ok()
                    .filter(|c| (1..=MAX_SOCKETS).contains(c))
                    .ok_or_else(|| {
                        bad(
                            format!("bad socket count `{n}`: a number from 1 to {MAX_SOCKETS}"),
                            "write `1000 × TIME-WAIT 192.168.2.105:* 192.168.2.100:11111` (`x` for `×` is fine)",
                        )
                    })?;
                words.drain(..2);
                count
            }
            _ => 1,
        };
        let Some((state, rest)) = words.split_first() else {
            return Err(bad("empty socket row", SOCKET_HINT));
        };
        let state: TcpState = state
            .parse()
            .map_err(|m: crate::error::Malformed| m.or_hint(SOCKET_HINT))?;
        let (queues, rest) = match rest {
            [r, s, tail @ ..] if r.parse::<u32>().is_ok() && s.parse::<u32>().is_ok() => {
                (Some((r.parse().unwrap(), s.parse().unwrap())), tail)
            }
            _ => (None, rest),
        };
        let [local, peer, tail @ ..] = rest else {
            return Err(bad(
                "a socket row needs a local and a peer address",
                SOCKET_HINT,
            ));
        };
        let (timer, fields) = match tail {
            ["timer", w, rest @ ..] if w.contains("..") => (Some((None, Window::parse(w)?)), rest),
            ["timer", kind, w, rest @ ..] => {
                (Some((Some(timer_kind(kind)?), Window::parse(w)?)), rest)
            }
            ["timer", ..] => return Err(bad("`timer` needs a window", SOCKET_HINT)),
            _ => (None, tail),
        };
        Ok(SocketExpect {
            line,
            count,
            state,
            queues,
            local: AddrPattern::parse(local)?,
            peer: AddrPattern::parse(peer)?,
            timer,
            info: InfoExpect::parse_all(fields)?,
        })
    }

    /// Whether the row names a field of `ss -ti`.
    pub fn wants_info(&self) -> bool {
        !self.info.is_empty()
    }

    pub fn matches(&self, r: &SocketRow) -> bool {
        self.state == r.state
            && self.queues.is_none_or(|q| q == (r.recv_q, r.send_q))
            && self.local.matches(&r.local)
            && self.peer.matches(&r.peer)
            && self.timer.is_none_or(|(kind, w)| {
                r.timer
                    .as_ref()
                    .is_some_and(|t| kind.is_none_or(|k| k == t.kind) && w.contains(t.left))
            })
            && self.info.iter().all(|i| i.holds(r.info.as_ref()))
    }
}

fn timer_kind(s: &str) -> Result<TimerKind, Bad> {
    [
        TimerKind::On,
        TimerKind::Keepalive,
        TimerKind::TimeWait,
        TimerKind::Persist,
    ]
    .into_iter()
    .find(|k| k.ss_name() == s)
    .ok_or_else(|| {
        bad(
            format!("unknown timer `{s}`"),
            "timers are ss's: on, keepalive, timewait, persist",
        )
    })
}

impl fmt::Display for SocketExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count != 1 {
            write!(f, "{} × ", self.count)?;
        }
        write!(f, "{:<10}", self.state.to_string())?;
        if let Some((r, s)) = self.queues {
            write!(f, " {r} {s}")?;
        }
        write!(f, " {} {}", self.local, self.peer)?;
        match self.timer {
            Some((Some(k), w)) => write!(f, " timer {} {w}", k.ss_name())?,
            Some((None, w)) => write!(f, " timer {w}")?,
            None => {}
        }
        self.info.iter().try_for_each(|i| write!(f, " {i}"))
    }
}

/// One row of an `fds HOST` block, lsof's FD, TYPE and NAME:
/// `5u IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)`, or
/// `fd 5 IPv4 ...` when the access mode does not matter.
#[derive(Clone, Debug, PartialEq)]
pub struct FdExpect {
    pub line: usize,
    pub fd: i32,
    pub mode: Option<char>,
    pub family: Family,
    pub local: AddrPattern,
    pub peer: Option<AddrPattern>,
    pub state: TcpState,
}

const FD_HINT: &str = "an fd row is lsof's: `4u IPv4 TCP *:11111 (LISTEN)` or `fd 5 IPv4 TCP 192.168.2.100:11111->192.168.2.105:* (ESTABLISHED)`";

impl FdExpect {
    pub fn parse(line: usize, text: &str) -> Result<FdExpect, Bad> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (fd, mode, rest) = match words.as_slice() {
            ["fd", n, rest @ ..] => (*n, None, rest),
            [first, rest @ ..] => {
                let digits = first.trim_end_matches(|c: char| c.is_ascii_alphabetic());
                let mode = first[digits.len()..].chars().next();
                if first.len() - digits.len() > 1 || mode.is_some_and(|m| !"urw".contains(m)) {
                    return Err(bad(format!("bad descriptor `{first}`"), FD_HINT));
                }
                (digits, mode, rest)
            }
            [] => return Err(bad("empty fd row", FD_HINT)),
        };
        let fd: i32 = fd
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad(format!("bad descriptor number `{fd}`"), FD_HINT))?;
        let [family, proto, name, state] = rest else {
            return Err(bad(
                "an fd row has a descriptor, a type, TCP, the addresses and (STATE)",
                FD_HINT,
            ));
        };
        let family = match *family {
            "IPv4" => Family::Ipv4,
            "IPv6" => Family::Ipv6,
            other => {
                return Err(bad(
                    format!("unknown type `{other}`"),
                    "the type is IPv4 or IPv6, as lsof prints it",
                ))
            }
        };
        if *proto != "TCP" {
            return Err(bad(
                format!("unknown protocol `{proto}`"),
                "only TCP sockets are observed",
            ));
        }
        let (local, peer) = match name.split_once("->") {
            Some((l, p)) => (AddrPattern::parse(l)?, Some(AddrPattern::parse(p)?)),
            None => (AddrPattern::parse(name)?, None),
        };
        let state = state
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| {
                bad(
                    format!("the state goes in parentheses: `({state})`"),
                    FD_HINT,
                )
            })?
            .parse()
            .map_err(|m: crate::error::Malformed| m.or_hint(FD_HINT))?;
        Ok(FdExpect {
            line,
            fd,
            mode,
            family,
            local,
            peer,
            state,
        })
    }

    pub fn matches(&self, r: &FdRow) -> bool {
        // lsof writes the unspecified address as `*`; so may the case.
        let local_ok = self.local.matches(&r.local)
            || (self.local.ip.is_none()
                && r.local.ip().is_unspecified()
                && self.local.port.is_none_or(|p| p == r.local.port()));
        self.fd == r.fd
            && self.mode.is_none_or(|m| m == r.mode)
            && self.family == r.family
            && local_ok
            && self.peer.is_none_or(|p| p.matches(&r.peer))
            && (self.peer.is_some() || r.peer.port() == 0)
            && self.state == r.state
    }
}

impl fmt::Display for FdExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            Some(m) => write!(f, "{}{m}", self.fd)?,
            None => write!(f, "fd {}", self.fd)?,
        }
        write!(f, " {} TCP {}", self.family, self.local)?;
        if let Some(p) = self.peer {
            write!(f, "->{p}")?;
        }
        write!(f, " ({})", self.state.lsof_name())
    }
}

/// Pairs every expected row with a distinct observed row (a bipartite
/// matching, so `*` patterns cannot steal each other's rows). Returns the
/// expected rows left without a partner and the observed rows nobody
/// claimed; both empty means the block holds.
pub fn match_set<E, O>(
    expected: &[E],
    observed: &[O],
    fits: impl Fn(&E, &O) -> bool,
) -> (Vec<usize>, Vec<usize>) {
    let (short, extra) = match_counted(expected, |_| 1, observed, fits);
    (short.into_iter().map(|(e, _)| e).collect(), extra)
}

/// [`match_set`] where expected row `e` stands for `count(e)` rows
/// (`1000 × TIME-WAIT ...`). Returns each expected row that got fewer
/// partners than its count, with how many it got, and the observed rows
/// nobody claimed.
pub fn match_counted<E, O>(
    expected: &[E],
    count: impl Fn(&E) -> usize,
    observed: &[O],
    fits: impl Fn(&E, &O) -> bool,
) -> (Vec<(usize, usize)>, Vec<usize>) {
    let counts: Vec<usize> = expected.iter().map(&count).collect();
    let owner = pairing_counted(expected, &counts, observed, fits);
    let short = (0..expected.len())
        .map(|e| (e, owner.iter().filter(|o| **o == Some(e)).count()))
        .filter(|(e, got)| *got < counts[*e])
        .collect();
    let extra = owner
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_none())
        .map(|(i, _)| i)
        .collect();
    (short, extra)
}

/// For each observed row, the expected row it is paired with in a maximum
/// matching, or None.
pub fn pairing<E, O>(
    expected: &[E],
    observed: &[O],
    fits: impl Fn(&E, &O) -> bool,
) -> Vec<Option<usize>> {
    pairing_counted(expected, &vec![1; expected.len()], observed, fits)
}

/// A maximum matching in which expected row `e` takes up to `counts[e]`
/// observed rows: Kuhn's augmenting paths, each first trying the observed
/// rows nobody holds (a cursor per expected row, since a held row is never
/// freed again), so a thousand alike rows cost a thousand steps, not a
/// million.
pub fn pairing_counted<E, O>(
    expected: &[E],
    counts: &[usize],
    observed: &[O],
    fits: impl Fn(&E, &O) -> bool,
) -> Vec<Option<usize>> {
    struct Search<'a, E, O, F> {
        expected: &'a [E],
        observed: &'a [O],
        fits: F,
        owner: Vec<Option<usize>>,
        cursor: Vec<usize>,
    }
    impl<E, O, F: Fn(&E, &O) -> bool> Search<'_, E, O, F> {
        fn free(&mut self, e: usize) -> Option<usize> {
            while self.cursor[e] < self.observed.len() {
                let o = self.cursor[e];
                self.cursor[e] += 1;
                if self.owner[o].is_none() && (self.fits)(&self.expected[e], &self.observed[o]) {
                    return Some(o);
                }
            }
            None
        }
        fn augment(&mut self, e: usize, seen: &mut [bool]) -> bool {
            if let Some(o) = self.free(e) {
                self.owner[o] = Some(e);
                return true;
            }
            for o in 0..self.observed.len() {
                if !seen[o] && (self.fits)(&self.expected[e], &self.observed[o]) {
                    seen[o] = true;
                    let prev = self.owner[o].expect("free rows were taken above");
                    if self.augment(prev, seen) {
                        self.owner[o] = Some(e);
                        return true;
                    }
                }
            }
            false
        }
    }
    let mut s = Search {
        expected,
        observed,
        fits,
        owner: vec![None; observed.len()],
        cursor: vec![0; expected.len()],
    };
    for (e, &n) in counts.iter().enumerate() {
        for _ in 0..n {
            let mut seen = vec![false; observed.len()];
            if !s.augment(e, &mut seen) {
                break;
            }
        }
    }
    s.owner
}
