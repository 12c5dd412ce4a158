//! The case file's error: [`ParseError`] names `file:line:`; [`Bad`] is the
//! same before it knows its file, what every line parser (steps, blocks,
//! expectation rows) returns. Its own module so that the expectation types
//! (`calls`, `rows`) need nothing from the parser.

use std::fmt;
use std::path::PathBuf;

/// `file:line: what (hint: ...)`; `file: what` for the file as a whole
/// (line 0: it cannot be read, or is no case file).
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub path: PathBuf,
    pub line: usize,
    pub msg: String,
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.path.display(), self.msg)?,
            n => write!(f, "{}:{n}: {}", self.path.display(), self.msg)?,
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// An error before it knows its file: the harness's one error for text
/// that does not parse, what a notation's reader returns too.
pub type Bad = crate::error::Malformed;

/// `msg` with `hint` (none when empty).
pub fn bad(msg: impl Into<String>, hint: &str) -> Bad {
    Bad::new(msg, hint)
}
