//! A set block's failure text, as the report shows it.

use std::fmt::Write as _;

use super::session::StepError;

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
    for (i, o) in observed.iter().enumerate() {
        let _ = writeln!(t, "  {} {o}", if extra.contains(&i) { ">>" } else { "  " });
    }
    if observed.is_empty() {
        let _ = writeln!(t, "     (none)");
    }
    (line, t.trim_end().to_string())
}
