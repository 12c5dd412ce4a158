//! Command-line parsing: turns argv into a [`Mode`] without touching any
//! descriptor.
//!
//! Parsing must not open anything: the test cases assert that the first
//! socket is fd 3, so name resolution (getaddrinfo opens sockets and
//! /etc files) is out. Only numeric IPv4/IPv6 addresses are accepted, plus
//! `localhost`, which maps to 127.0.0.1 (::1 with -6) without a lookup.
//!
//! clap does the flag grammar (`-kl`, `-lk`, `--listen`, ...) and `--help`;
//! its multi-line error reports are cut down to one line so a failing case
//! shows exactly one `nc: ...` line on stderr.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Command};

/// `-4` or `-6`: one address family only, as ncat has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    V4,
    V6,
}

/// What the process was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `nc -l [-k] PORT`: listen on [::]:PORT (fd 3) and 0.0.0.0:PORT (fd
    /// 4); with `-6` on [::]:PORT only, with `-4` on 0.0.0.0:PORT only
    /// (fd 3 either way).
    Listen {
        port: u16,
        keep_open: bool,
        only: Option<Only>,
    },
    /// `nc [-p SOURCE] HOST PORT`: connect fd 3 to `addr`, from port
    /// `source` when given.
    Connect {
        addr: SocketAddr,
        source: Option<u16>,
    },
}

/// Result of a successful parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run in this mode.
    Run(Mode),
    /// `--help` / `--version`: print this text on stdout and exit 0.
    Print(String),
}

/// A usage error, already phrased as the single line to print after `nc: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

const USAGE: &str = "nc [-4|-6] [-k] -l PORT\n       nc [-4|-6] [-p PORT] HOST PORT";

const AFTER_HELP: &str = "\
MODES
  nc -l [-k] PORT   Server. fd 3 = IPv6 listener on [::]:PORT (IPV6_V6ONLY),
                    fd 4 = IPv4 listener on 0.0.0.0:PORT, both SO_REUSEADDR,
                    backlog 10. The first accepted connection is fd 5.
                    Without -k: both listeners are closed right after the
                    accept (as ncat does) and nc exits when that connection
                    ends. With -k: connections are accepted while others are
                    open (fd 6, 7, ...) and nc keeps listening after they end.
                    -6: only the IPv6 listener (IPV6_V6ONLY), fd 3; -4: only
                    the IPv4 listener, fd 3. An IPv6 client is accepted from
                    fd 3, an IPv4 one from fd 4.
  nc HOST PORT      Client. fd 3 = socket connected (blocking) to HOST:PORT.
                    HOST must be a numeric IPv4/IPv6 address or 'localhost'
                    (= 127.0.0.1); names are not resolved, because resolving
                    would open descriptors before the socket and move fd 3.
                    -p PORT: bind fd 3 to that local port first, with
                    SO_REUSEADDR, as ncat -p does. An IPv6 address connects
                    over IPv6 (socket(AF_INET6)); -4 or -6 refuses an
                    address of the other family (exit 2), and -6 makes
                    'localhost' ::1.

DATA AND EOF
  One thread, poll(2) on stdin and the sockets. stdin is read with read(2)
  and sent with send(2) (strace: sendto); received data (recvfrom) is
  written to stdout with write(2) at once, unbuffered.
  Peer EOF:   the connection is closed immediately (close, no shutdown).
              Client and server without -k then exit 0; -k keeps listening.
  With -k, stdin goes to every open connection. A server that reads stdin
  data before any client connects holds it (and stops reading stdin) until
  the next accept, then sends it to that client.
  stdin EOF:  shutdown(SHUT_WR) on every open connection, stop reading stdin,
              keep receiving until the peer closes. Connections accepted
              later are not half-closed, so a server whose stdin is empty
              (e.g. /dev/null) just keeps listening and serving. A client
              whose stdin is empty half-closes right after connecting.
  Reset:      'nc: Connection reset by peer.' on stderr; the client exits 1,
              a -k server closes that connection and carries on.
  SIGINT keeps its default action: the kernel closes the sockets (FIN).

NCAT VERSIONS
  Sockets, descriptors and system calls are ncat 7.93's (Debian 12 and 13).
  On the peer's EOF nc follows ncat after 7.95, which closes at once (nmap
  issue 1779): ncat 7.93 keeps a client running after the server's Ctrl+C,
  its socket in CLOSE-WAIT, until the client's own stdin ends. And nc's
  client connects blocking, where ncat's connect is non-blocking (-1
  EINPROGRESS, then poll). Cases pin both forms: a step or block that
  belongs to one says `ours:` or `ncat:`, and NC=ncat plays ncat's
  (server-close, reconnect-same-port, syscalls-client).

EXIT STATUS
  0 normal end, 1 socket/network error, 2 usage error.";

fn command() -> Command {
    Command::new("nc")
        .version(env!("CARGO_PKG_VERSION"))
        .about("ncat subset for tcplab: same system calls and descriptor numbers")
        .override_usage(USAGE)
        .after_help(AFTER_HELP)
        .arg(
            Arg::new("listen")
                .short('l')
                .long("listen")
                .action(ArgAction::SetTrue)
                .help("Listen for incoming connections"),
        )
        .arg(
            Arg::new("keep-open")
                .short('k')
                .long("keep-open")
                .action(ArgAction::SetTrue)
                .help("With -l: keep listening after a connection ends"),
        )
        .arg(
            Arg::new("source-port")
                .short('p')
                .long("source-port")
                .value_name("PORT")
                .help("Client: bind to this local port first (SO_REUSEADDR, as ncat)"),
        )
        .arg(
            Arg::new("ipv4")
                .short('4')
                .action(ArgAction::SetTrue)
                .overrides_with("ipv6")
                .help("Use IPv4 only"),
        )
        .arg(
            Arg::new("ipv6")
                .short('6')
                .action(ArgAction::SetTrue)
                .overrides_with("ipv4")
                .help("Use IPv6 only"),
        )
        .arg(
            Arg::new("operands")
                .value_name("HOST PORT | PORT")
                .num_args(0..)
                .action(ArgAction::Append)
                .help("HOST PORT to connect to, or the PORT to listen on"),
        )
}

/// Parses `argv` (including the program name).
pub fn parse<I, T>(argv: I) -> Result<Parsed, UsageError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = match command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Parsed::Print(e.to_string()));
        }
        Err(e) => return Err(UsageError(one_line(&e.to_string()))),
    };
    let listen = matches.get_flag("listen");
    let keep_open = matches.get_flag("keep-open");
    // As ncat: the later of -4 and -6 wins.
    let only = match (matches.get_flag("ipv4"), matches.get_flag("ipv6")) {
        (true, _) => Some(Only::V4),
        (_, true) => Some(Only::V6),
        _ => None,
    };
    let source = matches
        .get_one::<String>("source-port")
        .map(|p| parse_port(p))
        .transpose()?;
    if listen && source.is_some() {
        return Err(usage("-p/--source-port is for a client, not with -l"));
    }
    let operands: Vec<&String> = matches
        .get_many::<String>("operands")
        .map(|v| v.collect())
        .unwrap_or_default();

    let mode = if listen {
        match operands.as_slice() {
            [port] => Mode::Listen {
                port: parse_port(port)?,
                keep_open,
                only,
            },
            [] => return Err(usage("-l needs a PORT")),
            _ => return Err(usage("-l takes exactly one operand, the PORT")),
        }
    } else {
        if keep_open {
            return Err(usage("-k/--keep-open only makes sense with -l/--listen"));
        }
        match operands.as_slice() {
            [host, port] => {
                let port = parse_port(port)?;
                Mode::Connect {
                    addr: SocketAddr::new(host_in(parse_host(host)?, host, only)?, port),
                    source,
                }
            }
            [] => return Err(usage("missing HOST PORT (or -l PORT)")),
            [_] => return Err(usage("missing PORT after HOST (or -l before PORT)")),
            _ => return Err(usage("too many operands, expected HOST PORT")),
        }
    };
    Ok(Parsed::Run(mode))
}

fn usage(what: &str) -> UsageError {
    UsageError(format!("{what}; try 'nc --help'"))
}

/// Keeps the first line of a clap error, without its `error: ` prefix.
fn one_line(rendered: &str) -> String {
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    format!("{first}; try 'nc --help'")
}

/// A TCP port, 1-65535, in decimal.
pub fn parse_port(s: &str) -> Result<u16, UsageError> {
    match s.parse::<u16>() {
        Ok(p) if p != 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(UsageError(format!(
            "invalid port \"{s}\": expected 1-65535"
        ))),
    }
}

/// `ip` (what `written` parsed to) under `-4`/`-6`: `localhost` becomes
/// ::1 with -6; an address of the other family is refused as ncat refuses
/// it (its getaddrinfo finds no address of that family).
fn host_in(ip: IpAddr, written: &str, only: Option<Only>) -> Result<IpAddr, UsageError> {
    match (only, ip) {
        (Some(Only::V6), IpAddr::V4(v4))
            if v4.is_loopback() && written.eq_ignore_ascii_case("localhost") =>
        {
            Ok(IpAddr::V6(Ipv6Addr::LOCALHOST))
        }
        (Some(Only::V4), IpAddr::V6(_)) | (Some(Only::V6), IpAddr::V4(_)) => {
            let flag = if only == Some(Only::V4) { "-4" } else { "-6" };
            Err(UsageError(format!(
                "could not resolve hostname \"{written}\": address family for hostname not supported ({flag})"
            )))
        }
        _ => Ok(ip),
    }
}

/// A numeric address (IPv6 with or without brackets) or `localhost`.
pub fn parse_host(s: &str) -> Result<IpAddr, UsageError> {
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>().map_err(|_| {
        UsageError(format!(
            "invalid host \"{s}\": only numeric IPv4/IPv6 addresses (or localhost) are supported"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::net::Ipv6Addr;

    fn run(args: &[&str]) -> Result<Parsed, UsageError> {
        parse(std::iter::once("nc").chain(args.iter().copied()))
    }

    #[rstest]
    #[case(&["-l", "11111"], false)]
    #[case(&["--listen", "11111"], false)]
    #[case(&["11111", "-l"], false)]
    #[case(&["-kl", "11111"], true)]
    #[case(&["-lk", "11111"], true)]
    #[case(&["-l", "-k", "11111"], true)]
    #[case(&["-k", "-l", "11111"], true)]
    #[case(&["--listen", "--keep-open", "11111"], true)]
    fn listen_forms(#[case] args: &[&str], #[case] keep_open: bool) {
        assert_eq!(
            run(args),
            Ok(Parsed::Run(Mode::Listen {
                port: 11111,
                keep_open,
                only: None,
            }))
        );
    }

    #[rstest]
    #[case(&["-6", "-l", "11111"], Some(Only::V6))]
    #[case(&["-4kl", "11111"], Some(Only::V4))]
    #[case(&["-l", "-4", "-6", "11111"], Some(Only::V6))]
    #[case(&["-6", "-4", "-l", "11111"], Some(Only::V4))]
    fn a_listener_may_take_one_family_the_later_flag_winning(
        #[case] args: &[&str],
        #[case] only: Option<Only>,
    ) {
        let Ok(Parsed::Run(Mode::Listen { only: got, .. })) = run(args) else {
            panic!("{args:?}: not a listener: {:?}", run(args));
        };
        assert_eq!(got, only);
    }

    #[rstest]
    #[case(&["-6", "2001:db8:2::100", "11111"], Ok("[2001:db8:2::100]:11111"))]
    #[case(&["-4", "192.168.2.100", "11111"], Ok("192.168.2.100:11111"))]
    #[case(&["-6", "localhost", "11111"], Ok("[::1]:11111"))]
    #[case(&["-4", "localhost", "11111"], Ok("127.0.0.1:11111"))]
    #[case(&["-4", "::1", "11111"], Err("could not resolve hostname \"::1\": address family for hostname not supported (-4)"))]
    #[case(&["-6", "192.168.2.100", "11111"], Err("could not resolve hostname \"192.168.2.100\": address family for hostname not supported (-6)"))]
    fn a_client_given_a_family_connects_in_it_or_refuses_the_other(
        #[case] args: &[&str],
        #[case] want: Result<&str, &str>,
    ) {
        let got = run(args);
        match want {
            Ok(addr) => assert_eq!(
                got,
                Ok(Parsed::Run(Mode::Connect {
                    addr: addr.parse().unwrap(),
                    source: None,
                }))
            ),
            Err(msg) => assert_eq!(got, Err(UsageError(msg.into()))),
        }
    }

    #[rstest]
    #[case(&["127.0.0.1", "11111"], "127.0.0.1:11111")]
    #[case(&["192.168.2.100", "80"], "192.168.2.100:80")]
    #[case(&["localhost", "11111"], "127.0.0.1:11111")]
    #[case(&["::1", "11111"], "[::1]:11111")]
    #[case(&["[::1]", "11111"], "[::1]:11111")]
    #[case(&["fd00::2", "65535"], "[fd00::2]:65535")]
    fn connect_forms(#[case] args: &[&str], #[case] addr: &str) {
        assert_eq!(
            run(args),
            Ok(Parsed::Run(Mode::Connect {
                addr: addr.parse().unwrap(),
                source: None,
            }))
        );
    }

    #[test]
    fn a_client_may_choose_its_source_port() {
        assert_eq!(
            run(&["-p", "40000", "192.168.2.100", "11111"]),
            Ok(Parsed::Run(Mode::Connect {
                addr: "192.168.2.100:11111".parse().unwrap(),
                source: Some(40000),
            }))
        );
        assert!(run(&["-p", "0", "192.168.2.100", "11111"]).is_err());
        assert!(run(&["-l", "-p", "40000", "11111"])
            .unwrap_err()
            .0
            .contains("not with -l"));
    }

    #[rstest]
    #[case("0")]
    #[case("65536")]
    #[case("abc")]
    #[case("-1")]
    #[case("+80")]
    #[case("")]
    fn bad_ports(#[case] port: &str) {
        assert_eq!(
            parse_port(port),
            Err(UsageError(format!(
                "invalid port \"{port}\": expected 1-65535"
            )))
        );
    }

    #[test]
    fn bad_port_message_through_parse() {
        assert_eq!(
            run(&["-l", "abc"]),
            Err(UsageError("invalid port \"abc\": expected 1-65535".into()))
        );
    }

    #[rstest]
    #[case("example.com")]
    #[case("1.2.3")]
    #[case("[127.0.0.1")]
    fn names_are_refused(#[case] host: &str) {
        let err = parse_host(host).unwrap_err();
        assert!(err.0.contains("only numeric"), "{err}");
    }

    #[test]
    fn ipv6_literal() {
        assert_eq!(parse_host("::1"), Ok(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }

    #[rstest]
    #[case(&[])]
    #[case(&["-l"])]
    #[case(&["-l", "1", "2"])]
    #[case(&["127.0.0.1"])]
    #[case(&["1.1.1.1", "1", "2"])]
    #[case(&["-k", "127.0.0.1", "11111"])]
    #[case(&["--bogus", "11111"])]
    #[case(&["-x"])]
    fn usage_errors_are_one_line(#[case] args: &[&str]) {
        let err = run(args).unwrap_err();
        assert!(!err.0.contains('\n'), "multi-line: {err:?}");
        assert!(err.0.ends_with("try 'nc --help'"), "{err:?}");
    }

    #[rstest]
    #[case("--help")]
    #[case("-h")]
    #[case("--version")]
    fn help_and_version_print(#[case] flag: &str) {
        assert!(matches!(run(&[flag]), Ok(Parsed::Print(_))));
    }

    #[test]
    fn help_documents_fds_eof_and_which_ncat_it_follows() {
        let Ok(Parsed::Print(text)) = run(&["--help"]) else {
            panic!("no help");
        };
        for needle in [
            "fd 3",
            "fd 4",
            "fd 5",
            "stdin EOF",
            "Peer EOF",
            "-k",
            "ncat 7.93",
            "after 7.95",
            "issue 1779",
            "CLOSE-WAIT",
            "-6",
        ] {
            assert!(text.contains(needle), "help lacks {needle:?}");
        }
    }
}
