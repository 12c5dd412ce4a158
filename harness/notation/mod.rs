//! The text forms tcplab shares between what a case expects and what it
//! makes happen: tcpdump's notation of one TCP segment (`[P.] seq 1:7, ack
//! 1, win 502, options [nop,nop,TS val 5 ecr 6], length 6`), TCP options as
//! written, ICMP messages about a segment (`icmp frag-needed mtu 1400`),
//! and durations.
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
pub mod icmp;
pub mod line;
pub mod options;
mod reader;
pub mod timing;
mod values;

pub use crate::error::Malformed;
pub use duration::Window;
pub use line::{AckNum, Line, SeqNum};
pub use options::Opt;
pub use reader::{Where, PACKET_HINT, SEGMENT_HINT};
pub use timing::{Mark, Timing};
pub use values::{escape, split_word, MAX_SEGMENT};

#[cfg(test)]
mod tests;
