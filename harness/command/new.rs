//! `tcplab new NAME`: a commented starter case that parses and passes as
//! it is (tcplab's suite runs it: selftest `new_case_passes`), to be
//! edited into the case the user means.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command as Cli};

/// The starter; `{name}` is the case's name.
pub const STARTER: &str = "\
# {name}: a starter case (`tcplab new`). A line at column 1 is a step: a
# command started on a host, a key pressed in it, a line typed into it.
# An indented block under `packets`, `sockets HOST` or `fds HOST` is what
# tcpdump, ss or lsof would show at that point; the case fails at the
# first line where they show something else. `tcplab run {name}.case`
# plays it in two network namespaces of its own: client 192.168.2.105,
# server 192.168.2.100, one veth between them.
#
# `nc` is tcplab's nc-equivalent (ncat's behaviour); any other program is
# looked up on PATH and runs inside that host's namespace: put your own
# server in the first line, e.g. `server $ my-server --port 11111`.
server $ nc -kl 11111
client $ nc 192.168.2.100 11111
# The handshake as tcpdump on the server's interface shows it: exactly the
# packets since the previous block, seq and ack relative; what a line
# leaves out (window, options) is not checked.
packets
  client > server  [S]   seq 0
  server > client  [S.]  seq 0, ack 1
  client > server  [.]   ack 1
# A line typed into the server's nc reaches the client's, which prints it.
server types hello
client prints hello
packets
  server > client  [P.]  seq 1:7, ack 1, length 6
  client > server  [.]   ack 7
# What ss shows in the client's namespace now (`*` is any port).
sockets client
  ESTAB 0 0 192.168.2.105:* 192.168.2.100:11111
# Ctrl+C on the server: its FIN goes first, and the client's nc, reading
# the end of the stream, closes at once and exits.
server ^C
packets
  server > client  [F.]  seq 7, ack 1
  client > server  [F.]  seq 1, ack 8
  server > client  [.]   ack 2
client exits 0
# The side that closed first holds TIME-WAIT, for 60 seconds on Linux.
sockets server
  TIME-WAIT 192.168.2.100:11111 192.168.2.105:* timer timewait 58s..60s
";

pub(super) fn command() -> Cli {
    Cli::new("new")
        .about("Write a commented starter case, NAME.case, that passes as it is")
        .arg(
            Arg::new("name")
                .value_name("NAME")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("The case's name or path (DIR/NAME, with or without .case)"),
        )
}

pub(super) fn main(m: &ArgMatches) -> ExitCode {
    let given = m.get_one::<PathBuf>("name").cloned().unwrap_or_default();
    let file = if given.extension().is_some_and(|x| x == "case") {
        given
    } else {
        let mut f = given.into_os_string();
        f.push(".case");
        PathBuf::from(f)
    };
    let name = crate::suite::files::name_of(&file);
    if name.is_empty() || name.starts_with('-') {
        eprintln!("tcplab new: {name:?} is no case name (a file name, e.g. `echo-line`)");
        return ExitCode::from(2);
    }
    let text = STARTER.replace("{name}", &name);
    // `tcplab new tcp-cases/echo-line` in a new repository: the folder is
    // made too, as README's first recipe needs.
    let folder = file.parent().filter(|d| !d.as_os_str().is_empty());
    let written = folder
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
        })
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    match written {
        Ok(()) => {
            println!(
                "wrote {}: run it with `tcplab run {}`",
                file.display(),
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "tcplab new: {} is already there; not overwritten",
                file.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tcplab new: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_parses() {
        let text = STARTER.replace("{name}", "starter");
        let case = crate::case::parse::parse(std::path::Path::new("starter.case"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(case.items.len() > 10, "{} items", case.items.len());
    }
}
