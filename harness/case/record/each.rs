//! Recording a `packets × N` block: the forms its connections took, most
//! common first, as exact alternatives.

use super::super::expect::{compare, PacketExpect, Seen};
use super::packets::recorded;
use crate::notation::duration::Tolerance;

/// The body of a `packets × count` block from the connections a run saw;
/// None when every connection matched one of the block's alternatives
/// (the block stays as written: forms the run did not show stay too).
pub(super) fn each_body(
    alts: &[Vec<PacketExpect>],
    count: usize,
    conns: &[Vec<Seen>],
    at: &str,
    lines: &[String],
    warnings: &mut Vec<String>,
) -> Option<Vec<String>> {
    if conns.len() != count {
        warnings.push(format!(
            "{at}: the block counts {count} connections and the run made {}: the count is left as written, change it by hand",
            conns.len()
        ));
    }
    let all_match = conns.iter().all(|c| {
        alts.iter()
            .any(|a| compare(a, c, Tolerance::NONE).is_none())
    });
    if all_match && !conns.is_empty() {
        return None;
    }
    let mut forms: Vec<(Vec<String>, usize)> = Vec::new();
    for c in conns {
        let body = connection(alts, c, lines);
        match forms.iter_mut().find(|(b, _)| *b == body) {
            Some((_, n)) => *n += 1,
            None => forms.push((body, 1)),
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.1));
    let shown: Vec<String> = forms.iter().map(|(_, n)| n.to_string()).collect::<Vec<_>>();
    warnings.push(format!(
        "{at}: recorded the {} forms the connections took, as alternatives (connections each: {}); forms the run did not show were dropped",
        forms.len(),
        shown.join(", ")
    ));
    let mut body = Vec::new();
    for (k, (form, _)) in forms.into_iter().enumerate() {
        if k > 0 {
            body.push("or".to_string());
        }
        body.extend(form);
    }
    if body.is_empty() {
        return None;
    }
    Some(body)
}

/// One connection in the case notation, with the fields its model line
/// (the alternative it matched, else the one agreeing the longest) names.
fn connection(alts: &[Vec<PacketExpect>], seen: &[Seen], lines: &[String]) -> Vec<String> {
    let model = alts
        .iter()
        .find(|a| compare(a, seen, Tolerance::NONE).is_none())
        .or_else(|| {
            alts.iter()
                .max_by_key(|a| compare(a, seen, Tolerance::NONE).map_or(usize::MAX, |d| d.index))
        });
    seen.iter()
        .enumerate()
        .map(|(i, s)| recorded(s, model.and_then(|m| m.get(i)), lines))
        .collect()
}
