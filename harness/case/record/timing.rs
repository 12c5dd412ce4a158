//! What record mode writes after a packet's fields: its timing window and
//! its mark.
//!
//! A window the case already had is kept, as written, while it still holds.
//! Otherwise a window is written only for a packet that came at least
//! 100 ms after the previous one — a timer's doing (a retransmission, a
//! delayed ACK), not the microseconds between a packet and its answer —
//! around the measured time t: from 0.8 t rounded down to 10 ms to
//! 1.25 t + 50 ms rounded up, room for a loaded machine. A line that had a
//! window that no longer holds gets a new one of the same kind (`after` or
//! `at`) whatever the time. The mark (`dropped`, `delayed`, ...) is
//! written for every packet a rule or link fault acted on.

use std::time::Duration;

use super::super::expect::{PacketExpect, Seen, Timing};
use super::super::rows::Window;

/// Gaps shorter than this are not timed by a recorded line.
const TIMER_DRIVEN: Duration = Duration::from_millis(100);

/// `  after 800ms..1.31s  dropped`, or the empty string.
pub(super) fn tail(s: &Seen, model: Option<&PacketExpect>, original: Option<&str>) -> String {
    let mut t = String::new();
    if let Some(timing) = timing(s, model.and_then(|m| m.timing), original) {
        t += &format!("  {timing}");
    }
    if let Some(m) = s.ctx.marked {
        t += &format!("  {}", m.mark.word());
    }
    t
}

fn timing(s: &Seen, old: Option<Timing>, original: Option<&str>) -> Option<String> {
    match old {
        Some(old) if s.within(old) => Some(written(old, original).unwrap_or(old.to_string())),
        Some(old) => {
            let kind = match old {
                Timing::After(_) => Timing::After,
                Timing::At(_) => Timing::At,
            };
            s.since(old).map(|t| kind(around(t)).to_string())
        }
        None => s
            .ctx
            .gap
            .filter(|g| *g >= TIMER_DRIVEN)
            .map(|g| Timing::After(around(g)).to_string()),
    }
}

/// The window around a measured time: 0.8 t down to 10 ms, 1.25 t + 50 ms
/// up to 10 ms.
pub(super) fn around(t: Duration) -> Window {
    let ms = t.as_secs_f64() * 1000.0;
    let lo = ((ms * 0.8) / 10.0).floor() * 10.0;
    let hi = ((ms * 1.25 + 50.0) / 10.0).ceil() * 10.0;
    Window {
        lo: Duration::from_millis(lo as u64),
        hi: Duration::from_millis(hi as u64),
    }
}

/// The timing as the original line wrote it (`at 0.2s..0.4s` stays so).
fn written(old: Timing, original: Option<&str>) -> Option<String> {
    let word = match old {
        Timing::After(_) => "after",
        Timing::At(_) => "at",
    };
    let words: Vec<&str> = original?.split_whitespace().collect();
    let i = words
        .iter()
        .rposition(|w| *w == word)
        .filter(|i| words.get(i + 1).is_some_and(|w| w.contains("..")))?;
    Some(format!("{word} {}", words[i + 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::expect::{Context, Mark, Marked};
    use crate::lab::Side;

    fn seen(gap_ms: u64) -> Seen {
        Seen {
            from: Side::Client,
            to: Side::Server,
            flags: "S".parse().unwrap(),
            seq: 0,
            ack: 0,
            win: 0,
            len: 0,
            options: vec![],
            icmp: None,
            ctx: Context {
                gap: Some(Duration::from_millis(gap_ms)),
                since_action: Some(Duration::from_millis(gap_ms + 5)),
                ..Context::default()
            },
        }
    }

    fn expect(timing: &str) -> PacketExpect {
        let case = crate::case::parse::parse(
            std::path::Path::new("x.case"),
            &format!("packets\n  client > server  [S]  seq 0  {timing}\n"),
        )
        .unwrap();
        match &case.items[0].kind {
            crate::case::ItemKind::Packets(alts) => alts[0][0].clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn windows_are_written_only_for_timer_driven_gaps() {
        assert_eq!(tail(&seen(0), None, None), "");
        assert_eq!(tail(&seen(99), None, None), "");
        assert_eq!(tail(&seen(1005), None, None), "  after 800ms..1.31s");
        assert_eq!(tail(&seen(206), None, None), "  after 160ms..310ms");
    }

    #[test]
    fn a_window_that_still_holds_is_kept_as_written() {
        let line = "  client > server  [S]  seq 0  at 0.2s..0.4s";
        let e = expect("at 0.2s..0.4s");
        assert_eq!(tail(&seen(250), Some(&e), Some(line)), "  at 0.2s..0.4s");
        // It no longer holds: a new window of the same kind, whatever the gap.
        assert_eq!(tail(&seen(40), Some(&e), Some(line)), "  at 30ms..110ms");
    }

    #[test]
    fn marks_are_written_for_what_rules_did() {
        let mut s = seen(0);
        s.ctx.marked = Some(Marked {
            mark: Mark::Dropped,
            delay: None,
            rule_line: 7,
            netem: false,
        });
        assert_eq!(tail(&s, None, None), "  dropped");
    }
}
