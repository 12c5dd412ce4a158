//! Recording a `packets` block: its lines from the packets a run saw,
//! with the fields, options, timing and marks the old lines named.

use super::super::expect::{compare, Opt, PacketExpect, Seen};
use super::timing;
use crate::notation::duration::Tolerance;
use crate::packet::TcpOption;

/// A packets block's new body, or None to keep it as written: a block of
/// alternatives one of which matched encodes a race and stays whole.
/// Windows are judged as written, whatever TCPLAB_TIME_TOLERANCE says:
/// a recording writes what this run saw.
pub(super) fn packets_body(
    alts: &[Vec<PacketExpect>],
    seen: &[Seen],
    at: &str,
    lines: &[String],
    warnings: &mut Vec<String>,
) -> Option<Vec<String>> {
    let matched = alts
        .iter()
        .position(|a| compare(a, seen, Tolerance::NONE).is_none());
    if alts.len() > 1 {
        if matched.is_some() {
            return None;
        }
        warnings.push(format!(
            "{at}: none of the block's {} alternatives matched; recorded the {} packets observed as its only form (the alternatives were dropped: if the kernel's timing decides between forms, write them back with `or`)",
            alts.len(),
            seen.len()
        ));
    }
    // The lines that say which fields to keep: the matching alternative,
    // else the one that agrees the longest.
    let model = match matched {
        Some(k) => &alts[k],
        None => alts
            .iter()
            .rev()
            .max_by_key(|a| compare(a, seen, Tolerance::NONE).map_or(usize::MAX, |d| d.index))
            .expect("a block has an alternative"),
    };
    if seen.is_empty() {
        return Some(vec!["none".into()]);
    }
    Some(
        seen.iter()
            .enumerate()
            .map(|(i, s)| recorded(s, model.get(i), lines))
            .collect(),
    )
}

/// The line recorded for `s`, after its model line `m` (the fields it
/// names, the timing and mark it keeps; `lines` the file's text).
pub(super) fn recorded(s: &Seen, m: Option<&PacketExpect>, lines: &[String]) -> String {
    let original = m.and_then(|m| lines.get(m.line.wrapping_sub(1)));
    packet_line(s, m) + &timing::tail(s, m, original.map(String::as_str))
}

/// One packet in the case notation: `FROM > TO  [FLAGS]  ` then seq (when
/// tcpdump shows it), ack (when ACK is set), options (only where the
/// original line named them) and length (when not 0, or when the original
/// line said `length 0`: on a bare ACK it is what says "no data"). Never
/// the window.
pub fn packet_line(s: &Seen, model: Option<&PacketExpect>) -> String {
    if let Some(kind) = s.icmp {
        return format!("{} > {}  icmp {kind}", s.from, s.to);
    }
    let flags = format!("[{}]", s.flags);
    let mut t = format!("{} > {}  {flags:<6}", s.from, s.to);
    if !t.ends_with(' ') {
        t.push(' ');
    }
    let mut fields = s.seq_ack_fields();
    if let Some(named) = model.and_then(|m| m.options.as_ref()) {
        fields.push(format!("options [{}]", options(&s.options, named)));
    }
    if s.len > 0 || model.is_some_and(|m| m.length.is_some()) {
        fields.push(format!("length {}", s.len));
    }
    t.push_str(&fields.join(", "));
    t.trim_end().to_string()
}

/// Option names in order; values only for mss (1460 on the lab's veth,
/// whatever the kernel) and where the original line pinned one (SACK
/// blocks too).
fn options(observed: &[TcpOption], named: &[Opt]) -> String {
    let items: Vec<String> = observed
        .iter()
        .enumerate()
        .map(|(i, o)| {
            // The original's option of the same name and occurrence.
            let nth = observed[..i]
                .iter()
                .filter(|p| p.name() == o.name())
                .count();
            let pinned = named.iter().filter(|e| e.name() == o.name()).nth(nth);
            match (o, pinned) {
                (TcpOption::Mss(v), _) => format!("mss {v}"),
                (TcpOption::Wscale(v), Some(Opt::Wscale(Some(_)))) => format!("wscale {v}"),
                // Relative blocks (as `Seen` holds them), in tcpdump's form.
                (TcpOption::Sack(_), Some(Opt::Sack(Some(_)))) => o.to_string(),
                (TcpOption::Ts { val, ecr }, Some(Opt::Ts { val: pv, ecr: pe })) => {
                    let mut t = "TS".to_string();
                    if pv.is_some() {
                        t += &format!(" val {val}");
                    }
                    if pe.is_some() {
                        t += &format!(" ecr {ecr}");
                    }
                    t
                }
                (o, _) => o.name().to_string(),
            }
        })
        .collect();
    items.join(",")
}
