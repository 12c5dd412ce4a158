//! A notation error: what is wrong, and how to write it instead; a reader
//! places it at its `file:line`.

use std::fmt;

/// Text that does not parse: what is wrong, and how to write it instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub msg: String,
    pub hint: Option<String>,
}

impl Malformed {
    /// `msg` with `hint` (none when empty).
    pub fn new(msg: impl Into<String>, hint: &str) -> Malformed {
        Malformed {
            msg: msg.into(),
            hint: (!hint.is_empty()).then(|| hint.to_string()),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Malformed {}
