//! Making the network misbehave on purpose, inside one lab and nowhere else.
//!
//! Two kinds of faults, both applied in the case's own namespaces:
//!
//! - **Deterministic rules** ([`Faults`], [`Rule`]): drop, delay or reorder
//!   the Nth packet (or every, or the Nth..Mth) that travels one way and
//!   matches a flag pattern: "drop the client's first FIN", "drop every SYN
//!   to the server", "delay the server's FIN+ACK by 300 ms".
//! - **Statistical link faults** ([`Faults::set_link`], [`Link`]): loss %,
//!   delay ± jitter, duplicate %, reorder % per direction, drawn from a
//!   fixed seed so a run repeats. Not netem: the project's kernels lack
//!   CONFIG_NET_SCH_NETEM (see [`Link`]); the same verdict thread applies
//!   them.
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
//! Link faults are steps too: [`Faults::set_link`] with a [`Link`] parsed
//! from tc-netem's words (`loss 10% delay 20ms 5ms seed 1`), set again to
//! change it, [`Faults::clear_link`] to end it; [`Faults::link_reports`]
//! lists what each did, in the same [`Acted`] records as rules.
//!
//! Segment sizes: a veth hands the receiver a sender's GSO super-packet
//! whole (the capture shows one 8192-byte "packet"), but NFQUEUE judges
//! its wire-sized segments one by one. A case whose faults count or drop
//! data segments should call [`wire_sized`] before its traffic, so the
//! capture, the rules and tcpdump see the same segments.
//!
//! Costs, measured here (2 cores): starting a direction's thread, queue and
//! table takes 0.3 to 8 ms (typically ~1 ms); each queued packet takes
//! about 20 to 40 µs more to arrive (`the_queue_adds_...` prints it).
//!
//! Drop [`Faults`] before the [`Lab`]: its thread's netlink sockets keep the
//! namespaces alive until then.

mod engine;
mod link;
#[cfg(test)]
mod link_tests;
mod nfnl;
mod nft;
mod queue;
mod rule;
mod state;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

pub use link::{Link, LinkReport};
pub use rule::{Acted, Action, Direction, FlagMatch, PacketKey, Rule, RuleId, RuleReport, Which};
pub use wire::wire_sized;

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
        let id = RuleId(self.next);
        self.engine(lab, side, &rule.origin)?.add(id, rule);
        self.next += 1;
        self.sides.insert(id, side);
        Ok(id)
    }

    /// The verdict thread judging packets that arrive at `side`, started
    /// on first use.
    fn engine(&mut self, lab: &Lab, side: Side, origin: &str) -> Result<&mut Engine> {
        Ok(match self.engines.entry(side) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(
                Engine::start(lab.netns(side), side)
                    .map_err(|e| e.context(format!("fault at {origin}")))?,
            ),
        })
    }

    /// Puts statistical faults on the packets travelling `direction`,
    /// replacing the ones before (a change is a new `set_link`). The
    /// receiver's verdict thread applies them to every packet no rule acts
    /// on. Duplicates need a raw IP socket in the sender's namespace.
    pub fn set_link(&mut self, lab: &Lab, direction: Direction, link: Link) -> Result<()> {
        let dup = if link.duplicate > 0.0 {
            let sender = lab.netns(direction.from);
            let fd = sender
                .run("open a raw IP socket for duplicates", || {
                    use nix::sys::socket::{
                        socket, AddressFamily, SockFlag, SockProtocol, SockType,
                    };
                    socket(
                        AddressFamily::Inet,
                        SockType::Raw,
                        SockFlag::SOCK_CLOEXEC,
                        SockProtocol::Raw,
                    )
                    .map_err(|e| Error::sys("socket(AF_INET, SOCK_RAW, IPPROTO_RAW)", e))
                })
                .map_err(|e| {
                    e.context(format!(
                        "link faults at {} in netns {}",
                        link.origin,
                        sender.name()
                    ))
                })?;
            Some((fd, direction.receiver().addr()))
        } else {
            None
        };
        let origin = link.origin.clone();
        self.engine(lab, direction.receiver(), &origin)?
            .set_link(direction, link, dup);
        Ok(())
    }

    /// Takes the link faults of `direction` out of force; what they did.
    pub fn clear_link(&mut self, direction: Direction) -> Result<LinkReport> {
        self.engines
            .get(&direction.receiver())
            .and_then(Engine::clear_link)
            .ok_or_else(|| Error::msg(format!("no link faults on {direction}")))
    }

    /// Every link fault ever set, per direction in the order set.
    pub fn link_reports(&self) -> Vec<LinkReport> {
        self.engines
            .values()
            .flat_map(Engine::link_reports)
            .collect()
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
