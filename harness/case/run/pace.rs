//! How often a wait looks again. Most waits end within a few milliseconds
//! of the action that started them, so a wait looks often at first and
//! then less and less; and it sleeps on the capture, so a segment on the
//! wire (when states change) wakes it at once. A timed wait (`at` window)
//! looks finely only near the window's edges, where the verdict is.
//!
//! Measured before (every wait slept 1 ms between looks, and each look
//! cost two sock_diag dumps of the host's whole TCP table): a settle kept
//! 80 % of a core busy, and the suite used 30 s of CPU.

use std::time::Duration;

use super::super::rows::Window;

/// The first pause; the pause while the wait is young (a program's start
/// takes 1 to 3 ms here, and is seen within STEADY of its end); how long
/// the wait stays young; and the most a pause grows to afterwards: a jiffy
/// at HZ=250, the kernel's own granularity for TCP's timers.
const FIRST: Duration = Duration::from_micros(50);
const STEADY: Duration = Duration::from_micros(250);
const YOUNG: Duration = Duration::from_millis(5);
const MOST: Duration = Duration::from_millis(4);

/// Pauses of FIRST, then STEADY while the wait is YOUNG, then doubling to
/// MOST. A look costs about 0.1 ms of CPU (two sock_diag dumps and /proc),
/// so a young wait uses about half a core, and an old one next to nothing.
pub(super) struct Backoff {
    /// The wait's start, or when something last happened.
    since: std::time::Instant,
    next: Duration,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff {
            since: std::time::Instant::now(),
            next: FIRST,
        }
    }

    /// The pause before the next look.
    pub fn pause(&mut self) -> Duration {
        self.pause_at(self.since.elapsed())
    }

    fn pause_at(&mut self, age: Duration) -> Duration {
        let p = self.next;
        self.next = if age < YOUNG {
            STEADY
        } else {
            (self.next * 2).clamp(STEADY, MOST)
        };
        p
    }

    /// Something happened: look quickly again.
    pub fn reset(&mut self) {
        *self = Backoff::new();
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
    fn backoff_looks_often_while_young_then_doubles_to_a_jiffy() {
        let mut b = Backoff::new();
        let ms = Duration::from_millis;
        let young: Vec<u128> = (0..3).map(|_| b.pause_at(ms(1)).as_micros()).collect();
        assert_eq!(young, [50, 250, 250]);
        let old: Vec<u128> = (0..6).map(|_| b.pause_at(ms(6)).as_micros()).collect();
        assert_eq!(old, [250, 500, 1000, 2000, 4000, 4000]);
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
