//! Which of TCP's eleven states (RFC 9293, section 3.3.2) a run's passing
//! cases showed in a `sockets` check: `states observed: 9/11 (missing:
//! CLOSING, LAST-ACK)`.
//!
//! A state counts when a passing case's `sockets` block listed a socket in
//! it. CLOSED is the absence of a socket, so it counts when a passing case
//! waited for a socket to be `gone`, or asserted `sockets HOST` / `none`
//! after an earlier `sockets` block of that host had shown a connection
//! (not merely a listener: an empty table before anything happened is not
//! a connection that closed).
//!
//! It only reads what cases observed (`Outcome::observed`); it never looks
//! at the lab. Each case's states travel in its result file
//! (`CaseResult::states`), and a run's line is their union
//! ([`Coverage::of_names`]), so it holds however the run was split.

use std::collections::BTreeSet;
use std::fmt;

use crate::case::outcome::{Observation, Observed};
use crate::case::{Case, ItemKind};
use crate::lab::Side;
use crate::sockets::TcpState;

/// The states in the order of the RFC's diagram, with its names.
const STATES: [(TcpState, &str); 11] = [
    (TcpState::Close, "CLOSED"),
    (TcpState::Listen, "LISTEN"),
    (TcpState::SynSent, "SYN-SENT"),
    (TcpState::SynRecv, "SYN-RECEIVED"),
    (TcpState::Established, "ESTABLISHED"),
    (TcpState::FinWait1, "FIN-WAIT-1"),
    (TcpState::FinWait2, "FIN-WAIT-2"),
    (TcpState::CloseWait, "CLOSE-WAIT"),
    (TcpState::Closing, "CLOSING"),
    (TcpState::LastAck, "LAST-ACK"),
    (TcpState::TimeWait, "TIME-WAIT"),
];

/// The states seen so far, over any number of cases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    seen: BTreeSet<TcpState>,
}

impl Coverage {
    pub const fn new() -> Coverage {
        Coverage {
            seen: BTreeSet::new(),
        }
    }

    /// Adds what a passing case observed (call it for passing cases only:
    /// a failed block's observation is not an assertion that held).
    pub fn add(&mut self, case: &Case, observed: &[Observed]) {
        self.seen.extend(states_of(case, observed));
    }

    /// The union of cases' states given by name ([`names`]); unknown
    /// names are ignored.
    pub fn of_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Coverage {
        let mut c = Coverage::new();
        for n in names {
            c.seen
                .extend(STATES.iter().filter(|(_, s)| s == n).map(|(t, _)| *t));
        }
        c
    }

    /// The RFC's names of the states seen, in the diagram's order.
    pub fn observed(&self) -> Vec<&'static str> {
        STATES
            .iter()
            .filter(|(s, _)| self.seen.contains(s))
            .map(|(_, n)| *n)
            .collect()
    }

    pub fn missing(&self) -> Vec<&'static str> {
        STATES
            .iter()
            .filter(|(s, _)| !self.seen.contains(s))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl fmt::Display for Coverage {
    /// `states observed: 9/11 (missing: CLOSING, LAST-ACK)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "states observed: {}/{}", self.seen.len(), STATES.len())?;
        let missing = self.missing();
        if !missing.is_empty() {
            write!(f, " (missing: {})", missing.join(", "))?;
        }
        Ok(())
    }
}

/// RFC 9293's names of `states`, in the diagram's order.
pub fn names(states: &BTreeSet<TcpState>) -> Vec<String> {
    STATES
        .iter()
        .filter(|(s, _)| states.contains(s))
        .map(|(_, n)| n.to_string())
        .collect()
}

/// The states one passing case asserted.
pub fn states_of(case: &Case, observed: &[Observed]) -> BTreeSet<TcpState> {
    let mut seen = BTreeSet::new();
    let host_at = |line: usize| {
        case.items.iter().find_map(|i| match &i.kind {
            ItemKind::Sockets { host, .. } if i.line == line => Some(*host),
            _ => None,
        })
    };
    let mut connected: BTreeSet<Side> = BTreeSet::new();
    for o in observed {
        let (Observation::Sockets(rows), Some(host)) = (&o.what, host_at(o.line)) else {
            continue;
        };
        if rows.is_empty() && connected.contains(&host) {
            seen.insert(TcpState::Close);
        }
        if rows.iter().any(|r| r.state != TcpState::Listen) {
            connected.insert(host);
        }
        seen.extend(rows.iter().map(|r| r.state));
    }
    let waited_gone = case
        .items
        .iter()
        .any(|i| matches!(i.kind, ItemKind::Wait { gone: true, .. }));
    if waited_gone {
        seen.insert(TcpState::Close);
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::parse::parse;
    use crate::sockets::SocketRow;
    use std::path::Path;

    fn row(state: TcpState) -> SocketRow {
        SocketRow {
            state,
            local: "192.168.2.105:40000".parse().unwrap(),
            peer: "192.168.2.100:11111".parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: None,
            inode: 0,
            uid: 0,
            ifindex: 0,
            cookie: 0,
            v6only: false,
            info: None,
        }
    }

    fn sockets(line: usize, states: &[TcpState]) -> Observed {
        Observed {
            line,
            what: Observation::Sockets(states.iter().map(|s| row(*s)).collect()),
        }
    }

    const CASE: &str = "server $ nc -kl 11111\nsockets client\n  none\nclient $ nc 192.168.2.100 11111\nsockets client\n  ESTAB 192.168.2.105:* 192.168.2.100:11111\nclient ^C\nsockets client\n  none\n";

    #[test]
    fn closed_counts_only_after_a_connection_was_seen() {
        let case = parse(Path::new("x.case"), CASE).unwrap();
        let before = [sockets(2, &[])];
        assert!(!states_of(&case, &before).contains(&TcpState::Close));
        let all = [
            sockets(2, &[]),
            sockets(5, &[TcpState::Established]),
            sockets(8, &[]),
        ];
        let seen = states_of(&case, &all);
        assert!(seen.contains(&TcpState::Close) && seen.contains(&TcpState::Established));
    }

    #[test]
    fn the_line_names_the_count_and_what_is_missing() {
        let case = parse(Path::new("x.case"), CASE).unwrap();
        let mut c = Coverage::new();
        assert_eq!(c.to_string(), "states observed: 0/11 (missing: CLOSED, LISTEN, SYN-SENT, SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT)");
        c.add(
            &case,
            &[sockets(5, &[TcpState::Established, TcpState::Listen])],
        );
        assert_eq!(c.observed(), ["LISTEN", "ESTABLISHED"]);
        c.seen.extend(TcpState::ALL);
        assert_eq!(c.to_string(), "states observed: 11/11");
        let all = names(&c.seen);
        assert_eq!(Coverage::of_names(&all), c);
    }

    #[test]
    fn a_wait_for_gone_counts_as_closed() {
        let case = parse(
            Path::new("x.case"),
            "client $ nc 192.168.2.100 11111\nwait client ESTAB 192.168.2.105:* 192.168.2.100:11111 gone\n",
        )
        .unwrap();
        assert!(states_of(&case, &[]).contains(&TcpState::Close));
    }
}
