//! A running case's clocks: when it started, when its time limit runs out
//! (no wait goes past it), and when the latest action began, on the
//! monotonic clock (for waits) and on the capture's (for `at` windows).

use std::time::{Duration, Instant};

pub(super) struct Clock {
    pub(super) start: Instant,
    /// When the case's time limit runs out: no wait goes past it.
    pub(super) end: Instant,
    /// When the latest action (start, type, signal, ^D) began: time
    /// windows count from here.
    pub(super) last_action: Instant,
    /// The same moment on the capture's clock, for `at` windows.
    pub(super) last_action_at: Duration,
}

impl Clock {
    /// Starting now, with `case_timeout` for the whole case.
    pub(super) fn new(case_timeout: Duration) -> Clock {
        let start = Instant::now();
        Clock {
            start,
            end: super::limits::capped(start, case_timeout, far_future()),
            last_action: start,
            last_action_at: now(),
        }
    }

    /// An action begins now: time windows count from here.
    pub(super) fn acted(&mut self) {
        self.last_action = Instant::now();
        self.last_action_at = now();
    }
}

/// A time no case reaches: what a limit saturates to.
fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600))
        .unwrap_or(now)
}

/// Wall-clock time, on the same clock as libpcap's time stamps.
pub(super) fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
