//! One case as one test: read, parse, run in a lab, judged; its result
//! written for the run's report; in record mode, rewritten from what it
//! observed; with TCPLAB_SHOW=1, what it observed printed.

use std::path::Path;
use std::time::Duration;

use crate::case::run::{self, Options};
use crate::case::{parse, record, Case};
use crate::report::coverage;
use crate::report::results::CaseResult;
use crate::report::{ladder, many};
use crate::tcpdump;

use super::files::Place;
use super::sink::Sink;

/// How a case is played: its options, where paths are shown from, the
/// run's sink, and whether a passing case prints what it observed.
#[derive(Clone)]
pub struct Player {
    pub opts: Options,
    pub place: Place,
    pub sink: Sink,
    pub show: bool,
    /// What a failure says to type to record the run (`cargo test --
    /// --exact NAME`, or `tcplab record ...`); `{name}` is the case.
    pub record_hint: String,
}

/// TCPLAB_SHOW=1: print what passing cases observed (`make case`).
pub fn show_from_env() -> bool {
    std::env::var_os("TCPLAB_SHOW").is_some_and(|v| v != "0")
}

impl Player {
    /// Plays the case in `file`, writes its result; the failure text is
    /// Err (uncoloured).
    pub fn play(&self, file: &Path) -> Result<(), String> {
        let started = std::time::Instant::now();
        let mut r = self
            .sink
            .result_for(file, &self.place.shown(file).display().to_string());
        let result = self.play_case(file, &mut r);
        record_timing(file, started.elapsed(), result.is_ok());
        r.passed = result.is_ok();
        r.seconds = started.elapsed().as_secs_f64();
        r.failure = result.as_ref().err().cloned();
        self.sink.write(&r);
        result
    }

    fn play_case(&self, file: &Path, report: &mut CaseResult) -> Result<(), String> {
        let (opts, show) = (&self.opts, self.show);
        let shown = self.place.shown(file);
        let text = parse::read(file, &shown).map_err(|e| e.to_string())?;
        let case = parse::parse(&shown, &text).map_err(|e| e.to_string())?;
        report.pcap = Some(format!("{}.pcap", case.name));
        let outcome = run::run(&case, opts).map_err(|f| {
            // Only a block that did not hold is mended by recording: a setup
            // error, a step, the time limit, a rule that never acted, traffic
            // on another port or an incomplete capture are not.
            if opts.record || !f.cause.recordable() {
                return f.text;
            }
            format!(
                "{}\n  to record this run as the new expectation: {}",
                f.text.trim_end(),
                self.record_hint.replace("{name}", &case.name)
            )
        })?;
        // Many connections: the first and the last in full, the rest counted.
        report.ladder = many::ladder(
            &outcome.packets,
            &outcome.events,
            &ladder::LadderOptions::default(),
        );
        report.packets = many::tcpdump_lines(&outcome.packets);
        report.log = outcome.log.clone();
        if opts.record {
            let observed = match opts.family {
                crate::sockets::Family::Ipv4 => outcome.observed.clone(),
                _ => record::in_case_words(&case, &outcome.observed),
            };
            return self.write_recorded(file, &case, &text, &observed);
        }
        // Our packet lines must be tcpdump's, to the character: a check of
        // tcplab itself, not of the case, so it runs where asked
        // (TCPLAB_TCPDUMP_CHECK=1: ci/test and the CI shards) and with `make
        // case`, which prints the count; a run of tcpdump per case (4 to 15
        // ms) stays out of everyday runs.
        let same = if show || tcpdump_check() {
            let n = tcpdump::cross_check(&outcome.pcap, &outcome.packets).map_err(|e| {
                format!(
                    "{}: our packet lines differ from tcpdump's: {e}",
                    shown.display()
                )
            })?;
            Some(n)
        } else {
            None
        };
        if let (true, Some(same)) = (show, same) {
            print!("{}", self.render(&case.name, &outcome, same));
        }
        // What counts is what ran: an item marked for the other nc did not.
        let played = Case {
            items: case
                .items_played(opts.implementation, opts.family, &opts.kernel)
                .cloned()
                .collect(),
            ..case.clone()
        };
        report.states = coverage::names(&coverage::states_of(&played, &outcome.observed));
        Ok(())
    }

    /// Record mode: rewrites the case file from what the run observed, and
    /// says what changed. The trial passes once the file is written.
    fn write_recorded(
        &self,
        file: &Path,
        case: &Case,
        text: &str,
        observed: &[run::Observed],
    ) -> Result<(), String> {
        let shown = self.place.shown(file);
        let rec = record::record(case, text, observed);
        if rec.text != text {
            std::fs::write(file, &rec.text)
                .map_err(|e| format!("{}: cannot write: {e}", shown.display()))?;
        }
        let mut t = String::new();
        for w in &rec.warnings {
            t += &format!("warning: {w}\n");
        }
        t += &format!(
            "recorded {} ({} blocks changed)\n",
            shown.display(),
            rec.changed
        );
        print!("{t}");
        Ok(())
    }

    /// What `make case` prints for a passing case: the steps as they ran,
    /// the ladder, and the packets as tcpdump prints them.
    fn render(&self, name: &str, o: &run::Outcome, same: usize) -> String {
        let mut t = format!("\n== {name}: steps\n");
        for l in &o.log {
            t += &format!("  {l}\n");
        }
        t += &format!("\n== {name}: the exchange, drawn from the capture\n\n");
        t += &many::ladder(&o.packets, &o.events, &ladder::LadderOptions::default());
        t += &format!(
            "\n== {name}: {} packets on the server's veth, as `tcpdump -nn -r {}` prints them ({same} lines identical)\n",
            o.packets.len(),
            self.place.shown(&o.pcap).display()
        );
        for l in many::tcpdump_lines(&o.packets) {
            t += &format!("  {l}\n");
        }
        t
    }
}

/// The failure text with its first line in bold and the `>>` divergence
/// lines in red, when the output is a terminal and NO_COLOR is not set;
/// unchanged otherwise (pipes, CI logs, files).
pub fn colour(text: &str) -> String {
    use std::io::IsTerminal;
    let wanted = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    if !wanted {
        return text.to_string();
    }
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("\x1b[1m{l}\x1b[0m")
            } else if l.trim_start().starts_with(">>") {
                format!("\x1b[31m{l}\x1b[0m")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// With TCPLAB_TIMINGS=FILE, appends `case<TAB>seconds<TAB>ok|FAILED` for
/// each case run: `make soak` reads it for its table.
fn record_timing(file: &Path, took: Duration, ok: bool) {
    let Some(path) = std::env::var_os("TCPLAB_TIMINGS") else {
        return;
    };
    let name = file.file_stem().unwrap_or_default().to_string_lossy();
    let line = format!(
        "{name}\t{:.4}\t{}\n",
        took.as_secs_f64(),
        if ok { "ok" } else { "FAILED" }
    );
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}

/// TCPLAB_TCPDUMP_CHECK=1: every passing case's packet lines are compared
/// with what `tcpdump -nn -r` prints for its capture.
fn tcpdump_check() -> bool {
    std::env::var_os("TCPLAB_TCPDUMP_CHECK").is_some_and(|v| !v.is_empty() && v != "0")
}
