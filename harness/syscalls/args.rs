//! Arguments that point into the tracee: buffers, sockaddrs with their
//! value-result lengths, option values and `struct msghdr`, decoded through
//! [`Memory`] (a fake one in the tests).

use super::constants::{
    msg_flags, NOT_INT, SOL_SOCKET, SO_ERROR, SO_LINGER, SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD,
};
use super::memory::{u32_of, u64_of, Memory};
use super::render::{ptr, quote, quote_shown, STRLEN};
use super::sockaddr::sockaddr;

/// The first `len` bytes at `addr`, quoted (a pointer if unreadable).
pub(super) fn buffer(mem: &dyn Memory, addr: u64, len: u64) -> String {
    let want = (len as usize).min(STRLEN);
    match mem.read(addr, want) {
        Some(b) if b.len() == want => quote_shown(&b, len as usize > STRLEN),
        _ => ptr(addr),
    }
}

/// A sockaddr of `len` bytes at `addr`; NULL, or a pointer when empty or
/// unreadable.
pub(super) fn sockaddr_at(mem: &dyn Memory, addr: u64, len: u32) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    if len == 0 {
        return ptr(addr);
    }
    match mem.read(addr, (len as usize).min(128)) {
        Some(b) if !b.is_empty() => sockaddr(&b),
        _ => ptr(addr),
    }
}

/// A value-result length: `[16]`, or `[128 => 16]` when the kernel changed it.
pub(super) fn len_inout(lenp: u64, before: Option<u32>, after: Option<u32>, ok: bool) -> String {
    if lenp == 0 {
        return "NULL".into();
    }
    match (before, after) {
        (Some(b), Some(a)) if ok && a != b => format!("[{b} => {a}]"),
        (Some(b), _) => format!("[{b}]"),
        (None, _) => ptr(lenp),
    }
}

/// An option's value: `[1]`, `{l_onoff=1, l_linger=0}`, or quoted bytes.
pub(super) fn optval(mem: &dyn Memory, level: u64, name: u64, addr: u64, len: u32) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    let Some(b) = mem.read(addr, (len as usize).min(64)) else {
        return ptr(addr);
    };
    let i32_at = |i: usize| u32_of(&b, i) as i32;
    let i64_at = |i: usize| u64_of(&b, i) as i64;
    match (level, name) {
        // strace names a pending error: `[ECONNREFUSED]` (0 stays `[0]`).
        (SOL_SOCKET, SO_ERROR) if b.len() >= 4 && i32_at(0) > 0 => {
            format!("[{}]", super::record::errno_name(-i64::from(i32_at(0))))
        }
        (SOL_SOCKET, SO_LINGER) if b.len() >= 8 => {
            format!("{{l_onoff={}, l_linger={}}}", i32_at(0), i32_at(4))
        }
        (SOL_SOCKET, SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD) if b.len() >= 16 => {
            format!("{{tv_sec={}, tv_usec={}}}", i64_at(0), i64_at(8))
        }
        _ if b.len() >= 4 && (len == 4 || !NOT_INT.contains(&(level, name))) => {
            format!("[{}]", i32_at(0))
        }
        _ => quote(&b),
    }
}

/// `struct msghdr` as strace prints it. `data`: bytes to show across the
/// iovecs (the result of recvmsg), None for all of them (sendmsg);
/// `namelen_before`: msg_namelen at entry, for recvmsg's `16 => 0`.
pub(super) fn msghdr(
    mem: &dyn Memory,
    addr: u64,
    data: Option<u64>,
    namelen_before: Option<u32>,
) -> String {
    let Some(m) = mem.read(addr, 56).filter(|m| m.len() == 56) else {
        return ptr(addr);
    };
    let (name, namelen) = (u64_of(&m, 0), u32_of(&m, 8));
    let (iov, iovlen) = (u64_of(&m, 16), u64_of(&m, 24));
    let (control, controllen) = (u64_of(&m, 32), u64_of(&m, 40));
    let msg_flags_v = u32_of(&m, 48);
    let shown_namelen = match namelen_before {
        Some(b) if b != namelen => format!("{b} => {namelen}"),
        _ => namelen.to_string(),
    };
    let name_len = namelen_before.map_or(namelen, |b| b.min(namelen));
    let mut s = format!(
        "{{msg_name={}, msg_namelen={shown_namelen}, msg_iov=",
        sockaddr_at(mem, name, name_len)
    );
    if iov == 0 {
        s.push_str("NULL");
    } else {
        let count = iovlen.min(STRLEN as u64) as usize;
        match mem.read(iov, count * 16).filter(|v| v.len() == count * 16) {
            None => s.push_str(&ptr(iov)),
            Some(v) => {
                let mut left = data.unwrap_or(u64::MAX);
                let items: Vec<String> = (0..count)
                    .map(|i| {
                        let (base, len) = (u64_of(&v, i * 16), u64_of(&v, i * 16 + 8));
                        let show = len.min(left);
                        left -= show;
                        format!("{{iov_base={}, iov_len={len}}}", buffer(mem, base, show))
                    })
                    .collect();
                s.push('[');
                s.push_str(&items.join(", "));
                if iovlen > count as u64 {
                    s.push_str(", ...");
                }
                s.push(']');
            }
        }
    }
    s.push_str(&format!(", msg_iovlen={iovlen}"));
    if controllen != 0 {
        s.push_str(&format!(", msg_control={}", ptr(control)));
    }
    s.push_str(&format!(
        ", msg_controllen={controllen}, msg_flags={}}}",
        msg_flags(msg_flags_v as i64)
    ));
    s
}
