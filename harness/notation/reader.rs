//! Which reader a segment line is written for (a `packets` line, a
//! `sends` segment), and the shape each accepts, for hints.

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
