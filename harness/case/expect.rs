//! Packet expectations and the observed packets they are held against, both
//! printed in tcpdump's notation with relative seq/ack.

use std::fmt;
use std::time::Duration;

use crate::flow::{self, Isns};
use crate::icmp::Unreachable;
use crate::lab::Side;
use crate::notation::duration::show as show_duration;
use crate::notation::duration::Tolerance;
pub use crate::notation::{Mark, Opt, Timing};
use crate::packet::{OptionList, Packet, TcpFlags, TcpOption};

/// One line of a `packets` block. Fields left out are not checked.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketExpect {
    pub line: usize,
    pub from: Side,
    pub to: Side,
    pub flags: TcpFlags,
    /// `seq 1` or `seq 1:7` (start, and end when given).
    pub seq: Option<(u32, Option<u32>)>,
    pub ack: Option<u32>,
    pub win: Option<u16>,
    pub length: Option<u32>,
    pub options: Option<Vec<Opt>>,
    /// `icmp frag-needed mtu 1400`: an ICMP message, not a segment.
    pub icmp: Option<Unreachable>,
    /// `after 0.9s..1.3s` / `at 0.2s..0.4s`: when it must come.
    pub timing: Option<Timing>,
    /// `dropped`, `delayed`, `reordered`, `duplicated`, `injected`: what
    /// the harness must have done to it. Absent: not checked.
    pub mark: Option<Mark>,
}

/// A mark as a run observed it: which rule did it, and for how long a
/// delayed packet was held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marked {
    pub mark: Mark,
    pub delay: Option<Duration>,
    /// The line of the rule (or `netem` step) in the case file (of the
    /// `sends` step, for an injected packet).
    pub rule_line: usize,
    /// A `netem` link fault did it, not a rule.
    pub netem: bool,
}

impl fmt::Display for Marked {
    /// `dropped (rule at line 7)`, `delayed 300ms (rule at line 8)`,
    /// `injected (line 12)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mark == Mark::Injected {
            return write!(f, "injected (line {})", self.rule_line);
        }
        f.write_str(self.mark.word())?;
        if let Some(d) = self.delay {
            write!(f, " {}", show_duration(d))?;
        }
        let by = if self.netem { "netem" } else { "rule" };
        write!(f, " ({by} at line {})", self.rule_line)
    }
}

/// What is known of a captured packet beyond its header: when it came,
/// whether it repeats data, what a rule did to it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    /// Its capture time stamp (since the Unix epoch).
    pub ts: Duration,
    /// Time since the previous captured packet; None for the first.
    pub gap: Option<Duration>,
    /// Time since the latest action step began; set when a block is
    /// judged, None for a packet captured before that step.
    pub since_action: Option<Duration>,
    /// It repeats sequence space its sender had already sent.
    pub retransmission: bool,
    pub marked: Option<Marked>,
}
/// A captured packet seen from the lab: which host sent it, and numbers
/// relative to each side's ISN.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub from: Side,
    pub to: Side,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub len: u32,
    pub options: Vec<TcpOption>,
    /// An ICMP message about a segment: what it reports (its TCP fields
    /// are empty).
    pub icmp: Option<Unreachable>,
    pub ctx: Context,
}

impl Seen {
    /// None for a packet between addresses that are not the lab's.
    pub fn new(p: &Packet, isns: &Isns) -> Option<Seen> {
        Some(Seen {
            from: Side::of(p.src.ip())?,
            to: Side::of(p.dst.ip())?,
            flags: p.flags,
            seq: isns.seq(p),
            ack: isns.ack(p),
            win: p.win,
            len: p.len(),
            // SACK blocks relative, as tcpdump prints them and a line pins them.
            options: p
                .options
                .iter()
                .map(|o| match o {
                    TcpOption::Sack(blocks) => TcpOption::Sack(
                        blocks
                            .iter()
                            .map(|(l, r)| (isns.acked(p, *l), isns.acked(p, *r)))
                            .collect(),
                    ),
                    o => o.clone(),
                })
                .collect(),
            icmp: p.icmp.map(|i| i.unreachable),
            ctx: Context {
                ts: p.ts,
                ..Context::default()
            },
        })
    }

    /// All packets of a capture, in order, with the time since the
    /// previous one and which are retransmissions.
    pub fn all(packets: &[Packet]) -> Vec<Seen> {
        Seen::all_marked(packets, &[])
    }

    /// [`Seen::all`], with what rules did to them (`marks[i]` for
    /// `packets[i]`; shorter is fine).
    /// Injected packets are numbered like the rest but neither set an ISN
    /// nor count toward retransmissions (see [`flow::of_kernels`]).
    pub fn all_marked(packets: &[Packet], marks: &[Option<Marked>]) -> Vec<Seen> {
        Seen::all_marked_from(packets, marks, 0)
    }

    /// [`Seen::all_marked`] numbered over all of `packets`, returning those
    /// from `packets[from]` on.
    pub fn all_marked_from(packets: &[Packet], marks: &[Option<Marked>], from: usize) -> Vec<Seen> {
        let injected: Vec<bool> = marks
            .iter()
            .map(|m| m.is_some_and(|m| m.mark == Mark::Injected))
            .collect();
        let (isns, rexmit) = flow::of_kernels(packets, &injected);
        packets
            .iter()
            .enumerate()
            .skip(from)
            .filter_map(|(i, p)| {
                let mut s = Seen::new(p, &isns)?;
                s.ctx.gap = i.checked_sub(1).map(|k| p.ts.saturating_sub(packets[k].ts));
                s.ctx.retransmission = rexmit[i];
                s.ctx.marked = marks.get(i).copied().flatten();
                Some(s)
            })
            .collect()
    }

    /// The time `timing` measures for this packet: since the previous
    /// packet, or since the latest action.
    pub fn since(&self, timing: Timing) -> Option<Duration> {
        match timing {
            Timing::After(_) => self.ctx.gap,
            Timing::At(_) => self.ctx.since_action,
        }
    }

    /// Whether it came within `timing`'s window.
    pub fn within(&self, timing: Timing) -> bool {
        self.since(timing)
            .is_some_and(|t| timing.window().contains(t))
    }

    /// `seq A[:B]` where tcpdump shows a seq, and `ack N` where the ACK
    /// flag is set: how both an observed line and a recorded expectation
    /// begin.
    pub fn seq_ack_fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        if self.shows_seq() {
            fields.push(if self.len > 0 {
                format!("seq {}:{}", self.seq, self.seq.wrapping_add(self.len))
            } else {
                format!("seq {}", self.seq)
            });
        }
        if self.flags.contains(TcpFlags::ACK) {
            fields.push(format!("ack {}", self.ack));
        }
        fields
    }

    /// tcpdump prints seq only for segments that take sequence space or
    /// carry RST.
    fn shows_seq(&self) -> bool {
        self.len > 0
            || self.flags.contains(TcpFlags::SYN)
            || self.flags.contains(TcpFlags::FIN)
            || self.flags.contains(TcpFlags::RST)
    }
}

/// `client > server  [S.]  ` with the flags padded so columns line up.
fn head(f: &mut fmt::Formatter<'_>, from: Side, to: Side, flags: TcpFlags) -> fmt::Result {
    write!(f, "{from} > {to}  {:<6}", format!("[{flags}]"))
}

/// `client > server  icmp frag-needed mtu 1400`.
fn icmp_head(f: &mut fmt::Formatter<'_>, from: Side, to: Side, kind: Unreachable) -> fmt::Result {
    write!(f, "{from} > {to}  icmp {kind}")
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kind) = self.icmp {
            icmp_head(f, self.from, self.to, kind)?;
            if let Some(m) = &self.ctx.marked {
                write!(f, "  {m}")?;
            }
            return Ok(());
        }
        head(f, self.from, self.to, self.flags)?;
        let mut fields = self.seq_ack_fields();
        fields.push(format!("win {}", self.win));
        if !self.options.is_empty() {
            fields.push(format!("options {}", OptionList(&self.options)));
        }
        fields.push(format!("length {}", self.len));
        f.write_str(&fields.join(", "))?;
        if let Some(m) = &self.ctx.marked {
            write!(f, "  {m}")?;
        }
        if self.ctx.retransmission {
            f.write_str("  retransmission")?;
        }
        Ok(())
    }
}

impl fmt::Display for PacketExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fields = Vec::new();
        match self.icmp {
            Some(kind) => icmp_head(f, self.from, self.to, kind)?,
            None => head(f, self.from, self.to, self.flags)?,
        }
        match self.seq {
            Some((s, Some(e))) => fields.push(format!("seq {s}:{e}")),
            Some((s, None)) => fields.push(format!("seq {s}")),
            None => {}
        }
        if let Some(a) = self.ack {
            fields.push(format!("ack {a}"));
        }
        if let Some(w) = self.win {
            fields.push(format!("win {w}"));
        }
        if let Some(opts) = &self.options {
            let items: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
            fields.push(format!("options [{}]", items.join(",")));
        }
        if let Some(l) = self.length {
            fields.push(format!("length {l}"));
        }
        let mut t = fields.join(", ");
        if let Some(w) = self.timing {
            t += &format!("  {w}");
        }
        if let Some(m) = self.mark {
            t += &format!("  {}", m.word());
        }
        f.write_str(t.trim_end())
    }
}

impl PacketExpect {
    /// Why `seen` is not this packet, or None when it is; its timing
    /// window is judged `tol` wider on both sides.
    pub fn mismatch(&self, seen: &Seen, tol: Tolerance) -> Option<String> {
        if (self.from, self.to) != (seen.from, seen.to) {
            return Some(format!(
                "direction: expected {} > {}, saw {} > {}",
                self.from, self.to, seen.from, seen.to
            ));
        }
        match (self.icmp, seen.icmp) {
            (Some(want), Some(saw)) if want != saw => {
                return Some(format!("icmp: expected {want}, saw {saw}"))
            }
            (Some(want), None) => {
                return Some(format!(
                    "expected icmp {want}, saw a segment [{}]",
                    seen.flags
                ))
            }
            (None, Some(saw)) => {
                return Some(format!(
                    "expected a segment [{}], saw icmp {saw}",
                    self.flags
                ))
            }
            _ => {}
        }
        if self.flags != seen.flags {
            return Some(format!(
                "flags: expected [{}], saw [{}]",
                self.flags, seen.flags
            ));
        }
        if let Some((start, end)) = self.seq {
            if start != seen.seq {
                return Some(format!("seq: expected {start}, saw {}", seen.seq));
            }
            let seen_end = seen.seq.wrapping_add(seen.len);
            if let Some(end) = end {
                if end != seen_end {
                    return Some(format!(
                        "seq: expected {start}:{end}, saw {start}:{seen_end}"
                    ));
                }
            }
        }
        if let Some(ack) = self.ack {
            if !seen.flags.contains(TcpFlags::ACK) || ack != seen.ack {
                return Some(format!("ack: expected {ack}, saw {}", seen.ack));
            }
        }
        if let Some(win) = self.win {
            if win != seen.win {
                return Some(format!("win: expected {win}, saw {}", seen.win));
            }
        }
        if let Some(len) = self.length {
            if len != seen.len {
                return Some(format!("length: expected {len}, saw {}", seen.len));
            }
        }
        if let Some(opts) = &self.options {
            let ok = opts.len() == seen.options.len()
                && opts.iter().zip(&seen.options).all(|(e, o)| e.matches(o));
            if !ok {
                let want: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
                return Some(format!(
                    "options: expected [{}], saw {}",
                    want.join(","),
                    OptionList(&seen.options)
                ));
            }
        }
        if let Some(want) = self.mark {
            let did = seen.ctx.marked.map(|m| m.mark);
            if did != Some(want) {
                let saw = seen
                    .ctx
                    .marked
                    .map_or_else(|| not_marked(want).to_string(), |m| m.to_string());
                return Some(format!("expected it {}, but {saw}", want.word()));
            }
        }
        self.timing.and_then(|t| late(t, seen, tol))
    }
}

/// What the run says of a packet nothing marked, for a line that expected `want`.
fn not_marked(want: Mark) -> &'static str {
    match want {
        Mark::Injected => "a kernel sent it",
        _ => "no rule acted on it",
    }
}

/// Why `seen` came outside the window of `timing` (widened by `tol`), or
/// None. The failure names the window as written, and the tolerance.
fn late(timing: Timing, seen: &Seen, tol: Tolerance) -> Option<String> {
    let (window, observed) = (timing.window(), seen.since(timing));
    let since = match timing {
        Timing::After(_) => "after the previous packet",
        Timing::At(_) => "after the latest action began",
    };
    let shown = |d: Duration| format!("{:.3}s", d.as_secs_f64());
    match observed {
        Some(t) if tol.holds(window, t) => None,
        Some(t) => Some(format!(
            "came {} {since}, outside {window}{}: {seen}",
            shown(t),
            tol.note()
        )),
        None if matches!(timing, Timing::After(_)) => Some(format!(
            "is the first packet captured: nothing before it to time it from: {seen}"
        )),
        None => Some(format!(
            "came before the latest action began, outside {timing}: {seen}"
        )),
    }
}

/// Where a block and the capture part ways.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// Index of the first packet that differs (in both lists).
    pub index: usize,
    pub reason: String,
}

/// Whether `seen` matches none of `alts` but is the start of one of them:
/// the rest may still be on its way (a segment the receiving kernel has
/// not yet handled, a reset it has not yet sent), so the block should wait
/// for more before it fails.
pub fn awaits_more(alts: &[Vec<PacketExpect>], seen: &[Seen], tol: Tolerance) -> bool {
    let mut prefix = false;
    for alt in alts {
        match compare(alt, seen, tol) {
            None => return false,
            Some(d) if d.index == seen.len() && alt.len() > seen.len() => prefix = true,
            Some(_) => {}
        }
    }
    prefix
}

/// Compares a block with the packets captured for it: same count, same
/// order, each matching (timing windows `tol` wider). None when they agree.
pub fn compare(expected: &[PacketExpect], seen: &[Seen], tol: Tolerance) -> Option<Divergence> {
    for (i, (e, s)) in expected.iter().zip(seen).enumerate() {
        if let Some(reason) = e.mismatch(s, tol) {
            return Some(Divergence { index: i, reason });
        }
    }
    match expected.len().cmp(&seen.len()) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(Divergence {
            index: seen.len(),
            reason: format!(
                "missing packet: expected {} packets, captured {}",
                expected.len(),
                seen.len()
            ),
        }),
        std::cmp::Ordering::Less => Some(Divergence {
            index: expected.len(),
            reason: format!(
                "extra packet: expected {} packets, captured {}",
                expected.len(),
                seen.len()
            ),
        }),
    }
}
