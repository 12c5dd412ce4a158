//! A socket's pending timer, printed as `ss -o` prints it:
//! `timer:(timewait,58sec,0)`.

use std::fmt;
use std::time::Duration;

/// The kind of timer a socket has pending, as ss names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Retransmission (also SYN, SYN-ACK, loss probe): ss's `on`.
    On,
    Keepalive,
    /// The TIME-WAIT (or orphaned FIN-WAIT-2) lifetime.
    TimeWait,
    /// Zero-window probe.
    Persist,
}

impl TimerKind {
    /// From `idiag_timer`; 0 (no timer) and unknown values give None.
    pub fn from_kernel(timer: u8) -> Option<TimerKind> {
        match timer {
            1 => Some(TimerKind::On),
            2 => Some(TimerKind::Keepalive),
            3 => Some(TimerKind::TimeWait),
            4 => Some(TimerKind::Persist),
            _ => None,
        }
    }

    pub fn ss_name(self) -> &'static str {
        match self {
            TimerKind::On => "on",
            TimerKind::Keepalive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::Persist => "persist",
        }
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.ss_name())
    }
}

/// A socket's pending timer at the moment of the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    pub kind: TimerKind,
    /// Time left (the kernel reports milliseconds).
    pub left: Duration,
    /// Retransmissions (On), unanswered probes (Keepalive, Persist); 0 for
    /// TimeWait.
    pub retrans: u8,
}

impl fmt::Display for Timer {
    /// `timer:(timewait,58sec,0)`, as `ss -o`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timer:({},{},{})",
            self.kind,
            format_ms(self.left),
            self.retrans
        )
    }
}

/// A duration as ss prints timers (misc/ss.c `print_ms_timer`): `476ms`,
/// `1.098sec`, `9.501sec`, `58sec`, `1min5sec`, `12min`. Milliseconds are
/// shown only below 10 s; seconds only below 10 min; 0 gives an empty
/// string, as in ss.
///
/// Between 1 and 10 s, ss up to iproute2 6.10 (e.g. the installed 6.1)
/// prints `9.501ms` for 9501 ms; later ss prints `9.501sec` ("ss: fix
/// expired time format of timer", 2024). We print the unambiguous later form.
pub fn format_ms(d: Duration) -> String {
    let timeout = d.as_millis().min(u128::from(u32::MAX)) as u64;
    let mut secs = timeout / 1000;
    let minutes = secs / 60;
    secs %= 60;
    let mut msecs = timeout % 1000;
    let mut out = String::new();
    if minutes > 0 {
        msecs = 0;
        out.push_str(&format!("{minutes}min"));
        if minutes > 9 {
            secs = 0;
        }
    }
    if secs > 0 {
        if secs > 9 {
            msecs = 0;
        }
        out.push_str(&format!("{secs}{}", if msecs > 0 { "." } else { "sec" }));
    }
    if msecs > 0 {
        out.push_str(&format!(
            "{msecs:03}{}",
            if secs > 0 { "sec" } else { "ms" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    // Expected strings follow misc/ss.c print_ms_timer (with the 2024 "sec"
    // fix for 1..10 s).
    #[rstest]
    #[case(0, "")]
    #[case(1, "001ms")]
    #[case(476, "476ms")]
    #[case(1000, "1sec")]
    #[case(1098, "1.098sec")]
    #[case(9501, "9.501sec")]
    #[case(9999, "9.999sec")]
    #[case(10_000, "10sec")]
    #[case(10_999, "10sec")]
    #[case(57_996, "57sec")]
    #[case(59_999, "59sec")]
    #[case(60_000, "1min")]
    #[case(61_500, "1min1sec")]
    #[case(119_999, "1min59sec")]
    #[case(600_000, "10min")]
    #[case(659_000, "10min")]
    fn timer_format(#[case] ms: u64, #[case] text: &str) {
        assert_eq!(format_ms(Duration::from_millis(ms)), text);
    }

    #[rstest]
    #[case(TimerKind::TimeWait, 58_123, 0, "timer:(timewait,58sec,0)")]
    #[case(TimerKind::On, 204, 0, "timer:(on,204ms,0)")]
    #[case(TimerKind::On, 3_010, 2, "timer:(on,3.010sec,2)")]
    #[case(TimerKind::Keepalive, 7_200_000, 0, "timer:(keepalive,120min,0)")]
    #[case(TimerKind::Persist, 400, 1, "timer:(persist,400ms,1)")]
    fn timer_display(
        #[case] kind: TimerKind,
        #[case] ms: u64,
        #[case] retrans: u8,
        #[case] text: &str,
    ) {
        let t = Timer {
            kind,
            left: Duration::from_millis(ms),
            retrans,
        };
        assert_eq!(t.to_string(), text);
    }
}
