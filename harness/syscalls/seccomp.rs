//! The seccomp filter that makes a traced process stop only at the calls
//! of interest (strace's `--seccomp-bpf`).

pub(super) const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// The calls that stop a traced process: the recorded ones, those that
/// change which descriptors are sockets, and those that create tasks (their
/// flags say whether the descriptor table is shared). fcntl stops only for
/// F_DUPFD and F_DUPFD_CLOEXEC.
pub(super) const TRAPPED: &[i64] = &[
    libc::SYS_socket,
    libc::SYS_bind,
    libc::SYS_connect,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_shutdown,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_close,
    libc::SYS_socketpair,
    libc::SYS_dup,
    libc::SYS_dup2,
    libc::SYS_dup3,
    libc::SYS_close_range,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_fork,
    libc::SYS_vfork,
];

/// Calls whose result changes the set of socket descriptors.
pub(super) fn changes_fds(nr: i64) -> bool {
    matches!(
        nr,
        libc::SYS_socket
            | libc::SYS_accept
            | libc::SYS_accept4
            | libc::SYS_socketpair
            | libc::SYS_dup
            | libc::SYS_dup2
            | libc::SYS_dup3
            | libc::SYS_fcntl
            | libc::SYS_close_range
    )
}

/// The seccomp program: SECCOMP_RET_TRACE for [`TRAPPED`] (native x86_64
/// calls only), SECCOMP_RET_ALLOW for everything else.
pub(crate) fn seccomp_filter() -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    // Jumps are relative to the next instruction.
    let to = |from: usize, target: usize| (target - from - 1) as u8;
    let fcntl = 3 + TRAPPED.len();
    let (allow, trace) = (fcntl + 4, fcntl + 5);
    // struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 i.
    let mut p = vec![load(4), jeq(AUDIT_ARCH_X86_64, 0, to(1, allow)), load(0)];
    for (i, nr) in TRAPPED.iter().enumerate() {
        p.push(jeq(*nr as u32, to(3 + i, trace), 0));
    }
    p.push(jeq(libc::SYS_fcntl as u32, 0, to(fcntl, allow)));
    p.push(load(24)); // args[1], low half: the command
    p.push(jeq(libc::F_DUPFD as u32, to(fcntl + 2, trace), 0));
    p.push(jeq(libc::F_DUPFD_CLOEXEC as u32, to(fcntl + 3, trace), 0));
    p.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    p.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_TRACE));
    p
}

/// Installs `filter` in the calling process: for the child between fork and
/// exec, after PTRACE_TRACEME (async-signal-safe: one prctl). Until its
/// tracer sets PTRACE_O_TRACESECCOMP (at the stop after exec) the trapped
/// calls fail with ENOSYS: the child must not make one before exec (std's
/// Command reports exec errors with a write; see host.rs `fork_traced`).
///
/// # Safety
/// For a child between fork and exec: it changes the process for good.
pub(crate) unsafe fn install_filter(filter: &[libc::sock_filter]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prog points at a valid program for the duration of the call.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
