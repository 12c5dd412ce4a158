//! `tcplab`: run, record and list folders of cases, merge runs, start a
//! case (`tcplab --help`; the library's `command` module).

fn main() -> std::process::ExitCode {
    tcplab::command::main()
}
