//! Reading a tracee's memory: the [`Memory`] the decoders read through, and
//! [`Remote`], another process's address space via process_vm_readv.

use std::io::IoSliceMut;

use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

/// The address space calls are decoded from.
pub(crate) trait Memory {
    /// Up to `len` bytes at `addr` (fewer where the range runs into an
    /// unmapped page); None when nothing there is readable.
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>>;

    fn u32_at(&self, addr: u64) -> Option<u32> {
        let b = self.read(addr, 4).filter(|b| b.len() == 4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Another process's memory, through process_vm_readv.
pub(super) struct Remote(pub(super) Pid);

impl Memory for Remote {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if len == 0 {
            return Some(Vec::new());
        }
        if addr == 0 {
            return None;
        }
        let mut buf = vec![0u8; len];
        let n = process_vm_readv(
            self.0,
            &mut [IoSliceMut::new(&mut buf)],
            &[RemoteIoVec {
                base: addr as usize,
                len,
            }],
        )
        .ok()?;
        if n == 0 {
            return None;
        }
        buf.truncate(n);
        Some(buf)
    }
}

pub(super) fn u64_of(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 8)
        .map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap()))
}

pub(super) fn u32_of(b: &[u8], i: usize) -> u32 {
    b.get(i..i + 4)
        .map_or(0, |s| u32::from_ne_bytes(s.try_into().unwrap()))
}
