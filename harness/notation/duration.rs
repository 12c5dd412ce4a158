//! The one duration grammar: a number and a unit, `us`, `ms`, `s` or
//! `min` (`300us`, `200ms`, `1.5s`, `1min`), never negative and at most a
//! day; `LO..HI` windows of two of them. Every duration a case file, a
//! fault's words (`netem ... delay 20ms 5ms`) or an environment variable
//! (`TCPLAB_DEADLINE_MS`, `TCPLAB_CASE_TIMEOUT`, `TCPLAB_TIME_TOLERANCE`)
//! holds is read here, so they all take the same units. And how a run's
//! timing tolerance widens a window ([`Tolerance`]; the variable is read
//! in `case::run::limits`).

use std::fmt;
use std::time::Duration;

use crate::error::Malformed;

/// The longest duration anything may write: a day covers every TCP timer
/// (keepalive idle is at most 32767 s); anything longer is a typo, and one
/// as long as `1e20s` would not even fit a Duration.
pub const MAX: Duration = Duration::from_secs(24 * 3600);

/// The units, longest suffix first (`ms` and `us` before `s`), with their
/// length in seconds.
const UNITS: [(&str, f64); 4] = [("min", 60.0), ("ms", 1e-3), ("us", 1e-6), ("s", 1.0)];

const HINT: &str = "a duration is a number with a unit (us, ms, s, min), at most a day (86400s): \
     `300us`, `200ms`, `58s`, `1.5s`, `1min`";

/// `300us`, `200ms`, `1.5s`, `1min`; at most [`MAX`].
pub fn parse(s: &str) -> Result<Duration, Malformed> {
    let s = s.trim();
    let Some((num, scale)) = UNITS
        .iter()
        .find_map(|(unit, scale)| s.strip_suffix(unit).map(|n| (n, *scale)))
    else {
        return Err(Malformed::new(format!("`{s}` has no unit"), HINT));
    };
    match num.parse::<f64>().map(|v| v * scale) {
        Ok(v) if v > MAX.as_secs_f64() => Err(Malformed::new(
            format!("duration `{s}` is longer than a day"),
            HINT,
        )),
        Ok(v) if v >= 0.0 => Duration::try_from_secs_f64(v)
            .map_err(|_| Malformed::new(format!("bad duration `{s}`"), HINT)),
        _ => Err(Malformed::new(format!("bad duration `{s}`"), HINT)),
    }
}

/// A duration, or a bare number in `bare` units (`1000000000` ns is a
/// second): how an environment variable that once took only a number
/// (`TCPLAB_DEADLINE_MS=60000`, `TCPLAB_CASE_TIMEOUT=600`) keeps that
/// spelling beside the units.
pub fn parse_or_bare(s: &str, bare: Duration) -> Result<Duration, Malformed> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<u64>().ok().and_then(|n| {
            u32::try_from(n)
                .ok()
                .and_then(|n| bare.checked_mul(n))
                .filter(|d| *d <= MAX)
        }) {
            Some(d) => Ok(d),
            None => Err(Malformed::new(
                format!("duration `{t}` is longer than a day"),
                HINT,
            )),
        };
    }
    parse(t)
}

/// A duration as a case file writes it, the shortest exact form where
/// there is one: `60s`, `200ms`, `300us`, `1.5s`.
pub fn show(d: Duration) -> String {
    if d.subsec_nanos() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d >= Duration::from_secs(1) {
        format!("{}s", d.as_secs_f64())
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else if d.subsec_nanos() % 1000 == 0 {
        format!("{}us", d.as_micros())
    } else {
        format!("{}ms", d.as_secs_f64() * 1e3)
    }
}

/// `58s..60s`: a closed interval of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub lo: Duration,
    pub hi: Duration,
}

impl Window {
    pub fn parse(s: &str) -> Result<Window, Malformed> {
        const HINT: &str = "a time window is `LOW..HIGH`, e.g. `58s..60s` or `0ms..200ms`";
        let (lo, hi) = s
            .split_once("..")
            .ok_or_else(|| Malformed::new(format!("bad time window `{s}`"), HINT))?;
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(Malformed::new(
                format!("time window `{s}` ends before it starts"),
                HINT,
            ));
        }
        Ok(Window { lo, hi })
    }

    pub fn contains(&self, d: Duration) -> bool {
        self.lo <= d && d <= self.hi
    }

    /// `by` wider on both sides, the low end no earlier than zero: how a
    /// run with a timing tolerance ([`Tolerance`]) judges the window.
    pub fn widened(self, by: Duration) -> Window {
        Window {
            lo: self.lo.saturating_sub(by),
            hi: self.hi.saturating_add(by),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", show(self.lo), show(self.hi))
    }
}

/// The variable that sets a run's [`Tolerance`].
pub const TOLERANCE_ENV: &str = "TCPLAB_TIME_TOLERANCE";

/// How much wider, on both sides, than a case writes it every window of
/// *when something happened* is judged: a packet's `after`/`at`, a wait's
/// `at`, a system call's `at`, an exit's `within`. Like packetdrill's
/// `--tolerance_usecs`, for machines whose clocks jitter: under QEMU's TCG
/// a capture stamps a packet tens of ms after TCP sent it, and a timer
/// fires a stale jiffy early in real time (rto-backoff's `after
/// 0.2s..0.3s` saw 0.198 s there, a 0.4..0.55 s gap 0.374 s).
///
/// Not widened: socket state read from the kernel (`rto`, a `timer`'s
/// time left, TIME-WAIT's timer): those are the kernel's own jiffies
/// values, exact on any machine, not the moment an event was seen.
/// Zero (the default) judges every window as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tolerance(pub Duration);

impl Tolerance {
    /// Every window as written.
    pub const NONE: Tolerance = Tolerance(Duration::ZERO);

    /// Whether `t` falls in `w` widened by the tolerance.
    pub fn holds(self, w: Window, t: Duration) -> bool {
        w.widened(self.0).contains(t)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// What a failure says after the window it names: ` (±50ms
    /// TCPLAB_TIME_TOLERANCE)`, or nothing without a tolerance.
    pub fn note(self) -> String {
        if self.is_zero() {
            String::new()
        } else {
            format!(" ({self} {TOLERANCE_ENV})")
        }
    }
}

impl fmt::Display for Tolerance {
    /// `±50ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\u{b1}{}", show(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_reads_the_same_everywhere() {
        for (text, d) in [
            ("300us", Duration::from_micros(300)),
            ("200ms", Duration::from_millis(200)),
            ("1.5s", Duration::from_millis(1500)),
            ("1min", Duration::from_secs(60)),
            ("1e3ms", Duration::from_secs(1)),
            (" 0s ", Duration::ZERO),
            ("86400s", MAX),
        ] {
            assert_eq!(parse(text), Ok(d), "{text}");
        }
    }

    #[test]
    fn bad_durations_say_why() {
        for (text, says) in [
            ("20", "has no unit"),
            ("5h", "has no unit"),
            ("86401s", "longer than a day"),
            ("infs", "longer than a day"),
            ("1e20s", "longer than a day"),
            ("NaNs", "bad duration"),
            ("-1s", "bad duration"),
            ("s", "bad duration"),
            ("1 s", "bad duration"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.msg.contains(says), "{text}: {}", e.msg);
            assert!(e
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("us, ms, s, min")));
        }
    }

    #[test]
    fn a_bare_number_takes_the_old_unit() {
        let ms = Duration::from_millis(1);
        assert_eq!(parse_or_bare("60000", ms), Ok(Duration::from_secs(60)));
        assert_eq!(parse_or_bare("5s", ms), Ok(Duration::from_secs(5)));
        let s = Duration::from_secs(1);
        assert_eq!(parse_or_bare("600", s), Ok(Duration::from_secs(600)));
        assert_eq!(parse_or_bare("10min", s), Ok(Duration::from_secs(600)));
        for bad in ["86401", "99999999999999999999", "-5", "abc", ""] {
            assert!(parse_or_bare(bad, s).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_widened_window_grows_both_ways_but_never_below_zero() {
        let ms = Duration::from_millis;
        let w = Window::parse("200ms..300ms").unwrap();
        assert_eq!(
            w.widened(ms(50)),
            Window {
                lo: ms(150),
                hi: ms(350)
            }
        );
        assert_eq!(
            w.widened(ms(250)),
            Window {
                lo: ms(0),
                hi: ms(550)
            }
        );
        assert_eq!(w.widened(Duration::ZERO), w);
        assert_eq!(w.widened(Duration::MAX).hi, Duration::MAX);
    }

    #[test]
    fn a_tolerance_holds_a_time_just_outside_the_window_and_says_so() {
        let ms = Duration::from_millis;
        let w = Window::parse("200ms..300ms").unwrap();
        assert!(!Tolerance::NONE.holds(w, ms(190)));
        assert!(Tolerance(ms(20)).holds(w, ms(190)));
        assert!(Tolerance(ms(20)).holds(w, ms(320)));
        assert!(!Tolerance(ms(20)).holds(w, ms(321)));
        assert_eq!(Tolerance::NONE.note(), "");
        assert_eq!(
            Tolerance(ms(50)).note(),
            " (\u{b1}50ms TCPLAB_TIME_TOLERANCE)"
        );
    }

    #[test]
    fn show_prints_what_parse_reads_back() {
        for d in [
            Duration::from_secs(60),
            Duration::from_millis(200),
            Duration::from_micros(300),
            Duration::from_millis(1500),
            Duration::from_micros(1500),
            Duration::ZERO,
        ] {
            assert_eq!(parse(&show(d)), Ok(d), "{}", show(d));
        }
        assert_eq!(show(Duration::from_millis(900)), "900ms");
        assert_eq!(show(Duration::from_micros(300)), "300us");
    }
}
