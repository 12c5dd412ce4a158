//! Medians of alternated runs, and how durations are written in the table.

use std::time::Duration;

use tcplab::error::Error;

/// The median (the mean of the middle two for an even count); zero for
/// no samples.
pub fn median(samples: &[Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort();
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    }
}

/// Runs `a` and `b` one after the other `rounds` times (a b a b ...), so
/// that whatever else the machine does in the meantime weighs on both
/// alike. Returns each side's samples; stops at the first error.
pub fn alternate<A, B>(
    rounds: usize,
    mut a: A,
    mut b: B,
) -> Result<(Vec<Duration>, Vec<Duration>), Error>
where
    A: FnMut() -> Result<Duration, Error>,
    B: FnMut() -> Result<Duration, Error>,
{
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        sa.push(a()?);
        sb.push(b()?);
    }
    Ok((sa, sb))
}

/// `12.3 ms`, `1.234 s`, `45 µs`: three significant figures or so.
pub fn show(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1e3)
    } else if ms >= 1_000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.0} µs", ms * 1e3)
    }
}

/// `a / b` as `0.42x`.
pub fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "–".into();
    }
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
}

/// `part` as a percentage of `whole`.
pub fn share(part: Duration, whole: Duration) -> String {
    if whole.is_zero() {
        return "–".into();
    }
    format!("{:.0} %", 100.0 * part.as_secs_f64() / whole.as_secs_f64())
}

/// Spread of samples, for the notes: `min..max`.
pub fn range(samples: &[Duration]) -> String {
    match (samples.iter().min(), samples.iter().max()) {
        (Some(lo), Some(hi)) => format!("{}..{}", show(*lo), show(*hi)),
        _ => "–".into(),
    }
}
