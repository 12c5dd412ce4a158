//! Programs a case starts by name: a folder of links in the run's folder
//! (`runs/<id>/bin/`), put first on this process's PATH, so `server $
//! echo-service` and `sh -c 'echo-service ...'` both run the binary the
//! test target named ([`crate::Runner::program`]), and `tcplab-nc` can be
//! this very binary, acting as our nc when started under that name
//! ([`dispatch`]): a `harness = false` test target carries our nc without
//! a tcplab checkout or install beside it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::options::NC_NAME;
use crate::error::Error;

/// When this process was started as `tcplab-nc` (a link to it made by
/// `make`), runs nc with its command line and says with what status it
/// ended; None otherwise. Call it first in `main`: nc's descriptors must
/// be the first the process opens (its fd 3 is its first socket).
pub fn dispatch() -> Option<ExitCode> {
    let argv0 = std::env::args_os().next()?;
    if Path::new(&argv0).file_name()? != NC_NAME {
        return None;
    }
    Some(crate::nc::main_with(std::env::args_os()))
}

/// Makes `dir` hold a link `NAME -> TARGET` for each of `links` (each
/// made under a temporary name and renamed over the old one, so the
/// processes of one nextest run can make them at once), and puts `dir`
/// first on PATH. It changes the process's environment: call it before
/// the trials' threads start (the runner's own threads then, the signal
/// thread and the host snapshot's netlink reader, read no environment).
pub fn make(dir: &Path, links: &[(String, PathBuf)]) -> Result<(), Error> {
    if links.is_empty() {
        return Ok(());
    }
    make_links(dir, links)?;
    let path = first_on(dir, std::env::var_os("PATH").unwrap_or_default())?;
    std::env::set_var("PATH", path);
    Ok(())
}

fn make_links(dir: &Path, links: &[(String, PathBuf)]) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("mkdir {}", dir.display()), e))?;
    for (name, target) in links {
        let link = dir.join(name);
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &link))
            .map_err(|e| {
                Error::io(
                    format!("cannot link {} to {}", link.display(), target.display()),
                    e,
                )
            })?;
    }
    Ok(())
}

/// PATH with `dir` first.
fn first_on(dir: &Path, path: std::ffi::OsString) -> Result<std::ffi::OsString, Error> {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path).filter(|d| d != dir));
    std::env::join_paths(dirs).map_err(|e| Error::msg(format!("PATH: {e}")))
}

/// This binary under nc's name, for [`make`].
pub fn itself_as_nc() -> Result<(String, PathBuf), Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("where this binary is", e))?;
    Ok((NC_NAME.to_string(), exe))
}

/// Whether `name` names a program a case could start: no `/`, not empty,
/// not `.` or `..`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_made_and_replaced_and_their_folder_leads_path() {
        let dir = std::env::temp_dir().join(format!("tcplab-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        make_links(&dir, &[("my-sh".into(), PathBuf::from("/bin/sh"))]).unwrap();
        make_links(&dir, &[("my-sh".into(), PathBuf::from("/bin/true"))]).unwrap();
        assert_eq!(
            std::fs::read_link(dir.join("my-sh")).unwrap(),
            PathBuf::from("/bin/true")
        );
        let path = first_on(&dir, format!("/usr/bin:{}", dir.display()).into()).unwrap();
        assert_eq!(
            path,
            std::ffi::OsString::from(format!("{}:/usr/bin", dir.display()))
        );
        assert!(!valid_name("a/b") && !valid_name("..") && valid_name("echo-service"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
