//! The HTML report's tests.

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

pub(crate) const LADDER_DATA: &str =
    "                       client                               server
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
        family: "IPv4".into(),
        tolerance: String::new(),
        seconds: 12.34,
        coverage: String::new(),
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
            skipped: None,
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
            skipped: None,
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
            skipped: None,
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
    assert!(h.contains("<dt>Family</dt><dd>IPv4</dd>"));
    assert!(!h.contains("<dt>Timing</dt>"), "no tolerance, no line");
    let tolerant = RunInfo {
        tolerance: "\u{b1}50ms".into(),
        ..run()
    };
    assert!(html(&tolerant, &cases)
        .contains("<dt>Timing</dt><dd>windows \u{b1}50ms (TCPLAB_TIME_TOLERANCE)</dd>"));
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
