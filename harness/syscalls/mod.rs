//! strace for the lab: a process started with `Spawn { trace: true, .. }`
//! runs under ptrace, and its network system calls are recorded and printed
//! as `strace -f -e trace=network` prints them, plus read/write/close on
//! sockets: `accept(4, {sa_family=AF_INET, sin_port=htons(43068),
//! sin_addr=inet_addr("192.168.2.105")}, [128 => 16]) = 5`.
//!
//! How (x86_64 only), as `strace -f --seccomp-bpf`:
//! - The child calls PTRACE_TRACEME before exec, then installs a seccomp
//!   filter that returns SECCOMP_RET_TRACE for the calls of interest only
//!   (see [`seccomp`]); the thread that spawned it (a thread made for the
//!   purpose, see [`spawn_traced`]) is its tracer and the only thread that
//!   ever makes ptrace calls for it or waits for it
//!   (`waitpid(-1, __WALL | __WNOTHREAD)`).
//! - After the post-exec SIGTRAP: TRACESYSGOOD | EXITKILL | TRACECLONE |
//!   TRACEFORK | TRACEVFORK | TRACEEXEC | TRACESECCOMP, then PTRACE_CONT.
//! - A trapped call stops at its entry (PTRACE_EVENT_SECCOMP), where
//!   PTRACE_GET_SYSCALL_INFO gives its number and arguments, kept per thread
//!   id. If it is recorded (read/write/close: only on a socket) or changes
//!   which descriptors are sockets, PTRACE_SYSCALL runs it to its exit stop
//!   for the result; otherwise PTRACE_CONT. Inputs (send buffers, sockaddrs
//!   given to bind/connect, option values) are read from the tracee at
//!   entry, outputs at exit, with process_vm_readv. Everything else
//!   (poll, mmap, ...) runs without a stop: one nc session costs ~40 stops
//!   instead of ~345 with PTRACE_SYSCALL on every call.
//! - Signals are passed on to the tracee unchanged, so a process dies of ^C
//!   exactly as it would untraced. Group-stops (SIGSTOP and friends) are not
//!   kept: the tracee is resumed, as strace without `--seize` does.
//! - Which descriptors are sockets is tracked per descriptor table: added by
//!   socket/socketpair/accept/accept4 and dups of sockets, removed by close,
//!   dup2 over them and close_range; reread from /proc at exec.
//!
//! Left out: calls that never return (the process dies inside them) are not
//! recorded (strace prints them `<unfinished ...>`); control messages are
//! shown as a pointer; `sin6_scope_id` is a number (strace may print
//! `if_nametoindex("lo")`); strace's padding of ` = ` to column 40 is not
//! reproduced.

mod args;
mod calls;
mod constants;
mod fds;
mod log;
mod memory;
mod record;
mod render;
mod seccomp;
mod sockaddr;
mod tracer;

#[cfg(test)]
mod live;
#[cfg(test)]
mod test_support;

pub use constants::{family, level, msg_flags, optname, protocol, sock_type};
pub(crate) use log::Log;
pub use record::{errno_desc, errno_name, result, Record};
pub use render::{quote, STRLEN};
pub(crate) use seccomp::{install_filter, seccomp_filter};
pub use sockaddr::sockaddr;
pub(crate) use tracer::{resume, spawn_traced, trace_me};
