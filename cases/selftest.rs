//! Tests of the harness itself, run beside the cases: deliberately wrong
//! cases must fail with the pinned text, and a case that panics must leave
//! no namespace or process behind.

use std::path::Path;

use libtest_mimic::{Failed, Trial};
use tcplab::case::{parse, run};
use tcplab::host::{Process, Spawn};
use tcplab::lab::{Lab, Side};
use tcplab::netns;

use super::{case_files, cases_dir, shown};

/// The message of the selftest's deliberate panic; the runner's panic hook
/// keeps it off the terminal.
pub const DELIBERATE: &str = "deliberate panic with the lab up (selftest)";

/// Installs a hook that stays silent for the deliberate panic and prints
/// every other panic as before.
pub fn quiet_deliberate_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
        if msg != DELIBERATE {
            default(info);
        }
    }));
}

pub fn trials(opts: &run::Options) -> Vec<Trial> {
    let mut trials: Vec<Trial> = case_files(&cases_dir().join("selftest"))
        .into_iter()
        .map(|file| {
            let name = format!("selftest::fails::{}", file.file_stem().unwrap().to_string_lossy());
            let opts = opts.clone();
            Trial::test(name, move || wrong_case_fails_as_pinned(&file, &opts))
        })
        .collect();
    let nc = opts.nc.clone();
    trials.push(Trial::test("selftest::panic_in_a_case_leaves_nothing", move || panic_leaves_nothing(&nc)));
    trials
}

/// Runs a case that must fail and requires every line of its `.fails` file
/// to appear, in order, in the failure text. Within a pinned line, ` … `
/// stands for anything (a port, a column gap).
fn wrong_case_fails_as_pinned(file: &Path, opts: &run::Options) -> Result<(), Failed> {
    let pinned = std::fs::read_to_string(file.with_extension("fails"))
        .map_err(|e| format!("{}: needs a .fails file beside it: {e}", shown(file).display()))?;
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let case = parse::parse(&shown(file), &text).map_err(|e| e.to_string())?;
    let failure = match run::run(&case, opts) {
        Ok(_) => return Err(format!("{}: this case is wrong on purpose and must fail, but it passed", shown(file).display()).into()),
        Err(f) => f.0,
    };
    let mut lines = failure.lines();
    for want in pinned.lines().filter(|l| !l.is_empty()) {
        if !lines.any(|got| contains_in_order(got, want)) {
            return Err(format!(
                "the failure text of {} lacks (in order) the pinned line\n  {want:?}\nfull text:\n{failure}",
                shown(file).display()
            )
            .into());
        }
    }
    Ok(())
}

/// A panic while a lab is up and a command runs in it: unwinding must kill
/// the command and delete both namespaces.
fn panic_leaves_nothing(nc: &Path) -> Result<(), Failed> {
    let spawn = Spawn { program: nc.to_path_buf(), args: vec!["-kl".into(), "11111".into()], label: "nc -kl 11111".into() };
    let seen = std::sync::Mutex::new((Vec::<String>::new(), 0i32));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new("panic-check").expect("lab");
        let p = Process::spawn(lab.netns(Side::Server), &spawn).expect("spawn");
        *seen.lock().unwrap() = (Side::ALL.iter().map(|s| lab.netns(*s).name().to_string()).collect(), p.pid());
        std::panic::panic_any(DELIBERATE);
    }));
    if result.is_ok() {
        return Err("the closure was meant to panic".into());
    }
    let (names, pid) = seen.into_inner().unwrap();
    let left: Vec<String> = netns::list().into_iter().filter(|n| names.contains(n)).collect();
    if !left.is_empty() {
        return Err(format!("after a panic these namespaces are left: {left:?}").into());
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!("after a panic, `nc -kl 11111` (pid {pid}) still runs").into());
    }
    Ok(())
}

/// Whether the pieces of `pattern` between ` … ` appear in `line` in order.
fn contains_in_order(line: &str, pattern: &str) -> bool {
    let mut rest = line;
    for piece in pattern.split(" … ") {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}
