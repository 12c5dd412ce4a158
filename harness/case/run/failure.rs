//! Failure texts: what follows a failing step's first line, and a set
//! block's failure as the report shows it.

use std::fmt::Write as _;

use super::session::{Session, StepError};
use crate::packet::Packet;

impl Session<'_> {
    /// What follows the first line of a failure: the steps as they ran,
    /// the end of each command's stderr, the whole capture, its file.
    pub(super) fn explain(&self, text: &mut String, packets: &[Packet]) {
        let _ = writeln!(text, "  steps run:");
        for l in &self.log {
            let _ = writeln!(text, "    {l}");
        }
        for (side, p) in &self.commands.procs {
            let err = p.stderr();
            if !err.is_empty() {
                let _ = writeln!(text, "  stderr of `{}` on {side}: {err}", p.label());
            }
        }
        if !packets.is_empty() {
            let n = crate::tcpdump::connections(packets).len();
            let whole = if n <= crate::tcpdump::SHOWN_WHOLE {
                "the whole capture".to_string()
            } else {
                format!("the capture ({n} connections: the first and the last in full)")
            };
            let _ = writeln!(text, "  {whole}, as tcpdump -nn -r prints it:");
            for l in crate::tcpdump::brief(packets) {
                let _ = writeln!(text, "    {l}");
            }
        }
        let _ = writeln!(
            text,
            "  capture: {}  (read it with: tcpdump -nn -r {})",
            self.pcap.display(),
            self.pcap.display()
        );
    }
}

/// The most observed rows a set block's failure lists in full.
const SHOWN_ROWS: usize = 40;

/// A set block's failure: expected rows with `>>` on those nothing matched,
/// observed rows with `>>` on those nothing expected; attributed to the
/// first unmatched expected row's line, or to the block.
pub(super) fn set_failure(
    what: &str,
    block_line: usize,
    expected: Vec<(usize, String)>,
    missing: &[usize],
    observed_title: &str,
    observed: Vec<String>,
    extra: &[usize],
) -> StepError {
    let line = missing.first().map_or(block_line, |i| expected[*i].0);
    let mut t = format!(
        "{what} differ: {} expected row(s) unmatched, {} observed row(s) unexpected\n  expected:\n",
        missing.len(),
        extra.len()
    );
    for (i, (_, e)) in expected.iter().enumerate() {
        let _ = writeln!(
            t,
            "  {} {e}",
            if missing.contains(&i) { ">>" } else { "  " }
        );
    }
    if expected.is_empty() {
        let _ = writeln!(t, "     (none)");
    }
    let _ = writeln!(t, "  {observed_title}:");
    // A thousand alike rows say no more than a few: the first ones and
    // every unexpected one (up to a bound), then how many in all.
    let shown = |i: usize| {
        observed.len() <= SHOWN_ROWS || i < 10 || extra[..extra.len().min(SHOWN_ROWS)].contains(&i)
    };
    for (i, o) in observed.iter().enumerate().filter(|(i, _)| shown(*i)) {
        let _ = writeln!(t, "  {} {o}", if extra.contains(&i) { ">>" } else { "  " });
    }
    if observed.len() > SHOWN_ROWS {
        let _ = writeln!(
            t,
            "     ... {} rows in all, {} of them unexpected",
            observed.len(),
            extra.len()
        );
    }
    if observed.is_empty() {
        let _ = writeln!(t, "     (none)");
    }
    StepError::at(line, t.trim_end())
}
