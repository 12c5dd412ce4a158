//! Per-namespace sysctls: `sysctl -w net.ipv4.tcp_rfc1337=1` on one of the
//! lab's hosts, and nowhere else.
//!
//! /proc/sys/net shows the sysctls of the network namespace of the task
//! that looks, so the file is opened from a thread inside the namespace
//! ([`Netns::run`]). A namespace only has the per-namespace sysctls: a
//! global one (`net.core.netdev_max_backlog`, `net.ipv4.tcp_mem`) is simply
//! not there (ENOENT), so a case can never change the host through this.
//! Nothing needs restoring: the values go with the namespace.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::PathBuf;

use crate::error::{Error, Malformed, Result};
use crate::netns::Netns;

/// The file behind a dotted name: `net.ipv4.tcp_fin_timeout` ->
/// `/proc/sys/net/ipv4/tcp_fin_timeout`. Only `net.*` names made of
/// letters, digits, `_` and `-` (interface names) are accepted.
pub fn path(name: &str) -> Result<PathBuf, Malformed> {
    let parts: Vec<&str> = name.split('.').collect();
    let ok_part = |p: &&str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if parts.first() != Some(&"net") || parts.len() < 3 || !parts.iter().all(ok_part) {
        return Err(Malformed::new(
            format!("`{name}` is not a network sysctl name (write it as sysctl does: net.ipv4.tcp_fin_timeout)"),
            "",
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(parts.join("/")))
}

fn hint(errno: Option<i32>) -> &'static str {
    match errno {
        Some(libc::ENOENT) => {
            " (no such sysctl in a network namespace: only per-namespace net.* sysctls exist there)"
        }
        Some(libc::EINVAL) => " (the kernel refused the value: out of range or not a number)",
        _ => "",
    }
}

/// Reads `name` as seen inside `netns`, without the trailing newline.
pub fn read(netns: &Netns, name: &str) -> Result<String> {
    let file = path(name).map_err(Error::msg)?;
    let what = format!("read sysctl {name} in netns {}", netns.name());
    let what2 = what.clone();
    netns.run(&what, move || {
        let mut text = String::new();
        OpenOptions::new()
            .read(true)
            .open(&file)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|e| {
                let h = hint(e.raw_os_error());
                Error::io(format!("{what2}{h}"), e)
            })?;
        Ok(text.trim_end_matches('\n').to_string())
    })
}

/// What must happen before this process writes its first sysctl: the
/// runner reads the host's sysctls there, a "before" that no write of
/// ours can have touched, taken only by runs that write one (reading the
/// host's 500 sysctls costs more than a whole case's lab). It cannot fail
/// (`hostnet::sysctls` leaves out a file it cannot read, before and after
/// alike).
type FirstWrite = Box<dyn FnOnce() + Send>;
static BEFORE_FIRST: std::sync::Mutex<Option<FirstWrite>> = std::sync::Mutex::new(None);
static FIRST: std::sync::Once = std::sync::Once::new();

/// Runs `f` once, before the first sysctl write of this process.
pub fn before_first_write(f: impl FnOnce() + Send + 'static) {
    *BEFORE_FIRST.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
}

fn first_write() {
    FIRST.call_once(|| {
        let f = BEFORE_FIRST
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(f) = f {
            f()
        }
    })
}

/// Writes attempted by this process: the runner compares the host's
/// sysctls after the run only when there were any (nothing else of ours
/// writes a sysctl, and a program in a lab namespace sees only that
/// namespace's).
static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many sysctl writes this process has attempted.
pub fn writes() -> usize {
    WRITES.load(std::sync::atomic::Ordering::SeqCst)
}

/// Sets `name` to `value` inside `netns` only. The error names the sysctl,
/// the value, the namespace and the kernel's errno.
pub fn write(netns: &Netns, name: &str, value: &str) -> Result<()> {
    let file = path(name).map_err(Error::msg)?;
    first_write();
    WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if value.is_empty() || value.contains('\n') {
        return Err(Error::msg(format!(
            "sysctl {name}: `{value}` is not a value (one line, not empty)"
        )));
    }
    let what = format!("set sysctl {name}={value} in netns {}", netns.name());
    let what2 = what.clone();
    let line = format!("{value}\n");
    netns.run(&what, move || {
        // One write(2): proc's handlers parse the whole buffer at once.
        OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| {
                let h = hint(e.raw_os_error());
                Error::io(format!("{what2}{h}"), e)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{Lab, Side};
    use std::process::Command;

    fn host(name: &str) -> String {
        std::fs::read_to_string(path(name).unwrap())
            .unwrap()
            .trim_end()
            .to_string()
    }

    fn ip_netns_sysctl(ns: &str, name: &str) -> String {
        let out = Command::new("/usr/sbin/ip")
            .args(["netns", "exec", ns, "/usr/sbin/sysctl", "-n", name])
            .output()
            .expect("run ip netns exec ... sysctl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    #[test]
    fn names_map_to_proc_sys_and_reject_anything_else() {
        assert_eq!(
            path("net.ipv4.tcp_rfc1337").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/tcp_rfc1337")
        );
        assert_eq!(
            path("net.ipv4.conf.veth-c.rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/veth-c/rp_filter")
        );
        for bad in [
            "kernel.hostname",
            "net.ipv4",
            "net..x",
            "net.ipv4.../x",
            "net.ipv4.a/b",
            "",
        ] {
            assert!(path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn setting_tcp_rfc1337_changes_the_namespace_and_not_the_host() {
        assert!(nix::unistd::geteuid().is_root(), "needs root");
        let name = "net.ipv4.tcp_rfc1337";
        let before = host(name);
        let lab = Lab::new("sysctl-set").unwrap();
        let client = lab.netns(Side::Client);
        let want = if before == "1" { "0" } else { "1" };
        write(client, name, want).unwrap();
        assert_eq!(read(client, name).unwrap(), want);
        assert_eq!(ip_netns_sysctl(client.name(), name), want);
        assert_eq!(
            ip_netns_sysctl(lab.netns(Side::Server).name(), name),
            before,
            "the server's namespace changed too"
        );
        assert_eq!(host(name), before, "the host's value changed");
    }

    #[test]
    fn a_bad_name_or_value_says_what_where_and_the_errno() {
        assert!(nix::unistd::geteuid().is_root(), "needs root");
        let lab = Lab::new("sysctl-bad").unwrap();
        let client = lab.netns(Side::Client);
        let ns = client.name().to_string();
        let e = write(client, "net.ipv4.tcp_no_such_thing", "1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("net.ipv4.tcp_no_such_thing=1") && e.contains(&ns) && e.contains("ENOENT"),
            "{e}"
        );
        // tcp_syn_retries is bounded 1..=127 by the kernel.
        let e = write(client, "net.ipv4.tcp_syn_retries", "0")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("net.ipv4.tcp_syn_retries=0") && e.contains(&ns) && e.contains("EINVAL"),
            "{e}"
        );
        let e = write(client, "net.ipv4.tcp_fin_timeout", "soon")
            .unwrap_err()
            .to_string();
        assert!(e.contains("EINVAL"), "{e}");
        // A global sysctl does not exist inside a namespace: the host's
        // value is out of reach.
        let backlog = host("net.core.netdev_max_backlog");
        let e = write(client, "net.core.netdev_max_backlog", "17")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ENOENT"), "{e}");
        assert_eq!(host("net.core.netdev_max_backlog"), backlog);
        assert!(write(client, "kernel.hostname", "x")
            .unwrap_err()
            .to_string()
            .contains("not a network sysctl"));
    }
}
