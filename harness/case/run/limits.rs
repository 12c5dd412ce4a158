//! A case's time limit: every wait of a case ends by its deadline or by
//! the case's end, whichever comes first, so no window written in a case
//! file (`gone at 0s..100000s`) can hold a run for hours. A wait whose own
//! window cannot fit the limit fails before the lab is built. And the
//! run's timing tolerance: how much wider than written a window of when
//! something happened is judged.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::super::rows::show_duration;
use super::super::{Case, ItemKind};
use crate::error::Malformed;
use crate::notation::duration::{self, Tolerance, TOLERANCE_ENV};

/// The whole of one case, unless TCPLAB_CASE_TIMEOUT says otherwise: the
/// longest committed case (`time-wait-expiry`) takes about 61 s.
pub const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// How to raise the limit, for messages.
pub const RAISE: &str = "raise it with TCPLAB_CASE_TIMEOUT=SECONDS (or e.g. 10min)";

/// TCPLAB_CASE_TIMEOUT: seconds, or a duration (`90s`, `10min`), at most
/// a day; unset or empty is [`DEFAULT_CASE_TIMEOUT`].
pub fn case_timeout_from_env() -> Result<Duration, Malformed> {
    from_env("TCPLAB_CASE_TIMEOUT", DEFAULT_CASE_TIMEOUT, case_timeout)
}

/// Variable `name` read by `parse`; unset or empty is `unset`.
fn from_env<T>(
    name: &str,
    unset: T,
    parse: impl FnOnce(&str) -> Result<T, Malformed>,
) -> Result<T, Malformed> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => parse(&v),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(unset),
        Err(std::env::VarError::NotUnicode(v)) => {
            Err(format!("{name}={v:?} is not a duration").into())
        }
    }
}

/// How long one wait (a settle, a line, an exit) may take unless
/// TCPLAB_DEADLINE_MS says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// TCPLAB_DEADLINE_MS: milliseconds (its old spelling, `60000`), or a
/// duration in the notation's units (`60s`, `1min`); unset or empty is
/// [`DEFAULT_DEADLINE`].
pub fn deadline_from_env() -> Result<Duration, Malformed> {
    from_env("TCPLAB_DEADLINE_MS", DEFAULT_DEADLINE, deadline)
}

/// A TCPLAB_DEADLINE_MS value: milliseconds, or a duration, at most a day.
pub fn deadline(v: &str) -> Result<Duration, Malformed> {
    match duration::parse_or_bare(v, Duration::from_millis(1)) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(Malformed::new(
            "TCPLAB_DEADLINE_MS=0: every wait needs some time",
            "",
        )),
        Err(b) => Err(format!(
            "TCPLAB_DEADLINE_MS={v}: {} (milliseconds, or e.g. `5s`, `500ms`; at most a day)",
            b.msg
        )
        .into()),
    }
}

/// A TCPLAB_CASE_TIMEOUT value: seconds, or a duration, at most a day.
pub fn case_timeout(v: &str) -> Result<Duration, Malformed> {
    match duration::parse_or_bare(v, Duration::from_secs(1)) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(Malformed::new(
            "TCPLAB_CASE_TIMEOUT=0: a case needs some time",
            "",
        )),
        Err(b) => Err(format!(
            "TCPLAB_CASE_TIMEOUT={v}: {} (seconds, or e.g. `600s`, `10min`; at most a day)",
            b.msg
        )
        .into()),
    }
}

/// TCPLAB_TIME_TOLERANCE, read once per process: milliseconds or a
/// duration (`50ms`, `0.05s`); unset or empty is [`Tolerance::NONE`].
pub fn tolerance_from_env() -> Result<Tolerance, Malformed> {
    static READ: OnceLock<Result<Tolerance, Malformed>> = OnceLock::new();
    READ.get_or_init(|| from_env(TOLERANCE_ENV, Tolerance::NONE, tolerance))
        .clone()
}

/// A TCPLAB_TIME_TOLERANCE value: milliseconds, or a duration, at most a
/// day; zero is none.
pub fn tolerance(v: &str) -> Result<Tolerance, Malformed> {
    duration::parse_or_bare(v, Duration::from_millis(1))
        .map(Tolerance)
        .map_err(|b| {
            format!(
                "{TOLERANCE_ENV}={v}: {} (milliseconds, or e.g. `50ms`, `0.1s`; at most a day)",
                b.msg
            )
            .into()
        })
}

/// The run's tolerance for a unit test that times the kernel itself: what
/// it adds to its bounds (a bad value fails the test, saying why).
#[cfg(test)]
pub(crate) fn time_tolerance() -> Duration {
    tolerance_from_env().unwrap_or_else(|e| panic!("{e}")).0
}

/// `base + d`, or `end` if that comes first (or would overflow).
pub(super) fn capped(base: Instant, d: Duration, end: Instant) -> Instant {
    base.checked_add(d).map_or(end, |t| t.min(end))
}

/// A `wait ... at LOW..HIGH` that may outlast the case's time limit.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "this wait may take up to {}, more than the case's time limit of {}: {RAISE}",
    show_duration(*longest),
    show_duration(*limit)
)]
pub(crate) struct WaitTooLong {
    /// The wait's line in the case file.
    pub(crate) line: usize,
    /// HIGH and a second.
    pub(crate) longest: Duration,
    pub(crate) limit: Duration,
}

/// The first `wait ... at LOW..HIGH` whose wait (up to HIGH and a second)
/// is longer than `limit`.
pub(crate) fn check_windows(case: &Case, limit: Duration) -> Result<(), WaitTooLong> {
    for item in &case.items {
        if let ItemKind::Wait { at: Some(w), .. } = &item.kind {
            let longest = w.hi.saturating_add(Duration::from_secs(1));
            if longest > limit {
                return Err(WaitTooLong {
                    line: item.line,
                    longest,
                    limit,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_timeout_takes_seconds_or_a_duration_up_to_a_day() {
        assert_eq!(case_timeout("600"), Ok(Duration::from_secs(600)));
        assert_eq!(case_timeout(" 10min "), Ok(Duration::from_secs(600)));
        assert_eq!(case_timeout("86400"), Ok(Duration::from_secs(86400)));
        for bad in ["0", "86401", "1e30s", "abc", "-5", "5 s"] {
            let e = case_timeout(bad).unwrap_err();
            assert!(
                e.msg.starts_with(&format!("TCPLAB_CASE_TIMEOUT={bad}")),
                "{e}"
            );
        }
    }

    #[test]
    fn deadline_takes_milliseconds_or_a_duration() {
        assert_eq!(deadline("60000"), Ok(Duration::from_secs(60)));
        assert_eq!(deadline("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(deadline("300us"), Ok(Duration::from_micros(300)));
        for bad in ["0", "86400001", "abc", "-5", "5 s"] {
            let e = deadline(bad).unwrap_err();
            assert!(
                e.msg.starts_with(&format!("TCPLAB_DEADLINE_MS={bad}")),
                "{e}"
            );
        }
    }

    #[test]
    fn tolerance_takes_milliseconds_or_a_duration_and_zero_is_none() {
        let ms = Duration::from_millis;
        assert_eq!(tolerance("50"), Ok(Tolerance(ms(50))));
        assert_eq!(tolerance(" 50ms "), Ok(Tolerance(ms(50))));
        assert_eq!(tolerance("0.1s"), Ok(Tolerance(ms(100))));
        assert_eq!(tolerance("0"), Ok(Tolerance::NONE));
        for bad in ["abc", "-5", "5 ms", "50h", "86400001", "1e30s"] {
            let e = tolerance(bad).unwrap_err();
            assert!(
                e.msg.starts_with(&format!("TCPLAB_TIME_TOLERANCE={bad}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn capped_never_overflows_and_never_passes_the_end() {
        let now = Instant::now();
        let end = now + Duration::from_secs(300);
        assert_eq!(capped(now, Duration::MAX, end), end);
        assert_eq!(
            capped(now, Duration::from_secs(1), end),
            now + Duration::from_secs(1)
        );
        assert_eq!(capped(now, Duration::from_secs(301), end), end);
    }
}
