//! Fault steps in a running case: rules put in force and healed, a host's
//! sysctls; and what the rules mean for the rest of the run: which sockets
//! are "waiting on a rule" when the lab settles, what each captured packet
//! had done to it (marks), where the ladder draws it, and the rules that
//! never acted (a failure at the rule's line).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::super::expect::{Mark, Marked};
use super::super::rows::show_duration;
use super::super::rule_text;
use super::session::{Session, StepError};
use crate::case::outcome::Cause;
use crate::case::outcome::{Event, Timed};
use crate::faults::{Acted, Action, Direction, Link, Rule, RuleId, RuleReport};
use crate::lab::Side;
use crate::packet::Packet;
use crate::sockets::SocketRow;

impl Session<'_> {
    /// Puts the rule written at `line` in force.
    pub(super) fn fault(&mut self, line: usize, rule: &Rule) -> Result<(), StepError> {
        let rule = Rule {
            origin: format!("{}:{line}", self.case.path.display()),
            ..rule.clone()
        };
        let id = self
            .rules
            .faults
            .add(&self.lab, rule)
            .map_err(|e| StepError::at(line, e.to_string()))?;
        self.rules.written.push((id, line));
        Ok(())
    }

    /// Takes the rules of `direction` (all, when None) out of force; a rule
    /// that never acted fails at its own line. Then the lab settles.
    pub(super) fn heal(
        &mut self,
        line: usize,
        direction: Option<Direction>,
    ) -> Result<(), StepError> {
        let active: Vec<(RuleId, usize)> = self
            .rules
            .faults
            .reports()
            .into_iter()
            .filter(|r| r.active && direction.is_none_or(|d| r.rule.direction == d))
            .filter_map(|r| Some((r.id, self.rule_line(r.id)?)))
            .collect();
        for (id, at) in active {
            let report = self
                .rules
                .faults
                .remove(id)
                .map_err(|e| StepError::at(line, e.to_string()))?;
            if let Some(why) = never_acted(&report, &format!("the heal at line {line}")) {
                return Err(StepError::of(Cause::RuleIdle, at, why));
            }
        }
        let links: Vec<Direction> = self
            .rules
            .faults
            .link_reports()
            .into_iter()
            .filter(|l| l.active && direction.is_none_or(|d| l.direction == d))
            .map(|l| l.direction)
            .collect();
        for d in links {
            self.rules
                .faults
                .clear_link(d)
                .map_err(|e| StepError::at(line, e.to_string()))?;
        }
        self.settle(line)
    }

    /// `netem DIR ...`: statistical faults on one direction from here on.
    pub(super) fn netem(
        &mut self,
        line: usize,
        direction: Direction,
        link: &Link,
    ) -> Result<(), StepError> {
        let link = Link {
            origin: format!("{}:{line}", self.case.path.display()),
            ..link.clone()
        };
        self.rules
            .faults
            .set_link(&self.lab, direction, link)
            .map_err(|e| StepError::at(line, e.to_string()))
    }

    /// `HOST sysctl NAME=VALUE`, in that host's namespace only.
    pub(super) fn sysctl(
        &mut self,
        line: usize,
        host: Side,
        name: &str,
        value: &str,
    ) -> Result<(), StepError> {
        crate::sysctl::write(self.lab.netns(host), name, value)
            .map_err(|e| StepError::at(line, e.to_string()))
    }

    /// At the end of the case: the first rule (by line) that never acted.
    pub(super) fn rules_all_acted(&mut self) -> Result<(), StepError> {
        let mut failures: Vec<(usize, String)> = self
            .rules
            .faults
            .reports()
            .iter()
            .filter_map(|r| {
                let line = self.rule_line(r.id)?;
                Some((line, never_acted(r, "the end of the case")?))
            })
            .collect();
        failures.sort();
        match failures.into_iter().next() {
            Some((line, why)) => Err(StepError::of(Cause::RuleIdle, line, why)),
            None => Ok(()),
        }
    }

    fn rule_line(&self, id: RuleId) -> Option<usize> {
        self.rules
            .written
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, l)| *l)
    }

    /// Whether `row`, not settled by itself, is held where it is by a rule:
    /// an active rule holds a packet of its connection, or acted on one and
    /// nothing of the connection has been captured since (a retransmission
    /// after the drop means the connection is moving again).
    pub(super) fn waiting_on_rule(&self, row: &SocketRow) -> bool {
        let (a, b) = (unmapped(row.local), unmapped(row.peer));
        let on_conn =
            |src: SocketAddr, dst: SocketAddr| (src == a && dst == b) || (src == b && dst == a);
        let captured = self.captured();
        let mut latest = None;
        for r in self.rules.faults.reports().iter().filter(|r| r.active) {
            for acted in r.acted.iter().filter(|x| on_conn(x.key.src, x.key.dst)) {
                if acted.held() {
                    return true;
                }
                match acted.find_in(captured) {
                    // Judged before the capture was read this far.
                    None => return true,
                    Some(i) => latest = latest.max(Some(i)),
                }
            }
        }
        latest.is_some_and(|i| !captured[i + 1..].iter().any(|p| on_conn(p.src, p.dst)))
    }

    /// For a settle that timed out: what each rule in force has done.
    pub(super) fn rules_text(&self) -> String {
        let mut t = String::new();
        for r in self.rules.faults.reports().iter().filter(|r| r.active) {
            let line = self.rule_line(r.id).unwrap_or(0);
            let _ = write!(
                t,
                "\n    rule at line {line} (`{}`) is in force: matched {} packet(s), acted on {}",
                rule_text(&r.rule),
                r.matched,
                r.acted.len()
            );
            for a in &r.acted {
                let _ = write!(t, "\n      {a}");
            }
        }
        for l in self.rules.faults.link_reports().iter().filter(|l| l.active) {
            let _ = write!(
                t,
                "\n    netem at line {} (`{} {}`) is in force: judged {} packet(s), acted on {}",
                origin_line(&l.link.origin),
                l.direction,
                l.link,
                l.judged,
                l.acted.len()
            );
        }
        t
    }

    /// Everything rules and link faults did: each record with the line of
    /// its step, and whether a `netem` step did it.
    fn all_acted(&self) -> Vec<(Acted, usize, bool)> {
        let mut all = Vec::new();
        for r in self.rules.faults.reports() {
            let line = self.rule_line(r.id).unwrap_or(0);
            all.extend(r.acted.into_iter().map(|a| (a, line, false)));
        }
        for l in self.rules.faults.link_reports() {
            let line = origin_line(&l.link.origin);
            all.extend(l.acted.into_iter().map(|a| (a, line, true)));
        }
        all
    }

    /// What rules did to each captured packet, by index in `packets`.
    pub(super) fn marks(&self, packets: &[Packet]) -> Vec<Option<Marked>> {
        let mut marks = vec![None; packets.len()];
        for (acted, line, netem) in self.all_acted() {
            if let Some(i) = acted.find_in(packets) {
                marks[i] = Some(marked(&acted, line, netem));
            }
        }
        marks
    }

    /// Ladder events for packets rules acted on: a dropped one drawn
    /// dropped at its time; a delayed or reordered one where it arrived,
    /// when it was let through.
    pub(super) fn fault_events(&self, packets: &[Packet]) -> Vec<Timed> {
        let mut events = Vec::new();
        for (acted, _, _) in self.all_acted() {
            let Some(i) = acted.find_in(packets) else {
                continue;
            };
            let note = match acted.action {
                Action::Delay(d) => format!("delayed {}", show_duration(d)),
                Action::Reorder => "reordered".to_string(),
                Action::Drop | Action::Duplicate => String::new(),
            };
            let (at, event) = match (acted.action, acted.released) {
                (Action::Drop, _) => (packets[i].ts, Event::Dropped(i)),
                (Action::Duplicate, _) | (_, None) => continue,
                (_, Some(released)) => (released, Event::Arrived { packet: i, note }),
            };
            events.push(Timed { at, event });
        }
        events
    }
}

fn marked(acted: &Acted, rule_line: usize, netem: bool) -> Marked {
    let (mark, delay) = match acted.action {
        Action::Drop => (Mark::Dropped, None),
        Action::Delay(d) => (Mark::Delayed, Some(d)),
        Action::Reorder => (Mark::Reordered, None),
        Action::Duplicate => (Mark::Duplicated, None),
    };
    Marked {
        mark,
        delay,
        rule_line,
        netem,
    }
}

/// The line of a `file:line` origin.
fn origin_line(origin: &str) -> usize {
    origin
        .rsplit_once(':')
        .and_then(|(_, l)| l.parse().ok())
        .unwrap_or(0)
}

/// "rule `drop ...` matched 0 packets by WHEN", for a rule that never
/// acted.
fn never_acted(r: &RuleReport, when: &str) -> Option<String> {
    if !r.acted.is_empty() {
        return None;
    }
    let what = match r.matched {
        0 => "matched 0 packets".to_string(),
        n => format!(
            "matched {n} packet{}, never the one it names",
            if n == 1 { "" } else { "s" }
        ),
    };
    Some(format!("rule `{}` {what} by {when}", rule_text(&r.rule)))
}

/// A v4-mapped IPv6 address as the IPv4 address it maps (an AF_INET6
/// socket's view of an IPv4 peer).
fn unmapped(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(a, |v4| SocketAddr::new(IpAddr::V4(v4), a.port())),
        IpAddr::V4(_) => a,
    }
}
