//! `HOST sends SEGMENT`: a crafted segment sent from HOST's veth end into
//! the case's connection (`crate::inject` builds and sends it), then found
//! again in the capture, so every view can mark it and the next `packets`
//! block holds the kernel's answer like any other packet.

use std::time::Instant;

use super::super::expect::{Mark, Marked};
use super::position::Sent;
use super::session::{Session, StepError};
use crate::case::outcome::{Event, Timed};
use crate::inject::{self, Injected, SegmentSpec};
use crate::lab::Side;
use crate::packet::Packet;

impl Session<'_> {
    /// Settles (so `rcv_nxt` is the peer's latest ACK on the wire), aims
    /// the segment at the connection the capture shows without earlier
    /// injected segments (an injected data segment would otherwise move
    /// HOST's `snd_nxt`), sends it, waits until the capture shows it and
    /// settles again. A segment that cannot be aimed (no connection on the
    /// case's port, no ISN captured) fails the step before anything is sent.
    pub(super) fn send(
        &mut self,
        line: usize,
        host: Side,
        spec: &SegmentSpec,
    ) -> Result<(), StepError> {
        self.settle(line)?;
        let real = self.real_packets();
        let port = self.case.port;
        let family = self.opts.family;
        inject::resolve(spec, host, &real, port, family, super::clock::now()).map_err(|m| {
            StepError::at(
                line,
                format!("cannot build the segment of `{host} sends {spec}`: {m}"),
            )
        })?;
        let from = self.captured().len();
        let injected = inject::inject(&self.lab, host, spec, &real, port, family)
            .map_err(|e| StepError::at(line, format!("{host} sends {spec}: {e}")))?;
        self.sent_shown(line, &injected, from)
    }

    /// Settles, then sends an ICMP destination-unreachable message from
    /// HOST to its peer about the peer's latest real segment (none: the
    /// step fails before anything is sent), waits until the capture shows
    /// it and settles again.
    pub(super) fn send_icmp(
        &mut self,
        line: usize,
        host: Side,
        kind: crate::icmp::Unreachable,
    ) -> Result<(), StepError> {
        if self.opts.family == crate::sockets::Family::Ipv6 && kind.icmpv6().is_none() {
            return Err(StepError::at(
                line,
                format!(
                    "`{host} sends icmp {kind}` has no ICMPv6 form (RFC 4443 says an unknown next \
                     header with a parameter problem), and this run plays the case over IPv6 \
                     (TCPLAB_FAMILY=6): a case about it says `ipv4-only REASON` at its top"
                ),
            ));
        }
        self.settle(line)?;
        let real = self.real_packets();
        let port = self.case.port;
        inject::icmp::quoted(&real, host, port).map_err(|m| {
            StepError::at(
                line,
                format!("cannot build the message of `{host} sends icmp {kind}`: {m}"),
            )
        })?;
        let from = self.captured().len();
        let injected = inject::inject_icmp(&self.lab, host, kind, &real, port)
            .map_err(|e| StepError::at(line, format!("{host} sends icmp {kind}: {e}")))?;
        self.sent_shown(line, &injected, from)
    }

    /// Waits until the capture shows what a `sends` step injected, logs it,
    /// marks it for every view, and settles.
    fn sent_shown(
        &mut self,
        line: usize,
        injected: &Injected,
        from: usize,
    ) -> Result<(), StepError> {
        let index = self.wait_captured(line, injected, from)?;
        // As the whole capture prints it: numbered relative to the
        // connection (alone, tcpdump would print its ack absolute and its
        // SACK blocks against a base it made up).
        let shown = crate::tcpdump::lines(&self.captured()[..=index])
            .pop()
            .unwrap_or_default();
        self.log.push(format!(
            "{:>7.3}s  {line}: sent {shown}",
            self.clock.start.elapsed().as_secs_f64()
        ));
        self.position.sent.push(Sent { line, index });
        self.events.push(Timed {
            at: self.captured()[index].ts,
            event: Event::Injected(index),
        });
        self.settle(line)
    }

    /// The captured packets that HOST's kernels sent (injected ones left out).
    fn real_packets(&self) -> Vec<Packet> {
        self.captured()
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.position.sent.iter().any(|s| s.index == *i))
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// `marks` (what rules did to each captured packet, by index) with the
    /// injected packets marked `injected (line N)`. A rule's mark stays
    /// where one acted on an injected packet (the `sends` line is in the
    /// run log).
    pub(super) fn mark_injected(&self, marks: &mut [Option<Marked>]) {
        for s in &self.position.sent {
            if let Some(m @ None) = marks.get_mut(s.index) {
                *m = Some(Marked {
                    mark: Mark::Injected,
                    delay: None,
                    rule_line: s.line,
                    netem: false,
                });
            }
        }
    }

    /// The index of the injected segment in the capture, once libpcap has
    /// seen it (at `from` or later), under the deadline.
    fn wait_captured(
        &mut self,
        line: usize,
        injected: &Injected,
        from: usize,
    ) -> Result<usize, StepError> {
        let deadline = self.deadline();
        loop {
            let capture = self.capture.as_mut().expect("capture lives until the end");
            capture
                .poll()
                .map_err(|e| StepError::at(line, e.to_string()))?;
            let found = capture.packets()[from..]
                .iter()
                .position(|p| injected.is(p));
            if let Some(k) = found {
                return Ok(from + k);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StepError::at(
                    line,
                    format!(
                        "the injected segment was sent ({}) but the capture did not show it within {:?}",
                        crate::tcpdump::Printer::new().line(&injected.packet),
                        self.opts.deadline
                    ),
                ));
            }
            capture.wait_readable(left);
        }
    }
}
