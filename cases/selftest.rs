//! Tests of the harness itself, run beside the cases: deliberately wrong
//! cases must fail with the pinned text, and a case that panics must leave
//! no namespace or process behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use libtest_mimic::{Failed, Trial};
use tcplab::case::{parse, run};
use tcplab::host::{Process, Spawn};
use tcplab::lab::{Lab, Side};
use tcplab::netns;
use tcplab::report::ladder;

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
    // Self-tests capture into a folder of their own in the run's, so a
    // self-test running teardown.case never writes the teardown case's
    // capture while that case reads it.
    let mut opts = opts.clone();
    opts.out_dir = opts.out_dir.join("selftest");
    // Their `.fails` files pin the harness's own texts, tcpdump lines and
    // lsof rows in IPv4's words: they play in family 4 in either run.
    opts.family = tcplab::sockets::Family::Ipv4;
    let opts = &opts;
    let mut trials: Vec<Trial> = case_files(&cases_dir().join("selftest"))
        .into_iter()
        .map(|file| {
            let name = format!(
                "selftest::fails::{}",
                file.file_stem().unwrap().to_string_lossy()
            );
            let opts = opts.clone();
            Trial::test(name, move || wrong_case_fails_as_pinned(&file, &opts))
        })
        .collect();
    let nc = opts.nc.clone();
    trials.push(Trial::test(
        "selftest::panic_in_a_case_leaves_nothing",
        move || panic_leaves_nothing(&nc),
    ));
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        trials.push(Trial::test(
            format!("selftest::{sig}_to_the_runner_mid_case_leaves_nothing"),
            move || interrupted_run_leaves_nothing(sig),
        ));
    }
    trials.push(Trial::test(
        "selftest::sweep_leaves_live_runs_and_foreign_namespaces_alone",
        sweep_leaves_others_alone,
    ));
    trials.push(Trial::test(
        "selftest::not_root_fails_at_once_with_one_line",
        not_root_fails_with_one_line,
    ));
    let o = opts.clone();
    trials.push(Trial::test(
        "selftest::teardown_ladder_is_the_seeds",
        move || teardown_ladder_is_the_seeds(&o),
    ));
    trials.push(Trial::test(
        "selftest::SIGKILL_mid_case_is_swept_by_the_next_run",
        killed_run_is_swept,
    ));
    trials.push(Trial::test(
        "selftest::command_line_selects_as_libtest_does",
        super::selftest_cli::command_line_selects_as_libtest_does,
    ));
    trials.push(Trial::test(
        "selftest::bad_case_files_fail_only_their_own_trials",
        bad_case_files_fail_only_their_own_trials,
    ));
    trials.push(Trial::test(
        "selftest::a_case_needing_what_the_kernel_lacks_is_skipped_with_the_reason",
        super::selftest_requires::a_case_needing_what_the_kernel_lacks_is_skipped_with_the_reason,
    ));
    trials.push(Trial::test(
        "selftest::inner_runs_never_write_into_the_run_that_started_them",
        inner_runs_stay_out_of_the_outer_run,
    ));
    trials.extend(super::selftest_command::trials());
    trials
}

/// This runner again, for a self-test's inner run: it must never write
/// into the run that started it (its report would hold the inner run's
/// throwaway cases), so it gets an output root of its own and none of the
/// variables that name the outer run (nextest's run id, CI's shard run
/// id) or write beside it (timings, JUnit); nor record or show mode.
pub fn inner_runner(out: &Path) -> Result<Command, Failed> {
    let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    c.env("TCPLAB_OUT", out);
    for var in OUTER_RUN {
        c.env_remove(var);
    }
    Ok(c)
}

/// The variables that name the outer run or write beside it, and the
/// modes it was started in: an inner run must not inherit them.
pub const OUTER_RUN: [&str; 6] = [
    "TCPLAB_RUN_ID",
    "NEXTEST_RUN_ID",
    "TCPLAB_TIMINGS",
    "TCPLAB_JUNIT",
    "TCPLAB_RECORD",
    "TCPLAB_SHOW",
];

/// A child runner on cases/selftest/signals running one case there
/// (`hold`: a connected pair that waits for a minute; `quick`).
fn child_runner(case: &str) -> Result<std::process::Child, Failed> {
    inner_runner(&scratch_out())?
        .args(["--exact", case, "--test-threads", "1"])
        .env("TCPLAB_CASES", cases_dir().join("selftest/signals"))
        .env("TCPLAB_DEADLINE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start a child runner: {e}").into())
}

/// The output root of this process's child runners, under target/tmp.
pub fn scratch_out() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tcplab-selftest-out-{}", std::process::id()))
}

/// The child's namespaces and the processes in them, once both hosts run a
/// command (the case is in its middle).
fn wait_mid_case(child: i32) -> Result<(Vec<String>, Vec<i32>), Failed> {
    let prefix = format!("{}{child}-", tcplab::lab::NAME_PREFIX);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names: Vec<String> = netns::list()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        let pids: Vec<i32> = names.iter().flat_map(|n| netns::pids_of(n)).collect();
        if names.len() == 2 && names.iter().all(|n| !netns::pids_of(n).is_empty()) {
            return Ok((names, pids));
        }
        if Instant::now() > deadline {
            return Err(format!("child runner {child}: its case did not reach its middle within 10 s (namespaces {names:?})").into());
        }
        std::thread::sleep(Duration::from_millis(2)); // poll interval of this wait
    }
}

fn wait_child(
    child: &mut std::process::Child,
    within: Duration,
) -> Result<std::process::ExitStatus, Failed> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(
                format!("child runner {} did not exit within {within:?}", child.id()).into(),
            );
        }
        std::thread::sleep(Duration::from_millis(2)); // poll interval of this wait
    }
}

/// Whether `pid` is a live process: a zombie (killed, not yet reaped by
/// whoever inherited it) holds no socket or namespace any more.
fn running(pid: i32) -> bool {
    tcplab::procs::stat_state(Path::new(&format!("/proc/{pid}/stat")))
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// What is still there of a run after it ended: its namespaces, and its
/// commands once they had 2 s to die (SIGKILL takes effect
/// asynchronously).
fn leftovers(names: &[String], pids: &[i32]) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left: Vec<&String> = names.iter().filter(|n| netns::list().contains(n)).collect();
        let alive: Vec<&i32> = pids.iter().filter(|p| running(**p)).collect();
        if left.is_empty() && alive.is_empty() {
            return None;
        }
        if Instant::now() > deadline {
            return Some(format!(
                "namespaces left: {left:?}; processes alive: {alive:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(2)); // poll interval of this wait
    }
}

fn interrupted_run_leaves_nothing(sig: Signal) -> Result<(), Failed> {
    let mut child = child_runner("hold")?;
    let pid = child.id() as i32;
    let (names, pids) = wait_mid_case(pid)?;
    nix::sys::signal::kill(Pid::from_raw(pid), sig).map_err(|e| e.to_string())?;
    let status = wait_child(&mut child, Duration::from_secs(10))?;
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .map(|mut s| std::io::Read::read_to_string(&mut s, &mut stderr));
    if let Some(what) = leftovers(&names, &pids) {
        return Err(format!(
            "after {sig} to the runner (exit {status}): {what}\nits stderr: {stderr}"
        )
        .into());
    }
    if status.code() != Some(128 + sig as i32) {
        return Err(format!(
            "after {sig} the runner exited with {status}, expected {}; stderr: {stderr}",
            128 + sig as i32
        )
        .into());
    }
    Ok(())
}

fn killed_run_is_swept() -> Result<(), Failed> {
    let mut child = child_runner("hold")?;
    let pid = child.id() as i32;
    let (names, pids) = wait_mid_case(pid)?;
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).map_err(|e| e.to_string())?;
    wait_child(&mut child, Duration::from_secs(10))?;
    let left: Vec<&String> = names.iter().filter(|n| netns::list().contains(n)).collect();
    if left.len() != 2 {
        return Err(format!(
            "a SIGKILLed run was expected to leave its 2 namespaces for the sweep; found {left:?}"
        )
        .into());
    }
    let mut next = child_runner("quick")?;
    let status = wait_child(&mut next, Duration::from_secs(30))?;
    if !status.success() {
        return Err(format!("the run after the SIGKILL failed: {status}").into());
    }
    if let Some(what) = leftovers(&names, &pids) {
        return Err(
            format!("the next run did not sweep the killed run's leftovers: {what}").into(),
        );
    }
    Ok(())
}

/// Runs a case that must fail and requires every line of its `.fails` file
/// to appear, in order, in the failure text. Within a pinned line, ` … `
/// stands for anything (a port, a column gap), and `{deadline}` for the
/// run's deadline of a wait as the messages print it (`5s`; more under
/// ci/kernels' TCG, whose TCPLAB_DEADLINE_MS raises it), and `{tolerance}`
/// for what a failure says of the run's timing tolerance after a window
/// (nothing; ` (±50ms TCPLAB_TIME_TOLERANCE)` under TCG). A line
/// `deadline: DUR` caps that deadline for this case's run (a case that
/// must time out then waits DUR, not TCG's 60 s). A line `cause: NAME` pins
/// what stopped the run (`run::Cause`, which decides whether the runner
/// offers to record it) instead.
fn wrong_case_fails_as_pinned(file: &Path, opts: &run::Options) -> Result<(), Failed> {
    let pinned = std::fs::read_to_string(file.with_extension("fails")).map_err(|e| {
        format!(
            "{}: needs a .fails file beside it: {e}",
            shown(file).display()
        )
    })?;
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let case = parse::parse(&shown(file), &text).map_err(|e| e.to_string())?;
    let mut opts = opts.clone();
    if let Some(cap) = pinned.lines().find_map(|l| l.strip_prefix("deadline: ")) {
        let cap = tcplab::notation::duration::parse(cap.trim())
            .map_err(|e| format!("{}: deadline: {e:?}", shown(file).display()))?;
        opts.deadline = opts.deadline.min(cap);
    }
    let opts = &opts;
    let (failure, cause) = match run::run(&case, opts) {
        Ok(_) => {
            return Err(format!(
                "{}: this case is wrong on purpose and must fail, but it passed",
                shown(file).display()
            )
            .into())
        }
        Err(f) => (f.text, format!("{:?}", f.cause)),
    };
    let (causes, pinned): (Vec<&str>, Vec<&str>) = pinned
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("deadline: "))
        .partition(|l| l.starts_with("cause: "));
    if let Some(want) = causes.iter().find(|c| c["cause: ".len()..] != cause) {
        return Err(format!(
            "{}: pinned `{want}`, the run stopped for `cause: {cause}`:\n{failure}",
            shown(file).display()
        )
        .into());
    }
    let deadline = format!("{:?}", opts.deadline);
    let mut lines = failure.lines();
    for want in pinned {
        let want = &want
            .replace("{deadline}", &deadline)
            .replace("{tolerance}", &opts.tolerance.note());
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
    let spawn = Spawn {
        program: nc.to_path_buf(),
        args: vec!["-kl".into(), "11111".into()],
        label: "nc -kl 11111".into(),
        trace: false,
    };
    let seen = std::sync::Mutex::new((Vec::<String>::new(), 0i32));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new("panic-check").expect("lab");
        let p = Process::spawn(lab.netns(Side::Server), &spawn).expect("spawn");
        *seen.lock().unwrap() = (
            Side::ALL
                .iter()
                .map(|s| lab.netns(*s).name().to_string())
                .collect(),
            p.pid(),
        );
        std::panic::panic_any(DELIBERATE);
    }));
    if result.is_ok() {
        return Err("the closure was meant to panic".into());
    }
    let (names, pid) = seen.into_inner().unwrap();
    let left: Vec<String> = netns::list()
        .into_iter()
        .filter(|n| names.contains(n))
        .collect();
    if !left.is_empty() {
        return Err(format!("after a panic these namespaces are left: {left:?}").into());
    }
    if running(pid) {
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

/// The ladder drawn from a real run of cases/teardown.case is the seed's
/// figure: six arrows with the seed's labels (SYN, SYN+ACK, ACK, FIN,
/// FIN+ACK, ACK) in the seed's order, `nc -kl 11111` beside the
/// server before the SYN and `^C` beside the client before the FIN. The
/// release is a race the kernel decides (see the case): a run that took
/// the four- or five-packet form is not the figure under test, so up to
/// five runs are made to get the seed's form, and each other form seen is
/// reported if none comes.
fn teardown_ladder_is_the_seeds(opts: &run::Options) -> Result<(), Failed> {
    let file = cases_dir().join("teardown.case");
    let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    let case = parse::parse(&shown(&file), &text).map_err(|e| e.to_string())?;
    let seed = [
        ("SYN", '>'),
        ("SYN+ACK", '<'),
        ("ACK", '>'),
        ("FIN", '>'),
        ("FIN+ACK", '<'),
        ("ACK", '>'),
    ];
    let mut seen_forms = Vec::new();
    for _ in 0..5 {
        let out = run::run(&case, opts).map_err(|f| f.text)?;
        let drawn = ladder::draw(&out.packets, &out.events, &ladder::LadderOptions::default());
        let arrows: Vec<(String, char)> = drawn
            .lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once('|')?;
                let inner = rest.rsplit_once('|')?.0;
                let dir = if inner.starts_with('<') {
                    '<'
                } else if inner.ends_with('>') {
                    '>'
                } else {
                    return None;
                };
                Some((
                    inner
                        .trim_matches(|c| c == '<' || c == '>' || c == '-' || c == ' ')
                        .to_string(),
                    dir,
                ))
            })
            .collect();
        if arrows.len() != seed.len() {
            seen_forms.push(format!("{} arrows", arrows.len()));
            continue;
        }
        let want: Vec<(String, char)> = seed.iter().map(|(l, d)| (l.to_string(), *d)).collect();
        if arrows != want {
            return Err(format!(
                "the ladder's arrows are {arrows:?}, the seed's are {want:?}\n{drawn}"
            )
            .into());
        }
        let lines: Vec<&str> = drawn.lines().collect();
        let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
        let (Some(listen), Some(syn), Some(ctrl_c), Some(fin)) = (
            at("|<-- nc -kl 11111"),
            at(" SYN "),
            at("^C -->|"),
            at(" FIN "),
        ) else {
            return Err(format!("the ladder lacks `nc -kl 11111` beside the server or `^C` beside the client:\n{drawn}").into());
        };
        if !(listen < syn && ctrl_c < fin && syn < ctrl_c) {
            return Err(format!("steps are not where the seed draws them:\n{drawn}").into());
        }
        return Ok(());
    }
    Err(format!("five runs never took the seed's three-packet release ({seen_forms:?})").into())
}

/// The sweep removes only our names whose owner is dead: a namespace named
/// like ours whose owner lock is held (a live run, here this one), and one
/// that is not ours at all, survive it. Both names are unique per run (the
/// held token); if this test is killed, the held lock dies with it and the
/// next run's sweep removes the first, and this test's next run the second.
fn sweep_leaves_others_alone() -> Result<(), Failed> {
    const FOREIGN: &str = "not-tcplab-selftest-";
    tcplab::lab::sweep_stale_prefixed(FOREIGN);
    let owner = tcplab::owner::Owner::take().map_err(|e| e.to_string())?;
    let token = owner.token();
    let live_owner = netns::Netns::create(&format!(
        "{}{token}-0-selftest-live-owner",
        tcplab::lab::NAME_PREFIX
    ))
    .map_err(|e| e.to_string())?;
    let foreign = netns::Netns::create(&format!("{FOREIGN}{token}")).map_err(|e| e.to_string())?;
    let swept = tcplab::lab::sweep_stale();
    let names = netns::list();
    for ns in [&live_owner, &foreign] {
        if !names.iter().any(|n| n == ns.name()) {
            return Err(format!("the sweep removed {} (swept: {swept:?})", ns.name()).into());
        }
    }
    Ok(())
}

/// Run as `nobody`, the runner stops before any case with exactly one line
/// saying what it needs and how to run, and a failing status.
fn not_root_fails_with_one_line() -> Result<(), Failed> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&exe)
        .args(["--exact", "handshake"])
        // Without sudo too: a runner that is not root would otherwise run
        // itself through it.
        .env("TCPLAB_NO_SUDO", "1")
        .output()
        .map_err(|e| format!("setpriv (util-linux) is needed for this self-test: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    if out.status.success() || lines.len() != 1 || !lines[0].starts_with("tcplab: needs root") {
        return Err(format!(
            "as nobody: exit {}, stderr {} line(s):\n{stderr}",
            out.status,
            lines.len()
        )
        .into());
    }
    Ok(())
}

/// A cases directory with odd files beside a good case, run with NC set
/// (then every file is read before the trials, to leave out ours-only
/// cases): `--list` lists them all at once, and each bad file fails its
/// own trial with its own one-line reason while the good case passes.
fn bad_case_files_fail_only_their_own_trials() -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("tcplab-selftest-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = match make_bad_case_files(&dir) {
        Ok(()) => run_bad_case_files(&dir),
        Err(e) => Err(format!("making {}: {e}", dir.display()).into()),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The files, and the line each bad one must fail with.
const BAD_FILES: [(&str, &str); 4] = [
    ("fifo", "fifo.case: not a regular file (a FIFO)"),
    ("big", "big.case: 2000000 bytes, more than the 1048576"),
    ("latin1", "latin1.case:2: not UTF-8: byte 0xe9 at column 17"),
    ("nul", "nul.case:1: control character \\u{0} at column 12"),
];

fn make_bad_case_files(dir: &Path) -> std::io::Result<()> {
    nix::unistd::mkfifo(
        &dir.join("fifo.case"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )?;
    std::fs::write(dir.join("big.case"), "#".repeat(1999).to_string() + "\n")?;
    let big = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("big.case"))?;
    big.set_len(2_000_000)?;
    std::fs::write(
        dir.join("latin1.case"),
        b"server $ nc -kl 11111\nclient types caf\xe9 cr\xe8me br\xfbl\xe9e\n",
    )?;
    std::fs::write(dir.join("nul.case"), "server $ nc\0 -kl 11111\n")?;
    std::fs::write(
        dir.join("good.case"),
        "server $ sh -c \"echo ready; exec sleep 30\"\nserver prints ready\n",
    )
}

fn run_bad_case_files(dir: &Path) -> Result<(), Failed> {
    let runner = |args: &[&str]| -> Result<String, Failed> {
        let mut child = inner_runner(&scratch_out())?
            .args(args)
            .env("TCPLAB_CASES", dir)
            .env("NC", "/bin/true")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start a child runner: {e}"))?;
        wait_child(&mut child, Duration::from_secs(30))?;
        let mut out = String::new();
        let _ = child
            .stdout
            .take()
            .map(|mut s| std::io::Read::read_to_string(&mut s, &mut out));
        Ok(out)
    };
    let listed = runner(&["--list"])?;
    for name in ["big", "fifo", "good", "latin1", "nul"] {
        if !listed.lines().any(|l| l == format!("{name}: test")) {
            return Err(format!("--list with NC set lacks `{name}`:\n{listed}").into());
        }
    }
    let ran = runner(&["--test-threads", "2"])?;
    if !ran
        .lines()
        .any(|l| l.starts_with("test good ") && l.ends_with(" ok"))
    {
        return Err(format!("the good case did not pass beside the bad files:\n{ran}").into());
    }
    for (name, why) in BAD_FILES {
        let failed = ran
            .lines()
            .any(|l| l.starts_with(&format!("test {name} ")) && l.ends_with(" FAILED"));
        if !failed || !ran.contains(why) {
            return Err(format!("`{name}` did not fail with `{why}`:\n{ran}").into());
        }
    }
    Ok(())
}

/// The self-tests that run this runner again on throwaway folders (with
/// NC=/bin/true: `good`, `big`, `fifo`, ...) run inside an outer run as
/// nextest runs them (NEXTEST_RUN_ID set, the same in every process) and
/// as a CI shard does (TCPLAB_RUN_ID): the outer run's folder must hold
/// no result of theirs. (Under nextest the inner runs once reported
/// "4 of 37 cases failed" on a green run.)
fn inner_runs_stay_out_of_the_outer_run() -> Result<(), Failed> {
    let root = scratch_out().join("outer");
    let both = [
        "selftest::bad_case_files_fail_only_their_own_trials",
        "selftest::command_line_selects_as_libtest_does",
    ];
    let runs: [(&str, &[&str]); 2] = [("NEXTEST_RUN_ID", &both), ("TCPLAB_RUN_ID", &both[..1])];
    for (var, selftests) in runs {
        let id = format!("outer-{var}-{}", std::process::id());
        let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .arg("--exact")
            .args(selftests)
            .env_remove("NEXTEST_RUN_ID")
            .env_remove("TCPLAB_RUN_ID")
            .env_remove("TCPLAB_TIMINGS")
            .env_remove("TCPLAB_JUNIT")
            .env(var, &id)
            .env("TCPLAB_OUT", &root)
            .output()
            .map_err(|e| format!("start the outer run: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let passed = format!("{} passed; 0 failed", selftests.len());
        if !out.status.success() || !stdout.contains(&passed) {
            return Err(format!(
                "the outer run ({var}={id}) did not pass its {} self-test(s): {}\n{stdout}",
                selftests.len(),
                out.status
            )
            .into());
        }
        let results = root.join("runs").join(&id).join("results");
        let written: Vec<String> = std::fs::read_dir(&results)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !written.is_empty() {
            return Err(format!(
                "inner runs wrote {written:?} into the outer run's folder {} ({var})",
                results.display()
            )
            .into());
        }
    }
    Ok(())
}
