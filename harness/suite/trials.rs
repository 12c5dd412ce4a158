//! The case files as libtest-mimic trials: one per file, named after it,
//! the longest first; a case pinning a documented difference from ncat is
//! an ignored trial in a run with another nc.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::{Failed, Trial};

use crate::case::{family, parse, Case, ItemKind};

use super::files::{name_of, Place};
use super::play::{colour, Player};

/// The case in `file`, when it can be read and parsed (bounded and never
/// blocking); a file that cannot stays a trial, which fails on its own.
fn parsed(file: &Path, place: &Place) -> Option<Case> {
    let shown = place.shown(file);
    parse::read(file, &shown)
        .ok()
        .and_then(|t| parse::parse(&shown, &t).ok())
}

/// The files in the order their trials should start: the longest cases
/// first (libtest-mimic starts trials in the order given, two at a time
/// here), so a 61-second case does not start last and make the run wait
/// for it alone. A case's least duration is read from its file (the
/// latest start of its timing windows); only when the run keeps more than
/// one case, so a single case's start pays nothing for it.
pub fn longest_first(
    mut files: Vec<PathBuf>,
    place: &Place,
    kept: impl Fn(&str) -> bool,
) -> Vec<PathBuf> {
    if files.iter().filter(|f| kept(&name_of(f))).count() < 2 {
        return files;
    }
    let least = |f: &PathBuf| -> Duration {
        let Some(case) = parsed(f, place) else {
            return Duration::ZERO;
        };
        let lows = case.items.iter().flat_map(|i| match &i.kind {
            ItemKind::Wait { at: Some(w), .. } => vec![w.lo],
            ItemKind::Packets(alts) | ItemKind::PacketsEach { alts, .. } => alts
                .iter()
                .flatten()
                .filter_map(|p| p.timing.map(|t| t.window().lo))
                .collect(),
            _ => vec![],
        });
        lows.max().unwrap_or_default()
    };
    let mut keyed: Vec<_> = files.drain(..).map(|f| (least(&f), f)).collect();
    keyed.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
    keyed.into_iter().map(|(_, f)| f).collect()
}

/// One trial per case file. A case the run leaves out is an ignored
/// trial (libtest's `--include-ignored` runs it anyway), decided when the
/// trials are listed so that a listing and a run agree: one pinning a
/// documented difference from ncat in a run with another nc (`ours-only`),
/// one for the other address family (`ipv4-only`), one needing what
/// this kernel lacks (`requires ...`). Only the files of trials the
/// selection `kept` are read for it (the others are filtered out whatever
/// they are: `cli::hand_over`), so `--exact teardown` reads one case file,
/// not every one. With `note` (a run that leaves ignored trials out, not
/// `--ignored` or `--include-ignored`) the run says why and its report
/// shows the case as skipped with the reason.
pub fn case_trials(
    files: Vec<PathBuf>,
    player: &Player,
    kept: impl Fn(&str) -> bool,
    note: bool,
) -> Vec<Trial> {
    let opts = &player.opts;
    files
        .into_iter()
        .map(|file| {
            let name = name_of(&file);
            let skipped = kept(&name)
                .then(|| parsed(&file, &player.place))
                .flatten()
                .and_then(|c| c.skipped(opts.implementation, opts.family, &opts.kernel));
            if let Some(why) = skipped.as_ref().filter(|_| note) {
                match why.split_once("-only: ") {
                    Some(("ours", reason)) => eprintln!(
                        "tcplab: {name} ignored with NC={}: {reason} (--include-ignored runs it)",
                        opts.nc.display(),
                    ),
                    Some((_, reason)) => eprintln!(
                        "tcplab: {name} ignored in family {digit} ({}={digit}): {reason} (--include-ignored runs it)",
                        family::ENV,
                        digit = family::digit(opts.family),
                    ),
                    None => eprintln!("tcplab: {name} skipped: {why}"),
                }
                let shown = player.place.shown(&file).display().to_string();
                player.sink.skipped(&file, &shown, why);
            }
            let player = player.clone();
            Trial::test(name, move || {
                player
                    .play(&file)
                    .map_err(|text| Failed::from(colour(&text)))
            })
            .with_ignored_flag(skipped.is_some())
        })
        .collect()
}
