//! The case's commands and every process below them: what each host
//! started (latest last), which hosts trace what they start, and the
//! watch over all the processes of the lab's namespaces with what its
//! latest look found busy.

use crate::host::Process;
use crate::lab::Side;
use crate::procs::{Busy, Root, Watch};

pub(super) struct Commands {
    /// What each host started, in order. Dropped (killed) first: field
    /// order is drop order, and processes die before the lab goes.
    pub(super) procs: Vec<(Side, Process)>,
    /// Hosts whose commands run under ptrace (`trace HOST`).
    pub(super) traced: Vec<Side>,
    /// Every process of the case, beyond the commands (`procs`).
    pub(super) watch: Watch,
    /// What the latest look found busy besides the commands.
    pub(super) busy: Vec<Busy>,
}

impl Commands {
    pub(super) fn new(watch: Watch) -> Commands {
        Commands {
            procs: Vec::new(),
            traced: Vec::new(),
            watch,
            busy: Vec::new(),
        }
    }

    /// Every command waiting on the case or gone, and so every process
    /// below them and any other in the hosts' namespaces (`procs::Watch`):
    /// a pipeline's nc, not only the shell that waits for it. A command
    /// that has exited is reaped here.
    pub(super) fn idle(&mut self) -> bool {
        let roots: Vec<Root> = self
            .procs
            .iter_mut()
            .filter_map(|(side, p)| {
                p.try_exit().is_none().then(|| Root {
                    side: *side,
                    pid: p.pid(),
                    traced: p.traced(),
                })
            })
            .collect();
        self.busy = self.watch.busy(&roots);
        self.busy.is_empty()
    }

    /// The latest command started on `host`.
    pub(super) fn latest(&mut self, host: Side) -> Option<&mut Process> {
        self.procs
            .iter_mut()
            .rev()
            .find(|(s, _)| *s == host)
            .map(|(_, p)| p)
    }
}
