//! How often a wait looks again. Most waits end within a millisecond of
//! the action that started them, so a wait looks quickly at first and then
//! less and less often; and it sleeps on the capture, so a segment on the
//! wire (when states change) wakes it at once. A timed wait (`at` window)
//! looks finely only near the window's edges, where the verdict is.
//!
//! Measured before (every wait slept 1 ms between looks, and each look
//! cost two sock_diag dumps of the host's whole TCP table): a settle kept
//! 80 % of a core busy, and the suite used 30 s of CPU.

use std::time::Duration;

use super::super::rows::Window;

/// The first pause, and the most a pause grows to: a jiffy at HZ=250, the
/// kernel's own granularity for TCP's timers.
const FIRST: Duration = Duration::from_micros(50);
const MOST: Duration = Duration::from_millis(4);

/// Pauses that double from FIRST to MOST.
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff { next: FIRST }
    }

    /// The pause before the next look.
    pub fn pause(&mut self) -> Duration {
        let p = self.next;
        self.next = (self.next * 2).min(MOST);
        p
    }

    /// Something happened: look quickly again.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

/// The pause of a timed wait at `now` since its action: a quarter of the
/// way to the nearer edge of `window`, between 1 ms and 100 ms, so a look
/// lands within 1 ms of either edge and far from them costs next to
/// nothing (a 61 s TIME-WAIT: a few hundred looks, not 61,000).
pub(super) fn near_edges(window: Window, now: Duration) -> Duration {
    let gap = |edge: Duration| edge.abs_diff(now);
    (gap(window.lo).min(gap(window.hi)) / 4)
        .clamp(Duration::from_millis(1), Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_jiffy_and_starts_over_on_reset() {
        let mut b = Backoff::new();
        let first: Vec<u128> = (0..9).map(|_| b.pause().as_micros()).collect();
        assert_eq!(first, [50, 100, 200, 400, 800, 1600, 3200, 4000, 4000]);
        b.reset();
        assert_eq!(b.pause(), FIRST);
    }

    #[test]
    fn a_timed_wait_looks_finely_only_near_its_edges() {
        let w = Window {
            lo: Duration::from_secs(60),
            hi: Duration::from_millis(62_100),
        };
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(near_edges(w, ms(0)), ms(100));
        assert_eq!(near_edges(w, ms(59_800)), ms(50));
        assert_eq!(near_edges(w, ms(59_999)), ms(1));
        assert_eq!(near_edges(w, ms(61_000)), ms(100));
        assert_eq!(near_edges(w, ms(62_090)), Duration::from_micros(2500));
    }
}
