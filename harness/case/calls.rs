//! Expectations on system calls, in strace's notation: `accept(4, ...) = 5`.
//! A block's lines are found in order among the recorded calls; other
//! calls may come in between.

use std::fmt;

use super::parse::{bad, Bad};

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
}

const HINT: &str = "a call is strace's `name(arg, ...) = result`, e.g. `accept(4, ...) = 5` or `connect(3, ...) = -1 ECONNREFUSED`";

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
        let words: Vec<&str> = ret.split_whitespace().collect();
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
        }
    }
}

/// Index of the `)` that closes the call, skipping quoted strings and
/// nested brackets.
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut quoted = false;
    let mut escaped = false;
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
        match c {
            '"' => quoted = true,
            '(' | '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits at the commas outside quotes and brackets.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for c in s.chars() {
        if quoted {
            cur.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                cur.push(c);
            }
            '(' | '{' | '[' => {
                depth += 1;
                cur.push(c);
            }
            ')' | '}' | ']' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}
