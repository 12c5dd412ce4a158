//! The tracer against real processes in a lab: needs root (the cargo runner
//! provides it) and the project's nc (built with the package) or ncat.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::Record;
use crate::host::{Process, Spawn};
use crate::lab::{Lab, Side};

fn root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (network namespaces, ptrace): run them through cargo's runner (ci/as-root)"
    );
}

/// target/debug/tcplab-nc next to this test binary (target/debug/deps/...), else
/// /usr/bin/ncat, which makes the same calls.
fn nc() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let ours = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("tcplab-nc"));
    if let Some(p) = ours.filter(|p| p.is_file()) {
        return p;
    }
    let ncat = PathBuf::from("/usr/bin/ncat");
    assert!(
        ncat.is_file(),
        "no nc: neither target/debug/tcplab-nc (cargo build --bin tcplab-nc; the runner builds it) nor /usr/bin/ncat"
    );
    ncat
}

fn spawn(lab: &Lab, side: Side, program: PathBuf, args: &[&str], trace: bool) -> Process {
    let label = format!("{} {}", program.display(), args.join(" "));
    let spawn = Spawn {
        program,
        args: args.iter().map(Into::into).collect(),
        label,
        trace,
    };
    Process::spawn(lab.netns(side), &spawn).expect("spawn")
}

fn until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
    }
}

fn shown(records: &[Record]) -> String {
    records.iter().map(|r| format!("  {r:#}\n")).collect()
}

/// Finds `wanted` (prefix, suffix) in order; panics with the records.
fn in_order(records: &[Record], wanted: &[(&str, &str)]) {
    let mut next = 0;
    for (prefix, suffix) in wanted {
        match records[next..].iter().position(|r| {
            let s = r.to_string();
            s.starts_with(prefix) && s.ends_with(suffix)
        }) {
            Some(k) => next += k + 1,
            None => panic!(
                "no `{prefix}...{suffix}` after record {next}; recorded:\n{}",
                shown(records)
            ),
        }
    }
}

#[test]
fn records_the_server_side_of_a_session() {
    root();
    let deadline = Instant::now() + Duration::from_secs(10);
    let lab = Lab::new("syscalls-check").expect("lab");
    let mut server = spawn(&lab, Side::Server, nc(), &["-kl", "11111"], true);
    assert!(server.traced());
    until(deadline, "the server to listen on fd 4 and sleep", || {
        server
            .syscalls()
            .iter()
            .any(|r| r.to_string() == "listen(4, 10) = 0")
            && server.is_idle()
    });
    let mut client = spawn(&lab, Side::Client, nc(), &["192.168.2.100", "11111"], false);
    assert!(client.syscalls().is_empty() && !client.traced());
    client.type_line("11111").expect("type");
    assert!(
        server.wait_stdout_line("11111", deadline),
        "the server did not print the line"
    );
    client.signal(Signal::SIGINT).expect("^C");
    let status = client.wait_exit(deadline).expect("client exit");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGINT)
    );
    until(deadline, "the server to close fd 5", || {
        server
            .syscalls()
            .iter()
            .any(|r| r.to_string() == "close(5) = 0")
            && server.is_idle()
    });
    let records = server.syscalls();
    in_order(
        &records,
        &[
            ("socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3", ""),
            ("setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0", ""),
            ("setsockopt(3, SOL_IPV6, IPV6_V6ONLY, [1], 4) = 0", ""),
            (
                r#"bind(3, {sa_family=AF_INET6, sin6_port=htons(11111), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::", &sin6_addr), sin6_scope_id=0}, 28) = 0"#,
                "",
            ),
            ("listen(3, 10) = 0", ""),
            ("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 4", ""),
            ("setsockopt(4, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0", ""),
            (
                r#"bind(4, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("0.0.0.0")}, 16) = 0"#,
                "",
            ),
            ("listen(4, 10) = 0", ""),
            // `[16]`, or `[128 => 16]` when given a sockaddr_storage.
            (
                r#"accept(4, {sa_family=AF_INET, sin_port=htons("#,
                "16]) = 5",
            ),
            (r#"recvfrom(5, "11111\n", "#, ") = 6"),
            (r#"recvfrom(5, "", "#, ") = 0"),
            ("close(5) = 0", ""),
        ],
    );
    // Only sockets: the line printed on stdout is no write(1, ...).
    assert!(
        records
            .iter()
            .all(|r| !matches!(r.name.as_str(), "read" | "write" | "close") || r.args[0] != "1"),
        "a call on a non-socket was recorded:\n{}",
        shown(&records)
    );
    assert!(
        records.iter().all(|r| r.pid == server.pid()),
        "one thread:\n{}",
        shown(&records)
    );
    // ^C reaches a traced process and kills it as it would untraced.
    server.signal(Signal::SIGINT).expect("^C the server");
    let status = server.wait_exit(deadline).expect("server exit");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGINT)
    );
    assert!(server.try_exit().is_some() && server.is_idle());
    assert!(server.trace_stops() > 0);
    eprintln!(
        "{} stops; recorded:\n{}",
        server.trace_stops(),
        shown(&records)
    );
}

/// A shell that forks nc, whose connect is refused, then exits 3: the
/// child is followed through fork and exec, and the exit code arrives.
#[test]
fn follows_forks_and_reports_errors() {
    root();
    let deadline = Instant::now() + Duration::from_secs(10);
    let lab = Lab::new("syscalls-fork").expect("lab");
    let script = format!("{} 192.168.2.100 11111 </dev/null; exit 3", nc().display());
    let mut sh = spawn(&lab, Side::Client, "/bin/sh".into(), &["-c", &script], true);
    let status = sh.wait_exit(deadline).expect("sh exit");
    assert_eq!(status.code(), Some(3));
    let records = sh.syscalls();
    in_order(
        &records,
        &[
            ("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3", ""),
            (
                r#"connect(3, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("192.168.2.100")}, 16) = -1 ECONNREFUSED (Connection refused)"#,
                "",
            ),
        ],
    );
    assert!(
        records.iter().all(|r| r.pid != sh.pid()),
        "the shell itself made no socket call:\n{}",
        shown(&records)
    );
    assert_eq!(
        super::errno_name(records.iter().find(|r| r.name == "connect").unwrap().ret),
        "ECONNREFUSED"
    );
}

/// A traced start that fails in exec fails as an untraced one does,
/// with exec's errno, and does not hang: the child is forked by the
/// tracer thread itself (see host.rs `fork_traced`).
#[test]
fn a_failed_exec_is_an_error() {
    root();
    let lab = Lab::new("syscalls-exec").expect("lab");
    let dir = std::env::temp_dir();
    let bad_interp = dir.join(format!("tcplab-bad-interp-{}", std::process::id()));
    let not_exec = dir.join(format!("tcplab-not-exec-{}", std::process::id()));
    std::fs::write(&bad_interp, "#!/nonexistent/interpreter\n").expect("write");
    std::fs::write(&not_exec, "#!/bin/sh\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bad_interp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for (program, errno) in [
        (PathBuf::from("/nonexistent/nc"), "ENOENT"),
        (PathBuf::from("no-such-program-on-path"), "ENOENT"),
        (bad_interp.clone(), "ENOENT"),
        (not_exec.clone(), "EACCES"),
    ] {
        for trace in [false, true] {
            let label = program.display().to_string();
            let spawn = Spawn {
                program: program.clone(),
                args: Vec::new(),
                label,
                trace,
            };
            match Process::spawn(lab.netns(Side::Client), &spawn) {
                Ok(p) => panic!(
                    "{} (trace {trace}) started: pid {}",
                    program.display(),
                    p.pid()
                ),
                Err(e) => assert!(e.to_string().contains(errno), "trace {trace}: {e}"),
            }
        }
    }
    let _ = std::fs::remove_file(&bad_interp);
    let _ = std::fs::remove_file(&not_exec);
}

/// The cost of tracing one nc session (run by hand:
/// `cargo test --lib syscalls::live::cost -- --ignored --nocapture`).
#[test]
#[ignore]
fn cost() {
    root();
    let lab = Lab::new("syscalls-cost").expect("lab");
    for trace in [false, true, false, true] {
        let mut times = Vec::new();
        let mut stops = Vec::new();
        for _ in 0..30 {
            let deadline = Instant::now() + Duration::from_secs(10);
            let t0 = Instant::now();
            let mut server = spawn(&lab, Side::Server, nc(), &["-l", "11111"], trace);
            let mut client;
            loop {
                // Until the server listens: connection refused before.
                assert!(Instant::now() < deadline, "the server never listened");
                client = spawn(&lab, Side::Client, nc(), &["192.168.2.100", "11111"], false);
                until(deadline, "the client to connect or fail", || {
                    client.is_idle()
                });
                if client.try_exit().is_none() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1)); // poll interval of this wait
            }
            client.type_line("11111").expect("type");
            assert!(server.wait_stdout_line("11111", deadline));
            client.signal(Signal::SIGINT).expect("^C");
            client.wait_exit(deadline).expect("client exit");
            server.wait_exit(deadline).expect("server exit");
            times.push(t0.elapsed());
            stops.push(server.trace_stops());
        }
        times.sort();
        stops.sort();
        eprintln!(
            "traced={trace}: spawn-to-exit median {:?} (min {:?}, max {:?}), stops median {}",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            stops[stops.len() / 2]
        );
    }
}
