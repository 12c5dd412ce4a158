//! `repeat N` and the indented steps under it: a group of steps played N
//! times (a thousand connections, each opened and closed the same way).

use super::super::error::{bad, Bad};
use super::super::{Item, ItemKind};
use super::blocks::is_block;
use super::words::split_word;

/// The most repetitions a case may ask for: a million steps take hours,
/// more is a typo.
pub const MAX_REPEAT: u32 = 100_000;

pub(super) fn is_repeat(head: &str) -> bool {
    split_word(head).0 == "repeat"
}

/// `repeat N` with its body lines, each a step read by `step` (the
/// parser's one dispatcher of steps).
pub(super) fn repeat(
    head: &str,
    body: &[(usize, &str)],
    step: impl Fn(&str) -> Result<ItemKind, Bad>,
) -> Result<ItemKind, (Option<usize>, Bad)> {
    const HINT: &str = "write `repeat 1000` and, indented under it, the steps to repeat";
    let (_, n) = split_word(head);
    let times = match n.parse::<u32>() {
        Ok(t) if (1..=MAX_REPEAT).contains(&t) => t,
        _ => {
            return Err((
                None,
                bad(
                    format!("bad repeat count `{n}`: a number from 1 to {MAX_REPEAT}"),
                    HINT,
                ),
            ))
        }
    };
    if body.is_empty() {
        return Err((None, bad("`repeat` has no steps", HINT)));
    }
    let mut steps = Vec::new();
    for (line, text) in body {
        if is_block(text) || is_repeat(text) {
            return Err((
                Some(*line),
                bad(
                    format!("`{text}` inside a repeat"),
                    "a repeat holds steps only; put blocks after it (`packets × N` checks every connection)",
                ),
            ));
        }
        let kind = step(text).map_err(|b| (Some(*line), b))?;
        steps.push(Item {
            line: *line,
            only: None,
            when: None,
            kind,
        });
    }
    Ok(ItemKind::Repeat { times, steps })
}
