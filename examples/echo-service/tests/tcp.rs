//! The service's TCP behaviour, case by case (tcp-cases/*.case): each case
//! starts this package's `echo-service` in a network namespace of its own
//! and holds what the kernel shows against the case.

fn main() -> std::process::ExitCode {
    tcplab::Runner::new("tcp-cases")
        // `server $ echo-service ...` in a case runs the binary cargo just
        // built for this test, not one on PATH.
        .program("echo-service", env!("CARGO_BIN_EXE_echo-service"))
        .main()
}
