//! The ptrace loop: the tracer thread, attaching to the child after exec,
//! following forks and threads, and handing each stop to the decoders.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::calls::{enter, leave, Call, Pending};
use super::fds::track_fds;
use super::log::{Log, Orphaned};
use super::memory::{u64_of, Memory, Remote};
use super::seccomp::{changes_fds, AUDIT_ARCH_X86_64};
use crate::error::{Error, Result};

/// Starts a traced process: a new thread runs `start`, which must fork the
/// child from that thread (PTRACE_TRACEME and [`install_filter`] before
/// exec) and return its pid and whatever handles the caller needs once the
/// child sits in its stop after exec. The thread then sets the options,
/// becomes the tracer for good, and records the calls until the child and
/// everything it forked are gone. Returns once the options are set.
pub(crate) fn spawn_traced<T, F>(label: &str, start: F) -> Result<(T, Arc<Log>)>
where
    T: Send + 'static,
    F: FnOnce() -> Result<(i32, T)> + Send + 'static,
{
    let log = Arc::new(Log::default());
    let (tx, rx) = std::sync::mpsc::channel::<Result<T>>();
    let thread_log = log.clone();
    std::thread::Builder::new()
        // A thread name cannot hold NUL (Builder::spawn would panic); the
        // case parser refuses it, a library caller may not.
        .name(format!("trace {}", label.replace('\0', "\\0")))
        .spawn(move || {
            let _orphaned = Orphaned(thread_log.clone());
            let (pid, handles) = match start() {
                Ok(started) => started,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut tracer = Tracer::new(Pid::from_raw(pid), &thread_log);
            if let Err(e) = tracer.attach() {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL));
                let _ = tx.send(Err(e));
                return;
            }
            let _ = tx.send(Ok(handles));
            tracer.run();
        })
        .map_err(|e| Error::io("spawn tracer thread", e))?;
    let handles = rx
        .recv()
        .map_err(|_| Error::msg("the tracer thread ended before the process started"))??;
    Ok((handles, log))
}

const CLONE_FILES: u64 = 0x400;

type Fds = Rc<RefCell<HashSet<i32>>>;

/// One traced thread.
struct Task {
    /// The descriptor table's sockets (shared by threads that share it).
    fds: Fds,
    /// Seen its first stop (a new thread's SIGSTOP, suppressed).
    started: bool,
    /// The call in progress: number and arguments from its entry.
    entry: Option<(i64, [u64; 6])>,
    /// The same, when it is one that gets recorded.
    pending: Option<Pending>,
}

impl Task {
    fn new(fds: Fds, started: bool) -> Task {
        Task {
            fds,
            started,
            entry: None,
            pending: None,
        }
    }
}

struct Tracer<'a> {
    main: Pid,
    log: &'a Log,
    tasks: HashMap<Pid, Task>,
}

/// In a child between fork and exec: asks to be traced by its parent
/// (PTRACE_TRACEME), so its exec stops it. Async-signal-safe: one system
/// call, no allocation.
pub(crate) fn trace_me() -> std::io::Result<()> {
    // SAFETY: PTRACE_TRACEME takes no pointers.
    if unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Lets the tracee run to its next seccomp stop (or signal, or event).
pub(crate) fn resume(tid: Pid, sig: Option<Signal>) {
    // ESRCH: killed (SIGKILL) meanwhile; its exit is reported next.
    let _ = ptrace::cont(tid, sig);
}

/// Lets the tracee run the call it stopped at, and stop again at its exit.
fn resume_to_exit(tid: Pid) {
    let _ = ptrace::syscall(tid, None);
}

fn exit_status(ws: &WaitStatus) -> Option<ExitStatus> {
    match *ws {
        WaitStatus::Exited(_, code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
        WaitStatus::Signaled(_, sig, core) => Some(ExitStatus::from_raw(
            sig as i32 | if core { 0x80 } else { 0 },
        )),
        _ => None,
    }
}

/// The socket descriptors of a task, from /proc.
fn sockets_in_proc(tid: Pid) -> HashSet<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{tid}/fd")) else {
        return HashSet::new();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

impl<'a> Tracer<'a> {
    fn new(main: Pid, log: &'a Log) -> Tracer<'a> {
        Tracer {
            main,
            log,
            tasks: HashMap::new(),
        }
    }

    /// Sets the options, the child sitting in its stop after exec.
    fn attach(&mut self) -> Result<()> {
        let pid = self.main;
        let options = Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_EXITKILL
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACEEXEC
            | Options::PTRACE_O_TRACESECCOMP;
        ptrace::setoptions(pid, options)
            .map_err(|e| Error::sys(format!("PTRACE_SETOPTIONS {pid}"), e))?;
        self.tasks.insert(
            pid,
            Task::new(Rc::new(RefCell::new(sockets_in_proc(pid))), true),
        );
        Ok(())
    }

    /// Stop after stop until no tracee is left.
    fn run(&mut self) {
        resume(self.main, None);
        loop {
            let ws = match waitpid(
                None::<Pid>,
                Some(WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD),
            ) {
                Ok(ws) => ws,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => return,
                Err(e) => {
                    self.log.fail(super::log::Broken::Waitpid(e));
                    return;
                }
            };
            match ws {
                WaitStatus::PtraceSyscall(tid)
                | WaitStatus::PtraceEvent(tid, _, libc::PTRACE_EVENT_SECCOMP) => {
                    // The stop's time, before anything else is read: when
                    // an exit stop's call returned, as near as a tracer sees.
                    let at = Instant::now();
                    self.log.stops.fetch_add(1, Ordering::Relaxed);
                    match self.syscall_stop(tid, at) {
                        true => resume_to_exit(tid),
                        false => resume(tid, None),
                    }
                }
                WaitStatus::PtraceEvent(tid, _, event) => {
                    self.log.stops.fetch_add(1, Ordering::Relaxed);
                    self.event(tid, event);
                    resume(tid, None);
                }
                WaitStatus::Stopped(tid, sig) => {
                    self.log.stops.fetch_add(1, Ordering::Relaxed);
                    let task = self
                        .tasks
                        .entry(tid)
                        .or_insert_with(|| Task::new(Fds::default(), false));
                    if !task.started && sig == Signal::SIGSTOP {
                        // A new thread or child's first stop.
                        task.started = true;
                        resume(tid, None);
                    } else if matches!(
                        sig,
                        Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
                    ) && ptrace::getsiginfo(tid) == Err(Errno::EINVAL)
                    {
                        // Group-stop: not kept (see the module's comment).
                        resume(tid, None);
                    } else {
                        // Signal-delivery-stop: deliver it.
                        resume(tid, Some(sig));
                    }
                }
                WaitStatus::Exited(tid, _) | WaitStatus::Signaled(tid, _, _) => {
                    self.tasks.remove(&tid);
                    if tid == self.main {
                        if let Some(status) = exit_status(&ws) {
                            self.log.finish(status);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn event(&mut self, tid: Pid, event: i32) {
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                let Ok(new) = ptrace::getevent(tid) else {
                    return;
                };
                let new = Pid::from_raw(new as i32);
                let Some(parent) = self.tasks.get(&tid) else {
                    return;
                };
                // Shares the descriptor table only with CLONE_FILES.
                let flags = match parent.entry {
                    Some((libc::SYS_clone, args)) => Some(args[0]),
                    Some((libc::SYS_clone3, args)) => {
                        Remote(tid).read(args[0], 8).map(|b| u64_of(&b, 0))
                    }
                    _ => None,
                };
                let shared = match flags {
                    Some(f) => f & CLONE_FILES != 0,
                    None => event == libc::PTRACE_EVENT_CLONE,
                };
                let fds = if shared {
                    parent.fds.clone()
                } else {
                    Rc::new(RefCell::new(parent.fds.borrow().clone()))
                };
                // The child's first stop may have come already.
                match self.tasks.get_mut(&new) {
                    Some(task) => task.fds = fds,
                    None => {
                        self.tasks.insert(new, Task::new(fds, false));
                    }
                }
            }
            libc::PTRACE_EVENT_EXEC => {
                // The thread that exec'd now has the leader's id; exec closed
                // the close-on-exec descriptors.
                let fds = Rc::new(RefCell::new(sockets_in_proc(tid)));
                let task = self
                    .tasks
                    .entry(tid)
                    .or_insert_with(|| Task::new(Fds::default(), true));
                task.fds = fds;
                task.entry = None;
                task.pending = None;
            }
            _ => {}
        }
    }

    /// A call's entry (its seccomp stop) or exit. True when the exit must
    /// be seen too: the call is recorded or changes the socket descriptors.
    fn syscall_stop(&mut self, tid: Pid, at: Instant) -> bool {
        let Ok(info) = ptrace::syscall_info(tid) else {
            return false;
        };
        if info.arch != AUDIT_ARCH_X86_64 {
            return false;
        }
        let task = self
            .tasks
            .entry(tid)
            .or_insert_with(|| Task::new(Fds::default(), true));
        let mem = Remote(tid);
        let (nr, args) = match info.op {
            // SAFETY: op says which member of the union is valid.
            libc::PTRACE_SYSCALL_INFO_SECCOMP => unsafe {
                (info.u.seccomp.nr, info.u.seccomp.args)
            },
            libc::PTRACE_SYSCALL_INFO_ENTRY => unsafe { (info.u.entry.nr, info.u.entry.args) },
            libc::PTRACE_SYSCALL_INFO_EXIT => {
                // SAFETY: as above.
                let ret = unsafe { info.u.exit }.sval;
                let Some((nr, args)) = task.entry.take() else {
                    return false;
                };
                track_fds(&mut task.fds.borrow_mut(), nr, args, ret, &mem);
                if let Some(p) = task.pending.take() {
                    self.log.push(leave(p, tid.as_raw(), ret, &mem, at));
                }
                return false;
            }
            _ => return false,
        };
        let nr = nr as i64;
        task.entry = Some((nr, args));
        task.pending = Call::of(nr)
            .filter(|c| !c.sockets_only() || task.fds.borrow().contains(&(args[0] as i32)))
            .map(|c| enter(c, args, &mem));
        task.pending.is_some() || changes_fds(nr)
    }
}
