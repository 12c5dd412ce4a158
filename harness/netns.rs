//! Named network namespaces that `ip netns list` sees, made without forking.
//!
//! A namespace is born in a short-lived thread that unshares CLONE_NEWNET and
//! bind-mounts its `/proc/thread-self/ns/net` onto `/run/netns/NAME`, which is
//! exactly what iproute2 leaves behind, so `ip netns exec` works on ours too.
//! Forking from a multi-threaded test runner is what we avoid: setns/unshare
//! move only the calling thread, so a thread made for the purpose is enough.
//!
//! Every namespace is made from a parent namespace of our own (see
//! [`Parent`]) so that it gets a small TCP hash table of its own instead of
//! sharing the host's: a sock_diag dump walks the whole table, and the
//! host's has 262,144 buckets here (about 2 ms a dump, four dumps a settle;
//! 45 µs with 1024 buckets).

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

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

/// Whether the run is being torn down by a signal ([`remove_all_live`]).
pub fn closed() -> bool {
    CLOSED.load(std::sync::atomic::Ordering::SeqCst)
}

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

/// `net.ipv4.tcp_child_ehash_entries` (Linux 6.1): the size of the TCP
/// hash table of a namespace created *from* a namespace where it is set.
const CHILD_EHASH: &str = "/proc/sys/net/ipv4/tcp_child_ehash_entries";

/// Buckets of each lab namespace's own TCP hash table. Lookups stay cheap
/// with thousands of sockets (chains of a few entries); a dump walks 1024
/// buckets instead of the host's table.
pub const LAB_EHASH_ENTRIES: u32 = 1024;

/// What the kernel derives from a namespace's table size at its birth
/// (`tcp_sk_init`): with a table of its own, half its buckets as the
/// TIME-WAIT limit and 1/128 of them (at least 128) as the SYN backlog.
/// A lab namespace gets them back as a namespace sharing the host's table
/// has them, so cases see the same limits as before.
const DERIVED: [&str; 2] = [
    "/proc/sys/net/ipv4/tcp_max_tw_buckets",
    "/proc/sys/net/ipv4/tcp_max_syn_backlog",
];

/// The network namespace the lab's namespaces are made from: one per
/// process, anonymous (held by its fd only, so it goes with the process and
/// never needs sweeping), with `tcp_child_ehash_entries` set in it, never
/// in the host's.
struct Parent {
    fd: File,
    /// The values of [`DERIVED`] in a namespace sharing the host's table.
    derived: Vec<(&'static str, String)>,
}

static PARENT: OnceLock<std::result::Result<Parent, String>> = OnceLock::new();

/// The parent namespace, made on first use; Err says why there is none
/// (said once on stderr: namespaces are then made from the caller's, as
/// before, sharing the host's table).
fn parent() -> Option<&'static Parent> {
    let p = PARENT.get_or_init(|| {
        let made = make_parent();
        if let Err(why) = &made {
            eprintln!(
                "tcplab: {why}; the lab's namespaces share the host's TCP hash table, so every sock_diag dump walks it (slower settles, more CPU)"
            );
        }
        made
    });
    p.as_ref().ok()
}

fn make_parent() -> std::result::Result<Parent, String> {
    if !Path::new(CHILD_EHASH).exists() {
        return Err(format!(
            "this kernel has no {CHILD_EHASH} (Linux 6.1 and later have it)"
        ));
    }
    std::thread::Builder::new()
        .name("netns-parent".into())
        .spawn(|| {
            // From here on this thread's /proc/sys/net is the new namespace's.
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("unshare(CLONE_NEWNET) for the parent namespace: {e}"))?;
            let derived = DERIVED
                .iter()
                .map(|p| {
                    fs::read_to_string(p)
                        .map(|v| (*p, v.trim().to_string()))
                        .map_err(|e| format!("read {p} in the parent namespace: {e}"))
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            fs::write(CHILD_EHASH, LAB_EHASH_ENTRIES.to_string())
                .map_err(|e| format!("write {CHILD_EHASH} in the parent namespace: {e}"))?;
            let fd = File::open("/proc/thread-self/ns/net")
                .map_err(|e| format!("open the parent namespace: {e}"))?;
            Ok(Parent { fd, derived })
        })
        .map_err(|e| format!("spawn the parent namespace's thread: {e}"))?
        .join()
        .map_err(|_| "the parent namespace's thread panicked".to_string())?
}

/// On a thread: moves it into a new network namespace, made from the
/// parent (a table of its own) when there is one.
fn enter_new() -> Result<()> {
    let parent = parent();
    if let Some(p) = parent {
        setns(&p.fd, CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys("setns into the parent namespace", e))?;
    }
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys("unshare(CLONE_NEWNET)", e))?;
    for (path, value) in parent.map_or(&[][..], |p| &p.derived[..]) {
        fs::write(path, value).map_err(|e| Error::io(format!("write {value} to {path}"), e))?;
    }
    Ok(())
}

/// Runs `f` on a thread of its own in a new anonymous network namespace
/// (no name, no link but its loopback, which is brought up) and returns
/// what `f` made. A socket made there stays in it and keeps it alive while
/// open; the namespace goes when its last socket closes, or with the
/// process. For traffic that must touch neither the host's namespace nor
/// a lab's (the capture's timestamp probe, `capture/stamps.rs`).
pub fn private<T, F>(what: &str, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    if closed() {
        return Err(Error::msg(format!(
            "not making a namespace for {what}: the run is being interrupted"
        )));
    }
    GATE.pass()
        .map_err(|e| Error::msg(format!("not making a namespace for {what}: {e}")))?;
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("netns-private".into())
            .spawn_scoped(s, || {
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys(format!("unshare(CLONE_NEWNET) for {what}"), e))?;
                loopback_up().map_err(|e| Error::io(format!("set lo up for {what}"), e))?;
                f()
            })
            .map_err(|e| Error::io(format!("spawn the thread for {what}"), e))?
            .join()
            .map_err(|_| Error::msg(format!("{what}: its thread panicked")))?
    })
}

/// Sets `lo` of the calling thread's namespace up (SIOCSIFFLAGS, as
/// `ip link set lo up` does through netlink).
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2); the fd is ours alone.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; zero is a valid start.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, c) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *c as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether [`NETNS_DIR`] is a shared mount of its own, made once a process.
static DIR_MOUNT: OnceLock<bool> = OnceLock::new();

/// Makes [`NETNS_DIR`] a shared mount point of its own, as `ip netns add`
/// does before its first namespace. Without it, the first `ip netns add` on
/// the machine made while one of ours existed bind-mounts the folder over
/// itself and hides our namespace's mount below: its name can then be
/// neither unmounted (EINVAL) nor unlinked (EBUSY) by anybody, its owner's
/// teardown and every later sweep included (seen: a 61 s case's pair left
/// behind by a helper's `ip netns add` during it). Best effort: where the
/// mount is refused (a container without CAP_SYS_ADMIN in its mount
/// namespace) names are made as before.
fn dir_a_mount_of_its_own() -> bool {
    let shared = || {
        mount(
            None::<&str>,
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => true,
        // EINVAL: not a mount point yet. iproute2 binds it onto itself.
        Err(nix::errno::Errno::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .is_ok()
                && shared().is_ok()
        }
        Err(_) => false,
    }
}

/// No namespace is made before the runner has read the host's links,
/// addresses, routes, qdiscs and ruleset (see [`crate::gate`]).
pub static GATE: crate::gate::Gate = crate::gate::Gate::open();

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
        GATE.pass()
            .map_err(|e| Error::msg(format!("not creating netns {name}: {e}")))?;
        let path = Path::new(NETNS_DIR).join(name);
        fs::create_dir_all(NETNS_DIR).map_err(|e| Error::io(format!("mkdir {NETNS_DIR}"), e))?;
        DIR_MOUNT.get_or_init(dir_a_mount_of_its_own);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        let target = path.clone();
        let made = std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || -> Result<()> {
                enter_new()?;
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
        self.spawn(f)?
            .join()
            .map_err(|_| Error::msg(format!("{what}: thread in netns {} panicked", self.name)))?
    }

    /// Runs `f` on a new thread in this namespace whose `/sys` is a sysfs
    /// of this namespace, as `ip netns exec` shows it: a device's
    /// attributes that netlink does not reach (its receive queues'
    /// `rps_cpus`) are files there. The thread takes a mount namespace of
    /// its own, private from `/` down, so nothing it mounts reaches the
    /// host's; both go with the thread.
    pub fn with_sysfs<T, F>(&self, what: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T> + Send + 'static,
    {
        let ns = self.name.clone();
        self.run(what, move || {
            unshare(CloneFlags::CLONE_NEWNS)
                .map_err(|e| Error::sys(format!("unshare(CLONE_NEWNS) in netns {ns}"), e))?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| Error::sys(format!("make / private for netns {ns}'s sysfs"), e))?;
            mount(
                Some("sysfs"),
                "/sys",
                Some("sysfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|e| Error::sys(format!("mount a sysfs of netns {ns} on /sys"), e))?;
            f(Path::new("/sys"))
        })
    }

    /// Starts `f` on a new thread that lives in this namespace and returns
    /// at once: for a thread that stays there (the capture's reader).
    pub fn spawn<T, F>(&self, f: F) -> Result<std::thread::JoinHandle<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        self.spawn_named(format!("in-{}", self.name), f)
    }

    /// [`Netns::spawn`] with the thread named `thread` (`faults-client`).
    pub fn spawn_named<T, F>(
        &self,
        thread: String,
        f: F,
    ) -> Result<std::thread::JoinHandle<Result<T>>>
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
        std::thread::Builder::new()
            .name(thread)
            .spawn(move || {
                setns(&fd, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys(format!("setns into netns {ns}"), e))?;
                drop(fd);
                f()
            })
            .map_err(|e| Error::io("spawn thread", e))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // An open fd keeps the namespace (and its veth) alive after the name
        // is gone: close it first.
        if self.fd.take().is_some() {
            let _ = remove(&self.path);
        }
    }
}

/// Deletes several namespaces of ours with one look through /proc for
/// what still runs in them (a look costs about 1 ms per 100 processes).
/// Each is left without its fd, so its own drop does nothing more.
pub fn remove_together(all: &mut [&mut Netns]) {
    let mut paths = Vec::new();
    for ns in all.iter_mut() {
        if ns.fd.take().is_some() {
            paths.push(ns.path.clone());
        }
    }
    kill_in(&paths);
    for p in &paths {
        let _ = unmount_and_unlink(p);
    }
}

/// Kills whatever still runs in the namespace at `path`, then removes the
/// name. The veth inside goes with the last reference.
pub fn remove(path: &Path) -> io::Result<()> {
    kill_in(&[path.to_path_buf()]);
    unmount_and_unlink(path)
}

/// SIGKILL to every process whose network namespace is one of `paths`.
fn kill_in(paths: &[PathBuf]) {
    let ids: Vec<(u64, u64)> = paths
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| (m.ino(), m.dev()))
        .collect();
    for pid in pids_in_netns(&ids) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn unmount_and_unlink(path: &Path) -> io::Result<()> {
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
        Ok(m) => pids_in_netns(&[(m.ino(), m.dev())]),
        Err(_) => Vec::new(),
    }
}

/// Pids whose /proc/PID/ns/net is one of the namespaces `ids` (inode and
/// nsfs device).
fn pids_in_netns(ids: &[(u64, u64)]) -> Vec<i32> {
    if ids.is_empty() {
        return Vec::new();
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| ids.contains(&(m.ino(), m.dev())))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_in(ns: &Netns, path: &'static str) -> String {
        ns.run("read a sysctl", move || {
            fs::read_to_string(path).map_err(|e| Error::io(format!("read {path}"), e))
        })
        .unwrap()
        .trim()
        .to_string()
    }

    /// What a namespace made straight from this one (sharing the host's
    /// table) reads at `paths`.
    fn in_plain_namespace(paths: &'static [&'static str]) -> Vec<String> {
        std::thread::spawn(move || {
            unshare(CloneFlags::CLONE_NEWNET).unwrap();
            paths
                .iter()
                .map(|p| fs::read_to_string(p).unwrap().trim().to_string())
                .collect()
        })
        .join()
        .unwrap()
    }

    /// Whether `dir` is the mount point of a shared mount in this mount
    /// namespace (/proc/self/mountinfo: field 5 the mount point, `shared:N`
    /// among the optional fields).
    fn a_shared_mount_point(dir: &str) -> bool {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .any(|f| f.get(4) == Some(&dir) && f[6..].iter().any(|o| o.starts_with("shared:")))
    }

    #[test]
    fn a_private_namespace_is_a_new_one_whose_loopback_carries_a_datagram() {
        let ns = || fs::read_link("/proc/thread-self/ns/net").map_err(|e| Error::io("ns", e));
        let here = ns().unwrap();
        let (there, got) = private("a test", || {
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| Error::io("bind", e))?;
            let me = udp.local_addr().map_err(|e| Error::io("getsockname", e))?;
            udp.connect(me).map_err(|e| Error::io("connect on lo", e))?;
            udp.send(b"lo").map_err(|e| Error::io("send on lo", e))?;
            let mut buf = [0u8; 4];
            let n = udp.recv(&mut buf).map_err(|e| Error::io("recv", e))?;
            Ok((ns()?, buf[..n].to_vec()))
        })
        .unwrap();
        assert_ne!(here, there);
        assert_eq!(got, b"lo");
    }

    #[test]
    fn our_names_outlive_an_iproute2_namespace_made_beside_them() {
        let ours = Netns::create(&format!("tcplab-test-{}-beside-ip", std::process::id())).unwrap();
        assert!(
            a_shared_mount_point(NETNS_DIR),
            "{NETNS_DIR} is not a shared mount of its own after our first namespace"
        );
        let theirs = format!("tcplabtest-iproute2-{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("/usr/sbin/ip")
                .args(args)
                .output()
                .expect("run /usr/sbin/ip (iproute2)");
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        ip(&["netns", "add", &theirs]);
        ip(&["netns", "del", &theirs]);
        let path = ours.path().to_path_buf();
        drop(ours);
        assert!(!path.exists(), "{} left behind", path.display());
    }

    #[test]
    fn a_namespace_has_a_small_tcp_table_of_its_own_and_the_limits_of_a_shared_one() {
        if !Path::new(CHILD_EHASH).exists() {
            eprintln!("skipped: no {CHILD_EHASH} on this kernel");
            return;
        }
        let host_before = fs::read_to_string(CHILD_EHASH).unwrap();
        let owner = crate::owner::this_run().unwrap();
        let ns = Netns::create(&format!(
            "{}{}-0-ehash-test",
            crate::lab::NAME_PREFIX,
            owner.token()
        ))
        .unwrap();
        // Positive: a table of its own (a shared one reads as minus the
        // host's size).
        assert_eq!(
            read_in(&ns, "/proc/sys/net/ipv4/tcp_ehash_entries"),
            LAB_EHASH_ENTRIES.to_string()
        );
        let shared = in_plain_namespace(&DERIVED);
        assert!(shared[0].parse::<u32>().unwrap() > LAB_EHASH_ENTRIES / 2);
        assert_eq!(read_in(&ns, DERIVED[0]), shared[0], "tcp_max_tw_buckets");
        assert_eq!(read_in(&ns, DERIVED[1]), shared[1], "tcp_max_syn_backlog");
        // The host's own setting is left alone.
        assert_eq!(fs::read_to_string(CHILD_EHASH).unwrap(), host_before);
    }
}
