//! The text forms tcplab shares between what a case expects and what it
//! makes happen: tcpdump's notation of one TCP segment (`[P.] seq 1:7, ack
//! 1, win 502, options [nop,nop,TS val 5 ecr 6], length 6`), TCP options as
//! written, and durations.
//!
//! One grammar, read in two places: a `packets` line (what a captured
//! packet must show) and a `HOST sends` segment (what to inject). Each
//! place ([`Where`]) accepts its own forms and refuses the other's with a
//! hint: a timing window or a mark in `sends`, `rcv_nxt` or a payload in
//! `packets`, `options [mss]` (any MSS) in `sends`. What a line *means* is
//! its reader's: `case::expect` matches a [`line::Line`] against captured
//! packets, `inject::spec` turns one into a segment to send.
//!
//! Pure text: knows nothing of case files, labs or captures; errors are a
//! [`Malformed`] (what is wrong, how to write it) for the reader to place
//! at its `file:line`.

pub mod duration;
pub mod line;
pub mod options;
pub mod timing;
mod values;

pub use duration::Window;
pub use line::{AckNum, Line, SeqNum};
pub use options::Opt;
pub use timing::{Mark, Timing};
pub use values::{escape, MAX_SEGMENT};

use std::fmt;

/// Text that does not parse: what is wrong, and how to write it instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub msg: String,
    pub hint: Option<String>,
}

impl Malformed {
    /// `msg` with `hint` (none when empty).
    pub fn new(msg: impl Into<String>, hint: &str) -> Malformed {
        Malformed {
            msg: msg.into(),
            hint: (!hint.is_empty()).then(|| hint.to_string()),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Malformed {}

/// Which reader a segment line is written for; each accepts its own forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    /// A line of a `packets` block: `client > server  [S.]  seq 0, ack 1`.
    Packets,
    /// The segment of a `HOST sends` step: `[R] seq rcv_nxt+1`.
    Sends,
}

impl Where {
    /// What a line of this reader describes, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Where::Packets => "packet",
            Where::Sends => "segment",
        }
    }

    /// The shape of a whole line, for hints.
    pub fn hint(self) -> &'static str {
        match self {
            Where::Packets => PACKET_HINT,
            Where::Sends => SEGMENT_HINT,
        }
    }
}

pub const PACKET_HINT: &str =
    "a packet line is `client > server  [FLAGS]  seq A[:B], ack N, win N, options [...], length N`, \
     then optionally `after LO..HI` or `at LO..HI` and `dropped`, `delayed`, `reordered`, `duplicated` or `injected`";

pub const SEGMENT_HINT: &str = "a segment is `[FLAGS] seq N|rcv_nxt[+K][:END], ack N|snd_nxt[+K], \
     win N, options [nop,nop,TS], length N | payload \"TEXT\", to port N, from port N`";

/// The first word and the rest (its leading blanks gone).
pub fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests;
