//! Expectations on system calls, in strace's notation: `accept(4, ...) = 5`.
//! A block's lines are found in order among the recorded calls; other
//! calls may come in between.

use std::fmt;

use super::error::{bad, Bad};
use crate::notation::Window;

/// One argument of an expected call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgPattern {
    /// Written out: must equal strace's rendering of the argument.
    Exact(String),
    /// `*`: any one argument.
    Any,
    /// `...`: any arguments from here on.
    Rest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetPattern {
    Value(i64),
    /// `-1 ECONNREFUSED`
    Errno(String),
    /// `?`
    Any,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallExpect {
    pub line: usize,
    pub name: String,
    pub args: Vec<ArgPattern>,
    pub ret: RetPattern,
    /// `at LO..HI`: when the call returned, counted from the latest action
    /// step's start.
    pub at: Option<Window>,
}

const HINT: &str =
    "a call is strace's `name(arg, ...) = result [at LO..HI]`, e.g. `accept(4, ...) = 5`, \
     `connect(3, ...) = -1 ECONNREFUSED` or `read(4, \"x\\n\", 100) = 2 at 0s..0.5s`";

impl CallExpect {
    pub fn parse(line: usize, text: &str) -> Result<CallExpect, Bad> {
        let (name, rest) = text
            .split_once('(')
            .ok_or_else(|| bad(format!("`{text}` is not a call"), HINT))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(format!("bad system call name `{name}`"), HINT));
        }
        let close =
            closing_paren(rest).ok_or_else(|| bad("unbalanced parentheses or quotes", HINT))?;
        let (args_text, tail) = (&rest[..close], &rest[close + 1..]);
        let args: Vec<ArgPattern> = split_args(args_text)
            .into_iter()
            .map(|a| match a.as_str() {
                "..." => ArgPattern::Rest,
                "*" => ArgPattern::Any,
                _ => ArgPattern::Exact(a),
            })
            .collect();
        if args.iter().rev().skip(1).any(|a| *a == ArgPattern::Rest) {
            return Err(bad(
                "`...` may only end the arguments",
                "use `*` for one argument you don't care about",
            ));
        }
        let ret = tail
            .trim()
            .strip_prefix('=')
            .map(str::trim)
            .ok_or_else(|| bad("missing `= result`", HINT))?;
        let mut words: Vec<&str> = ret.split_whitespace().collect();
        let at = match words.as_slice() {
            [.., "at", w] => {
                let w = Window::parse(w).map_err(|m| {
                    bad(
                        m.msg,
                        "write the window after the result: `read(4, ...) = 2 at 0s..0.5s` (since the latest action began)",
                    )
                })?;
                words.truncate(words.len() - 2);
                Some(w)
            }
            _ => None,
        };
        let ret = match words.as_slice() {
            ["?"] => RetPattern::Any,
            ["-1", errno, ..] if errno.starts_with('E') => RetPattern::Errno(errno.to_string()),
            [n] => RetPattern::Value(
                n.parse()
                    .map_err(|_| bad(format!("bad result `{n}`"), HINT))?,
            ),
            _ => return Err(bad(format!("bad result `{ret}`"), HINT)),
        };
        Ok(CallExpect {
            line,
            name: name.to_string(),
            args,
            ret,
            at,
        })
    }

    /// `name`, the rendered arguments and the raw result (negative errno on
    /// failure) of one recorded call.
    pub fn matches(&self, name: &str, args: &[String], ret: i64, errno_name: &str) -> bool {
        if self.name != name {
            return false;
        }
        let args_ok = {
            let mut i = 0;
            let mut ok = true;
            for p in &self.args {
                match p {
                    ArgPattern::Rest => {
                        i = args.len();
                        break;
                    }
                    ArgPattern::Any if i < args.len() => i += 1,
                    ArgPattern::Exact(s) if i < args.len() && args[i] == *s => i += 1,
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            ok && i == args.len()
        };
        args_ok
            && match &self.ret {
                RetPattern::Any => true,
                RetPattern::Value(v) => *v == ret,
                RetPattern::Errno(e) => ret < 0 && e == errno_name,
            }
    }
}

impl fmt::Display for CallExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<&str> = self
            .args
            .iter()
            .map(|a| match a {
                ArgPattern::Exact(s) => s.as_str(),
                ArgPattern::Any => "*",
                ArgPattern::Rest => "...",
            })
            .collect();
        write!(f, "{}({}) = ", self.name, args.join(", "))?;
        match &self.ret {
            RetPattern::Any => f.write_str("?"),
            RetPattern::Value(v) => write!(f, "{v}"),
            RetPattern::Errno(e) => write!(f, "-1 {e}"),
        }?;
        if let Some(w) = self.at {
            write!(f, "  at {w}")?;
        }
        Ok(())
    }
}

/// Visits each character outside double-quoted strings (escapes honoured)
/// with the bracket depth in front of it; stops at, and returns, the first
/// index where `f` says so.
fn scan(s: &str, mut f: impl FnMut(usize, char, i32) -> bool) -> Option<usize> {
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for (i, c) in s.char_indices() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            quoted = true;
            continue;
        }
        if f(i, c, depth) {
            return Some(i);
        }
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Index of the `)` that closes the call, skipping quoted strings and
/// nested brackets.
fn closing_paren(s: &str) -> Option<usize> {
    scan(s, |_, c, depth| c == ')' && depth == 0)
}

/// Splits at the commas outside quotes and brackets.
fn split_args(s: &str) -> Vec<String> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    let mut cuts = Vec::new();
    scan(s, |i, c, depth| {
        if c == ',' && depth == 0 {
            cuts.push(i);
        }
        false
    });
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        out.push(s[start..cut].trim().to_string());
        start = cut + 1;
    }
    out.push(s[start..].trim().to_string());
    out
}
