//! The running kernel, and what a case may require of it: a version, a
//! sysctl, a module. A case holds on a kernel, not in general: a case or
//! one of its steps can say what it needs (`requires sysctl NAME`,
//! `kernel>=6.5: STEP`), and the runner plays what holds here and reports
//! the rest as skipped with the reason, never as passed or failed.
//!
//! Looks only: /proc/sys for sysctls, /sys/module, /proc/modules and
//! /lib/modules/RELEASE for modules, uname for the version.

use crate::error::Malformed;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A kernel version: `6.5`, `6.1.0`. Compared part by part; a part left
/// out is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// The version at the start of a release string: `6.1.0-28-cloud-amd64`
    /// -> 6.1.0, `6.18.44-fc-v1300` -> 6.18.44.
    pub fn of_release(release: &str) -> Option<Version> {
        let head: String = release
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        head.trim_end_matches('.').parse().ok()
    }
}

impl FromStr for Version {
    type Err = Malformed;

    /// `6`, `6.5`, `6.5.3`.
    fn from_str(s: &str) -> Result<Version, Malformed> {
        let bad = || {
            Malformed::new(
                format!(
                    "`{s}` is not a kernel version (write it as uname -r starts: 6.5 or 6.1.0)"
                ),
                "",
            )
        };
        let parts: Vec<u32> = s
            .split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 6 {
                    return Err(bad());
                }
                p.parse().map_err(|_| bad())
            })
            .collect::<Result<_, _>>()?;
        match parts[..] {
            [a] => Ok(Version(a, 0, 0)),
            [a, b] => Ok(Version(a, b, 0)),
            [a, b, c] => Ok(Version(a, b, c)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Version {
    /// `6.5` when the last part is 0 and was likely left out, else `6.1.3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version(a, b, 0) => write!(f, "{a}.{b}"),
            Version(a, b, c) => write!(f, "{a}.{b}.{c}"),
        }
    }
}

/// What a case, a step or a block needs of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `kernel>=6.5`
    AtLeast(Version),
    /// `kernel<6.5`
    Before(Version),
    /// `sysctl net.ipv4.tcp_rto_min_us`: it exists.
    Sysctl(String),
    /// `module sch_netem`: loaded, built in or installed.
    Module(String),
}

pub const REQUIREMENT_HINT: &str = "a requirement is `kernel>=6.5`, `kernel<6.5`, \
     `sysctl net.ipv4.tcp_rto_min_us` (it exists) or `module sch_netem` (loaded, built in or installed)";

impl FromStr for Requirement {
    type Err = Malformed;

    /// `kernel>=6.5`, `kernel<6.5`, `kernel 6.5` (at least), `sysctl
    /// NAME`, `module NAME`.
    fn from_str(s: &str) -> Result<Requirement, Malformed> {
        let s = s.trim();
        if let Some(v) = s.strip_prefix("kernel>=") {
            return Ok(Requirement::AtLeast(v.trim().parse()?));
        }
        if let Some(v) = s.strip_prefix("kernel<") {
            return Ok(Requirement::Before(v.trim().parse()?));
        }
        let (word, rest) = s.split_once([' ', '\t']).unwrap_or((s, ""));
        let rest = rest.trim();
        match word {
            "kernel" if !rest.is_empty() => Ok(Requirement::AtLeast(rest.parse()?)),
            "sysctl" if !rest.is_empty() => {
                crate::sysctl::path(rest)?;
                Ok(Requirement::Sysctl(rest.to_string()))
            }
            "module" if module_name(rest) => Ok(Requirement::Module(rest.to_string())),
            "module" => Err(Malformed::new(
                format!("`{rest}` is not a module name (letters, digits, _ and -)"),
                "",
            )),
            _ => Err(Malformed::new(format!("unknown requirement `{s}`"), "")),
        }
    }
}

fn module_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for Requirement {
    /// As a case writes it: `kernel>=6.5`, `sysctl net.ipv4.x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::AtLeast(v) => write!(f, "kernel>={v}"),
            Requirement::Before(v) => write!(f, "kernel<{v}"),
            Requirement::Sysctl(n) => write!(f, "sysctl {n}"),
            Requirement::Module(n) => write!(f, "module {n}"),
        }
    }
}

/// What a kernel lacks of a [`Requirement`]; `this` is its version as
/// uname starts it (`6.1.0`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error("needs kernel {want} or later (this is {this})")]
    Newer { want: Version, this: String },
    #[error("needs a kernel before {want} (this is {this})")]
    Older { want: Version, this: String },
    #[error("needs sysctl {name} (kernel {this} has none)")]
    Sysctl { name: String, this: String },
    #[error("needs module {name} (kernel {this} has none loaded, built in or installed)")]
    Module { name: String, this: String },
}

/// The kernel a run plays on.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// `uname -r`: `6.1.0-28-cloud-amd64`.
    pub release: String,
    pub version: Version,
    /// Where its /proc, /sys and /lib/modules are: `/`, or a test's folder.
    root: PathBuf,
}

impl Kernel {
    /// The kernel this process runs on.
    pub fn running() -> Kernel {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Kernel::at(&release, Path::new("/"))
    }

    /// A kernel of `release` whose files are under `root`.
    pub fn at(release: &str, root: &Path) -> Kernel {
        Kernel {
            release: release.to_string(),
            version: Version::of_release(release).unwrap_or(Version(0, 0, 0)),
            root: root.to_path_buf(),
        }
    }

    /// Ok with what holds (`kernel 6.18.44 is 6.5 or later`), or Err with
    /// what is missing (`needs sysctl net.ipv4.tcp_rto_min_us (kernel
    /// 6.1.0 has none)`).
    pub fn check(&self, req: &Requirement) -> Result<String, Missing> {
        let (v, rel) = (self.version, self.short());
        match req {
            Requirement::AtLeast(want) if v >= *want => {
                Ok(format!("kernel {rel} is {want} or later"))
            }
            Requirement::AtLeast(want) => Err(Missing::Newer {
                want: *want,
                this: rel,
            }),
            Requirement::Before(want) if v < *want => Ok(format!("kernel {rel} is before {want}")),
            Requirement::Before(want) => Err(Missing::Older {
                want: *want,
                this: rel,
            }),
            Requirement::Sysctl(name) if self.has_sysctl(name) => {
                Ok(format!("kernel {rel} has sysctl {name}"))
            }
            Requirement::Sysctl(name) => Err(Missing::Sysctl {
                name: name.clone(),
                this: rel,
            }),
            Requirement::Module(name) if self.has_module(name) => {
                Ok(format!("kernel {rel} has module {name}"))
            }
            Requirement::Module(name) => Err(Missing::Module {
                name: name.clone(),
                this: rel,
            }),
        }
    }

    /// The version as uname starts it: `6.1.0` of `6.1.0-28-cloud-amd64`.
    fn short(&self) -> String {
        let Version(a, b, c) = self.version;
        format!("{a}.{b}.{c}")
    }

    /// Whether /proc/sys has it: a per-namespace sysctl the kernel has is
    /// in every namespace's view, the host's included.
    fn has_sysctl(&self, name: &str) -> bool {
        crate::sysctl::path(name).is_ok_and(|p| {
            let rel = p.strip_prefix("/").unwrap_or(&p).to_path_buf();
            self.root.join(rel).exists()
        })
    }

    /// Loaded (/sys/module, /proc/modules), built in
    /// (/lib/modules/RELEASE/modules.builtin) or installed (modules.dep).
    /// A kernel without /lib/modules/RELEASE (a monolithic build, like
    /// Firecracker's) cannot say what it has built in: a module it has not
    /// loaded is taken as built in, and a case that needs one it lacks fails
    /// loudly where the kernel refuses it.
    fn has_module(&self, name: &str) -> bool {
        let name = name.replace('-', "_");
        if self.root.join("sys/module").join(&name).exists() {
            return true;
        }
        let listed = |file: &Path| {
            std::fs::read_to_string(file).is_ok_and(|text| {
                text.lines().any(|l| {
                    let path = l.split(':').next().unwrap_or("");
                    let file = path.rsplit('/').next().unwrap_or("");
                    let stem = file.split(".ko").next().unwrap_or("");
                    file.contains(".ko") && stem.replace('-', "_") == name
                })
            })
        };
        let modules = self.root.join("lib/modules").join(&self.release);
        if !modules.is_dir() {
            return true;
        }
        listed(&modules.join("modules.builtin"))
            || listed(&modules.join("modules.dep"))
            || std::fs::read_to_string(self.root.join("proc/modules")).is_ok_and(|t| {
                t.lines()
                    .any(|l| l.split(' ').next() == Some(name.as_str()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_releases_and_case_files() {
        assert_eq!(
            Version::of_release("6.1.0-28-cloud-amd64"),
            Some(Version(6, 1, 0))
        );
        assert_eq!(
            Version::of_release("6.18.44-fc-v1300"),
            Some(Version(6, 18, 44))
        );
        assert_eq!(
            Version::of_release("6.12.48+deb13-amd64"),
            Some(Version(6, 12, 48))
        );
        assert_eq!("6.5".parse(), Ok(Version(6, 5, 0)));
        assert!(Version(6, 1, 176) < "6.5".parse().unwrap());
        for bad in ["", "6.", "six", "6.5.1.2", "6.-1", "9999999"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }

    #[test]
    fn requirements_read_and_print_as_a_case_writes_them() {
        for (text, shown) in [
            ("kernel>=6.5", "kernel>=6.5"),
            ("kernel 6.5", "kernel>=6.5"),
            ("kernel<6.5", "kernel<6.5"),
            (
                "sysctl net.ipv4.tcp_rto_min_us",
                "sysctl net.ipv4.tcp_rto_min_us",
            ),
            ("module sch_netem", "module sch_netem"),
        ] {
            assert_eq!(text.parse::<Requirement>().unwrap().to_string(), shown);
        }
        for bad in [
            "kernel",
            "kernel>=x",
            "sysctl",
            "sysctl vm.swappiness",
            "module",
            "module a/b",
            "disk 5G",
        ] {
            assert!(bad.parse::<Requirement>().is_err(), "{bad}");
        }
    }

    /// A fake kernel's files: 6.1's sysctls and modules, in a folder.
    fn debian_6_1() -> (Kernel, PathBuf) {
        let root = std::env::temp_dir().join(format!("tcplab-kernel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let release = "6.1.0-28-cloud-amd64";
        let modules = root.join("lib/modules").join(release);
        std::fs::create_dir_all(&modules).unwrap();
        std::fs::create_dir_all(root.join("proc/sys/net/ipv4")).unwrap();
        std::fs::write(root.join("proc/sys/net/ipv4/tcp_rfc1337"), "0\n").unwrap();
        std::fs::write(
            modules.join("modules.dep"),
            "kernel/net/sched/sch_netem.ko: \nkernel/net/netfilter/nfnetlink_queue.ko.xz: kernel/net/netfilter/nfnetlink.ko\n",
        )
        .unwrap();
        std::fs::write(
            modules.join("modules.builtin"),
            "kernel/drivers/net/veth.ko\n",
        )
        .unwrap();
        (Kernel::at(release, &root), root)
    }

    #[test]
    fn a_kernel_says_what_it_has_and_names_what_it_lacks() {
        let (k, root) = debian_6_1();
        let check = |r: &str| k.check(&r.parse().unwrap()).map_err(|m| m.to_string());
        assert_eq!(
            check("kernel>=6.1"),
            Ok("kernel 6.1.0 is 6.1 or later".into())
        );
        assert_eq!(
            check("kernel>=6.5"),
            Err("needs kernel 6.5 or later (this is 6.1.0)".into())
        );
        assert_eq!(check("kernel<6.5"), Ok("kernel 6.1.0 is before 6.5".into()));
        assert_eq!(
            check("sysctl net.ipv4.tcp_rfc1337"),
            Ok("kernel 6.1.0 has sysctl net.ipv4.tcp_rfc1337".into())
        );
        assert_eq!(
            check("sysctl net.ipv4.tcp_rto_min_us"),
            Err("needs sysctl net.ipv4.tcp_rto_min_us (kernel 6.1.0 has none)".into())
        );
        assert!(check("module sch_netem").is_ok());
        assert!(
            check("module nfnetlink_queue").is_ok(),
            "a compressed module"
        );
        assert!(check("module veth").is_ok(), "built in");
        assert_eq!(
            check("module sch_cake"),
            Err(
                "needs module sch_cake (kernel 6.1.0 has none loaded, built in or installed)"
                    .into()
            )
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_running_kernel_has_what_every_case_uses() {
        let k = Kernel::running();
        assert!(k.version >= Version(4, 0, 0), "{k:?}");
        assert!(k
            .check(&"sysctl net.ipv4.tcp_rfc1337".parse().unwrap())
            .is_ok());
        assert!(k
            .check(&"sysctl net.ipv4.does_not_exist".parse().unwrap())
            .is_err());
    }
}
