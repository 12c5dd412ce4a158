//! The words that may end a packet line: when the packet must come (`after
//! LO..HI`, `at LO..HI`) and what the harness did to it (`dropped`,
//! `delayed`, ...), in either order.

use std::fmt;

use super::duration::Window;
use crate::error::Malformed;

/// When a packets line says its packet must come, as a window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timing {
    /// `after LO..HI`: since the previous captured packet (of any block).
    After(Window),
    /// `at LO..HI`: since the latest action step began.
    At(Window),
}

impl Timing {
    /// The window, whichever moment it counts from.
    pub fn window(self) -> Window {
        match self {
            Timing::After(w) | Timing::At(w) => w,
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::After(w) => write!(f, "after {w}"),
            Timing::At(w) => write!(f, "at {w}"),
        }
    }
}

/// What the harness did to a packet: the trailing word of a packets line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Dropped,
    Delayed,
    Reordered,
    /// Sent twice (by a `netem ... duplicate` link fault).
    Duplicated,
    /// Sent by a `HOST sends` step, not by a kernel.
    Injected,
}

impl Mark {
    pub const WORDS: [(&'static str, Mark); 5] = [
        ("dropped", Mark::Dropped),
        ("delayed", Mark::Delayed),
        ("reordered", Mark::Reordered),
        ("duplicated", Mark::Duplicated),
        ("injected", Mark::Injected),
    ];

    pub fn word(self) -> &'static str {
        Mark::WORDS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("", |(w, _)| w)
    }
}

const TIMING_HINT: &str = "write `after 0.9s..1.3s` (since the previous packet) or `at 0.2s..0.4s` (since the latest action step)";

const MARK_HINT: &str =
    "a packet is `dropped`, `delayed`, `reordered`, `duplicated` or `injected`, once";

/// The words after the fields, in either order: a timing and a mark. Only
/// words after `protected` (the end of a quoted payload or an options
/// bracket) count, so a payload's text is never read as one. Returns the
/// fields without them.
pub(super) fn tail(
    fields: &str,
    protected: usize,
) -> Result<(&str, Option<Timing>, Option<Mark>), Malformed> {
    let (mut rest, mut timing, mut mark) = (fields.trim_end(), None, None);
    loop {
        if rest.len() <= protected {
            return Ok((rest, timing, mark));
        }
        let (head, last) = rest.rsplit_once(char::is_whitespace).unwrap_or(("", rest));
        if head.len() < protected {
            return Ok((rest, timing, mark));
        }
        if let Some((_, m)) = Mark::WORDS.iter().find(|(w, _)| *w == last) {
            if mark.replace(*m).is_some() {
                return Err(Malformed::new("two marks on one packet", MARK_HINT));
            }
            rest = head.trim_end();
            continue;
        }
        let (head2, word) = head
            .trim_end()
            .rsplit_once(char::is_whitespace)
            .unwrap_or(("", head.trim_end()));
        let kind = match word {
            "after" if head2.len() >= protected => Timing::After,
            "at" if head2.len() >= protected => Timing::At,
            _ if last.contains("..") => {
                return Err(Malformed::new(
                    format!("a time window `{last}` without `after` or `at` before it"),
                    TIMING_HINT,
                ))
            }
            _ => return Ok((rest, timing, mark)),
        };
        let w = Window::parse(last).map_err(|b| Malformed::new(b.msg, TIMING_HINT))?;
        if timing.replace(kind(w)).is_some() {
            return Err(Malformed::new("two timings on one packet", TIMING_HINT));
        }
        rest = head2.trim_end();
    }
}
