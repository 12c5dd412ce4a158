//! Says what to install when libpcap's development files are missing,
//! instead of leaving the pcap crate's build or the linker to fail obscurely.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let pc = std::process::Command::new("pkg-config")
        .args(["--exists", "libpcap"])
        .status()
        .is_ok_and(|s| s.success());
    let so = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ]
    .iter()
    .any(|d| Path::new(d).join("libpcap.so").exists());
    if !pc && !so && std::env::var_os("LIBPCAP_LIBDIR").is_none() {
        println!("cargo:warning=libpcap's development files are missing: install libpcap-dev (apt-get install -y libpcap-dev; `make deps` or ci/install-deps does it)");
        eprintln!("libpcap not found: install libpcap-dev (apt-get install -y libpcap-dev), or set LIBPCAP_LIBDIR");
        std::process::exit(1);
    }
}
