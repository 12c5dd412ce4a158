//! The values of a segment line's fields: numbers, named offsets
//! (`rcv_nxt+1`), ports, quoted payloads, and the commas between fields.

use crate::error::Malformed;

/// The most bytes one TCP segment can carry (an IP datagram's length field).
pub const MAX_SEGMENT: u32 = 65535;

/// A 32-bit number (seq, ack, TS values, ...). `hint` is the line's shape.
pub(super) fn number(key: &str, s: &str, hint: &str) -> Result<u32, Malformed> {
    let s = s.trim();
    s.parse().map_err(|_| {
        let range = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            " (at most 4294967295)"
        } else {
            ""
        };
        Malformed::new(format!("`{key}` needs a number, got `{s}`{range}"), hint)
    })
}

/// A number that must fit a narrower field (`win`, `mss`, `wscale`).
pub(super) fn small<T: TryFrom<u32>>(
    key: &str,
    s: &str,
    line_hint: &str,
    range_hint: &str,
) -> Result<T, Malformed> {
    let n = number(key, s, line_hint)?;
    T::try_from(n)
        .map_err(|_| Malformed::new(format!("`{key} {n}` does not fit its field"), range_hint))
}

/// `port N` after `to` / `from`.
pub(super) fn port(key: &str, val: &str) -> Result<u16, Malformed> {
    let hint = "write `to port 22222` / `from port 40000`";
    let n = val
        .strip_prefix("port")
        .map(str::trim)
        .ok_or_else(|| Malformed::new(format!("`{key}` needs `port N`, got `{val}`"), hint))?;
    match n.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(Malformed::new(
            format!("`{key} port` needs 1..65535, got `{n}`"),
            hint,
        )),
    }
}

/// `NAME`, `NAME+K` or `NAME-K` (spaces allowed around the sign): the
/// offset K, or None when `val` does not start with NAME.
pub(super) fn offset_from(name: &str, val: &str) -> Result<Option<i64>, Malformed> {
    let compact: String = val.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(rest) = compact.strip_prefix(name) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some(0));
    }
    let bad = || {
        Malformed::new(
            format!("bad offset in `{val}`"),
            &format!("write `{name}`, `{name}+1` or `{name}-1` (up to 4294967295)"),
        )
    };
    // By the sign's character, not byte 1: `rcv_nxté` must be an error,
    // not a slice through the middle of a character.
    let (sign, digits) = if let Some(d) = rest.strip_prefix('+') {
        (1, d)
    } else if let Some(d) = rest.strip_prefix('-') {
        (-1, d)
    } else {
        return Err(bad());
    };
    let k: u32 = digits.parse().map_err(|_| bad())?;
    Ok(Some(sign * i64::from(k)))
}

/// Splits at commas outside brackets and double quotes; an empty field
/// (`seq 1,, ack 2`) is an error, no fields at all is none.
pub(super) fn split_fields<'a>(s: &'a str, options_hint: &str) -> Result<Vec<&'a str>, Malformed> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut quoted, mut escaped) = (0i32, 0usize, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            ',' if depth == 0 && !quoted => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(Malformed::new(
            "unterminated `\"`",
            "close the payload's quote: `payload \"hello\\n\"`",
        ));
    }
    if depth != 0 {
        return Err(Malformed::new("unbalanced brackets", options_hint));
    }
    let last = s[start..].trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    Ok(out)
}

const PAYLOAD_HINT: &str = "write `payload \"TEXT\"` with escapes \\n \\r \\t \\0 \\\\ \\\" \\xNN";

/// `"hello\n"` to bytes.
pub(super) fn quoted(val: &str) -> Result<Vec<u8>, Malformed> {
    let inner = val
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| val.len() >= 2)
        .ok_or_else(|| {
            Malformed::new(format!("payload must be quoted, got `{val}`"), PAYLOAD_HINT)
        })?;
    let mut out = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let b = match chars.next() {
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('\\') => b'\\',
            Some('"') => b'"',
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| {
                        Malformed::new(format!("bad escape `\\x{hex}` in payload"), PAYLOAD_HINT)
                    })?
            }
            other => {
                return Err(Malformed::new(
                    format!("unknown escape `\\{}` in payload", other.unwrap_or(' ')),
                    PAYLOAD_HINT,
                ))
            }
        };
        out.push(b);
    }
    Ok(out)
}

/// Bytes as a payload literal: printable ASCII as is, the rest escaped.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// The first word and the rest (its leading blanks gone).
pub fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}
