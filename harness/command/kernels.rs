//! `tcplab kernels [KERNEL...] [--jobs N] ...`: tcplab's own unit tests
//! and cases on other kernels, each booted in a VM (the kernel matrix,
//! `ci/kernels` of a tcplab checkout, as `make kernels` runs it; its
//! options pass through, `tcplab kernels --help` is its help). The matrix
//! builds tcplab's test binaries, so it needs the checkout: the one the
//! working folder is in, else TCPLAB_SRC, else the one this binary was
//! built from, if it is still there (`cargo install --path`, or cargo's
//! git checkout for `--git`).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the matrix's script is in a checkout.
const SCRIPT: &str = "ci/kernels";

pub(super) fn main(args: Vec<OsString>) -> ExitCode {
    let Some(repo) = checkout() else {
        eprintln!(
            "tcplab kernels: the kernel matrix runs tcplab's own suite from a tcplab checkout \
             ({SCRIPT}), and none is here: run it inside one, or set TCPLAB_SRC to one"
        );
        return ExitCode::FAILURE;
    };
    let script = repo.join(SCRIPT);
    // Replaced by the script: its output, status and signals are the
    // command's.
    let e = std::process::Command::new(&script)
        .args(args)
        .current_dir(&repo)
        .exec();
    eprintln!("tcplab kernels: {}: {e}", script.display());
    ExitCode::FAILURE
}

/// The tcplab checkout to run the matrix from.
fn checkout() -> Option<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut candidates: Vec<PathBuf> = cwd.ancestors().map(Path::to_path_buf).collect();
    candidates.splice(
        0..0,
        std::env::var_os("TCPLAB_SRC")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    );
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    candidates.into_iter().find(|d| is_checkout(d))
}

/// A folder holding tcplab's manifest and the matrix's script.
fn is_checkout(dir: &Path) -> bool {
    dir.join(SCRIPT).is_file()
        && std::fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "name = \"tcplab\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_folder_is_a_checkout_and_its_parent_is_not() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(is_checkout(here));
        assert!(!is_checkout(here.join("harness").as_path()));
    }
}
