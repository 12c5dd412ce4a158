//! Lines of a `packets` block: `client > server  [P.]  seq 1:7, ack 1, length 6`.
//! The notation is `crate::notation`'s, shared with `HOST sends`; this
//! module keeps what a packets line needs of it.

use super::super::error::{bad, Bad};
use super::super::expect::PacketExpect;
use crate::notation::line::{self, SeqNum};
use crate::notation::{Where, PACKET_HINT};

/// `client > server  [P.]  seq 1:7, ack 1, length 6`
pub(super) fn packet_line(line: usize, text: &str) -> Result<PacketExpect, Bad> {
    let l = line::parse(text, Where::Packets)?;
    let Some((from, to)) = l.dir else {
        return Err(bad("a packet line starts with its direction", PACKET_HINT));
    };
    let seq = match l.seq {
        Some(SeqNum::Rel(a)) => Some((a, l.seq_end)),
        // Refused for packets by line::parse.
        Some(SeqNum::RcvNxt(_)) | None => None,
    };
    let ack = match l.ack {
        Some(line::AckNum::Rel(a)) => Some(a),
        Some(line::AckNum::SndNxt(_)) | None => None,
    };
    Ok(PacketExpect {
        line,
        from,
        to,
        flags: l.flags,
        seq,
        ack,
        win: l.win,
        length: l.length,
        options: l.options,
        icmp: l.icmp,
        timing: l.timing,
        mark: l.mark,
    })
}
