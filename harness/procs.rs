//! Every process of a case, as /proc shows it, for half of "the lab has
//! settled": every process asleep in a system call, or gone. A command is
//! not alone: in `server $ sh -c '$NC -l 11111 | grep -c hello'` the shell
//! sleeps in wait4 while its nc may still be on its way to listen(), so
//! the command's own state says nothing about the pipeline.
//!
//! Each poll walks the trees below the commands through
//! `/proc/PID/task/TID/children`: for a single-threaded process one read
//! of its stat and one of its children, about 30 µs per process in the
//! debug build on a loaded 2-core VM (stat 8.5 µs and children 5.5 µs of
//! that are the kernel's, measured in a release build), where
//! `Process::is_idle`, which it replaces in the settle, took 20 µs per
//! command (`a_quiet_pipeline_is_looked_at_without_searching_proc` prints
//! it). A process leaves those trees only when its parent exits
//! and it is reparented (a daemon's double fork, `sh -c 'nc ... &'`), so
//! when a process seen before is gone, both namespaces are searched the
//! way the lab's teardown finds their processes (`/proc/*/ns/net`, a
//! cost that grows with every process on the machine) and whatever lives
//! there outside the trees is watched from then on.

use std::collections::BTreeSet;
use std::fmt;
use std::os::unix::fs::MetadataExt;

use crate::lab::{Lab, Side};

/// Whether a thread in `state` (a letter of /proc/PID/stat) has done all it
/// can until somebody acts: asleep in a call (S), stopped (T), exiting (Z,
/// X). A ptrace stop (`t`) ends at once when the process is ours to trace
/// (its tracer thread resumes it): busy then; someone else's debugger
/// otherwise, which counts as asleep.
pub fn asleep(state: char, traced: bool) -> bool {
    match state {
        'S' | 'Z' | 'X' | 'T' => true,
        't' => !traced,
        _ => false,
    }
}

/// A command the case started: the root of a tree of processes.
#[derive(Clone, Copy, Debug)]
pub struct Root {
    pub side: Side,
    pub pid: i32,
    /// Started under ptrace: its descendants are traced too.
    pub traced: bool,
}

/// A process below a command, or elsewhere in a host's namespace, that is
/// not asleep.
#[derive(Clone, Debug, PartialEq)]
pub struct Busy {
    pub side: Side,
    pub pid: i32,
    pub comm: String,
    pub state: char,
}

impl fmt::Display for Busy {
    /// `server: pid 4242 (nc) state R`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: pid {} ({}) state {}",
            self.side, self.pid, self.comm, self.state
        )
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
        self.strays.retain(|s| Look::of(s.pid).is_some());
        let mut stack: Vec<Root> = roots.to_vec();
        stack.extend(self.strays.iter().copied());
        while let Some(r) = stack.pop() {
            if seen.contains(&r.pid) {
                continue;
            }
            let Some(look) = Look::of(r.pid) else {
                continue;
            };
            seen.insert(r.pid);
            if let Some(state) = look.states.iter().find(|c| !asleep(**c, r.traced)) {
                busy.push(Busy {
                    side: r.side,
                    pid: r.pid,
                    comm: look.comm.clone(),
                    state: *state,
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

/// One process as /proc shows it now: its name, each thread's state, and
/// the children its threads forked.
struct Look {
    comm: String,
    states: Vec<char>,
    children: Vec<i32>,
}

impl Look {
    /// None when the process is gone.
    fn of(pid: i32) -> Option<Look> {
        let stat = small_file(&format!("/proc/{pid}/stat"))?;
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        // After the name: state is field 3 of proc(5), num_threads field 20.
        let state = fields.first()?.chars().next()?;
        let threads: usize = fields.get(17).and_then(|n| n.parse().ok()).unwrap_or(0);
        if threads == 1 {
            return Some(Look {
                comm,
                states: vec![state],
                children: children(pid, pid),
            });
        }
        let mut look = Look {
            comm,
            states: Vec::new(),
            children: Vec::new(),
        };
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for tid in tasks
            .flatten()
            .filter_map(|t| t.file_name().to_str()?.parse::<i32>().ok())
        {
            let path = format!("/proc/{pid}/task/{tid}/stat");
            if let Some(s) = crate::host::stat_state(std::path::Path::new(&path)) {
                look.states.push(s);
            }
            look.children.extend(children(pid, tid));
        }
        Some(look)
    }
}

/// The children thread `tid` of `pid` forked (CONFIG_PROC_CHILDREN).
fn children(pid: i32, tid: i32) -> Vec<i32> {
    small_file(&format!("/proc/{pid}/task/{tid}/children"))
        .map(|t| {
            t.split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A /proc file read in one read(2) when it fits 1 KiB (a stat line, a
/// few children), as each poll reads them: open, read, close, where
/// `read_to_string` adds a statx and a read for the end of the file.
fn small_file(path: &str) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 1024];
    let n = f.read(&mut buf).ok()?;
    let mut bytes = buf[..n].to_vec();
    if n == buf.len() {
        f.read_to_end(&mut bytes).ok()?;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::host::{Process, Spawn};

    fn sh(lab: &Lab, script: &str) -> Process {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests need root (network namespaces): run them through cargo's runner (ci/as-root)"
        );
        let spawn = Spawn {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            label: format!("sh -c '{script}'"),
            trace: false,
        };
        Process::spawn(lab.netns(Side::Server), &spawn).expect("spawn")
    }

    fn root(p: &Process) -> Root {
        Root {
            side: Side::Server,
            pid: p.pid(),
            traced: false,
        }
    }

    /// Polls `watch` until `done` holds of what it reports, for at most 5 s.
    fn until(
        watch: &mut Watch,
        roots: &[Root],
        what: &str,
        mut done: impl FnMut(&[Busy]) -> bool,
    ) -> Vec<Busy> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let busy = watch.busy(roots);
            if done(&busy) {
                return busy;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {busy:?}"
            );
            std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
        }
    }

    #[test]
    fn a_busy_process_below_a_sleeping_shell_is_seen() {
        let lab = Lab::new("procs-tree").expect("lab");
        // `; :` keeps sh from exec'ing yes: sh sleeps in wait4, yes spins.
        let mut p = sh(&lab, "yes > /dev/null; :");
        let mut watch = Watch::new(&lab).expect("watch");
        let roots = [root(&p)];
        let busy = until(&mut watch, &roots, "yes to run, sh to wait", |b| {
            b.len() == 1 && b[0].comm == "yes"
        });
        assert_eq!(busy[0].side, Side::Server);
        assert!(p.is_idle(), "the command alone looks asleep");
        assert_eq!(
            busy[0].to_string(),
            format!("server: pid {} (yes) state {}", busy[0].pid, busy[0].state)
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(busy[0].pid),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .expect("stop yes");
        until(&mut watch, &roots, "yes to stop", <[Busy]>::is_empty);
    }

    #[test]
    fn a_process_left_behind_by_an_exited_command_is_found_in_the_namespace() {
        let lab = Lab::new("procs-stray").expect("lab");
        let mut p = sh(&lab, "yes > /dev/null & exit 0");
        p.wait_exit(Instant::now() + Duration::from_secs(5))
            .expect("sh exits");
        let mut watch = Watch::new(&lab).expect("watch");
        // sh is gone before the first look: its child left the tree with it.
        let busy = until(&mut watch, &[root(&p)], "the orphaned yes", |b| {
            b.iter().any(|b| b.comm == "yes")
        });
        assert_eq!(watch.searches(), 1, "{busy:?}");
        // Found once, watched from then on without searching again.
        for _ in 0..10 {
            assert!(!watch.busy(&[]).is_empty());
        }
        assert_eq!(watch.searches(), 1);
    }

    /// The cost of one look at a quiet pipeline (sh, sleep, cat): what every
    /// settle iteration pays. Prints the median; holds that a quiet look
    /// never searches /proc.
    #[test]
    fn a_quiet_pipeline_is_looked_at_without_searching_proc() {
        let lab = Lab::new("procs-cost").expect("lab");
        let p = sh(&lab, "sleep 100 | cat");
        let mut watch = Watch::new(&lab).expect("watch");
        let roots = [root(&p)];
        until(&mut watch, &roots, "the pipeline to sleep", |b| {
            b.is_empty() && Look::of(p.pid()).is_some_and(|l| l.children.len() == 2)
        });
        let searches = watch.searches();
        let mut took: Vec<Duration> = (0..200)
            .map(|_| {
                let t = Instant::now();
                assert!(watch.busy(&roots).is_empty());
                t.elapsed()
            })
            .collect();
        took.sort();
        assert_eq!(watch.searches(), searches, "a quiet look never searches");
        let mut p = p;
        let mut idle: Vec<Duration> = (0..200)
            .map(|_| {
                let t = Instant::now();
                assert!(p.is_idle());
                t.elapsed()
            })
            .collect();
        idle.sort();
        println!(
            "procs::Watch::busy of a quiet sh | sleep | cat (3 processes): median {:?}, p90 {:?} (200 looks); \
             Process::is_idle of the sh alone: median {:?}",
            took[100], took[180], idle[100]
        );
    }
}
