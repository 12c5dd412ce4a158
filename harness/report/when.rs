//! Times as the reports print them: the run report's and summary's
//! `2023-11-14 22:13:20 UTC`, JUnit's ISO 8601 `2023-11-14T22:13:20`.

/// `YYYY-MM-DD HH:MM:SS UTC` of seconds since the Unix epoch.
pub fn utc(secs: f64) -> String {
    let t = secs as libc::time_t;
    // SAFETY: gmtime_r fills the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::gmtime_r(&t, &mut tm) };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `2023-11-14T22:13:20`: ISO 8601 without a zone, as JUnit's schema
/// has it (UTC here).
pub fn iso8601(secs: f64) -> String {
    utc(secs).trim_end_matches(" UTC").replacen(' ', "T", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc_to_the_second() {
        assert_eq!(utc(1_700_000_000.9), "2023-11-14 22:13:20 UTC");
        assert_eq!(iso8601(1_700_000_000.9), "2023-11-14T22:13:20");
    }
}
