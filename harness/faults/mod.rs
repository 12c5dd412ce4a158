//! Making the network misbehave on purpose, inside one lab and nowhere else.
//!
//! Two kinds of faults, both applied in the case's own namespaces:
//!
//! - **Deterministic rules** ([`Faults`], [`Rule`]): drop, delay or reorder
//!   the Nth packet (or every, or the Nth..Mth) that travels one way and
//!   matches a flag pattern: "drop the client's first FIN", "drop every SYN
//!   to the server", "delay the server's FIN+ACK by 300 ms".
//! - **Statistical link faults** ([`netem`]): loss %, delay ± jitter,
//!   duplicate %, reorder % on one side's sending veth, with a fixed PRNG
//!   seed so a run repeats.
//!
//! # How a rule is applied
//!
//! On the *receiving* side: the first rule for packets to the server starts,
//! inside the server's namespace, a verdict thread bound to NFQUEUE 0 and
//! one nftables rule (built over netlink, no `nft` binary) that queues every TCP
//! segment arriving on the veth. The capture on the server's veth is tapped
//! before netfilter, so it still holds every packet the client sent,
//! including the ones a rule drops; for packets to the client the capture
//! sees them leave the server and the client's namespace judges them.
//! A drop on the sender's own output path would not do: TCP there learns of
//! it as a local error, which is not loss on the wire.
//!
//! One thread per receiving namespace sees every packet of that direction in
//! arrival order and counts under one lock: counts are exact. Every active
//! rule that matches a packet counts it; the oldest rule that selects it
//! acts. Nothing is installed until a lab's first rule, so clean cases stay
//! as fast and as untouched as before; the table, thread and queue go when
//! the [`Faults`] is dropped (or with the namespace).
//!
//! # For the case format
//!
//! A step "from here on, drop the client's first FIN" is [`Faults::add`]
//! with the step's file:line as [`Rule::origin`]; removing it later is
//! [`Faults::remove`]. At the end, [`Faults::never_acted`] gives one
//! "rule at FILE:LINE matched 0 packets" line per rule that did nothing.
//! The report finds each acted-on packet in the capture with
//! [`Acted::find_in`] and marks it dropped / delayed / reordered.
//!
//! Settling: a socket sits in FIN-WAIT-1 because a rule dropped the reply
//! to its FIN, or a packet is still held. [`Faults::holding`] says a packet
//! is held right now; [`Faults::waiting_on`] lists the active rules that
//! have acted, so "not settled" can be reported as "waiting on the rule at
//! FILE:LINE" instead of as a timeout.
//!
//! Drop [`Faults`] before the [`Lab`]: its thread's netlink sockets keep the
//! namespaces alive until then.

mod engine;
// pub mod netem;
mod nfnl;
mod nft;
mod queue;
mod rule;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

pub use rule::{Acted, Action, Direction, FlagMatch, PacketKey, Rule, RuleId, RuleReport, Which};

use crate::error::{Error, Result};
use crate::lab::{Lab, Side};
use engine::Engine;

/// The deterministic fault rules of one lab.
#[derive(Default)]
pub struct Faults {
    /// Keyed by the receiving side; started on that side's first rule.
    engines: BTreeMap<Side, Engine>,
    /// Which side judges each rule.
    sides: BTreeMap<RuleId, Side>,
    next: u32,
}

impl Faults {
    /// No rules, nothing installed.
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Puts `rule` in force: it sees every packet that arrives after this
    /// returns. The first rule for a direction installs the receiving
    /// namespace's queue and nftables rule (see the module docs).
    pub fn add(&mut self, lab: &Lab, rule: Rule) -> Result<RuleId> {
        let side = rule.direction.receiver();
        let engine = match self.engines.entry(side) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(
                Engine::start(lab.netns(side), side)
                    .map_err(|e| e.context(format!("rule at {}", rule.origin)))?,
            ),
        };
        let id = RuleId(self.next);
        self.next += 1;
        engine.add(id, rule);
        self.sides.insert(id, side);
        Ok(id)
    }

    /// Takes a rule out of force and returns what it did. Packets it delays
    /// keep their time; packets it holds for reordering pass at once.
    pub fn remove(&mut self, id: RuleId) -> Result<RuleReport> {
        self.sides
            .get(&id)
            .and_then(|side| self.engines[side].remove(id))
            .ok_or_else(|| Error::msg(format!("no fault rule {}", id.0)))
    }

    /// What rule `id` has done so far.
    pub fn report(&self, id: RuleId) -> Option<RuleReport> {
        self.reports().into_iter().find(|r| r.id == id)
    }

    /// Every rule ever added (active or removed), in the order added.
    pub fn reports(&self) -> Vec<RuleReport> {
        let mut all: Vec<RuleReport> = self.engines.values().flat_map(Engine::reports).collect();
        all.sort_by_key(|r| r.id);
        all
    }

    /// Whether a packet is held (delayed or kept back for reordering) now.
    pub fn holding(&self) -> bool {
        self.engines.values().any(Engine::holding)
    }

    /// Active rules that have acted: while one of them is in force, a
    /// socket stuck in a transient state may be waiting on it.
    pub fn waiting_on(&self) -> Vec<RuleReport> {
        self.reports()
            .into_iter()
            .filter(|r| r.active && !r.acted.is_empty())
            .collect()
    }

    /// "rule at FILE:LINE (...) matched 0 packets", for each rule that
    /// never acted.
    pub fn never_acted(&self) -> Vec<String> {
        self.reports()
            .iter()
            .filter_map(RuleReport::never_acted)
            .collect()
    }

    /// Segments the verdict thread of `side` has judged (all TCP arriving
    /// on its veth since its first rule).
    pub fn seen(&self, side: Side) -> u64 {
        self.engines.get(&side).map_or(0, Engine::seen)
    }

    /// Where rules are installed, and what starting each cost.
    pub fn installed(&self) -> Vec<(Side, Duration)> {
        self.engines.iter().map(|(s, e)| (*s, e.setup)).collect()
    }

    /// An error if a verdict thread has stopped (its packets then pass).
    pub fn health(&self) -> Result<()> {
        self.engines.values().try_for_each(Engine::health)
    }
}
