//! Reading a case file from disk, bounded: it is opened without blocking
//! (a FIFO or a device named `x.case` must not hold a run, or even a
//! listing), only a regular file is a case, at most [`MAX_CASE_BYTES`] are
//! read, and text that is not UTF-8 is refused at the line of its first
//! bad byte.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::super::error::ParseError;

/// The largest case file read: the committed cases are under 4 KiB.
pub const MAX_CASE_BYTES: u64 = 1 << 20;

/// The text of the case file at `path`; errors name it as `shown`.
pub fn read(path: &Path, shown: &Path) -> Result<String, ParseError> {
    let fail = |line: usize, msg: String, hint: &str| ParseError {
        path: shown.to_path_buf(),
        line,
        msg,
        hint: (!hint.is_empty()).then(|| hint.to_string()),
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fail(0, format!("cannot read: {e}"), ""))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(0, format!("cannot stat: {e}"), ""))?;
    if !meta.is_file() {
        return Err(fail(
            0,
            format!(
                "not a regular file ({}): only regular files are cases",
                kind(&meta.file_type())
            ),
            "a case is a text file named NAME.case",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CASE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(0, format!("cannot read: {e}"), ""))?;
    if bytes.len() as u64 > MAX_CASE_BYTES {
        return Err(fail(
            0,
            format!(
                "{} bytes, more than the {MAX_CASE_BYTES} a case file may have",
                meta.len().max(bytes.len() as u64)
            ),
            "a case is a few dozen lines; split a longer one",
        ));
    }
    decode(bytes, shown)
}

/// `bytes` as UTF-8 text, or the line and column of the first bad byte.
pub(super) fn decode(bytes: Vec<u8>, shown: &Path) -> Result<String, ParseError> {
    let fail = |line: usize, msg: String, hint: &str| ParseError {
        path: shown.to_path_buf(),
        line,
        msg,
        hint: Some(hint.to_string()),
    };
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|b| **b == b'\n').count();
        let column = good.len() - good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        fail(
            line,
            format!(
                "not UTF-8: byte 0x{:02x} at column {}",
                e.as_bytes()[good.len()],
                column + 1
            ),
            "save the file as UTF-8",
        )
    })
}

fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tcplab-read-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn read_err(path: &Path) -> String {
        read(path, Path::new("cases/x.case"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_fifo_is_refused_at_once_without_a_writer() {
        let d = dir();
        let fifo = d.join("x.case");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let started = std::time::Instant::now();
        let e = read_err(&fifo);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            e.starts_with(
                "cases/x.case: not a regular file (a FIFO): only regular files are cases"
            ),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_directory_and_a_device_are_refused() {
        let d = dir();
        assert!(read_err(&d).contains("not a regular file (a directory)"));
        assert!(
            read_err(Path::new("/dev/null")).contains("not a regular file (a character device)")
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_over_the_cap_is_refused_without_reading_it_all() {
        let d = dir();
        let big = d.join("big.case");
        std::fs::write(&big, "# x\n".repeat(300_000)).unwrap();
        let e = read_err(&big);
        assert!(
            e.starts_with(
                "cases/x.case: 1200000 bytes, more than the 1048576 a case file may have"
            ),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn text_that_is_not_utf8_names_its_line_and_column() {
        let d = dir();
        let f = d.join("latin1.case");
        std::fs::write(&f, b"server $ nc -kl 11111\n# ok\nclient types caf\xe9\n").unwrap();
        let e = read_err(&f);
        assert!(
            e.starts_with("cases/x.case:3: not UTF-8: byte 0xe9 at column 17"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_file_says_so() {
        let e = read_err(Path::new("/nonexistent/x.case"));
        assert!(
            e.starts_with("cases/x.case: cannot read: No such file"),
            "{e}"
        );
    }
}
