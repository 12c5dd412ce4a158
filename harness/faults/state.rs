//! The verdict logic of one direction, without any I/O: which rule or link
//! fault a packet meets, what is held and when it is due. The verdict
//! thread ([`super::engine`]) feeds it packets in arrival order under one
//! lock and carries out what it decides.

use crate::lab::Side;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::link::{Link, LinkReport, Rng};
use super::rule::{Acted, Action, Direction, PacketKey, Rule, RuleId, RuleReport};
use crate::packet::Packet;

pub(super) struct RuleState {
    pub id: RuleId,
    pub rule: Rule,
    pub active: bool,
    pub matched: u64,
    pub acted: Vec<Acted>,
}

impl RuleState {
    pub fn report(&self) -> RuleReport {
        RuleReport {
            id: self.id,
            rule: self.rule.clone(),
            active: self.active,
            matched: self.matched,
            acted: self.acted.clone(),
        }
    }
}

pub(super) struct LinkState {
    pub direction: Direction,
    pub link: Link,
    pub active: bool,
    rng: Rng,
    judged: u64,
    acted: Vec<Acted>,
    /// Raw IP sockets in the sender's namespace, for duplicates.
    pub dup: Option<Dup>,
}

/// What sends a duplicate the way the original went: a raw IP socket of
/// each family in the sender's namespace (IPPROTO_RAW: the datagram is
/// sent with its own header), and the host it goes to.
pub(super) struct Dup {
    pub v4: OwnedFd,
    pub v6: OwnedFd,
    pub to: Side,
}

impl LinkState {
    pub fn new(direction: Direction, link: Link, dup: Option<Dup>) -> LinkState {
        let rng = Rng::new(link.seed);
        LinkState {
            direction,
            link,
            active: true,
            rng,
            judged: 0,
            acted: vec![],
            dup,
        }
    }

    pub fn report(&self) -> LinkReport {
        LinkReport {
            direction: self.direction,
            link: self.link.clone(),
            active: self.active,
            judged: self.judged,
            acted: self.acted.clone(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    Rule(usize),
    Link(usize),
}

/// A packet without a verdict yet: delayed (due) or held for reordering
/// (no due time: it follows the next accepted packet).
pub(super) struct Held {
    pub packet: u32,
    owner: Owner,
    acted: usize,
    pub due: Option<Instant>,
}

/// What to do with a packet now.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Accept,
    Drop,
    /// Held: its verdict comes later (timer or reorder).
    Hold,
}

#[derive(Default)]
pub(super) struct State {
    pub rules: Vec<RuleState>,
    /// Every link fault set on this direction; only the last may be active.
    pub links: Vec<LinkState>,
    pub held: Vec<Held>,
    pub seen: u64,
    pub error: Option<String>,
    /// Duplicates sent and not yet back: recognised by their bytes, so a
    /// copy is not copied again.
    dups: Vec<Vec<u8>>,
}

impl State {
    fn acted_mut(&mut self, owner: Owner, i: usize) -> &mut Acted {
        match owner {
            Owner::Rule(r) => &mut self.rules[r].acted[i],
            Owner::Link(l) => &mut self.links[l].acted[i],
        }
    }

    fn owner_active(&self, owner: Owner) -> bool {
        match owner {
            Owner::Rule(r) => self.rules[r].active,
            Owner::Link(l) => self.links[l].active,
        }
    }

    /// Judges one queued packet. Rules come first: every active rule that
    /// matches counts it, the oldest that selects it acts. Otherwise the
    /// active link fault draws its fate. Returns the verdict, and the bytes
    /// to send again as a duplicate.
    pub fn judge(
        &mut self,
        id: u32,
        datagram: &[u8],
        at: Duration,
        now: Instant,
    ) -> (Verdict, Option<Vec<u8>>) {
        self.seen += 1;
        let ordinal = self.seen;
        let Some(p) = Packet::from_ip(datagram, at) else {
            return (Verdict::Accept, None);
        };
        let copy = match self.dups.iter().position(|d| d == datagram) {
            Some(i) => {
                self.dups.swap_remove(i);
                true
            }
            None => false,
        };
        let mut chosen = None;
        for (i, r) in self.rules.iter_mut().enumerate() {
            if r.active && r.rule.matches(&p) {
                r.matched += 1;
                if chosen.is_none() && r.rule.which.selects(r.matched) {
                    chosen = Some(i);
                }
            }
        }
        let key = PacketKey::of(&p);
        let record = |action| Acted {
            key,
            action,
            ordinal,
            at,
            released: None,
        };
        if let Some(i) = chosen {
            let action = self.rules[i].rule.action;
            self.rules[i].acted.push(record(action));
            let n = self.rules[i].acted.len() - 1;
            return (self.apply(id, Owner::Rule(i), n, action, now), None);
        }
        let Some(l) = self.links.iter().rposition(|l| l.active) else {
            return (Verdict::Accept, None);
        };
        let link = &mut self.links[l];
        link.judged += 1;
        let fate = link.rng.fate(&link.link);
        if fate.lose {
            link.acted.push(record(Action::Drop));
            return (Verdict::Drop, None);
        }
        let mut duplicate = None;
        if fate.duplicate && !copy && link.dup.is_some() {
            link.acted.push(Acted {
                released: Some(at),
                ..record(Action::Duplicate)
            });
            self.dups.push(datagram.to_vec());
            duplicate = Some(datagram.to_vec());
        }
        let action = if fate.reorder {
            Action::Reorder
        } else if !fate.delay.is_zero() {
            Action::Delay(fate.delay)
        } else {
            return (Verdict::Accept, duplicate);
        };
        link.acted.push(record(action));
        let n = link.acted.len() - 1;
        (self.apply(id, Owner::Link(l), n, action, now), duplicate)
    }

    fn apply(
        &mut self,
        packet: u32,
        owner: Owner,
        acted: usize,
        action: Action,
        now: Instant,
    ) -> Verdict {
        let due = match action {
            Action::Drop => return Verdict::Drop,
            Action::Duplicate => return Verdict::Accept,
            Action::Delay(d) => Some(now + d),
            Action::Reorder => None,
        };
        self.held.push(Held {
            packet,
            owner,
            acted,
            due,
        });
        Verdict::Hold
    }

    /// `id` was just accepted (`released` at that time if it was held):
    /// returns the packets held for reordering, which follow it now.
    pub fn accepted(&mut self, id: u32, released: Duration) -> Vec<u32> {
        let (follow, keep): (Vec<Held>, Vec<Held>) = self
            .held
            .drain(..)
            .partition(|h| h.due.is_none() && h.packet != id);
        self.held = keep;
        follow
            .into_iter()
            .map(|h| {
                self.acted_mut(h.owner, h.acted).released = Some(released);
                h.packet
            })
            .collect()
    }

    /// Takes the next held packet whose time has come: a delay that is
    /// due, or a reorder whose rule or link was removed. Marks it released.
    pub fn take_due(&mut self, now: Instant, released: Duration) -> Option<u32> {
        let pos = self.held.iter().position(|h| match h.due {
            Some(due) => due <= now,
            None => !self.owner_active(h.owner),
        })?;
        let h = self.held.remove(pos);
        self.acted_mut(h.owner, h.acted).released = Some(released);
        Some(h.packet)
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.held.iter().filter_map(|h| h.due).min()
    }
}
