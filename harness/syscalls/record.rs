//! The recorded call and its strace-style line: `name(args) = result`, with
//! errno names and texts as strace prints them.

use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

use nix::errno::Errno;

/// One completed system call of a traced process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The thread that made it (strace -f's first column).
    pub pid: i32,
    pub name: String,
    /// Each argument as strace renders it.
    pub args: Vec<String>,
    /// Raw result: negative errno on failure.
    pub ret: i64,
    /// When the tracer saw the call return (its exit stop, read as soon as
    /// `waitpid` reported it): a `syscalls` line's `at` window.
    pub returned: Instant,
}

/// `name(args) = result`, as strace prints it; `{:#}` prefixes the thread id
/// as `strace -f` does.
impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{} ", self.pid)?;
        }
        write!(
            f,
            "{}({}) = {}",
            self.name,
            self.args.join(", "),
            result(self.ret)
        )
    }
}

/// strace's right-hand side: `6`, `-1 ECONNREFUSED (Connection refused)`,
/// `? ERESTARTSYS (To be restarted if SA_RESTART is set)`.
pub fn result(ret: i64) -> String {
    match errno_of(ret) {
        None => ret.to_string(),
        Some(n) if restart_errno(n).is_some() => {
            format!("? {} ({})", errno_name(ret), errno_desc(ret))
        }
        Some(_) => format!("-1 {} ({})", errno_name(ret), errno_desc(ret)),
    }
}

pub(super) fn errno_of(ret: i64) -> Option<i32> {
    (-4095..0).contains(&ret).then_some(-ret as i32)
}

/// Kernel-internal restart codes a tracer sees when a signal interrupts a call.
fn restart_errno(n: i32) -> Option<(&'static str, &'static str)> {
    Some(match n {
        512 => ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
        513 => ("ERESTARTNOINTR", "To be restarted"),
        514 => ("ERESTARTNOHAND", "To be restarted if no handler"),
        515 => ("ENOIOCTLCMD", "No ioctl command"),
        516 => ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
        _ => return None,
    })
}

/// errno names and strerror texts, 0..=133.
fn errno_table() -> &'static [(String, String)] {
    static TABLE: OnceLock<Vec<(String, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=133)
            .map(|n| {
                let name = format!("{:?}", Errno::from_raw(n));
                let name = if name == "UnknownErrno" {
                    String::new()
                } else {
                    name
                };
                let desc = std::io::Error::from_raw_os_error(n).to_string();
                let desc = desc
                    .strip_suffix(&format!(" (os error {n})"))
                    .unwrap_or(&desc)
                    .to_string();
                (name, desc)
            })
            .collect()
    })
}

/// The errno name of a raw result: `ECONNREFUSED` for -111; `` for a
/// result that is not an error.
pub fn errno_name(ret: i64) -> &'static str {
    let Some(n) = errno_of(ret) else { return "" };
    if let Some((name, _)) = restart_errno(n) {
        return name;
    }
    match errno_table().get(n as usize) {
        Some((name, _)) if !name.is_empty() => name,
        _ => "E???",
    }
}

/// strerror of a raw result, as strace shows it in parentheses.
pub fn errno_desc(ret: i64) -> &'static str {
    let Some(n) = errno_of(ret) else { return "" };
    if let Some((_, desc)) = restart_errno(n) {
        return desc;
    }
    match errno_table().get(n as usize) {
        Some((_, desc)) => desc,
        None => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(6, "6")]
    #[case(0, "0")]
    #[case(-111, "-1 ECONNREFUSED (Connection refused)")]
    #[case(-11, "-1 EAGAIN (Resource temporarily unavailable)")]
    #[case(-115, "-1 EINPROGRESS (Operation now in progress)")]
    #[case(-107, "-1 ENOTCONN (Transport endpoint is not connected)")]
    #[case(-512, "? ERESTARTSYS (To be restarted if SA_RESTART is set)")]
    fn renders_results(#[case] ret: i64, #[case] want: &str) {
        assert_eq!(result(ret), want);
    }

    #[test]
    fn names_errnos() {
        assert_eq!(errno_name(-111), "ECONNREFUSED");
        assert_eq!(errno_name(-104), "ECONNRESET");
        assert_eq!(errno_name(-32), "EPIPE");
        assert_eq!(errno_name(-512), "ERESTARTSYS");
        assert_eq!(errno_name(5), "");
        assert_eq!(errno_name(0), "");
    }

    #[test]
    fn alternate_display_prefixes_the_thread() {
        let r = Record {
            pid: 22200,
            name: "listen".into(),
            args: vec!["3".into(), "10".into()],
            ret: 0,
            returned: Instant::now(),
        };
        assert_eq!(format!("{r:#}"), "22200 listen(3, 10) = 0");
        assert_eq!(r.to_string(), "listen(3, 10) = 0");
    }
}
