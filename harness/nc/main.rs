//! `nc`: the subset of nmap's ncat 7.93 that tcplab's cases run, faithful
//! in its system calls and descriptor numbers (see `nc --help`).
//!
//! Nothing may open a descriptor before the sockets: no threads, no async
//! runtime, no name resolution, no files. Parsing only looks at argv; the
//! first descriptor the process creates is the first socket, fd 3.
//!
//! Exit status: 0 normal end, 1 socket/network error, 2 usage error
//! (ncat's convention). Every error is a single `nc: ...` line on stderr.

mod args;
mod relay;
mod sockets;

use std::io::Write;
use std::process::ExitCode;

use args::{Mode, Parsed};
use relay::{report, Relay};
use sockets::SysError;

// The library carries the same code (`tcplab::nc`, this file as a
// module), so a test binary or the `tcplab` command can be the nc when
// no nc binary is beside it; it enters through `main_with`.
#[allow(dead_code)]
fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// nc with this command line (program name first).
pub fn main_with(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match args::parse(argv) {
        Ok(Parsed::Print(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Parsed::Run(mode)) => match run(mode) {
            Ok(status) => ExitCode::from(status),
            Err(e) => {
                report(e);
                ExitCode::from(1)
            }
        },
        Err(usage) => {
            report(usage);
            ExitCode::from(2)
        }
    }
}

/// Sets up the sockets for `mode`, then relays until done.
fn run(mode: Mode) -> Result<u8, SysError> {
    let relay = match mode {
        Mode::Listen {
            port,
            keep_open,
            only,
        } => Relay::server(sockets::listen(port, only)?, keep_open),
        Mode::Connect { addr, source } => Relay::client(sockets::connect(addr, source)?),
    };
    relay.run()
}
