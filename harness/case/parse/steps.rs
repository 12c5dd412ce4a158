//! The steps a host takes (`$`, `types`, `prints`, `^C`, `^\`, `^Z`, `fg`,
//! `exits`) and `trace`; one function per step, chosen by `super::step`.

use super::super::error::{bad, Bad};
use super::super::rows::duration;
use super::super::{Interrupt, ItemKind};
use super::words::{host, shell_words};
use crate::lab::Side;

/// `trace HOST`.
pub(super) fn trace(rest: &str) -> Result<ItemKind, Bad> {
    Ok(ItemKind::Trace { host: host(rest)? })
}

/// `HOST trace`.
pub(super) fn host_trace(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    if arg.is_empty() {
        Ok(ItemKind::Trace { host })
    } else {
        Err(bad(
            format!("unexpected `{arg}` after `{host} trace`"),
            "write `client trace` (or `trace client`): it traces the host's commands started after it",
        ))
    }
}

/// `HOST $ COMMAND`.
pub(super) fn start(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    let argv = shell_words(arg)?;
    if argv.is_empty() {
        return Err(bad(
            "`$` without a command",
            "write e.g. `server $ nc -kl 11111`",
        ));
    }
    Ok(ItemKind::Start { host, argv })
}

/// `HOST types TEXT`.
pub(super) fn types(host: Side, arg: &str) -> ItemKind {
    ItemKind::Type {
        host,
        text: arg.to_string(),
    }
}

/// `HOST prints TEXT`, `HOST prints nothing`, and `HOST prints "TEXT"`
/// for any line those cannot say: `"nothing"`, a line with blanks at its
/// ends, an empty line, a line in quotes (`\"` and `\\` inside).
pub(super) fn prints(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    if arg.is_empty() {
        return Err(bad(
            "`prints` without text",
            "write the line the command prints",
        ));
    }
    if arg == "nothing" {
        return Ok(ItemKind::PrintsNothing { host });
    }
    let text = match arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
        Some(inner) => unquote(inner)?,
        None => arg.to_string(),
    };
    Ok(ItemKind::Prints { host, text })
}

/// The text between the quotes of `prints "TEXT"`: `\"` a quote, `\\` a
/// backslash; a bare quote or any other escape is an error, so that a
/// line is never read two ways.
fn unquote(inner: &str) -> Result<String, Bad> {
    const HINT: &str = "in `prints \"TEXT\"`, write `\\\"` for a quote and `\\\\` for a backslash: `server prints \"say \\\"nothing\\\"\"`";
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                other => {
                    let e = other.map_or(String::new(), String::from);
                    return Err(bad(format!("unknown escape `\\{e}` in quoted text"), HINT));
                }
            },
            '"' => return Err(bad("a quote inside quoted text", HINT)),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `HOST ^C`, `HOST ^\\`, `HOST ^Z`, `HOST fg`.
pub(super) fn signal(host: Side, verb: &str) -> ItemKind {
    let signal = match verb {
        "^C" => Interrupt::Int,
        "^\\" => Interrupt::Quit,
        "^Z" => Interrupt::Stop,
        _ => Interrupt::Continue,
    };
    ItemKind::Signal { host, signal }
}

/// `HOST kill -SIG`: TERM, KILL, HUP, USR1 or USR2, by name (with or
/// without `SIG`) or by number.
pub(super) fn kill(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    let name = arg.strip_prefix('-').unwrap_or("");
    let name = name.strip_prefix("SIG").unwrap_or(name);
    let signal = match name {
        "TERM" | "15" => Interrupt::Term,
        "KILL" | "9" => Interrupt::Kill,
        "HUP" | "1" => Interrupt::Hup,
        "USR1" | "10" => Interrupt::Usr1,
        "USR2" | "12" => Interrupt::Usr2,
        _ => {
            return Err(bad(
                format!("`kill {arg}`: not a signal a case sends"),
                "write `HOST kill -TERM`, `-KILL`, `-HUP`, `-USR1` or `-USR2` (^C, ^\\, ^Z and fg are keys: `HOST ^C`)",
            ))
        }
    };
    Ok(ItemKind::Signal { host, signal })
}

/// `HOST exits [CODE] [within DUR]`.
pub(super) fn exits(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    let (code, within) = match arg.split_once("within") {
        Some((code, dur)) if code.is_empty() || code.ends_with(' ') => {
            (code.trim(), Some(duration(dur.trim())?))
        }
        _ => (arg, None),
    };
    let code = if code.is_empty() {
        None
    } else {
        Some(code.parse::<u8>().map(i32::from).map_err(|_| {
            bad(
                format!("bad exit status `{code}`"),
                "an exit status is a number from 0 to 255, e.g. `client exits 0` or `client exits 0 within 30s`",
            )
        })?)
    };
    Ok(ItemKind::Exits { host, code, within })
}
