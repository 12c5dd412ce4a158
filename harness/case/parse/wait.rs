//! `wait HOST ROW [gone] [at WINDOW]`, or `HOST wait ROW ...`.

use super::super::error::{bad, Bad};
use super::super::rows::{SocketExpect, Window};
use super::super::ItemKind;
use super::words::split_word;
use crate::lab::Side;

const WAIT_HINT: &str =
    "write `wait HOST STATE LOCAL PEER [gone] [at LOW..HIGH]` (or `HOST wait ...`), \
     e.g. `wait client TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 gone at 59s..61s`";

/// `wait client TIME-WAIT 192.168.2.105:* 192.168.2.100:11111 gone at 59s..61s`
pub(super) fn wait(rest: &str) -> Result<ItemKind, Bad> {
    let (h, row) = split_word(rest);
    let host: Side = h
        .parse()
        .map_err(|m: crate::error::Malformed| m.or_hint(WAIT_HINT))?;
    wait_on(host, row)
}

/// The same with the host first: `client wait TIME-WAIT ... gone`.
pub(super) fn wait_on(host: Side, mut row: &str) -> Result<ItemKind, Bad> {
    let mut at = None;
    if let Some((r, w)) = row.rsplit_once(" at ") {
        at = Some(Window::parse(w.trim())?);
        row = r.trim_end();
    }
    let mut gone = false;
    if let Some(r) = row.strip_suffix(" gone") {
        gone = true;
        row = r.trim_end();
    }
    if row.is_empty() {
        return Err(bad("`wait` needs a socket row", WAIT_HINT));
    }
    Ok(ItemKind::Wait {
        host,
        row: SocketExpect::parse(0, row)?,
        gone,
        at,
    })
}
