//! The host namespace must come out of a run exactly as it went in: what
//! the runner reads of it before the first namespace and after the last
//! case, and what it says when something changed.

/// The host's two snapshots before the run, once taken: its links,
/// addresses, routes, qdiscs and ruleset, and its sysctls.
#[derive(Clone, Default)]
pub struct Before {
    links: std::sync::Arc<std::sync::OnceLock<Vec<String>>>,
    sysctls: std::sync::Arc<std::sync::OnceLock<Vec<String>>>,
}

/// The host namespace must come out of the run exactly as it went in: its
/// links, addresses, routes, qdiscs and ruleset are read while the run
/// starts up, before any namespace is made (`netns::GATE`); its sysctls
/// (five times slower to read) just before this process writes its first
/// sysctl (`sysctl::before_first_write`), by runs that write one.
pub fn host_before() -> Before {
    let before = Before::default();
    let taken = before.links.clone();
    crate::netns::GATE.until(std::thread::spawn(move || {
        let snap = crate::hostnet::links()
            .map_err(|e| e.context("cannot read the host's links, addresses and routes"))?;
        let _ = taken.set(snap);
        Ok(())
    }));
    let taken = before.sysctls.clone();
    crate::sysctl::before_first_write(move || {
        let _ = taken.set(crate::hostnet::sysctls());
    });
    before
}

/// Whether the host namespace came out of the run exactly as it went in;
/// says what changed when it did not. Its sysctls are read again only when
/// this process wrote a sysctl (in a lab namespace: `sysctl::write`); the
/// CI's ci/check-host-untouched reads them all around every suite.
pub fn host_unchanged(before: &Option<Before>) -> bool {
    let sysctls_too = crate::sysctl::writes() > 0;
    if let Err(e) = crate::netns::GATE.pass() {
        eprintln!("tcplab: {e}");
        return false;
    }
    let Some(before) = before.as_ref() else {
        return false;
    };
    let Some(links) = before.links.get() else {
        return false;
    };
    let sysctls = match before.sysctls.get() {
        Some(s) => s.as_slice(),
        None if sysctls_too => return false,
        None => &[],
    };
    let after = std::thread::scope(|s| {
        let sysctls = s.spawn(|| sysctls_too.then(crate::hostnet::sysctls));
        let links = crate::hostnet::links();
        (links, sysctls.join().ok().flatten())
    });
    match after {
        (Ok(after_links), after_sysctls) => {
            let mut changed = crate::hostnet::diff(links, &after_links);
            if let Some(after_sysctls) = after_sysctls {
                changed.extend(crate::hostnet::diff(sysctls, &after_sysctls));
            }
            if !changed.is_empty() {
                eprintln!("tcplab: the host namespace changed during the run (links, addresses, routes, qdiscs, ruleset or sysctls):");
                for l in &changed {
                    eprintln!("  {l}");
                }
            }
            changed.is_empty()
        }
        (Err(e), _) => {
            eprintln!(
                "tcplab: cannot read the host's links, addresses and routes after the run: {e}"
            );
            false
        }
    }
}
