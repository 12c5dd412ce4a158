//! echo-service: a TCP echo server that shuts down gracefully.
//!
//! ```text
//! echo-service [--port PORT] [--idle-timeout DURATION] [--drain-timeout DURATION]
//! ```
//!
//! - Every byte a client sends comes back to it. A client that reads
//!   slowly is waited for (the echo blocks; it is not idle, and it is not
//!   dropped).
//! - A client that sends nothing for the idle timeout (default 60s;
//!   `300ms`, `2s`, `1m`) is closed: a FIN, then its own close awaited.
//! - SIGTERM (or SIGINT): no new connections; every client gets a FIN
//!   (never a reset: what it sent is read first), the service waits for
//!   each to close (at most the drain timeout, default 5s) and exits 0.
//! - It prints `echo-service: listening on ADDR` once it accepts.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;

struct Config {
    port: u16,
    idle: Duration,
    drain: Duration,
}

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("echo-service: {e}");
            eprintln!(
                "usage: echo-service [--port PORT] [--idle-timeout DURATION] [--drain-timeout DURATION]"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime.map(|rt| rt.block_on(serve(config))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => {
            eprintln!("echo-service: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts until SIGTERM or SIGINT, then lets every connection end.
async fn serve(config: Config) -> std::io::Result<()> {
    let addr = SocketAddr::from(([0, 0, 0, 0], config.port));
    let listener = TcpListener::bind(addr).await?;
    println!("echo-service: listening on {}", listener.local_addr()?);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (stop, stopped) = watch::channel(false);
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                clients.spawn(echo(stream, config.idle, config.drain, stopped.clone()));
            }
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    // No new connections from here on; then every client is told.
    drop(listener);
    let _ = stop.send(true);
    while clients.join_next().await.is_some() {}
    Ok(())
}

/// Echoes until the client closes, goes idle, or the service stops; then
/// closes gracefully.
async fn echo(
    mut stream: TcpStream,
    idle: Duration,
    drain: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                // The client closed (or reset): so do we.
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    // A slow reader holds this write up: not idle, and
                    // not dropped; only a stop ends the wait.
                    tokio::select! {
                        written = stream.write_all(&buf[..n]) => if written.is_err() { return },
                        _ = stop.changed() => break,
                    }
                }
            },
            _ = tokio::time::sleep(idle) => break,
            _ = stop.changed() => break,
        }
    }
    close(stream, drain, &mut buf).await;
}

/// A FIN (shutdown of our side), then whatever the client still sends is
/// read until it closes too (at most `drain`), so the kernel never has
/// unread data to answer with a reset when the socket goes.
async fn close(mut stream: TcpStream, drain: Duration, buf: &mut [u8]) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(drain, async {
        while matches!(stream.read(buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut config = Config {
        port: 7,
        idle: Duration::from_secs(60),
        drain: Duration::from_secs(5),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                config.port = v.parse().map_err(|_| format!("--port {v}: not a port"))?;
            }
            "--idle-timeout" => config.idle = duration(&value()?)?,
            "--drain-timeout" => config.drain = duration(&value()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(config)
}

/// `300ms`, `2s`, `1m`.
fn duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s}: not a duration (300ms, 2s, 1m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s}: not a duration (300ms, 2s, 1m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_flags() {
        assert_eq!(duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(duration("2s"), Ok(Duration::from_secs(2)));
        assert!(duration("2h").is_err() && duration("s").is_err());
        let c = parse(
            ["--port", "11111", "--idle-timeout", "1s"]
                .map(String::from)
                .into_iter(),
        )
        .unwrap();
        assert_eq!((c.port, c.idle), (11111, Duration::from_secs(1)));
        assert!(parse(["--port"].map(String::from).into_iter()).is_err());
    }
}
