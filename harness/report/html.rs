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
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// Passed / failed / all, over a run's cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub total: usize,
}

impl Totals {
    pub(crate) fn of(cases: &[CaseReport]) -> Totals {
        let passed = cases.iter().filter(|c| c.passed).count();
        Totals {
            passed,
            failed: cases.len() - passed,
            total: cases.len(),
        }
    }
}

/// The cases in report order: failed ones first, each group in the order
/// given.
pub(crate) fn failures_first(cases: &[CaseReport]) -> Vec<&CaseReport> {
    let mut v: Vec<&CaseReport> = cases.iter().collect();
    v.sort_by_key(|c| c.passed);
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
section.case {
  margin: 0 0 2rem;
  padding: 1rem 0 0 1rem;
  border-left: 4px solid var(--pass);
  min-width: 0;
}
section.case.fail { border-left-color: var(--fail); }
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
        format!("tcplab: all {} passed", t.total)
    } else {
        format!("tcplab: {} failed, {} passed", t.failed, t.passed)
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );

    // Header: verdict and totals.
    h.push_str("<header id=\"top\">\n<h1>tcplab run</h1>\n");
    let (class, verdict) = if t.total == 0 {
        ("none", "No cases ran.".to_string())
    } else if t.failed == 0 {
        (
            "pass",
            format!("\u{2713} All {} case{} passed.", t.total, plural(t.total)),
        )
    } else {
        (
            "fail",
            format!(
                "\u{2717} {} of {} case{} failed, {} passed.",
                t.failed,
                t.total,
                plural(t.total),
                t.passed
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
        ("Wall time", wall_time(run.seconds), false),
        ("nc", run.nc.clone(), true),
        ("Kernel", run.kernel.clone(), true),
        ("Started", run.started.clone(), false),
    ] {
        let v = escape(&v);
        let v = if mono { format!("<code>{v}</code>") } else { v };
        let _ = writeln!(h, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    h.push_str("</dl>\n</header>\n");

    // The table of cases.
    if !ordered.is_empty() {
        h.push_str(
            "<table class=\"cases\">\n<thead><tr><th>Case</th><th>Verdict</th>\
             <th class=\"num\">Seconds</th></tr></thead>\n<tbody>\n",
        );
        for (c, id) in ordered.iter().zip(&ids) {
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td><a href=\"#{id}\">{}</a></td><td>{}</td>\
                 <td class=\"num\">{}</td></tr>",
                verdict_class(c),
                escape(&c.name),
                badge(c),
                case_seconds(c.seconds)
            );
            if let Some(f) = c.failure.as_deref().filter(|_| !c.passed) {
                let _ = writeln!(
                    h,
                    "<tr class=\"fail-why\"><td class=\"why mono\" colspan=\"3\">{}</td></tr>",
                    escape(first_line(f))
                );
            }
        }
        h.push_str("</tbody>\n</table>\n");
    }

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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn verdict_class(c: &CaseReport) -> &'static str {
    if c.passed {
        "pass"
    } else {
        "fail"
    }
}

fn badge(c: &CaseReport) -> &'static str {
    if c.passed {
        "<span class=\"badge pass\">PASS</span>"
    } else {
        "<span class=\"badge fail\">FAIL</span>"
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
    std::fs::write(&path, html(run, cases))?;
    Ok(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rstest::rstest;

    pub(crate) const LADDER_TEARDOWN: &str =
        "                       client                               server
                    192.168.2.105                        192.168.2.100
                          |                                    |<-- nc -kl 11111
nc 192.168.2.100 11111 -->|                                    |
                          |--------------- SYN --------------->|
                          |<------------- SYN+ACK -------------|
                          |--------------- ACK --------------->|  ESTABLISHED
                    ^C -->|                                    |
                          |------------- FIN+ACK ------------->|
                          |<------------ FIN+ACK --------------|
                          |--------------- ACK --------------->|
          TIME-WAIT 60s   |                                    |
";

    pub(crate) const LADDER_DATA: &str = "                       client                               server
                    192.168.2.105                        192.168.2.100
                          |                                    |<-- nc -kl 11111
nc 192.168.2.100 11111 -->|                                    |
                          |--------------- SYN --------------->|
                          |<------------- SYN+ACK -------------|
                          |--------------- ACK --------------->|  ESTABLISHED
           types hello -->|                                    |
                          |---------- PSH+ACK len 6 ---------->|
                          |<-------------- ACK ----------------|
                          |                                    |<-- types a very long line that is cut…
                          |<-------- PSH+ACK len 35 -----------|
                          |--------------- ACK --------------->|
";

    pub(crate) fn tcpdump_teardown() -> Vec<String> {
        [
            "13:02:58.592182 IP 192.168.2.105.42372 > 192.168.2.100.11111: Flags [S], seq 2240858246, win 64240, options [mss 1460,sackOK,TS val 3588337945 ecr 0,nop,wscale 10], length 0",
            "13:02:58.592196 IP 192.168.2.100.11111 > 192.168.2.105.42372: Flags [S.], seq 4201329432, ack 2240858247, win 65160, options [mss 1460,sackOK,TS val 2770367253 ecr 3588337945,nop,wscale 10], length 0",
            "13:02:58.592211 IP 192.168.2.105.42372 > 192.168.2.100.11111: Flags [.], ack 1, win 63, options [nop,nop,TS val 3588337945 ecr 2770367253], length 0",
            "13:02:58.596605 IP 192.168.2.105.42372 > 192.168.2.100.11111: Flags [F.], seq 1, ack 1, win 63, options [nop,nop,TS val 3588337949 ecr 2770367253], length 0",
            "13:02:58.596736 IP 192.168.2.100.11111 > 192.168.2.105.42372: Flags [F.], seq 1, ack 2, win 64, options [nop,nop,TS val 2770367257 ecr 3588337949], length 0",
            "13:02:58.596752 IP 192.168.2.105.42372 > 192.168.2.100.11111: Flags [.], ack 2, win 63, options [nop,nop,TS val 3588337949 ecr 2770367257], length 0",
        ]
        .map(String::from)
        .to_vec()
    }

    fn tcpdump_data() -> Vec<String> {
        [
            "13:03:01.104410 IP 192.168.2.105.42380 > 192.168.2.100.11111: Flags [S], seq 1022913370, win 64240, options [mss 1460,sackOK,TS val 3588340457 ecr 0,nop,wscale 10], length 0",
            "13:03:01.104427 IP 192.168.2.100.11111 > 192.168.2.105.42380: Flags [S.], seq 3179542611, ack 1022913371, win 65160, options [mss 1460,sackOK,TS val 2770369765 ecr 3588340457,nop,wscale 10], length 0",
            "13:03:01.104441 IP 192.168.2.105.42380 > 192.168.2.100.11111: Flags [.], ack 1, win 63, options [nop,nop,TS val 3588340457 ecr 2770369765], length 0",
            "13:03:01.109925 IP 192.168.2.105.42380 > 192.168.2.100.11111: Flags [P.], seq 1:7, ack 1, win 63, options [nop,nop,TS val 3588340462 ecr 2770369765], length 6",
            "13:03:01.109940 IP 192.168.2.100.11111 > 192.168.2.105.42380: Flags [.], ack 7, win 64, options [nop,nop,TS val 2770369770 ecr 3588340462], length 0",
            "13:03:01.115210 IP 192.168.2.100.11111 > 192.168.2.105.42380: Flags [P.], seq 1:36, ack 7, win 64, options [nop,nop,TS val 2770369776 ecr 3588340462], length 35",
            "13:03:01.115228 IP 192.168.2.105.42380 > 192.168.2.100.11111: Flags [.], ack 36, win 63, options [nop,nop,TS val 3588340468 ecr 2770369776], length 0",
        ]
        .map(String::from)
        .to_vec()
    }

    pub(crate) const FAILURE: &str = "\
cases/selftest/teardown-missing-ack.case:15: packets differ at packet 2 of the block: extra packet: expected 1 packets, captured 2
  expected (cases/selftest/teardown-missing-ack.case:15):
     server > client  [F.]  seq 1, ack 2
  observed:
     server > client  [F.]  seq 1, ack 2, win 64
  >> client > server  [.]   ack 2, win 63
  steps run:
      0.000s  2: server $ nc -kl 11111
      0.004s  3: client $ nc 192.168.2.100 11111
      0.006s  4: packets
      0.007s  8: client ^C
      0.012s  9: packets
  stderr of `nc -kl 11111` on server: Ncat: Connection from 192.168.2.105:42390 <\"quoted\" & more>
  capture: target/tcplab/teardown-missing-ack.pcap  (read it with: tcpdump -nn -r target/tcplab/teardown-missing-ack.pcap)
";

    pub(crate) fn run() -> RunInfo {
        RunInfo {
            started: "2026-11-24 13:05:00 UTC".into(),
            nc: "tcplab nc".into(),
            kernel: "6.12.48+deb13-amd64".into(),
            seconds: 12.34,
        }
    }

    fn log(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    /// Two passing cases and a failing one, in the order a run might
    /// finish them (the failure last).
    pub(crate) fn sample() -> Vec<CaseReport> {
        vec![
            CaseReport {
                name: "teardown".into(),
                file: "cases/teardown.case".into(),
                passed: true,
                seconds: 0.52,
                failure: None,
                ladder: LADDER_TEARDOWN.into(),
                packets: tcpdump_teardown(),
                log: log(&[
                    "  0.000s  2: server $ nc -kl 11111",
                    "  0.003s  3: client $ nc 192.168.2.100 11111",
                    "  0.005s  4: packets (3 matched)",
                    "  0.006s  8: client ^C",
                    "  0.011s 20: packets (3 matched, form 1 of 3)",
                ]),
                pcap: Some("teardown.pcap".into()),
            },
            CaseReport {
                name: "data".into(),
                file: "cases/data.case".into(),
                passed: true,
                seconds: 0.48,
                failure: None,
                ladder: LADDER_DATA.into(),
                packets: tcpdump_data(),
                log: log(&[
                    "  0.000s  2: server $ nc -kl 11111",
                    "  0.003s  3: client $ nc 192.168.2.100 11111",
                    "  0.005s  4: packets (3 matched)",
                    "  0.006s  8: client types hello",
                    "  0.011s  9: server prints hello",
                    "  0.012s 10: packets (2 matched)",
                ]),
                pcap: Some("data.pcap".into()),
            },
            CaseReport {
                name: "teardown-missing-ack".into(),
                file: "cases/selftest/teardown-missing-ack.case".into(),
                passed: false,
                seconds: 0.61,
                failure: Some(FAILURE.into()),
                ladder: LADDER_TEARDOWN.into(),
                packets: tcpdump_teardown(),
                log: log(&[
                    "  0.000s  2: server $ nc -kl 11111",
                    "  0.004s  3: client $ nc 192.168.2.100 11111",
                    "  0.006s  4: packets",
                    "  0.007s  8: client ^C",
                    "  0.012s  9: packets",
                ]),
                pcap: Some("teardown-missing-ack.pcap".into()),
            },
        ]
    }

    /// Tags open and close in order (void elements aside): the page is
    /// not broken by what the cases contained.
    fn balanced(h: &str) {
        const VOID: [&str; 3] = ["meta", "br", "!DOCTYPE"];
        let mut stack: Vec<String> = vec![];
        let mut rest = h;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let end = rest.find('>').expect("unclosed <");
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            if VOID.contains(&name.as_str()) {
                continue;
            }
            if tag.starts_with('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "at <{tag}>");
            } else {
                stack.push(name.clone());
            }
            if name == "style" && !tag.starts_with('/') {
                let close = rest.find("</style>").unwrap();
                rest = &rest[close..];
            }
        }
        assert!(stack.is_empty(), "left open: {stack:?}");
    }

    #[rstest]
    #[case("a < b", "a &lt; b")]
    #[case("x & y", "x &amp; y")]
    #[case("say \"hi\"", "say &quot;hi&quot;")]
    #[case("it's", "it&#39;s")]
    #[case("|<-- nc -kl 11111", "|&lt;-- nc -kl 11111")]
    #[case("-->|", "--&gt;|")]
    #[case("TIME-WAIT 60s …", "TIME-WAIT 60s …")]
    fn escapes(#[case] raw: &str, #[case] want: &str) {
        assert_eq!(escape(raw), want);
    }

    #[rstest]
    #[case("teardown.pcap", "teardown.pcap")]
    #[case("sub dir/a#1?.pcap", "sub%20dir/a%231%3F.pcap")]
    #[case("100%.pcap", "100%25.pcap")]
    fn hrefs(#[case] raw: &str, #[case] want: &str) {
        assert_eq!(href(raw), want);
    }

    #[rstest]
    fn run_texts_are_escaped_everywhere() {
        let mut cases = sample();
        cases[2].name = "odd<name>&\"".into();
        cases[2].log.push("  0.013s 10: server prints <a&b>".into());
        cases[2].packets.push("<script>alert(1)</script>".into());
        let h = html(&run(), &cases);
        balanced(&h);
        assert!(!h.contains("<script"), "{h}");
        assert!(!h.contains("|<--"));
        assert!(h.contains("|&lt;-- nc -kl 11111"));
        assert!(h.contains("&lt;&quot;quoted&quot; &amp; more&gt;"));
        assert!(h.contains("odd&lt;name&gt;&amp;&quot;"));
        assert!(h.contains("server prints &lt;a&amp;b&gt;"));
        // The figures keep their columns: every ladder line is there, whole,
        // the first one with its leading spaces right after <pre>.
        assert!(h.contains(&format!(
            "<pre class=\"ladder\">{}\n",
            LADDER_TEARDOWN.lines().next().unwrap()
        )));
        assert!(LADDER_TEARDOWN.starts_with("                       client"));
        for l in LADDER_TEARDOWN.lines() {
            assert!(h.contains(&escape(l)), "{l}");
        }
        // Self-contained: nothing fetched from anywhere.
        assert!(!h.contains("http:") && !h.contains("https:") && !h.contains("src="));
    }

    #[rstest]
    fn failure_lines_are_marked_and_escaped() {
        let mut h = String::new();
        failure_text(&mut h, "x.case:3: a <b>\n  >> c & d\n  e\n");
        assert_eq!(
            h,
            "<span class=\"head\">x.case:3: a &lt;b&gt;</span>\n\
             <span class=\"diverge\">  &gt;&gt; c &amp; d</span>\n  e"
        );
    }

    #[rstest]
    fn failures_come_first_in_the_table_and_the_sections() {
        let h = html(&run(), &sample());
        let pos = |s: &str| h.find(s).unwrap_or_else(|| panic!("{s} missing"));
        // Table rows.
        let fail_row = pos("<a href=\"#case-teardown-missing-ack\">");
        let pass_row = pos("<a href=\"#case-teardown\">");
        let data_row = pos("<a href=\"#case-data\">");
        assert!(fail_row < pass_row && pass_row < data_row);
        // Sections, all after the table.
        let table_end = pos("</table>");
        let fail_sec = pos("id=\"case-teardown-missing-ack\"");
        let pass_sec = pos("id=\"case-teardown\"");
        let data_sec = pos("id=\"case-data\"");
        assert!(table_end < fail_sec && fail_sec < pass_sec && pass_sec < data_sec);
        // Only the failed case has a failure block.
        assert_eq!(h.matches("<pre class=\"failure\">").count(), 1);
        assert_eq!(h.matches("<span class=\"badge fail\">").count(), 2);
        assert_eq!(h.matches("<span class=\"badge pass\">").count(), 4);
    }

    #[rstest]
    #[case(vec![true, true, false], "\u{2717} 1 of 3 cases failed, 2 passed.", "fail")]
    #[case(vec![true], "\u{2713} All 1 case passed.", "pass")]
    #[case(vec![false, false], "\u{2717} 2 of 2 cases failed, 0 passed.", "fail")]
    #[case(vec![], "No cases ran.", "none")]
    fn totals(#[case] verdicts: Vec<bool>, #[case] line: &str, #[case] class: &str) {
        let cases: Vec<CaseReport> = verdicts
            .iter()
            .enumerate()
            .map(|(i, &passed)| CaseReport {
                name: format!("c{i}"),
                passed,
                failure: (!passed).then(|| "cases/c.case:1: no".to_string()),
                ..Default::default()
            })
            .collect();
        let h = html(&run(), &cases);
        balanced(&h);
        assert!(
            h.contains(&format!("<div class=\"verdict {class}\">{line}</div>")),
            "{h}"
        );
        let passed = verdicts.iter().filter(|&&p| p).count();
        assert!(h.contains(&format!("<dt>Passed</dt><dd>{passed}</dd>")));
        let failed = verdicts.len() - passed;
        assert!(h.contains(&format!("<dt>Failed</dt><dd>{failed}</dd>")));
        assert!(h.contains("<dt>Wall time</dt><dd>12.3 s</dd>"));
        assert!(h.contains("<dt>nc</dt><dd><code>tcplab nc</code></dd>"));
        assert!(h.contains("<dt>Kernel</dt><dd><code>6.12.48+deb13-amd64</code></dd>"));
    }

    #[rstest]
    #[case(0.04, "0.0 s")]
    #[case(12.34, "12.3 s")]
    #[case(59.94, "59.9 s")]
    #[case(187.4, "3 min 07 s")]
    fn wall_times(#[case] s: f64, #[case] want: &str) {
        assert_eq!(wall_time(s), want);
    }

    #[rstest]
    fn duplicate_or_odd_names_get_distinct_anchors() {
        let a = CaseReport {
            name: "a b".into(),
            passed: true,
            ..Default::default()
        };
        let b = CaseReport {
            name: "a-b".into(),
            passed: true,
            ..Default::default()
        };
        assert_eq!(
            anchors(&[&a, &b, &a]),
            ["case-a-b", "case-a-b-2", "case-a-b-3"]
        );
    }

    #[rstest]
    fn empty_figures_say_so() {
        let c = CaseReport {
            name: "x".into(),
            file: "cases/x.case".into(),
            passed: true,
            ..Default::default()
        };
        let h = html(&run(), &[c]);
        balanced(&h);
        assert!(h.contains("No ladder was drawn."));
        assert!(h.contains("No packets captured."));
        assert!(h.contains("No steps ran."));
        assert!(!h.contains("download"));
    }

    /// Writes the sample report to `target/tmp/report-sample/` for a look
    /// (`ci/screenshot-report`).
    #[rstest]
    fn writes_the_sample_report() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/report-sample");
        let path = write_html(&dir, &run(), &sample()).unwrap();
        assert_eq!(path, dir.join("index.html"));
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, html(&run(), &sample()));
        balanced(&written);
    }
}
