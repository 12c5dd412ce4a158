//! Named network namespaces that `ip netns list` sees, made without forking.
//!
//! A namespace is born in a short-lived thread that unshares CLONE_NEWNET and
//! bind-mounts its `/proc/thread-self/ns/net` onto `/run/netns/NAME`, which is
//! exactly what iproute2 leaves behind, so `ip netns exec` works on ours too.
//! Forking from a multi-threaded test runner is what we avoid: setns/unshare
//! move only the calling thread, so a thread made for the purpose is enough.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};

/// Where iproute2 keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Namespaces this process created and has not yet deleted: what a signal
/// handler must remove when the run is interrupted.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Set once the run is being torn down: no new namespace may be made.
static CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Deletes every namespace this process still holds (killing what runs in
/// them). For an interrupted run (SIGINT, SIGTERM): the cases' own drops
/// will not run. Returns the names removed.
pub fn remove_all_live() -> Vec<String> {
    CLOSED.store(true, std::sync::atomic::Ordering::SeqCst);
    let live: Vec<PathBuf> = LIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    live.iter()
        .filter(|p| remove(p).is_ok())
        .filter_map(|p| p.file_name()?.to_str().map(String::from))
        .collect()
}

/// A named network namespace this process created; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
    /// Held so that setns() in a child before exec needs no path lookup, and
    /// closed before the name is removed on drop.
    fd: Option<File>,
}

impl Netns {
    /// Creates `/run/netns/NAME` holding a fresh network namespace.
    pub fn create(name: &str) -> Result<Netns> {
        if CLOSED.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::msg(format!(
                "not creating netns {name}: the run is being interrupted"
            )));
        }
        let path = Path::new(NETNS_DIR).join(name);
        fs::create_dir_all(NETNS_DIR).map_err(|e| Error::io(format!("mkdir {NETNS_DIR}"), e))?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        let target = path.clone();
        let made = std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || -> Result<()> {
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys("unshare(CLONE_NEWNET)", e))?;
                mount(
                    Some("/proc/thread-self/ns/net"),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| Error::sys(format!("bind-mount netns onto {}", target.display()), e))
            })
            .map_err(|e| Error::io("spawn namespace thread", e))?
            .join()
            .map_err(|_| Error::msg("namespace thread panicked"))?;
        if let Err(e) = made {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.clone());
        let fd = match File::open(&path) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = remove(&path);
                return Err(Error::io(format!("open {}", path.display()), e));
            }
        };
        Ok(Netns {
            name: name.to_string(),
            path,
            fd: Some(fd),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("fd is only taken on drop").as_fd()
    }

    /// Runs `f` on a new thread that lives in this namespace. Sockets opened
    /// there (netlink, pcap, sock_diag) stay in the namespace for good, so
    /// they can be returned and used from any thread afterwards.
    pub fn run<T, F>(&self, what: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let fd = self
            .fd
            .as_ref()
            .expect("fd is only taken on drop")
            .try_clone()
            .map_err(|e| Error::io("dup netns fd", e))?;
        let ns = self.name.clone();
        let what = what.to_string();
        std::thread::Builder::new()
            .name(format!("in-{}", self.name))
            .spawn(move || {
                setns(&fd, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys(format!("setns into netns {ns}"), e))?;
                drop(fd);
                f()
            })
            .map_err(|e| Error::io("spawn thread", e))?
            .join()
            .map_err(|_| Error::msg(format!("{what}: thread in netns {} panicked", self.name)))?
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // An open fd keeps the namespace (and its veth) alive after the name
        // is gone: close it first.
        self.fd.take();
        let _ = remove(&self.path);
    }
}

/// Kills whatever still runs in the namespace at `path`, then removes the
/// name. The veth inside goes with the last reference.
pub fn remove(path: &Path) -> io::Result<()> {
    if let Ok(m) = fs::metadata(path) {
        for pid in pids_in_netns(m.ino(), m.dev()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(io::Error::from(e)),
    }
    let removed = match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
    removed
}

/// Pids running in the namespace named `name` (empty if there is none).
pub fn pids_of(name: &str) -> Vec<i32> {
    match fs::metadata(Path::new(NETNS_DIR).join(name)) {
        Ok(m) => pids_in_netns(m.ino(), m.dev()),
        Err(_) => Vec::new(),
    }
}

/// Pids whose /proc/PID/ns/net is the namespace inode `ino` on nsfs `dev`.
fn pids_in_netns(ino: u64, dev: u64) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::metadata(format!("/proc/{pid}/ns/net"))
                .map(|m| m.ino() == ino && m.dev() == dev)
                .unwrap_or(false)
        })
        .collect()
}

/// Names in /run/netns, for sweeping and for checks that nothing is left.
pub fn list() -> Vec<String> {
    let Ok(dir) = fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}
