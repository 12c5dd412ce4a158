//! The settle's look at a case's processes, against real ones.

use std::os::unix::fs::OpenOptionsExt;
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
        format!("server: yes (pid {}) {}", busy[0].pid, busy[0].doing)
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
        b.is_empty() && Look::of(&mut Fresh, p.pid(), false).is_some_and(|l| l.children.len() == 2)
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

/// A FIFO in a fresh folder of the temporary directory, removed on drop.
struct Fifo(std::path::PathBuf);

impl Fifo {
    fn new(name: &str) -> Fifo {
        let dir = std::env::temp_dir().join(format!("tcplab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("temporary folder");
        let path = dir.join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        Fifo(path)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().expect("a folder"));
    }
}

/// open() of a FIFO for reading sleeps (state S) in openat until a writer
/// comes: a file-system call, like an open on a slow FUSE or virtiofs
/// mount, that nothing the case does will end. The settle must not take it
/// for idle; once open, the read of the FIFO waits on its writer and is.
#[test]
fn a_process_blocked_in_open_is_busy_and_its_read_of_a_fifo_is_idle() {
    let lab = Lab::new("procs-open").expect("lab");
    let fifo = Fifo::new("procs-open");
    let mut p = sh(&lab, &format!("cat {} > /dev/null; :", fifo.0.display()));
    let mut watch = Watch::new(&lab).expect("watch");
    let roots = [root(&p)];
    // In openat of the FIFO, not of its libraries: on virtiofs (a kernel
    // matrix's VM) those opens sleep in openat too. A FIFO's open waits in
    // wait_for_partner (fifo_open where that is inlined).
    let fifo_wait = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/wchan"))
            .is_ok_and(|w| w.contains("wait_for_partner") || w.contains("fifo_open"))
    };
    let busy = until(
        &mut watch,
        &roots,
        "cat to sleep in openat of the FIFO",
        |b| {
            b.len() == 1
                && b[0].comm == "cat"
                && b[0].doing.to_string() == "in openat"
                && fifo_wait(b[0].pid)
        },
    );
    assert_eq!(
        busy[0].to_string(),
        format!("server: cat (pid {}) in openat", busy[0].pid)
    );
    assert!(p.is_idle(), "sh itself waits for cat in wait4");
    let cat = busy[0].pid;
    // Asleep all along: only its call tells it apart from an idle reader.
    assert_eq!(
        super::stat_state(std::path::Path::new(&format!("/proc/{cat}/stat"))),
        Some('S')
    );
    for _ in 0..20 {
        assert_eq!(watch.busy(&roots).len(), 1, "still in openat");
    }
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo.0)
        .expect("open the FIFO's writing end");
    until(
        &mut watch,
        &roots,
        "cat to read the FIFO",
        <[Busy]>::is_empty,
    );
    let doing = doing(cat, false).expect("cat is there");
    assert!(
        matches!(&doing, Doing::Waiting(c) if c.to_string() == format!("read of {}", fifo.0.display())),
        "{doing:?}"
    );
    drop(writer);
    p.wait_exit(Instant::now() + Duration::from_secs(5))
        .expect("cat reads the end of the FIFO, sh exits");
}

/// What each descriptor link a read or write can be on counts as: a
/// stream the case feeds, or not (a file, whatever its file system).
#[test]
fn sockets_pipes_terminals_and_event_fds_are_streams_files_are_not() {
    for link in [
        "socket:[123]",
        "pipe:[45]",
        "anon_inode:[eventfd]",
        "/dev/pts/3",
        "/dev/tty",
        "/dev/ptmx",
    ] {
        assert!(waits::is_stream(link), "{link}");
    }
    for link in [
        "/mnt/fuse/file",
        "/dev/null",
        "/dev/sda",
        "fd 3",
        "/tmp/socket:[1]",
    ] {
        assert!(!waits::is_stream(link), "{link}");
    }
}

/// Each kind of sleeper a case holds, as the settle judges it: a shell
/// waiting for its children, a sleep, a pipe's reader.
#[test]
fn shells_sleeps_pipe_readers_and_listeners_wait_on_the_case() {
    let lab = Lab::new("procs-idle").expect("lab");
    let p = sh(&lab, "sleep 100 | cat");
    let mut watch = Watch::new(&lab).expect("watch");
    let roots = [root(&p)];
    until(&mut watch, &roots, "the pipeline to wait", |b| {
        b.is_empty() && Look::of(&mut Fresh, p.pid(), false).is_some_and(|l| l.children.len() == 2)
    });
    let mut calls: Vec<String> = std::iter::once(p.pid())
        .chain(Look::of(&mut Fresh, p.pid(), false).expect("sh").children)
        .map(|pid| doing(pid, false).expect("there").to_string())
        .collect();
    calls.sort();
    let calls: Vec<&str> = calls
        .iter()
        .map(|c| c.split(" of ").next().unwrap_or(c))
        .collect();
    assert_eq!(
        calls,
        [
            "asleep in clock_nanosleep",
            "asleep in read",
            "asleep in wait4"
        ]
    );
}

/// A watch keeps each process's /proc files open between looks, closes
/// them once the process is gone, and a kept file of a reaped process
/// reads as gone (it pins the process, not its pid).
#[test]
fn a_watch_keeps_the_files_of_live_processes_only() {
    let lab = Lab::new("procs-files").expect("lab");
    let mut p = sh(&lab, "exec sleep 100");
    let mut watch = Watch::new(&lab).expect("watch");
    let roots = [root(&p)];
    until(&mut watch, &roots, "sleep to sleep", |b| {
        b.is_empty()
            && doing(p.pid(), false).is_some_and(|d| d.to_string() == "asleep in clock_nanosleep")
    });
    // stat, children and syscall of the one process.
    assert_eq!(watch.files.count(), 3);
    let mut kept = Kept::default();
    assert!(kept.read(p.pid(), "stat").is_some());
    p.signal(nix::sys::signal::Signal::SIGKILL)
        .expect("kill sleep");
    p.wait_exit(Instant::now() + Duration::from_secs(5))
        .expect("sleep is killed and reaped");
    assert_eq!(kept.read(p.pid(), "stat"), None);
    assert!(watch.busy(&roots).is_empty());
    assert_eq!(watch.files.count(), 0);
}
