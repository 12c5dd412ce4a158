//! The single-threaded poll(2) loop shared by client and server.
//!
//! stdin -> every open connection (read(2), then send(2), which strace shows
//! as `sendto(fd, ..., 0, NULL, 0)`); each connection -> stdout (recv(2),
//! shown as `recvfrom(fd, ..., 0, NULL, NULL)`, then one write(2) per chunk,
//! no buffering, so output is visible at once).
//!
//! The closing rules are what the cases measure on the wire:
//! * peer EOF: the descriptor is closed right away, with nothing in between,
//!   so the server's FIN leaves before its delayed-ACK timer fires and the
//!   close takes three packets (FIN, FIN+ACK, ACK);
//! * stdin EOF: shutdown(SHUT_WR) every open connection (ncat's default) and
//!   keep receiving until the peer closes.
//!
//! Sockets are blocking; poll says when a call will not block. Signals keep
//! their default dispositions (Rust's runtime already ignores SIGPIPE, as
//! ncat does), so SIGINT kills the process and the kernel sends the FIN.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{self, MsgFlags, Shutdown};
use nix::unistd;

use super::sockets::{self, SysError};

/// Size of one read from stdin or one recv, as in ncat.
const CHUNK: usize = 8192;

/// What the loop should do after handling one ready descriptor.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    /// Go on with the other descriptors poll reported.
    Continue,
    /// A descriptor was closed: its number may be reused, so the rest of
    /// this round's results are stale. poll is level-triggered, so whatever
    /// was skipped is reported again.
    Repoll,
}

/// Prints one `nc: ...` line on stderr with a single write(2).
pub fn report(msg: impl std::fmt::Display) {
    let line = format!("nc: {msg}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// State of the loop. The process ends when there is neither a listener nor
/// a connection left: a client after its connection closes, a server
/// without -k after its one connection (the listeners are closed at accept,
/// as ncat does). A -k server never runs out of listeners and runs until
/// killed.
pub struct Relay {
    listeners: Vec<OwnedFd>,
    conns: Vec<OwnedFd>,
    keep_open: bool,
    stdin_open: bool,
    /// stdin data read while a server had no connection; sent to the next
    /// client on accept. While it is held, stdin is not polled, so at most
    /// one chunk waits here and the rest stays in the pipe (as with ncat,
    /// which only reads stdin once a client is connected).
    pending: Option<Vec<u8>>,
    /// A connection ended with an error (reset, failed send): exit 1.
    failed: bool,
}

impl Relay {
    /// A server over the listeners from [`sockets::listen`].
    pub fn server(listeners: Vec<OwnedFd>, keep_open: bool) -> Self {
        Self {
            listeners,
            conns: Vec::new(),
            keep_open,
            stdin_open: true,
            pending: None,
            failed: false,
        }
    }

    /// A client over its connected socket.
    pub fn client(conn: OwnedFd) -> Self {
        Self {
            listeners: Vec::new(),
            conns: vec![conn],
            keep_open: false,
            stdin_open: true,
            pending: None,
            failed: false,
        }
    }

    /// Runs until nothing is left to serve; returns the exit status.
    pub fn run(mut self) -> Result<u8, SysError> {
        let mut buf = vec![0u8; CHUNK];
        while !(self.listeners.is_empty() && self.conns.is_empty()) {
            for fd in self.wait()? {
                if self.dispatch(fd, &mut buf)? == Flow::Repoll {
                    break;
                }
            }
        }
        Ok(u8::from(self.failed))
    }

    /// poll(2) on stdin (while it is open and nothing is pending), the
    /// listeners and the connections, in ascending fd order; returns the
    /// descriptors that have events.
    fn wait(&self) -> Result<Vec<RawFd>, SysError> {
        let stdin = std::io::stdin();
        let mut fds = Vec::with_capacity(1 + self.listeners.len() + self.conns.len());
        if self.stdin_open && self.pending.is_none() {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        for fd in self.listeners.iter().chain(&self.conns) {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(SysError::new("poll", e)),
            }
        }
        Ok(fds
            .iter()
            .filter(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|p| p.as_fd().as_raw_fd())
            .collect())
    }

    fn dispatch(&mut self, fd: RawFd, buf: &mut [u8]) -> Result<Flow, SysError> {
        if fd == libc::STDIN_FILENO {
            return Ok(self.on_stdin(buf));
        }
        if let Some(i) = self.listeners.iter().position(|l| l.as_raw_fd() == fd) {
            return self.on_listener(i);
        }
        if let Some(i) = self.conns.iter().position(|c| c.as_raw_fd() == fd) {
            return self.on_conn(i, buf);
        }
        Ok(Flow::Continue)
    }

    fn on_stdin(&mut self, buf: &mut [u8]) -> Flow {
        let n = match unistd::read(std::io::stdin().as_fd(), buf) {
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => return Flow::Continue,
            Err(e) => {
                report(SysError::new("read from stdin", e));
                0
            }
        };
        if n == 0 {
            self.stdin_open = false;
            for conn in &self.conns {
                // ENOTCONN after a reset is harmless: recv will report it.
                let _ = socket::shutdown(conn.as_raw_fd(), Shutdown::Write);
            }
            return Flow::Continue;
        }
        if self.conns.is_empty() {
            self.pending = Some(buf[..n].to_vec());
            return Flow::Continue;
        }
        self.send_to_all(&buf[..n])
    }

    /// Sends `data` to every connection; one that fails is closed.
    fn send_to_all(&mut self, data: &[u8]) -> Flow {
        let mut flow = Flow::Continue;
        for conn in std::mem::take(&mut self.conns) {
            match send_all(&conn, data) {
                Ok(()) => self.conns.push(conn),
                Err(e) => {
                    sockets::close_now(conn);
                    report(e);
                    self.failed = true;
                    flow = Flow::Repoll;
                }
            }
        }
        flow
    }

    fn on_listener(&mut self, i: usize) -> Result<Flow, SysError> {
        let conn = match sockets::accept(&self.listeners[i]) {
            Ok(conn) => conn,
            // The client went away between poll and accept, or a signal.
            Err(Errno::EINTR | Errno::EAGAIN | Errno::ECONNABORTED | Errno::EPROTO) => {
                return Ok(Flow::Continue)
            }
            Err(e) => return Err(SysError::new("accept", e)),
        };
        let mut flow = Flow::Continue;
        if !self.keep_open {
            // ncat without -k: one client only, so close(3), close(4) now.
            for listener in self.listeners.drain(..) {
                sockets::close_now(listener);
            }
            flow = Flow::Repoll;
        }
        self.conns.push(conn);
        if let Some(data) = self.pending.take() {
            if self.send_to_all(&data) == Flow::Repoll {
                flow = Flow::Repoll;
            }
        }
        Ok(flow)
    }

    fn on_conn(&mut self, i: usize, buf: &mut [u8]) -> Result<Flow, SysError> {
        let fd = self.conns[i].as_raw_fd();
        match socket::recv(fd, buf, MsgFlags::empty()) {
            Ok(0) => {
                // Peer EOF: close at once, nothing in between.
                sockets::close_now(self.conns.remove(i));
                Ok(Flow::Repoll)
            }
            Ok(n) => {
                write_stdout(&buf[..n])?;
                Ok(Flow::Continue)
            }
            Err(Errno::EINTR | Errno::EAGAIN) => Ok(Flow::Continue),
            Err(e) => {
                sockets::close_now(self.conns.remove(i));
                if e == Errno::ECONNRESET {
                    report("Connection reset by peer.");
                } else {
                    report(SysError::new("recv", e));
                }
                self.failed = true;
                Ok(Flow::Repoll)
            }
        }
    }
}

/// send(2) until all of `data` is queued (the socket is blocking).
fn send_all(conn: &OwnedFd, mut data: &[u8]) -> Result<(), SysError> {
    while !data.is_empty() {
        match socket::send(conn.as_raw_fd(), data, MsgFlags::empty()) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(SysError::new("send", e)),
        }
    }
    Ok(())
}

/// write(2) to fd 1 until all of `data` is out; no userspace buffer.
fn write_stdout(mut data: &[u8]) -> Result<(), SysError> {
    let stdout = std::io::stdout();
    while !data.is_empty() {
        match unistd::write(stdout.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(SysError::new("write to stdout", e)),
        }
    }
    Ok(())
}
