//! What a program prints. A reader thread appends every byte of one stream
//! to a file (under the run's output folder, or an unnamed temporary one),
//! so a program may print megabytes without the harness holding them in
//! memory; a wait for a line scans only what arrived since it last looked,
//! so finding a line costs time linear in the output however it trickles
//! in; messages show a bounded excerpt and name the file with the rest.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::error::{Error, Result};

/// An excerpt shows at most this many lines (the last ones) ...
pub const EXCERPT_LINES: usize = 40;
/// ... taken from at most this many bytes at the end of the output ...
const EXCERPT_WINDOW: u64 = 16 * 1024;
/// ... and at most this many characters of each line.
const EXCERPT_LINE_CHARS: usize = 200;

/// One stream of a running program, drained into a file.
pub struct Output {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    grew: Condvar,
    /// Read with pread only, so the reader thread's appends through the
    /// same open file keep their offset.
    file: File,
    path: Option<PathBuf>,
    /// The pipe's read end (non-blocking), once drained: read only with
    /// `state` held, by the reader thread or by [`Output::catch_up`], so
    /// that bytes are never out of the pipe without being in the file.
    pipe: std::sync::OnceLock<File>,
}

#[derive(Default)]
struct State {
    /// Bytes stored in the file (all of them are readable).
    len: u64,
    /// The program closed the stream (or reading it failed).
    ended: bool,
    /// Why storing stopped early (a full disk): the pipe is still drained so
    /// the program never blocks, but what follows is not kept.
    lost: Option<String>,
}

impl Output {
    /// Makes the file a stream is kept in: `path` or, with None, an
    /// unnamed temporary file. An existing file at `path` is replaced by a
    /// new one, never truncated: a run that still writes the old one (two
    /// runs of one case at once) keeps its own bytes.
    pub fn open(path: Option<&Path>) -> Result<Output> {
        let file = match path {
            Some(p) => create_fresh(p)?,
            None => unnamed()?,
        };
        Ok(Output {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                grew: Condvar::new(),
                file,
                path: path.map(Path::to_path_buf),
                pipe: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Starts the thread that drains `pipe` into the file until the
    /// program closes its end.
    pub fn drain(&self, pipe: File) {
        let fail = |what: String| {
            let mut state = self.shared.lock();
            state.lost = Some(what);
            state.ended = true;
        };
        if let Err(e) = nonblocking(&pipe) {
            return fail(format!("not read: O_NONBLOCK on its pipe failed: {e}"));
        }
        let _ = self.shared.pipe.set(pipe);
        let shared = self.shared.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("output".into())
            .spawn(move || pump(&shared))
        {
            fail(format!("not read: no thread for it: {e}"));
        }
    }

    /// Moves what the program has written into the pipe so far into the
    /// file now, without waiting for the reader thread: once its program
    /// sleeps, the stream holds everything it printed (`prints nothing`
    /// must not pass because the reader thread had not yet been scheduled).
    pub fn catch_up(&self) {
        let Some(pipe) = self.shared.pipe.get() else {
            return;
        };
        let mut state = self.shared.lock();
        if !state.ended {
            pull(&mut state, pipe, &self.shared.file);
        }
        drop(state);
        self.shared.grew.notify_all();
    }

    /// The file holding the whole stream, when it has a name.
    pub fn path(&self) -> Option<&Path> {
        self.shared.path.as_deref()
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.shared.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until the stream holds the line `line` (a final line without
    /// its newline counts too), or the stream ends, or `deadline` passes.
    /// Every byte is read once per wait, from the file.
    pub fn wait_line(&self, line: &str, deadline: Instant) -> bool {
        let mut scan = LineScan::new(line.as_bytes());
        let mut at = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let mut state = self.shared.lock();
        loop {
            if state.len > at {
                let end = state.len;
                drop(state);
                while at < end {
                    let want = (end - at).min(buf.len() as u64) as usize;
                    let n = match self.shared.file.read_at(&mut buf[..want], at) {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => n,
                    };
                    if scan.feed(&buf[..n]) {
                        return true;
                    }
                    at += n as u64;
                }
                state = self.shared.lock();
                continue;
            }
            if scan.unterminated_matches() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if state.ended || left.is_zero() {
                return false;
            }
            state = self
                .shared
                .grew
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The end of the stream as a message shows it: at most
    /// [`EXCERPT_LINES`] lines of at most 200 characters, with the byte
    /// count and the file that has it all.
    pub fn excerpt(&self) -> Excerpt {
        let (len, lost) = {
            let s = self.shared.lock();
            (s.len, s.lost.clone())
        };
        let from = len.saturating_sub(EXCERPT_WINDOW);
        let mut tail = vec![0u8; (len - from) as usize];
        let mut got = 0;
        while got < tail.len() {
            match self
                .shared
                .file
                .read_at(&mut tail[got..], from + got as u64)
            {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        tail.truncate(got);
        let mut pieces: Vec<&[u8]> = tail.split(|b| *b == b'\n').collect();
        if tail.is_empty() || tail.last() == Some(&b'\n') {
            pieces.pop();
        }
        let cut_first = from > 0;
        let skip = pieces.len().saturating_sub(EXCERPT_LINES);
        let lines = pieces
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, p)| shown_line(p, i == 0 && cut_first))
            .collect::<Vec<_>>();
        Excerpt {
            bytes: len,
            whole: !cut_first && skip == 0,
            lines,
            path: self.shared.path.clone(),
            lost,
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates `path` as a new file, replacing (unlinking) an older one.
fn create_fresh(path: &Path) -> Result<File> {
    let what = || format!("create {}", path.display());
    for _ in 0..8 {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(Error::io(what(), e)),
            _ => {}
        }
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => return Ok(f),
            // Another run of the same case made it between our two calls.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(what(), e)),
        }
    }
    Err(Error::msg(format!(
        "{}: another process keeps recreating it",
        what()
    )))
}

/// An unnamed file in the temporary directory: gone with its last fd.
fn unnamed() -> Result<File> {
    let dir = std::env::temp_dir();
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
        .map_err(|e| Error::io(format!("open an O_TMPFILE in {}", dir.display()), e))
}

/// The reader thread: waits for the pipe to be readable, then moves its
/// bytes into the file with the state held, until the program closes its
/// end.
fn pump(shared: &Shared) {
    let Some(pipe) = shared.pipe.get() else {
        return;
    };
    loop {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(pipe),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                let mut state = shared.lock();
                state.lost = Some(format!("waiting on the pipe failed: {e}"));
                state.ended = true;
                break;
            }
        }
        let mut state = shared.lock();
        if !state.ended {
            pull(&mut state, pipe, &shared.file);
        }
        let ended = state.ended;
        drop(state);
        shared.grew.notify_all();
        if ended {
            break;
        }
    }
    shared.grew.notify_all();
}

/// Reads the non-blocking pipe until it is empty (or closed: `ended`),
/// appending to `file` at the stream's length; the caller holds the state.
fn pull(state: &mut State, mut pipe: &File, file: &File) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => {
                state.ended = true;
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                state.lost = Some(format!("reading the pipe failed: {e}"));
                state.ended = true;
                return;
            }
        };
        if state.lost.is_some() {
            continue;
        }
        match file.write_all_at(&buf[..n], state.len) {
            Ok(()) => state.len += n as u64,
            Err(e) => state.lost = Some(format!("storing it failed after that: {e}")),
        }
    }
}

/// Sets O_NONBLOCK on our end of a pipe.
fn nonblocking(pipe: &File) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(pipe, FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(pipe, FcntlArg::F_SETFL(flags)).map_err(std::io::Error::from)?;
    Ok(())
}

/// Finds a line equal to `want` in a stream fed in arbitrary pieces,
/// keeping only the current line, and only while it could still match.
struct LineScan<'a> {
    want: &'a [u8],
    current: Vec<u8>,
    /// The current line is already longer than any match.
    overlong: bool,
}

impl<'a> LineScan<'a> {
    fn new(want: &'a [u8]) -> LineScan<'a> {
        LineScan {
            want,
            current: Vec::new(),
            overlong: false,
        }
    }

    /// Feeds the next bytes; true once a complete line equals `want`
    /// (a `\r` before the newline is not part of the line).
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut pieces = bytes.split(|b| *b == b'\n').peekable();
        while let Some(piece) = pieces.next() {
            self.extend(piece);
            if pieces.peek().is_none() {
                break;
            }
            let line = self.current.strip_suffix(b"\r").unwrap_or(&self.current);
            if !self.overlong && line == self.want {
                return true;
            }
            self.current.clear();
            self.overlong = false;
        }
        false
    }

    fn extend(&mut self, piece: &[u8]) {
        if self.overlong {
            return;
        }
        if self.current.len() + piece.len() > self.want.len() + 1 {
            self.overlong = true;
            self.current.clear();
        } else {
            self.current.extend_from_slice(piece);
        }
    }

    /// The bytes after the last newline equal `want`.
    fn unterminated_matches(&self) -> bool {
        !self.overlong && self.current == self.want
    }
}

/// One line of an excerpt: escaped like a Rust string (control characters
/// visible), shortened to [`EXCERPT_LINE_CHARS`] characters.
fn shown_line(bytes: &[u8], cut_before: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown: String = text.escape_debug().take(EXCERPT_LINE_CHARS).collect();
    if text.escape_debug().nth(EXCERPT_LINE_CHARS).is_some() {
        shown.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    if cut_before {
        shown.insert(0, '…');
    }
    shown
}

/// The end of one output stream, for a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Excerpt {
    /// Bytes the program wrote (stored).
    pub bytes: u64,
    /// `lines` is the whole output.
    pub whole: bool,
    pub lines: Vec<String>,
    pub path: Option<PathBuf>,
    pub lost: Option<String>,
}

impl Excerpt {
    pub fn is_empty(&self) -> bool {
        self.bytes == 0 && self.lost.is_none()
    }
}

/// `empty`, or `N bytes[, the last K lines][ (all in PATH)]:` and then
/// the lines, each on its own line indented by four spaces.
impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bytes == 0 {
            f.write_str("empty")?;
        } else {
            write!(f, "{} bytes", self.bytes)?;
            match (self.whole, self.lines.len()) {
                (true, _) => {}
                (false, 1) => f.write_str(", the end of its last line")?,
                (false, n) => write!(f, ", the last {n} lines")?,
            }
        }
        if let Some(lost) = &self.lost {
            write!(f, " ({lost})")?;
        }
        if let (Some(p), false) = (&self.path, self.bytes == 0) {
            write!(f, " (all in {})", p.display())?;
        }
        if self.bytes > 0 {
            f.write_str(":")?;
        }
        for l in &self.lines {
            write!(f, "\n    {l}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    /// An Output fed by a writer thread through a pipe, in `chunk`-byte
    /// writes.
    fn fed(data: Vec<u8>, chunk: usize, path: Option<&Path>) -> Output {
        let (r, w) = nix::unistd::pipe().unwrap();
        let out = Output::open(path).unwrap();
        out.drain(File::from(r));
        std::thread::spawn(move || {
            let mut w = File::from(w);
            for c in data.chunks(chunk) {
                if w.write_all(c).is_err() {
                    return;
                }
            }
        });
        out
    }

    /// `1\n2\n...upto\n`, from a decimal counter incremented in place (a
    /// `format!` per number takes 0.35 µs in a debug build, this 0.06).
    fn numbers(upto: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(upto as usize * 8);
        // Ten digits and the newline; the number starts at `first`.
        let mut line = [b'0'; 11];
        line[10] = b'\n';
        let mut first = 10;
        for _ in 0..upto {
            let mut i = 9;
            while line[i] == b'9' {
                line[i] = b'0';
                i -= 1;
            }
            line[i] += 1;
            first = first.min(i);
            out.extend_from_slice(&line[first..]);
        }
        out
    }

    #[test]
    fn a_line_after_13_mb_written_4_kb_at_a_time_is_found_within_2_s() {
        // 1.15 MB of numbered lines, twelve times.
        let mut data = numbers(180_000).repeat(12);
        assert!(data.len() > 13_000_000);
        data.extend_from_slice(b"DONE\n");
        let started = Instant::now();
        let out = fed(data, 4096, None);
        assert!(out.wait_line("DONE", started + Duration::from_secs(20)));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }

    #[test]
    fn lines_split_across_writes_and_crlf_and_a_last_unterminated_line_match() {
        let out = fed(b"ab\r\ncd-longer\nD".to_vec(), 1, None);
        let soon = || Instant::now() + Duration::from_secs(5);
        assert!(out.wait_line("ab", soon()));
        assert!(out.wait_line("cd-longer", soon()));
        assert!(out.wait_line("D", soon()));
        assert!(!out.wait_line("cd", soon()), "a prefix is not the line");
        assert!(!out.wait_line("longer", soon()), "a suffix is not the line");
    }

    #[test]
    fn a_line_never_printed_fails_when_the_stream_ends_not_at_the_deadline() {
        let out = fed(b"one\ntwo\n".to_vec(), 3, None);
        let started = Instant::now();
        assert!(!out.wait_line("three", started + Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn excerpt_is_the_last_40_lines_with_byte_count_and_path() {
        let dir = std::env::temp_dir().join(format!("tcplab-output-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.stdout");
        let data = numbers(100);
        let len = data.len() as u64;
        let out = fed(data, 7, Some(&path));
        assert!(out.wait_line("100", Instant::now() + Duration::from_secs(5)));
        let ex = out.excerpt();
        assert_eq!(ex.bytes, len);
        assert_eq!(ex.lines.len(), 40);
        assert_eq!(ex.lines[0], "61");
        assert_eq!(ex.lines[39], "100");
        let text = ex.to_string();
        assert!(
            text.starts_with(&format!(
                "{len} bytes, the last 40 lines (all in {}):\n    61\n",
                path.display()
            )),
            "{text}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), numbers(100));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn excerpt_of_a_7_mb_line_is_bounded() {
        let out = fed(vec![b'x'; 7_400_000], 65536, None);
        let deadline = Instant::now() + Duration::from_secs(10);
        while out.len() < 7_400_000 {
            assert!(
                Instant::now() < deadline,
                "timed out after 10 s waiting for the reader to drain 7.4 MB (has {})",
                out.len()
            );
            std::thread::sleep(Duration::from_millis(5)); // poll interval of this wait
        }
        let text = out.excerpt().to_string();
        assert!(text.len() < 1000, "{} bytes of message", text.len());
        assert!(
            text.starts_with("7400000 bytes, the end of its last line:\n    …xxx"),
            "{text}"
        );
    }

    #[test]
    fn excerpt_escapes_control_characters_and_says_empty() {
        let out = fed(b"a\x1b[31mb\tc\n".to_vec(), 64, None);
        assert!(out.wait_line("a\x1b[31mb\tc", Instant::now() + Duration::from_secs(5)));
        assert_eq!(
            out.excerpt().to_string(),
            "10 bytes:\n    a\\u{1b}[31mb\\tc"
        );
        let none = fed(Vec::new(), 1, None);
        assert!(!none.wait_line("x", Instant::now() + Duration::from_secs(5)));
        assert_eq!(none.excerpt().to_string(), "empty");
    }

    #[test]
    fn a_second_output_on_the_same_path_leaves_the_first_its_own_bytes() {
        let dir = std::env::temp_dir().join(format!("tcplab-output-twice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("same.stdout");
        let first = fed(b"first\n".to_vec(), 64, Some(&path));
        assert!(first.wait_line("first", Instant::now() + Duration::from_secs(5)));
        let second = fed(b"second\n".to_vec(), 64, Some(&path));
        assert!(second.wait_line("second", Instant::now() + Duration::from_secs(5)));
        assert_eq!(first.excerpt().lines, vec!["first".to_string()]);
        assert!(first.wait_line("first", Instant::now() + Duration::from_secs(5)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
