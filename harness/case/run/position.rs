//! Where the blocks stand in the capture: the packets earlier blocks
//! claimed, where the latest block's packets began, the strays already
//! reported, and the segments `sends` steps injected.

#[derive(Default)]
pub(super) struct Position {
    /// Packets already claimed by earlier `packets` blocks.
    pub(super) claimed: usize,
    /// Where the latest block's packets began.
    pub(super) block_start: usize,
    /// Segments on other TCP ports already reported with a block.
    pub(super) strays_claimed: usize,
    /// The segments `sends` steps injected, in order.
    pub(super) sent: Vec<Sent>,
}

/// A segment a `sends` step injected, and where the capture shows it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sent {
    /// The line of the step.
    pub(super) line: usize,
    /// Its index among the captured packets.
    pub(super) index: usize,
}
