//! `HOST sends SEGMENT`: a crafted segment sent from HOST's veth end into
//! the case's connection (`crate::inject` builds and sends it), then found
//! again in the capture, so every view can mark it and the next `packets`
//! block holds the kernel's answer like any other packet.

use std::time::Instant;

use super::session::{Session, StepError};
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
        inject::resolve(spec, host, &real, port, super::now()).map_err(|m| {
            (
                line,
                format!("cannot build the segment of `{host} sends {spec}`: {m}"),
            )
        })?;
        let from = self.capture_so_far().len();
        let injected = inject::inject(&self.lab, host, spec, &real, port)
            .map_err(|e| (line, format!("{host} sends {spec}: {e}")))?;
        let index = self.wait_captured(line, &injected, from)?;
        let shown = crate::report::tcpdump::Printer::new().line(&injected.packet);
        self.log.push(format!(
            "{:>7.3}s  {line}: sent {shown}",
            self.start.elapsed().as_secs_f64()
        ));
        self.sent.push(index);
        self.settle(line)
    }

    /// Every captured packet so far.
    fn capture_so_far(&self) -> &[Packet] {
        self.capture
            .as_ref()
            .expect("capture lives until the end")
            .packets()
    }

    /// The captured packets that HOST's kernels sent (injected ones left out).
    fn real_packets(&self) -> Vec<Packet> {
        self.capture_so_far()
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.sent.contains(i))
            .map(|(_, p)| p.clone())
            .collect()
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
            capture.poll().map_err(|e| (line, e.to_string()))?;
            let found = capture.packets()[from..]
                .iter()
                .position(|p| injected.is(p));
            if let Some(k) = found {
                return Ok(from + k);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err((
                    line,
                    format!(
                        "the injected segment was sent ({}) but the capture did not show it within {:?}",
                        crate::report::tcpdump::Printer::new().line(&injected.packet),
                        self.opts.deadline
                    ),
                ));
            }
            capture.wait_readable(left);
        }
    }
}
