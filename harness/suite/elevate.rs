//! Root for a run, the way the package's own cargo runner (ci/as-root)
//! gets it: a process that is not root runs itself again through `sudo
//! -E`, keeping its environment (NC, TCPLAB_*) and its PATH, which sudo's
//! `secure_path` would replace (a case's programs are looked up on it).
//! What the run writes is handed back to the user who typed sudo
//! (SUDO_UID/SUDO_GID: `report::runs::hand_back`), so nothing under their
//! folders stays root's.
//!
//! TCPLAB_NO_SUDO=1 stops it: the run then fails at once with one line
//! saying it needs root.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use super::options::which;

/// Set in the environment of the process sudo starts: if it is still not
/// root (sudo ran it as another user), it must not try again.
const ELEVATED: &str = "TCPLAB_ELEVATED";

/// When this process is not root and sudo is there: replaces it with
/// itself through `sudo -E` (never returns then) and otherwise says why
/// it could not; None when there is nothing to do.
pub fn through_sudo(argv: &[OsString]) -> Option<String> {
    if nix::unistd::geteuid().is_root()
        || std::env::var_os("TCPLAB_NO_SUDO").is_some_and(|v| !v.is_empty() && v != "0")
        || std::env::var_os(ELEVATED).is_some()
    {
        return None;
    }
    let sudo = which("sudo")?;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Some(format!("where this binary is, to run it through sudo: {e}")),
    };
    let mut path = OsString::from("PATH=");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut elevated = OsString::from(ELEVATED);
    elevated.push("=1");
    let e = std::process::Command::new(&sudo)
        .args(["-E", "--", "env"])
        .arg(path)
        .arg(elevated)
        .arg(&exe)
        .args(argv.iter().skip(1))
        .exec();
    Some(format!("{} -E {}: {e}", sudo.display(), exe.display()))
}
