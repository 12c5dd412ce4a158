//! The run report as one self-contained HTML page (`index.html`): totals,
//! a table of every case (failures first) and one section per case with
//! its failure text, ladder diagram, tcpdump lines, the steps as they ran
//! and a link to its capture.
//!
//! The page has inline CSS only: no script, no fonts or images fetched
//! from anywhere, so it reads the same from a CI artifact as from
//! `target/`. Every text that came from a run is escaped. The figures
//! (ladder, packets, failure text, steps) are `<pre>` blocks that never
//! wrap and scroll sideways in a narrow window, so a ladder stays aligned.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What one case showed, as the runner hands it to the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseReport {
    /// The case's name: `teardown`.
    pub name: String,
    /// Its file: `cases/teardown.case`.
    pub file: String,
    pub passed: bool,
    pub seconds: f64,
    /// The whole failure text (`cases/x.case:12: ...`), plain text.
    pub failure: Option<String>,
    /// The ladder diagram (monospace text, at most 80 columns); may be
    /// empty.
    pub ladder: String,
    /// The capture as `tcpdump -nn -r` prints it, one line each.
    pub packets: Vec<String>,
    /// The steps as they ran: `  0.003s  5: client $ nc 192.168.2.100 11111`.
    pub log: Vec<String>,
    /// The capture's path relative to the report's directory:
    /// `teardown.pcap`.
    pub pcap: Option<String>,
    /// Why the run left the case out (`needs sysctl net.ipv4.tcp_rto_min_us
    /// (kernel 6.1.0 has none)`): neither passed nor failed.
    pub skipped: Option<String>,
}

/// What the whole run was.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunInfo {
    /// When it started: `2026-11-24 13:05:00 UTC`.
    pub started: String,
    /// The nc the cases ran: `tcplab nc` or `/usr/bin/ncat`.
    pub nc: String,
    /// `uname -r`.
    pub kernel: String,
    /// The address families the cases were played in: `IPv4`, `IPv6`.
    pub family: String,
    /// The timing tolerances the cases were judged with (`±50ms`); empty:
    /// none (not shown).
    pub tolerance: String,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// `states observed: 11/11` (report::coverage); empty: not shown.
    pub coverage: String,
}

/// Passed / failed / skipped / all, over a run's cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub total: usize,
}

impl Totals {
    pub(crate) fn of(cases: &[CaseReport]) -> Totals {
        let count = |v| cases.iter().filter(|c| c.verdict() == v).count();
        Totals {
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            skipped: count(Verdict::Skip),
            total: cases.len(),
        }
    }

    /// `, 2 skipped` when any were, for a verdict line.
    pub(crate) fn and_skipped(&self) -> String {
        match self.skipped {
            0 => String::new(),
            n => format!(", {n} skipped"),
        }
    }
}

/// What became of a case, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    Fail,
    Skip,
    Pass,
}

impl CaseReport {
    pub(crate) fn verdict(&self) -> Verdict {
        match (self.passed, &self.skipped) {
            (_, Some(_)) => Verdict::Skip,
            (true, None) => Verdict::Pass,
            (false, None) => Verdict::Fail,
        }
    }
}

/// The cases in report order: failed ones first, then skipped ones, then
/// passed ones, each group in the order given.
pub(crate) fn failures_first(cases: &[CaseReport]) -> Vec<&CaseReport> {
    let mut v: Vec<&CaseReport> = cases.iter().collect();
    v.sort_by_key(|c| c.verdict());
    v
}

/// `text` safe in HTML element content and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A relative path as a URL path: every byte outside the unreserved set
/// and `/` percent-encoded (so `#`, `?`, `%` and spaces in a file name do
/// not change what the link points at). Still needs [`escape`] for an
/// attribute, which then changes nothing.
fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Case seconds as the table shows them: `0.52`.
pub(crate) fn case_seconds(s: f64) -> String {
    format!("{s:.2}")
}

/// A run's wall time: `12.3 s`, `3 min 07 s`.
pub(crate) fn wall_time(s: f64) -> String {
    if s.is_finite() && s >= 60.0 {
        let whole = s.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{s:.1} s")
    }
}

/// The first line of a failure text, for a one-line summary.
pub(crate) fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// Unique fragment ids (`case-teardown`), one per case in `cases` order.
fn anchors(cases: &[&CaseReport]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    cases
        .iter()
        .map(|c| {
            let slug: String = c
                .name
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                        ch
                    } else {
                        '-'
                    }
                })
                .collect();
            let base = format!("case-{slug}");
            let mut id = base.clone();
            let mut n = 2;
            while !seen.insert(id.clone()) {
                id = format!("{base}-{n}");
                n += 1;
            }
            id
        })
        .collect()
}

const CSS: &str = r#"
:root {
  color-scheme: light dark;
  --bg: #ffffff;
  --fg: #1f2328;
  --muted: #59636e;
  --border: #d1d9e0;
  --panel: #f6f8fa;
  --link: #0969da;
  --pass: #1a7f37;
  --pass-bg: #dafbe1;
  --fail: #cf222e;
  --fail-bg: #ffebe9;
  --skip: #59636e;
  --skip-bg: #eff2f5;
  --mark: #fff1a8;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117;
    --fg: #e6edf3;
    --muted: #9198a1;
    --border: #3d444d;
    --panel: #151b23;
    --link: #4493f8;
    --pass: #3fb950;
    --pass-bg: #12261e;
    --fail: #ff7b72;
    --fail-bg: #2d1517;
    --skip: #9198a1;
    --skip-bg: #212830;
    --mark: #4b3a0b;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
    "Noto Sans", "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
}
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem 1rem 4rem; }
a { color: var(--link); text-decoration: none; }
a:hover, a:focus-visible { text-decoration: underline; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 0; display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; }
h3 { font-size: .95rem; margin: 1.1rem 0 .35rem; color: var(--muted); font-weight: 600; }
h3 code { color: var(--fg); font-weight: 400; }
code, pre, .mono {
  font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas,
    "Liberation Mono", monospace;
  font-variant-ligatures: none;
  font-feature-settings: "liga" 0, "calt" 0;
}
code { font-size: .9em; }
pre {
  margin: 0;
  padding: .7rem .9rem;
  max-width: 100%;
  overflow-x: auto;
  white-space: pre;
  word-wrap: normal;
  overflow-wrap: normal;
  tab-size: 8;
  font-size: 13px;
  line-height: 1.4;
  background: var(--panel);
  border: 1px solid var(--border);
  border-radius: 6px;
}
.verdict {
  margin: .75rem 0 1rem;
  padding: .6rem .9rem;
  border-radius: 6px;
  font-size: 1.1rem;
  font-weight: 600;
  border: 1px solid;
}
.verdict.pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass); }
.verdict.fail { color: var(--fail); background: var(--fail-bg); border-color: var(--fail); }
.verdict.none { color: var(--muted); background: var(--panel); border-color: var(--border); }
dl.run { display: flex; flex-wrap: wrap; gap: .25rem 2rem; margin: 0 0 1.5rem; }
dl.run div { min-width: 0; }
dl.run dt { font-size: .8rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
dl.run dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--border); vertical-align: top; }
th { font-size: .8rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.why { color: var(--muted); font-size: .85rem; overflow-wrap: anywhere; }
tbody tr:hover { background: var(--panel); }
.badge {
  display: inline-block;
  padding: .05rem .5rem;
  border-radius: 999px;
  font-size: .75rem;
  font-weight: 700;
  letter-spacing: .05em;
  line-height: 1.5;
  border: 1px solid;
  white-space: nowrap;
}
.badge.pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass); }
.badge.fail { color: var(--fail); background: var(--fail-bg); border-color: var(--fail); }
.badge.skip { color: var(--skip); background: var(--skip-bg); border-color: var(--skip); }
section.case {
  margin: 0 0 2rem;
  padding: 1rem 0 0 1rem;
  border-left: 4px solid var(--pass);
  min-width: 0;
}
section.case.fail { border-left-color: var(--fail); }
section.case.skip { border-left-color: var(--skip); }
section.case:target h2 { text-decoration: underline; text-decoration-thickness: 2px; }
p.meta { margin: .2rem 0 0; color: var(--muted); font-size: .9rem; overflow-wrap: break-word; }
p.meta a.top { margin-left: .75rem; }
p.none { margin: 0; color: var(--muted); font-style: italic; }
pre.failure { background: var(--fail-bg); border-color: var(--fail); }
pre.failure .head { font-weight: 700; }
pre.failure .diverge { background: var(--mark); font-weight: 700; }
details { margin-top: 1.1rem; }
details > summary { cursor: pointer; color: var(--muted); font-weight: 600; font-size: .95rem; margin-bottom: .35rem; }
footer { color: var(--muted); font-size: .85rem; margin-top: 3rem; }
/* Narrow windows: an 80-column ladder still fits at 700 px. */
@media (max-width: 760px) {
  main { padding: 1rem .6rem 3rem; }
  section.case { padding-left: .6rem; }
  pre { font-size: 12px; padding: .6rem .7rem; }
}
"#;

/// The report page for a run.
pub fn html(run: &RunInfo, cases: &[CaseReport]) -> String {
    let t = Totals::of(cases);
    let ordered = failures_first(cases);
    let ids = anchors(&ordered);
    let mut h = String::with_capacity(16 * 1024);

    let title = if t.total == 0 {
        "tcplab: no cases ran".to_string()
    } else if t.failed == 0 {
        format!("tcplab: all {} passed{}", t.passed, t.and_skipped())
    } else {
        format!(
            "tcplab: {} failed, {} passed{}",
            t.failed,
            t.passed,
            t.and_skipped()
        )
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );

    header(&mut h, run, &t);
    table(&mut h, &ordered, &ids);

    // One section per case.
    for (c, id) in ordered.iter().zip(&ids) {
        section(&mut h, c, id);
    }

    h.push_str(
        "<footer>Written by tcplab. Read a capture with <code>tcpdump -nn -r FILE</code>.</footer>\n\
         </main>\n</body>\n</html>\n",
    );
    h
}

/// The header: verdict and totals.
fn header(h: &mut String, run: &RunInfo, t: &Totals) {
    h.push_str("<header id=\"top\">\n<h1>tcplab run</h1>\n");
    let (class, verdict) = if t.total == 0 {
        ("none", "No cases ran.".to_string())
    } else if t.failed == 0 {
        (
            "pass",
            format!(
                "\u{2713} All {} case{} passed{}.",
                t.passed,
                plural(t.passed),
                t.and_skipped()
            ),
        )
    } else {
        (
            "fail",
            format!(
                "\u{2717} {} of {} case{} failed, {} passed{}.",
                t.failed,
                t.total,
                plural(t.total),
                t.passed,
                t.and_skipped()
            ),
        )
    };
    let _ = writeln!(
        h,
        "<div class=\"verdict {class}\">{}</div>",
        escape(&verdict)
    );
    h.push_str("<dl class=\"run\">\n");
    for (k, v, mono) in [
        ("Passed", t.passed.to_string(), false),
        ("Failed", t.failed.to_string(), false),
        ("Skipped", t.skipped.to_string(), false),
        ("Wall time", wall_time(run.seconds), false),
        ("nc", run.nc.clone(), true),
        ("Kernel", run.kernel.clone(), true),
        ("Family", run.family.clone(), false),
        (
            "Timing",
            if run.tolerance.is_empty() {
                String::new()
            } else {
                format!("windows {} (TCPLAB_TIME_TOLERANCE)", run.tolerance)
            },
            false,
        ),
        ("Started", run.started.clone(), false),
        ("TCP states", run.coverage.clone(), false),
    ]
    .into_iter()
    .filter(|(k, v, _)| {
        (!["TCP states", "Family", "Timing"].contains(k) || !v.is_empty())
            && (*k != "Skipped" || v != "0")
    }) {
        let v = escape(&v);
        let v = if mono { format!("<code>{v}</code>") } else { v };
        let _ = writeln!(h, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    h.push_str("</dl>\n</header>\n");
}

/// The table of cases, failures first, each linking to its section.
fn table(h: &mut String, ordered: &[&CaseReport], ids: &[String]) {
    if !ordered.is_empty() {
        h.push_str(
            "<table class=\"cases\">\n<thead><tr><th>Case</th><th>Verdict</th>\
             <th class=\"num\">Seconds</th></tr></thead>\n<tbody>\n",
        );
        for (c, id) in ordered.iter().zip(ids) {
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td><a href=\"#{id}\">{}</a></td><td>{}</td>\
                 <td class=\"num\">{}</td></tr>",
                verdict_class(c),
                escape(&c.name),
                badge(c),
                case_seconds(c.seconds)
            );
            if let Some(f) = c
                .failure
                .as_deref()
                .filter(|_| c.verdict() == Verdict::Fail)
            {
                let _ = writeln!(
                    h,
                    "<tr class=\"fail-why\"><td class=\"why mono\" colspan=\"3\">{}</td></tr>",
                    escape(first_line(f))
                );
            }
            if let Some(why) = &c.skipped {
                let _ = writeln!(
                    h,
                    "<tr class=\"skip-why\"><td class=\"why\" colspan=\"3\">skipped: {}</td></tr>",
                    escape(why)
                );
            }
        }
        h.push_str("</tbody>\n</table>\n");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn verdict_class(c: &CaseReport) -> &'static str {
    match c.verdict() {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Skip => "skip",
    }
}

fn badge(c: &CaseReport) -> &'static str {
    match c.verdict() {
        Verdict::Pass => "<span class=\"badge pass\">PASS</span>",
        Verdict::Fail => "<span class=\"badge fail\">FAIL</span>",
        Verdict::Skip => "<span class=\"badge skip\">SKIPPED</span>",
    }
}

fn section(h: &mut String, c: &CaseReport, id: &str) {
    let _ = writeln!(
        h,
        "<section class=\"case {}\" id=\"{id}\">",
        verdict_class(c)
    );
    let _ = writeln!(
        h,
        "<h2><a href=\"#{id}\">{}</a> {}</h2>",
        escape(&c.name),
        badge(c)
    );
    let mut meta = format!(
        "<code>{}</code> &middot; {} s",
        escape(&c.file),
        case_seconds(c.seconds)
    );
    if let Some(p) = &c.pcap {
        let _ = write!(
            meta,
            " &middot; capture <a href=\"{}\" download><code>{}</code></a>",
            escape(&href(p)),
            escape(p)
        );
    }
    let _ = writeln!(
        h,
        "<p class=\"meta\">{meta}<a class=\"top\" href=\"#top\">\u{2191} top</a></p>"
    );

    if let Some(why) = &c.skipped {
        let _ = writeln!(
            h,
            "<h3>Skipped</h3>\n<p>{}: nothing of it ran.</p>\n</section>",
            escape(why)
        );
        return;
    }
    if let Some(f) = c.failure.as_deref() {
        h.push_str("<h3>Failure</h3>\n<pre class=\"failure\">");
        failure_text(h, f);
        h.push_str("</pre>\n");
    }

    h.push_str("<h3>Ladder</h3>\n");
    if c.ladder.trim().is_empty() {
        h.push_str("<p class=\"none\">No ladder was drawn.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<pre class=\"ladder\">{}</pre>",
            escape(c.ladder.trim_end_matches(['\n', '\r']))
        );
    }

    match &c.pcap {
        Some(p) => {
            let _ = writeln!(
                h,
                "<h3>Packets: <code>tcpdump -nn -r {}</code> ({})</h3>",
                escape(p),
                c.packets.len()
            );
        }
        None => {
            let _ = writeln!(h, "<h3>Packets ({})</h3>", c.packets.len());
        }
    }
    if c.packets.is_empty() {
        h.push_str("<p class=\"none\">No packets captured.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<pre class=\"packets\">{}</pre>",
            escape(&c.packets.join("\n"))
        );
    }

    if c.log.is_empty() {
        h.push_str("<h3>Steps</h3>\n<p class=\"none\">No steps ran.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<details class=\"log\"><summary>Steps as they ran ({})</summary>\n\
             <pre>{}</pre>\n</details>",
            c.log.len(),
            escape(&c.log.join("\n"))
        );
    }
    h.push_str("</section>\n");
}

/// A failure text with its first line (`file:line: what`) in bold and the
/// `>>` lines (where expected and observed packets diverge) marked.
fn failure_text(h: &mut String, text: &str) {
    let text = text.trim_end_matches(['\n', '\r']);
    let mut head = true;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            h.push('\n');
        }
        if head && !line.trim().is_empty() {
            head = false;
            let _ = write!(h, "<span class=\"head\">{}</span>", escape(line));
        } else if line.trim_start().starts_with(">>") {
            let _ = write!(h, "<span class=\"diverge\">{}</span>", escape(line));
        } else {
            h.push_str(&escape(line));
        }
    }
}

/// Writes [`html`] to `dir/index.html` (creating `dir`) and returns that
/// path.
pub fn write_html(dir: &Path, run: &RunInfo, cases: &[CaseReport]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("index.html");
    // A fresh file, not a truncated one (ext4 made truncating opens wait
    // up to a second under load).
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::write(&path, html(run, cases))?;
    Ok(path)
}

#[cfg(test)]
pub(crate) mod tests;
