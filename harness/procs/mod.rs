//! Every process of a case, as /proc shows it, for half of "the lab has
//! settled": every thread waiting on something the case must act on (a
//! socket, a pipe, a terminal, a child, a signal, a timer it set itself:
//! [`waits`]), stopped, or gone. Asleep (state S) is not enough: a process
//! blocked in open() on FUSE or virtiofs sleeps too. A command is not
//! alone: in `server $ sh -c '$NC -l 11111 | grep -c hello'` the shell
//! sleeps in wait4 while its nc may still be on its way to listen(), so
//! the command's own state says nothing about the pipeline.
//!
//! Each poll walks the trees below the commands through
//! `/proc/PID/task/TID/children`: for a single-threaded process its stat,
//! its children and, asleep, its syscall (plus the fd's link for a read or
//! write), through descriptors kept open between looks ([`files`]). A
//! quiet `sh -c 'sleep 100 | cat'` costs 27 µs a look in the debug build
//! on a loaded 2-core VM, where reading stat and children by path took 40
//! µs without judging any call, and 63 µs with the syscall read by path
//! (`a_quiet_pipeline_is_looked_at_without_searching_proc` prints it). A
//! process leaves those trees only when its parent exits
//! and it is reparented (a daemon's double fork, `sh -c 'nc ... &'`), so
//! when a process seen before is gone, both namespaces are searched the
//! way the lab's teardown finds their processes (`/proc/*/ns/net`, a
//! cost that grows with every process on the machine) and whatever lives
//! there outside the trees is watched from then on.

use std::collections::BTreeSet;
use std::fmt;
use std::os::unix::fs::MetadataExt;

use crate::lab::{Lab, Side};

mod files;
mod waits;

use files::{Fresh, Kept, Proc};

pub use waits::{Call, Doing};

/// A command the case started: the root of a tree of processes.
#[derive(Clone, Copy, Debug)]
pub struct Root {
    pub side: Side,
    pub pid: i32,
    /// Started under ptrace: its descendants are traced too.
    pub traced: bool,
}

/// A process below a command, or elsewhere in a host's namespace, that is
/// not idle, and what its first such thread is doing.
#[derive(Clone, Debug, PartialEq)]
pub struct Busy {
    pub side: Side,
    pub pid: i32,
    /// The thread that is not idle: `pid` itself when single-threaded.
    pub tid: i32,
    pub comm: String,
    pub doing: Doing,
}

impl fmt::Display for Busy {
    /// `server: nc (pid 4242) in openat`, `server: yes (pid 4243) state R`,
    /// `client: curl (pid 4244, thread 4246) in read of /mnt/f/x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (pid {}", self.side, self.comm, self.pid)?;
        if self.tid != self.pid {
            write!(f, ", thread {}", self.tid)?;
        }
        write!(f, ") {}", self.doing)
    }
}

/// What one look at the case's processes remembers for the next.
pub struct Watch {
    /// Each host's network namespace, as /proc/PID/ns/net reads it:
    /// `net:[INODE]`.
    spaces: Vec<(Side, String)>,
    /// Every process seen at the latest look: one of them gone means its
    /// children may have left the trees.
    seen: BTreeSet<i32>,
    /// The roots of the latest look: a new root already gone came and went
    /// between two looks, and its children may have left with it.
    roots: BTreeSet<i32>,
    /// Processes found in a namespace outside the trees, watched (with
    /// their own descendants) like a command's.
    strays: Vec<Root>,
    /// How many times the namespaces were searched: the costly part.
    searches: u64,
    /// The /proc files of the processes seen, kept open between looks.
    files: Kept,
}

impl Watch {
    pub fn new(lab: &Lab) -> std::io::Result<Watch> {
        let spaces = Side::ALL
            .iter()
            .map(|s| {
                let m = std::fs::metadata(lab.netns(*s).path())?;
                Ok((*s, format!("net:[{}]", m.ino())))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Watch {
            spaces,
            seen: BTreeSet::new(),
            roots: BTreeSet::new(),
            strays: Vec::new(),
            searches: 0,
            files: Kept::default(),
        })
    }

    /// The processes of `roots` and below them, and the strays, that are
    /// not asleep; empty when all are. Searches the namespaces first when a
    /// process seen at the previous look is gone, or a root never seen.
    pub fn busy(&mut self, roots: &[Root]) -> Vec<Busy> {
        let (mut seen, mut busy) = self.walk(roots);
        let lost = self.seen.iter().any(|p| !seen.contains(p))
            || roots
                .iter()
                .any(|r| !self.roots.contains(&r.pid) && !seen.contains(&r.pid));
        self.roots = roots.iter().map(|r| r.pid).collect();
        if lost {
            self.searches += 1;
            let found = self.search(&seen);
            if !found.is_empty() {
                self.strays.extend(found);
                (seen, busy) = self.walk(roots);
            }
        }
        self.files.keep(&seen);
        self.seen = seen;
        busy
    }

    /// How many times the namespaces have been searched (/proc/*/ns/net).
    pub fn searches(&self) -> u64 {
        self.searches
    }

    /// Every process of the trees of `roots` and the strays: those seen,
    /// and those busy.
    fn walk(&mut self, roots: &[Root]) -> (BTreeSet<i32>, Vec<Busy>) {
        let mut seen = BTreeSet::new();
        let mut busy = Vec::new();
        self.strays.retain(|s| alive(s.pid));
        let mut stack: Vec<Root> = roots.to_vec();
        stack.extend(self.strays.iter().copied());
        while let Some(r) = stack.pop() {
            if seen.contains(&r.pid) {
                continue;
            }
            let Some(look) = Look::of(&mut self.files, r.pid, r.traced) else {
                continue;
            };
            seen.insert(r.pid);
            if let Some((tid, doing)) = look.busy {
                busy.push(Busy {
                    side: r.side,
                    pid: r.pid,
                    tid,
                    comm: look.comm,
                    doing,
                });
            }
            stack.extend(look.children.iter().map(|pid| Root { pid: *pid, ..r }));
        }
        (seen, busy)
    }

    /// The processes in the hosts' namespaces that `known` does not hold:
    /// one pass over /proc, reading each process's ns/net link.
    fn search(&self, known: &BTreeSet<i32>) -> Vec<Root> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| !known.contains(pid))
            .filter_map(|pid| {
                let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
                let (side, _) = self.spaces.iter().find(|(_, ns)| link == *ns.as_str())?;
                // Not ours to trace: nothing in this run attached to it.
                Some(Root {
                    side: *side,
                    pid,
                    traced: false,
                })
            })
            .collect()
    }
}

/// One process as /proc shows it now: its name, the first of its threads
/// that is not idle, and the children its threads forked.
struct Look {
    comm: String,
    busy: Option<(i32, Doing)>,
    children: Vec<i32>,
}

impl Look {
    /// None when the process is gone. Stops judging threads at the first
    /// that is busy (the children of all are still read).
    fn of(proc: &mut impl Proc, pid: i32, traced: bool) -> Option<Look> {
        let stat = proc.read(pid, "stat")?;
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        // After the name: state is field 3 of proc(5), num_threads field 20.
        let state = fields.first()?.chars().next()?;
        let threads: usize = fields.get(17).and_then(|n| n.parse().ok()).unwrap_or(0);
        if threads == 1 {
            let doing = waits::thread(proc, pid, pid, state, traced);
            return Some(Look {
                comm,
                busy: (!doing.idle()).then_some((pid, doing)),
                children: children(proc, pid, pid),
            });
        }
        let mut look = Look {
            comm,
            busy: None,
            children: Vec::new(),
        };
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for tid in tasks
            .flatten()
            .filter_map(|t| t.file_name().to_str()?.parse::<i32>().ok())
        {
            if look.busy.is_none() {
                let state = proc
                    .read(pid, &format!("task/{tid}/stat"))
                    .and_then(|s| s.rsplit_once(')')?.1.trim_start().chars().next());
                if let Some(s) = state {
                    let doing = waits::thread(proc, pid, tid, s, traced);
                    look.busy = (!doing.idle()).then_some((tid, doing));
                }
            }
            look.children.extend(children(proc, pid, tid));
        }
        Some(look)
    }
}

/// The first thread of `pid` that is not idle (see [`Doing`]), or None when
/// every thread is idle or the process is gone.
pub fn busy_thread(pid: i32, traced: bool) -> Option<(i32, Doing)> {
    Look::of(&mut Fresh, pid, traced)?.busy
}

/// What `pid` is doing: its first thread that is not idle, else its main
/// thread; None when it is gone.
pub fn doing(pid: i32, traced: bool) -> Option<Doing> {
    let look = Look::of(&mut Fresh, pid, traced)?;
    if let Some((_, d)) = look.busy {
        return Some(d);
    }
    let state = stat_state(std::path::Path::new(&format!("/proc/{pid}/stat")))?;
    Some(waits::thread(&mut Fresh, pid, pid, state, traced))
}

/// The state letter (R, S, D, T, t, Z, ...) of a /proc/PID[/task/TID]/stat
/// file, or None when the task is gone. It follows the ")" that ends the
/// command name, which may itself hold spaces and parentheses.
pub fn stat_state(stat: &std::path::Path) -> Option<char> {
    let text = std::fs::read_to_string(stat).ok()?;
    text.rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next())
}

/// Whether `pid` still exists (a zombie included).
fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The children thread `tid` of `pid` forked (CONFIG_PROC_CHILDREN).
fn children(proc: &mut impl Proc, pid: i32, tid: i32) -> Vec<i32> {
    proc.read(pid, &format!("task/{tid}/children"))
        .map(|t| {
            t.split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
