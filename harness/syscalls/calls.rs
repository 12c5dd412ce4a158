//! The recorded calls: what is read at a call's entry, and at its exit the
//! whole call rendered as a [`Record`].

use super::args::{buffer, len_inout, msghdr, optval, sockaddr_at};
use super::constants::{
    family, level, msg_flags, optname, protocol, sock_type, SHUT_HOW, SOCK_FLAGS,
};
use super::memory::Memory;
use super::record::{errno_of, Record};
use super::render::{flags, named, ptr};

/// The calls recorded (read/write/close only on sockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    Socket,
    Bind,
    Connect,
    Listen,
    Accept,
    Accept4,
    Getsockname,
    Getpeername,
    Setsockopt,
    Getsockopt,
    Sendto,
    Recvfrom,
    Sendmsg,
    Recvmsg,
    Shutdown,
    Read,
    Write,
    Close,
}

impl Call {
    pub(super) fn of(nr: i64) -> Option<Call> {
        use Call::*;
        Some(match nr {
            libc::SYS_socket => Socket,
            libc::SYS_bind => Bind,
            libc::SYS_connect => Connect,
            libc::SYS_listen => Listen,
            libc::SYS_accept => Accept,
            libc::SYS_accept4 => Accept4,
            libc::SYS_getsockname => Getsockname,
            libc::SYS_getpeername => Getpeername,
            libc::SYS_setsockopt => Setsockopt,
            libc::SYS_getsockopt => Getsockopt,
            libc::SYS_sendto => Sendto,
            libc::SYS_recvfrom => Recvfrom,
            libc::SYS_sendmsg => Sendmsg,
            libc::SYS_recvmsg => Recvmsg,
            libc::SYS_shutdown => Shutdown,
            libc::SYS_read => Read,
            libc::SYS_write => Write,
            libc::SYS_close => Close,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        use Call::*;
        match self {
            Socket => "socket",
            Bind => "bind",
            Connect => "connect",
            Listen => "listen",
            Accept => "accept",
            Accept4 => "accept4",
            Getsockname => "getsockname",
            Getpeername => "getpeername",
            Setsockopt => "setsockopt",
            Getsockopt => "getsockopt",
            Sendto => "sendto",
            Recvfrom => "recvfrom",
            Sendmsg => "sendmsg",
            Recvmsg => "recvmsg",
            Shutdown => "shutdown",
            Read => "read",
            Write => "write",
            Close => "close",
        }
    }

    /// Recorded only when the first argument is a socket.
    pub(super) fn sockets_only(self) -> bool {
        matches!(self, Call::Read | Call::Write | Call::Close)
    }
}

/// What is kept of a call between its entry and its exit.
pub(crate) struct Pending {
    call: Call,
    args: [u64; 6],
    /// Arguments rendered from memory at entry (inputs).
    early: Vec<String>,
    /// A value-result length (or msg_namelen) as it was at entry.
    len_before: Option<u32>,
}

/// Entry: reads what the call takes in.
pub(super) fn enter(call: Call, args: [u64; 6], mem: &dyn Memory) -> Pending {
    use Call::*;
    let a = args;
    let (early, len_before) = match call {
        Bind | Connect => (vec![sockaddr_at(mem, a[1], a[2] as u32)], None),
        Setsockopt => (
            vec![optval(
                mem,
                a[1] as u32 as u64,
                a[2] as u32 as u64,
                a[3],
                a[4] as u32,
            )],
            None,
        ),
        Sendto => (
            vec![buffer(mem, a[1], a[2]), sockaddr_at(mem, a[4], a[5] as u32)],
            None,
        ),
        Write => (vec![buffer(mem, a[1], a[2])], None),
        Sendmsg => (vec![msghdr(mem, a[1], None, None)], None),
        Accept | Accept4 | Getsockname | Getpeername => (vec![], lenp(mem, a[1], a[2])),
        Recvfrom => (vec![], lenp(mem, a[4], a[5])),
        Getsockopt => (vec![], lenp(mem, a[3], a[4])),
        Recvmsg => (vec![], mem.u32_at(a[1].wrapping_add(8))),
        _ => (vec![], None),
    };
    Pending {
        call,
        args,
        early,
        len_before,
    }
}

/// The length behind a value-result pointer, when the buffer is given.
fn lenp(mem: &dyn Memory, buf: u64, lenp: u64) -> Option<u32> {
    if buf == 0 && lenp == 0 {
        return None;
    }
    mem.u32_at(lenp)
}

/// Exit: reads what the call gave back and renders the whole call.
pub(super) fn leave(
    p: Pending,
    pid: i32,
    ret: i64,
    mem: &dyn Memory,
    returned: std::time::Instant,
) -> Record {
    use Call::*;
    let call = p.call;
    let mut exit = Exit {
        a: p.args,
        ret,
        ok: errno_of(ret).is_none(),
        len_before: p.len_before,
        early: p.early.into_iter(),
        mem,
    };
    let args = match call {
        Socket | Bind | Connect | Listen | Shutdown | Close => exit.setup(call),
        Accept | Accept4 | Getsockname | Getpeername => exit.names(call),
        Setsockopt | Getsockopt => exit.options(call),
        Sendto | Recvfrom | Sendmsg | Recvmsg | Read | Write => exit.transfer(call),
    };
    Record {
        pid,
        name: call.name().into(),
        args,
        ret,
        returned,
    }
}

/// A call at its exit: its arguments, its result, and what was read at entry.
struct Exit<'a> {
    a: [u64; 6],
    ret: i64,
    ok: bool,
    len_before: Option<u32>,
    early: std::vec::IntoIter<String>,
    mem: &'a dyn Memory,
}

impl Exit<'_> {
    fn fd(&self) -> String {
        (self.a[0] as i32).to_string()
    }

    /// The next argument rendered at entry.
    fn next(&mut self) -> String {
        self.early.next().unwrap_or_default()
    }

    /// An address the kernel filled in, and its value-result length.
    fn addr_out(&self, addr: u64, lenp: u64) -> (String, String) {
        let (ok, mem) = (self.ok, self.mem);
        let after = if ok && lenp != 0 {
            mem.u32_at(lenp)
        } else {
            None
        };
        let shown = match (ok, after) {
            _ if addr == 0 => "NULL".into(),
            (true, Some(n)) => sockaddr_at(mem, addr, n.min(self.len_before.unwrap_or(n))),
            _ => ptr(addr),
        };
        (shown, len_inout(lenp, self.len_before, after, ok))
    }

    /// The bytes the call returned at `addr` once it succeeded, else the pointer.
    fn data_out(&self, addr: u64) -> String {
        if self.ok {
            buffer(self.mem, addr, self.ret as u64)
        } else {
            ptr(addr)
        }
    }

    /// Making, naming, connecting and closing a socket.
    fn setup(&mut self, call: Call) -> Vec<String> {
        use Call::*;
        let (a, fd) = (self.a, self.fd());
        match call {
            Socket => {
                let domain = a[0] as i32 as i64;
                vec![
                    family(domain),
                    sock_type(a[1] as i64),
                    protocol(domain, a[2] as i32 as i64),
                ]
            }
            Bind | Connect => vec![fd, self.next(), (a[2] as u32).to_string()],
            Listen => vec![fd, (a[1] as i32).to_string()],
            Shutdown => vec![fd, named(SHUT_HOW, a[1] as i32 as i64)],
            _ => vec![fd],
        }
    }

    /// The calls that give back an address: accept, accept4, getsockname,
    /// getpeername.
    fn names(&mut self, call: Call) -> Vec<String> {
        let (a, fd) = (self.a, self.fd());
        let (addr, len) = self.addr_out(a[1], a[2]);
        match call {
            Call::Accept4 => vec![fd, addr, len, flags(SOCK_FLAGS, a[3] as u32 as u64)],
            _ => vec![fd, addr, len],
        }
    }

    /// setsockopt and getsockopt.
    fn options(&mut self, call: Call) -> Vec<String> {
        let (a, fd, mem) = (self.a, self.fd(), self.mem);
        let level_name = level(a[1] as i32 as i64);
        let opt_name = optname(a[1] as i32 as i64, a[2] as i32 as i64);
        if call == Call::Setsockopt {
            return vec![
                fd,
                level_name,
                opt_name,
                self.next(),
                (a[4] as u32).to_string(),
            ];
        }
        let after = if self.ok { mem.u32_at(a[4]) } else { None };
        let value = match after {
            Some(n) => optval(mem, a[1] as u32 as u64, a[2] as u32 as u64, a[3], n),
            None => ptr(a[3]),
        };
        vec![
            fd,
            level_name,
            opt_name,
            value,
            len_inout(a[4], self.len_before, after, self.ok),
        ]
    }

    /// Data in and out: sendto, recvfrom, sendmsg, recvmsg, read, write.
    fn transfer(&mut self, call: Call) -> Vec<String> {
        use Call::*;
        let (a, fd) = (self.a, self.fd());
        match call {
            Sendto => {
                let (data, to) = (self.next(), self.next());
                vec![
                    fd,
                    data,
                    a[2].to_string(),
                    msg_flags(a[3] as i64),
                    to,
                    (a[5] as u32).to_string(),
                ]
            }
            Recvfrom => {
                let data = self.data_out(a[1]);
                let (from, len) = self.addr_out(a[4], a[5]);
                vec![
                    fd,
                    data,
                    a[2].to_string(),
                    msg_flags(a[3] as i64),
                    from,
                    len,
                ]
            }
            Sendmsg => vec![fd, self.next(), msg_flags(a[2] as i64)],
            Recvmsg => {
                let msg = if self.ok {
                    msghdr(self.mem, a[1], Some(self.ret as u64), self.len_before)
                } else {
                    ptr(a[1])
                };
                vec![fd, msg, msg_flags(a[2] as i64)]
            }
            Read => vec![fd, self.data_out(a[1]), a[2].to_string()],
            _ => vec![fd, self.next(), a[2].to_string()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::test_support::{v4, v6, Fake, ADDR, BUF, LEN};
    use rstest::rstest;
    use std::net::Ipv6Addr;

    /// Runs one call through entry and exit; `mem` serves both.
    fn call(nr: i64, args: [u64; 6], ret: i64, mem: &Fake) -> String {
        let p = enter(Call::of(nr).expect("a recorded call"), args, mem);
        leave(p, 7, ret, mem, std::time::Instant::now()).to_string()
    }

    /// Calls as the project's nc and ncat make them, and as strace 6.1
    /// printed them (for the probe calls: a Python script run under strace).
    #[rstest]
    #[case(libc::SYS_socket, [10, 1, 6, 0, 0, 0], 3, vec![], "socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3")]
    #[case(libc::SYS_socket, [2, 0o2004001, 0, 0, 0, 0], 3, vec![], "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 3")]
    #[case(libc::SYS_setsockopt, [3, 1, 2, BUF, 4, 0], 0, vec![(BUF, 1i32.to_ne_bytes().to_vec())], "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0")]
    #[case(libc::SYS_setsockopt, [3, 41, 26, BUF, 4, 0], 0, vec![(BUF, 1i32.to_ne_bytes().to_vec())], "setsockopt(3, SOL_IPV6, IPV6_V6ONLY, [1], 4) = 0")]
    #[case(libc::SYS_setsockopt, [3, 1, 13, BUF, 8, 0], 0, vec![(BUF, [1i32.to_ne_bytes(), 0i32.to_ne_bytes()].concat())], "setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0")]
    #[case(libc::SYS_setsockopt, [3, 1, 8, BUF, 8, 0], 0, vec![(BUF, [1i32.to_ne_bytes(), 0i32.to_ne_bytes()].concat())], "setsockopt(3, SOL_SOCKET, SO_RCVBUF, [1], 8) = 0")]
    #[case(libc::SYS_bind, [3, ADDR, 28, 0, 0, 0], 0, vec![(ADDR, v6(11111, 0, Ipv6Addr::UNSPECIFIED, 0))], r#"bind(3, {sa_family=AF_INET6, sin6_port=htons(11111), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::", &sin6_addr), sin6_scope_id=0}, 28) = 0"#)]
    #[case(libc::SYS_bind, [4, ADDR, 16, 0, 0, 0], 0, vec![(ADDR, v4(11111, [0; 4]))], r#"bind(4, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("0.0.0.0")}, 16) = 0"#)]
    #[case(libc::SYS_listen, [3, 10, 0, 0, 0, 0], 0, vec![], "listen(3, 10) = 0")]
    #[case(libc::SYS_accept, [4, ADDR, LEN, 0, 0, 0], 5, vec![(ADDR, v4(43068, [192, 168, 2, 105])), (LEN, 16u32.to_ne_bytes().to_vec())], r#"accept(4, {sa_family=AF_INET, sin_port=htons(43068), sin_addr=inet_addr("192.168.2.105")}, [16]) = 5"#)]
    #[case(libc::SYS_accept, [4, 0, 0, 0, 0, 0], 5, vec![], "accept(4, NULL, NULL) = 5")]
    #[case(libc::SYS_accept4, [3, ADDR, LEN, 0o2000000, 0, 0], 5, vec![(ADDR, v4(49492, [127, 0, 0, 1])), (LEN, 16u32.to_ne_bytes().to_vec())], r#"accept4(3, {sa_family=AF_INET, sin_port=htons(49492), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5"#)]
    #[case(libc::SYS_getpeername, [3, ADDR, LEN, 0, 0, 0], -107, vec![(LEN, 16u32.to_ne_bytes().to_vec())], "getpeername(3, 0x8000, [16]) = -1 ENOTCONN (Transport endpoint is not connected)")]
    #[case(libc::SYS_getsockopt, [4, 1, 4, BUF, LEN, 0], 0, vec![(BUF, 0i32.to_ne_bytes().to_vec()), (LEN, 4u32.to_ne_bytes().to_vec())], "getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0")]
    #[case(libc::SYS_getsockopt, [3, 1, 4, BUF, LEN, 0], 0, vec![(BUF, 111i32.to_ne_bytes().to_vec()), (LEN, 4u32.to_ne_bytes().to_vec())], "getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0")]
    #[case(libc::SYS_recvfrom, [5, BUF, 8192, 0, 0, 0], 6, vec![(BUF, b"11111\n".to_vec())], r#"recvfrom(5, "11111\n", 8192, 0, NULL, NULL) = 6"#)]
    #[case(libc::SYS_recvfrom, [5, BUF, 8192, 0, 0, 0], 0, vec![(BUF, b"11111\n".to_vec())], r#"recvfrom(5, "", 8192, 0, NULL, NULL) = 0"#)]
    #[case(libc::SYS_recvfrom, [5, BUF, 10, 0, 0, 0], -11, vec![], "recvfrom(5, 0x7000, 10, 0, NULL, NULL) = -1 EAGAIN (Resource temporarily unavailable)")]
    #[case(libc::SYS_recvfrom, [5, BUF, 3, 2, 0, 0], 1, vec![(BUF, b"p".to_vec())], r#"recvfrom(5, "p", 3, MSG_PEEK, NULL, NULL) = 1"#)]
    #[case(libc::SYS_sendto, [3, BUF, 6, 0, 0, 0], 6, vec![(BUF, b"11111\n".to_vec())], r#"sendto(3, "11111\n", 6, 0, NULL, 0) = 6"#)]
    #[case(libc::SYS_sendto, [4, BUF, 3, 0x4040, 0, 0], 3, vec![(BUF, vec![0, 1, 2])], r#"sendto(4, "\0\1\2", 3, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0) = 3"#)]
    #[case(libc::SYS_sendto, [6, BUF, 1, 0, ADDR, 28], 1, vec![(BUF, b"u".to_vec()), (ADDR, v6(9, 0, "::ffff:127.0.0.1".parse().unwrap(), 0))], r#"sendto(6, "u", 1, 0, {sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 1"#)]
    #[case(libc::SYS_connect, [3, ADDR, 16, 0, 0, 0], -111, vec![(ADDR, v4(11111, [192, 168, 2, 100]))], r#"connect(3, {sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("192.168.2.100")}, 16) = -1 ECONNREFUSED (Connection refused)"#)]
    #[case(libc::SYS_shutdown, [4, 1, 0, 0, 0, 0], 0, vec![], "shutdown(4, SHUT_WR) = 0")]
    #[case(libc::SYS_write, [5, BUF, 40, 0, 0, 0], 40, vec![(BUF, vec![b'x'; 40])], r#"write(5, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"..., 40) = 40"#)]
    #[case(libc::SYS_read, [4, BUF, 100, 0, 0, 0], 40, vec![(BUF, vec![b'x'; 100])], r#"read(4, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"..., 100) = 40"#)]
    #[case(libc::SYS_close, [5, 0, 0, 0, 0, 0], 0, vec![], "close(5) = 0")]
    fn renders_calls(
        #[case] nr: i64,
        #[case] args: [u64; 6],
        #[case] ret: i64,
        #[case] mem: Vec<(u64, Vec<u8>)>,
        #[case] want: &str,
    ) {
        assert_eq!(call(nr, args, ret, &Fake(mem)), want);
    }

    /// accept's length goes 128 => 16: read at entry and at exit.
    #[test]
    fn value_result_lengths_show_both_values() {
        let entry = Fake(vec![(LEN, 128u32.to_ne_bytes().to_vec())]);
        let p = enter(Call::Accept, [4, ADDR, LEN, 0, 0, 0], &entry);
        let exit = Fake(vec![
            (ADDR, v4(43068, [192, 168, 2, 105])),
            (LEN, 16u32.to_ne_bytes().to_vec()),
        ]);
        assert_eq!(
            leave(p, 1, 5, &exit, std::time::Instant::now()).to_string(),
            r#"accept(4, {sa_family=AF_INET, sin_port=htons(43068), sin_addr=inet_addr("192.168.2.105")}, [128 => 16]) = 5"#
        );
    }

    /// A peer address asked for on a stream socket: the kernel sets the
    /// length to 0 and strace shows the pointer.
    #[test]
    fn an_address_left_empty_shows_as_a_pointer() {
        let entry = Fake(vec![(LEN, 16u32.to_ne_bytes().to_vec())]);
        let p = enter(Call::Recvfrom, [5, BUF, 10, 0, ADDR, LEN], &entry);
        let exit = Fake(vec![
            (BUF, vec![]),
            (ADDR, vec![0; 16]),
            (LEN, 0u32.to_ne_bytes().to_vec()),
        ]);
        assert_eq!(
            leave(p, 1, 0, &exit, std::time::Instant::now()).to_string(),
            r#"recvfrom(5, "", 10, 0, 0x8000, [16 => 0]) = 0"#
        );
    }

    fn msghdr_bytes(name: u64, namelen: u32, iov: u64, iovlen: u64) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend(name.to_ne_bytes());
        m.extend(namelen.to_ne_bytes());
        m.extend([0u8; 4]);
        m.extend(iov.to_ne_bytes());
        m.extend(iovlen.to_ne_bytes());
        m.extend(0u64.to_ne_bytes());
        m.extend(0u64.to_ne_bytes());
        m.extend([0u8; 8]);
        m
    }

    fn iovecs(v: &[(u64, u64)]) -> Vec<u8> {
        v.iter()
            .flat_map(|(b, l)| [b.to_ne_bytes(), l.to_ne_bytes()].concat())
            .collect()
    }

    #[test]
    fn renders_sendmsg_and_recvmsg() {
        const MSG: u64 = 0x5000;
        const IOV: u64 = 0x6000;
        let send = Fake(vec![
            (MSG, msghdr_bytes(0, 0, IOV, 2)),
            (IOV, iovecs(&[(BUF, 5), (BUF + 0x100, 6)])),
            (BUF, b"hello".to_vec()),
            (BUF + 0x100, b" world".to_vec()),
        ]);
        assert_eq!(
            call(libc::SYS_sendmsg, [4, MSG, 0x4000, 0, 0, 0], 11, &send),
            r#"sendmsg(4, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="hello", iov_len=5}, {iov_base=" world", iov_len=6}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL) = 11"#
        );
        let entry = Fake(vec![(MSG, msghdr_bytes(ADDR, 16, IOV, 1))]);
        let p = enter(Call::Recvmsg, [5, MSG, 0, 0, 0, 0], &entry);
        let mut data = b"hello world\0\x01\x02".to_vec();
        data.resize(100, b'z');
        let exit = Fake(vec![
            (MSG, msghdr_bytes(ADDR, 0, IOV, 1)),
            (IOV, iovecs(&[(BUF, 100)])),
            (BUF, data),
        ]);
        assert_eq!(
            leave(p, 1, 14, &exit, std::time::Instant::now()).to_string(),
            r#"recvmsg(5, {msg_name=0x8000, msg_namelen=16 => 0, msg_iov=[{iov_base="hello world\0\1\2", iov_len=100}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 14"#
        );
    }
}
