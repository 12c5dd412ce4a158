//! The harness's errors: [`Error`] for what the system did (every variant
//! says what was being done, and system errors keep the kernel's errno
//! name, EEXIST, EPERM, ...), and [`Malformed`] for text that does not
//! parse (what is wrong, how to write it), which a case file's reader
//! places at its `file:line`.

use std::io;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed; `errno` prints as `EPERM: Operation not permitted`.
    #[error("{what}: {errno}")]
    Sys {
        what: String,
        errno: nix::errno::Errno,
    },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        source: rtnetlink::Error,
    },
    #[error("{what}: {source}")]
    Pcap { what: String, source: pcap::Error },
    #[error("{0}")]
    Msg(String),
}

impl Error {
    pub fn sys(what: impl Into<String>, errno: nix::errno::Errno) -> Error {
        Error::Sys {
            what: what.into(),
            errno,
        }
    }

    /// Io errors that carry an errno are shown with its name, like Sys.
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        match source.raw_os_error() {
            Some(n) => Error::Sys {
                what: what.into(),
                errno: nix::errno::Errno::from_raw(n),
            },
            None => Error::Io {
                what: what.into(),
                source,
            },
        }
    }

    /// A netlink NACK becomes its errno (`EEXIST`, `EPERM`); other failures
    /// of the crate keep their own text.
    pub fn netlink(what: impl Into<String>, source: rtnetlink::Error) -> Error {
        match &source {
            rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => Error::Sys {
                what: what.into(),
                errno: nix::errno::Errno::from_raw(m.raw_code().abs()),
            },
            _ => Error::Netlink {
                what: what.into(),
                source,
            },
        }
    }

    pub fn pcap(what: impl Into<String>, source: pcap::Error) -> Error {
        Error::Pcap {
            what: what.into(),
            source,
        }
    }

    pub fn msg(text: impl Into<String>) -> Error {
        Error::Msg(text.into())
    }

    /// The same error for another reader (a failure kept for every later
    /// call): a system error keeps its errno; the others, whose sources
    /// cannot be copied, keep their text.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Sys { what, errno } => Error::Sys {
                what: what.clone(),
                errno: *errno,
            },
            other => Error::Msg(other.to_string()),
        }
    }

    /// Prefixes the description, keeping the errno.
    pub fn context(self, outer: impl std::fmt::Display) -> Error {
        match self {
            Error::Sys { what, errno } => Error::Sys {
                what: format!("{outer}: {what}"),
                errno,
            },
            Error::Io { what, source } => Error::Io {
                what: format!("{outer}: {what}"),
                source,
            },
            Error::Netlink { what, source } => Error::Netlink {
                what: format!("{outer}: {what}"),
                source,
            },
            Error::Pcap { what, source } => Error::Pcap {
                what: format!("{outer}: {what}"),
                source,
            },
            Error::Msg(m) => Error::Msg(format!("{outer}: {m}")),
        }
    }
}

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

    /// The same, with `hint` where it has none (a reader knows the whole
    /// line's shape; a word's parser does not).
    pub fn or_hint(self, hint: &str) -> Malformed {
        match self.hint {
            Some(_) => self,
            None => Malformed::new(self.msg, hint),
        }
    }
}

/// The text a person reads, for callers that only pass messages on.
impl From<Malformed> for String {
    fn from(m: Malformed) -> String {
        m.to_string()
    }
}

/// A message alone, no hint.
impl From<String> for Malformed {
    fn from(msg: String) -> Malformed {
        Malformed::new(msg, "")
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Malformed {}
