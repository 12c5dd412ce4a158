//! The case's fault rules: the engine that applies them and the line each
//! was written on (for messages and marks).

use crate::faults::{Faults, RuleId};

pub(super) struct Rules {
    /// Dropped before the lab: their threads hold its namespaces.
    pub(super) faults: Faults,
    /// Each rule and the line it was written on.
    pub(super) written: Vec<(RuleId, usize)>,
}

impl Rules {
    pub(super) fn new() -> Rules {
        Rules {
            faults: Faults::new(),
            written: Vec::new(),
        }
    }
}
