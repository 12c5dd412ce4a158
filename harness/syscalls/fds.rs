//! Which descriptors of a traced process are sockets, kept up to date
//! from the calls that create, duplicate and close them.

use std::collections::HashSet;

use super::memory::{u32_of, Memory};
use super::record::errno_of;

/// Keeps the set of socket descriptors up to date after a call returned.
pub(super) fn track_fds(fds: &mut HashSet<i32>, nr: i64, a: [u64; 6], ret: i64, mem: &dyn Memory) {
    let ok = errno_of(ret).is_none();
    let fd = a[0] as i32;
    match nr {
        libc::SYS_socket | libc::SYS_accept | libc::SYS_accept4 if ok => {
            fds.insert(ret as i32);
        }
        libc::SYS_socketpair if ok => {
            if let Some(b) = mem.read(a[3], 8).filter(|b| b.len() == 8) {
                fds.insert(u32_of(&b, 0) as i32);
                fds.insert(u32_of(&b, 4) as i32);
            }
        }
        libc::SYS_close if ret != -(libc::EBADF as i64) => {
            fds.remove(&fd);
        }
        libc::SYS_dup if ok && fds.contains(&fd) => {
            fds.insert(ret as i32);
        }
        libc::SYS_fcntl
            if ok
                && fds.contains(&fd)
                && matches!(a[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) =>
        {
            fds.insert(ret as i32);
        }
        libc::SYS_dup2 | libc::SYS_dup3 if ok && a[0] != a[1] => {
            if fds.contains(&fd) {
                fds.insert(a[1] as i32);
            } else {
                fds.remove(&(a[1] as i32));
            }
        }
        libc::SYS_close_range if ok && a[2] & libc::CLOSE_RANGE_CLOEXEC as u64 == 0 => {
            let (lo, hi) = (a[0] as u32, a[1] as u32);
            fds.retain(|&f| !(lo..=hi).contains(&(f as u32)));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::test_support::{Fake, BUF};

    #[test]
    fn tracks_socket_descriptors() {
        let mem = Fake(vec![(
            BUF,
            [7i32.to_ne_bytes(), 8i32.to_ne_bytes()].concat(),
        )]);
        let mut fds = HashSet::new();
        let a = |x: &[u64]| {
            let mut v = [0u64; 6];
            v[..x.len()].copy_from_slice(x);
            v
        };
        track_fds(&mut fds, libc::SYS_socket, a(&[2, 1, 6]), 3, &mem);
        track_fds(&mut fds, libc::SYS_accept, a(&[3, 0, 0]), 5, &mem);
        track_fds(&mut fds, libc::SYS_socket, a(&[2, 1, 6]), -24, &mem);
        track_fds(&mut fds, libc::SYS_socketpair, a(&[1, 1, 0, BUF]), 0, &mem);
        track_fds(&mut fds, libc::SYS_dup, a(&[5]), 9, &mem);
        track_fds(
            &mut fds,
            libc::SYS_fcntl,
            a(&[5, libc::F_DUPFD_CLOEXEC as u64, 20]),
            20,
            &mem,
        );
        track_fds(&mut fds, libc::SYS_close, a(&[7]), 0, &mem);
        track_fds(&mut fds, libc::SYS_dup2, a(&[0, 8]), 8, &mem);
        assert_eq!(fds, HashSet::from([3, 5, 9, 20]));
        track_fds(
            &mut fds,
            libc::SYS_close_range,
            a(&[4, u32::MAX as u64, 0]),
            0,
            &mem,
        );
        assert_eq!(fds, HashSet::from([3]));
    }
}
