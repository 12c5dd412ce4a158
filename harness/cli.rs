//! The case runner's command line, libtest's whole: several positional
//! filters (a test runs when any matches), `--skip` repeated, `--exact`
//! over filters and skips alike, `--ignored` / `--include-ignored`,
//! `--list` (with nextest's `--format terse`), `--test-threads`, `-q`,
//! `--nocapture`; and `--format junit` (`take_junit`), which is ours.
//!
//! libtest-mimic 0.8 takes one positional filter (`a b` stops with
//! "unexpected argument 'b'"). So the positional arguments are taken out
//! before libtest-mimic parses the rest, the selection is made here the
//! way libtest makes it (filters, then skips, each exact or by substring),
//! and libtest-mimic is handed the trials that were not selected as
//! exact skips: it then prints, counts ("N filtered out") and runs exactly
//! what libtest would, and applies `--ignored` itself.

use std::ffi::OsString;

use libtest_mimic::{Arguments, Trial};

/// Options of libtest's that take a value as the next argument (the
/// `--opt=value` form is one argument anyway). The value of one of these
/// is not a filter: `--test-threads 1 teardown` filters on `teardown`.
const VALUED: &[&str] = &[
    "--skip",
    "--test-threads",
    "--logfile",
    "--color",
    "--format",
    "--shuffle-seed",
    "-Z",
];

/// Whether libtest's option `opt` takes the next argument as its value.
pub fn takes_value(opt: &str) -> bool {
    VALUED.contains(&opt)
}

/// What selects trials, as libtest reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Positional arguments: a trial runs when any of them matches it.
    pub filters: Vec<String>,
    /// `--skip`: a trial any of them matches does not run.
    pub skip: Vec<String>,
    /// `--exact`: filters and skips match whole names, not substrings.
    pub exact: bool,
}

impl Selection {
    fn matches(&self, name: &str, pattern: &str) -> bool {
        if self.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    }

    /// Whether libtest would keep a test of this name (before `--ignored`,
    /// which libtest-mimic applies).
    pub fn keeps(&self, name: &str) -> bool {
        (self.filters.is_empty() || self.filters.iter().any(|f| self.matches(name, f)))
            && !self.skip.iter().any(|s| self.matches(name, s))
    }
}

/// `argv` (program name first) split into libtest-mimic's arguments and
/// the selection. Bad options and `--help` are clap's, as before: a
/// message and exit status 2 (0 for help).
pub fn parse<I>(argv: I) -> (Arguments, Selection)
where
    I: IntoIterator<Item = OsString>,
{
    let (rest, filters) = split(argv);
    let mut args = Arguments::from_iter(rest);
    let sel = Selection {
        filters,
        skip: std::mem::take(&mut args.skip),
        exact: args.exact,
    };
    args.filter = None;
    (args, sel)
}

/// `--format junit` (or `--format=junit`) taken out of `argv`, which
/// libtest-mimic would refuse (it knows `pretty` and `terse`, and nextest
/// lists with `--format terse`, which stays): true when it was there.
/// After `--` everything is a filter, as in [`parse`].
pub fn take_junit(argv: Vec<OsString>) -> (Vec<OsString>, bool) {
    let mut out = Vec::with_capacity(argv.len());
    let mut junit = false;
    let mut it = argv.into_iter().peekable();
    out.extend(it.next());
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--") => {
                out.push(a);
                out.extend(it.by_ref());
            }
            Some("--format=junit") => junit = true,
            Some("--format") if it.peek().is_some_and(|v| v == "junit") => {
                it.next();
                junit = true;
            }
            Some(s) if VALUED.contains(&s) => {
                out.push(a);
                out.extend(it.next());
            }
            _ => out.push(a),
        }
    }
    (out, junit)
}

/// The positional arguments taken out of `argv`; everything after `--`
/// is positional, as in libtest.
fn split<I>(argv: I) -> (Vec<OsString>, Vec<String>)
where
    I: IntoIterator<Item = OsString>,
{
    let mut it = argv.into_iter();
    let mut rest: Vec<OsString> = it.next().into_iter().collect();
    let mut filters = Vec::new();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        if s == "--" {
            filters.extend(it.by_ref().map(|a| a.to_string_lossy().into_owned()));
            break;
        }
        if s.len() > 1 && s.starts_with('-') {
            let valued = VALUED.contains(&s.as_str());
            rest.push(a);
            if valued {
                rest.extend(it.next());
            }
        } else {
            filters.push(s);
        }
    }
    (rest, filters)
}

/// Gives libtest-mimic the selection: the trials `sel` does not keep
/// become exact skips, so libtest-mimic leaves them out and counts them
/// as filtered out.
pub fn hand_over(args: &mut Arguments, sel: &Selection, trials: &[Trial]) {
    args.exact = true;
    args.skip = trials
        .iter()
        .map(|t| t.name())
        .filter(|n| !sel.keeps(n))
        .map(str::to_string)
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("cases")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn sel(args: &[&str]) -> Selection {
        parse(argv(args)).1
    }

    const NAMES: &[&str] = &["handshake", "teardown", "time-wait", "time-wait-expiry"];

    fn kept(args: &[&str]) -> Vec<&'static str> {
        let s = sel(args);
        NAMES.iter().copied().filter(|n| s.keeps(n)).collect()
    }

    #[test]
    fn several_filters_keep_what_any_matches() {
        assert_eq!(kept(&["hand", "tear"]), ["handshake", "teardown"]);
        assert_eq!(kept(&[]), NAMES);
        assert!(kept(&["nothing"]).is_empty());
    }

    #[test]
    fn skip_repeats_and_wins_over_filters() {
        assert_eq!(kept(&["--skip", "time", "--skip=hand"]), ["teardown"]);
        assert_eq!(kept(&["time", "--skip", "expiry"]), ["time-wait"]);
    }

    #[test]
    fn exact_applies_to_every_filter_and_skip() {
        assert_eq!(
            kept(&["--exact", "handshake", "time-wait"]),
            ["handshake", "time-wait"]
        );
        assert_eq!(
            kept(&["--exact", "--skip", "time-wait"]),
            ["handshake", "teardown", "time-wait-expiry"]
        );
    }

    #[test]
    fn values_of_options_are_not_filters() {
        let (args, s) = parse(argv(&[
            "--test-threads",
            "1",
            "teardown",
            "--format",
            "terse",
            "--list",
            "--",
            "--odd",
        ]));
        assert_eq!(s.filters, ["teardown", "--odd"]);
        assert_eq!(args.test_threads, Some(1));
        assert!(args.list);
        assert_eq!(args.filter, None);
    }

    #[test]
    fn flags_pass_through() {
        let (args, s) = parse(argv(&[
            "-q",
            "--nocapture",
            "--include-ignored",
            "--exact",
            "a",
        ]));
        assert!(args.quiet && args.nocapture && args.include_ignored && args.exact);
        assert_eq!(s.filters, ["a"]);
        let (args, _) = parse(argv(&["--ignored", "--test-threads=4"]));
        assert!(args.ignored);
        assert_eq!(args.test_threads, Some(4));
    }

    #[test]
    fn format_junit_is_taken_out_and_terse_stays_for_nextest() {
        let (rest, junit) = take_junit(argv(&["--format", "junit", "teardown"]));
        assert!(junit);
        assert_eq!(rest, argv(&["teardown"]));
        let (rest, junit) = take_junit(argv(&["--format=junit", "--list"]));
        assert!(junit);
        assert_eq!(rest, argv(&["--list"]));
        for kept in [
            &["--list", "--format", "terse"][..],
            &["--skip", "--format", "junit"],
            &["--", "--format", "junit"],
        ] {
            let (rest, junit) = take_junit(argv(kept));
            assert!(!junit, "{kept:?}");
            assert_eq!(rest, argv(kept));
        }
    }

    #[test]
    fn hand_over_skips_exactly_the_unselected() {
        let (mut args, s) = parse(argv(&["time", "--skip", "expiry"]));
        let trials: Vec<Trial> = NAMES.iter().map(|n| Trial::test(*n, || Ok(()))).collect();
        hand_over(&mut args, &s, &trials);
        assert!(args.exact);
        assert_eq!(args.skip, ["handshake", "teardown", "time-wait-expiry"]);
        let kept: Vec<&str> = trials
            .iter()
            .filter(|t| !args.is_filtered_out(t))
            .map(|t| t.name())
            .collect();
        assert_eq!(kept, ["time-wait"]);
    }
}
