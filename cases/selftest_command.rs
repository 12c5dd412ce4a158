//! The `tcplab` command as a user without a checkout meets it: `tcplab
//! new` writes a starter that passes, `tcplab run DIR` from another
//! folder passes it and fails a wrong case with `file:line` and the
//! side-by-side ladder, `tcplab list` lists, `--format junit` prints one
//! testcase per case; and all of it with the binary alone in a folder (no
//! `tcplab-nc` beside it: it is its own nc then).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libtest_mimic::{Failed, Trial};

use super::selftest::scratch_out;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("selftest::tcplab_command_new_run_list_junit", || {
            command_as_installed(&built(), "built")
        }),
        Trial::test("selftest::tcplab_command_alone_is_its_own_nc", tcplab_alone),
    ]
}

/// `tcplab ARGS` in `cwd`, writing under `out`, with nothing of the
/// outer run in its environment (and our nc, whatever NC says).
fn tcplab(bin: &Path, cwd: &Path, out: &Path, args: &[&str]) -> Result<Output, Failed> {
    let mut c = Command::new(bin);
    c.args(args).current_dir(cwd).env("TCPLAB_OUT", out);
    let more = ["NC", "TCPLAB_CASES", "TCPLAB_FAMILY", "CARGO_MANIFEST_DIR"];
    for var in crate::selftest::OUTER_RUN.into_iter().chain(more) {
        c.env_remove(var);
    }
    c.output()
        .map_err(|e| format!("run {}: {e}", bin.display()).into())
}

fn text(o: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A folder of two cases made with `tcplab new`: `starter` as written,
/// `wrong` with the server's FIN turned into a reset on `line`.
fn two_cases(bin: &Path, dir: &Path, out: &Path) -> Result<usize, Failed> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for name in ["starter", "wrong"] {
        let o = tcplab(bin, dir, out, &["new", name])?;
        if !o.status.success() || !dir.join(format!("{name}.case")).is_file() {
            return Err(format!("tcplab new {name}: {}", text(&o)).into());
        }
    }
    let again = tcplab(bin, dir, out, &["new", "starter"])?;
    if again.status.success() {
        return Err(format!("tcplab new over an existing case: {}", text(&again)).into());
    }
    let wrong = dir.join("wrong.case");
    let t = std::fs::read_to_string(&wrong).map_err(|e| e.to_string())?;
    let fin = "  server > client  [F.]  seq 7, ack 1";
    let line = t
        .lines()
        .position(|l| l == fin)
        .ok_or("the starter has no server FIN line")?
        + 1;
    std::fs::write(
        &wrong,
        t.replace(fin, "  server > client  [R.]  seq 7, ack 1"),
    )
    .map_err(|e| e.to_string())?;
    Ok(line)
}

/// The `tcplab` binary: nextest names it at run time (right in an
/// extracted archive), cargo when building.
fn built() -> PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_tcplab").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_tcplab")),
        PathBuf::from,
    )
}

/// new, run (from `/`), list, --format junit with `bin`; `what` names
/// its scratch folder.
fn command_as_installed(bin: &Path, what: &str) -> Result<(), Failed> {
    let scratch = scratch_out().join(format!("command-{what}"));
    let (dir, out) = (scratch.join("my-cases"), scratch.join("out"));
    let line = two_cases(bin, &dir, &out)?;
    // From another folder: the root, where paths show whole.
    let dir_arg = dir.display().to_string();
    let o = tcplab(bin, Path::new("/"), &out, &["run", &dir_arg])?;
    let all = text(&o);
    let want_fail = format!(
        "{}:{line}: packets differ",
        dir.join("wrong.case").display()
    );
    let verdict = |name: &str, v: &str| {
        all.lines()
            .any(|l| l.starts_with(&format!("test {name} ")) && l.ends_with(&format!(" ... {v}")))
    };
    if o.status.code() != Some(101)
        || !verdict("starter", "ok")
        || !verdict("wrong", "FAILED")
        || !all.contains(&want_fail)
        || !all.contains(">>")
    {
        return Err(format!("tcplab run {dir_arg}: expected starter ok, wrong failing with `{want_fail}` and the ladder:\n{all}").into());
    }
    let listed = tcplab(bin, &dir, &out, &["list", "."])?;
    if String::from_utf8_lossy(&listed.stdout) != "starter: test\nwrong: test\n" {
        return Err(format!("tcplab list .: {}", text(&listed)).into());
    }
    let junit = tcplab(
        bin,
        &dir,
        &out,
        &[
            "run",
            "--format",
            "junit",
            "starter.case",
            "--exact",
            "starter",
        ],
    )?;
    let xml = String::from_utf8_lossy(&junit.stdout);
    if !junit.status.success()
        || !xml.starts_with("<?xml")
        || xml.matches("<testcase ").count() != 1
        || !xml.contains("name=\"starter\"")
        || !String::from_utf8_lossy(&junit.stderr).contains("test starter ... ok")
    {
        return Err(format!("tcplab run --format junit: {}", text(&junit)).into());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The command copied alone into a folder, as `cargo install --bin
/// tcplab` would leave it: no tcplab-nc beside it, so a case's `nc` is
/// the command itself, started through a link named tcplab-nc.
fn tcplab_alone() -> Result<(), Failed> {
    let dir = scratch_out().join("alone");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bin: PathBuf = dir.join("tcplab");
    std::fs::copy(built(), &bin).map_err(|e| format!("copy tcplab to {}: {e}", bin.display()))?;
    let result = command_as_installed(&bin, "alone");
    let _ = std::fs::remove_dir_all(&dir);
    result
}
