//! A case that needs what the kernel lacks is skipped, with its reason, in
//! the run's output, its result file, its HTML report and its job summary;
//! the run still passes. Run as the user would: this runner on
//! cases/selftest/requires (a sysctl no kernel has, a kernel version far
//! in the future, and a case whose requirements hold with two forms of a
//! step, one for this kernel).

use libtest_mimic::Failed;
use tcplab::kernel::Kernel;
use tcplab::report::results;

use super::cases_dir;

pub fn a_case_needing_what_the_kernel_lacks_is_skipped_with_the_reason() -> Result<(), Failed> {
    let out = super::selftest::scratch_out().join("requires");
    let _ = std::fs::remove_dir_all(&out);
    let run = super::selftest::inner_runner(&out)?
        .env("TCPLAB_CASES", cases_dir().join("selftest/requires"))
        .output()
        .map_err(|e| format!("run the runner: {e}"))?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    let said = format!(
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        run.status.code()
    );
    let short = Kernel::running();
    let v = short.version;
    let rel = format!("{}.{}.{}", v.0, v.1, v.2);
    let sysctl = format!("needs sysctl net.ipv4.does_not_exist (kernel {rel} has none)");
    let future = format!("needs kernel 999.1 or later (this is {rel})");
    for want in [
        format!("tcplab: needs-missing-sysctl skipped: {sysctl}"),
        format!("tcplab: needs-future-kernel skipped: {future}"),
    ] {
        if !stderr.contains(&want) {
            return Err(format!("the run does not say `{want}`:\n{said}").into());
        }
    }
    if !run.status.success() || !stdout.contains("test result: ok. 1 passed; 0 failed; 2 ignored") {
        return Err(
            format!("two skipped cases and one passing must make a passing run:\n{said}").into(),
        );
    }
    let dir =
        std::fs::read_link(out.join("latest")).map_err(|e| format!("{}: {e}", out.display()))?;
    let rs = results::read_all(&out.join(dir)).map_err(|e| e.to_string())?;
    let of = |name: &str| rs.iter().find(|r| r.name == name);
    let skipped: Vec<(String, bool, Option<String>)> =
        ["needs-future-kernel", "needs-missing-sysctl"]
            .iter()
            .filter_map(|n| of(n))
            .map(|r| (r.name.clone(), r.passed, r.skipped.clone()))
            .collect();
    let want = vec![
        ("needs-future-kernel".to_string(), false, Some(future)),
        (
            "needs-missing-sysctl".to_string(),
            false,
            Some(sysctl.clone()),
        ),
    ];
    if skipped != want {
        return Err(format!("the result files say {skipped:?}, not {want:?}").into());
    }
    let log = of("kernel-forms")
        .map(|r| r.log.join("\n"))
        .unwrap_or_default();
    for want in [
        format!("kernel>=3.0: server $ true  (played: kernel {rel} is 3.0 or later)"),
        format!("kernel<3.0: server $ false  (skipped: needs a kernel before 3.0 (this is {rel}))"),
    ] {
        if !log.contains(&want) {
            return Err(format!("kernel-forms' steps log lacks `{want}`:\n{log}").into());
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).map_err(|e| e.to_string())?;
    let html = std::fs::read_to_string(out.join("index.html")).map_err(|e| e.to_string())?;
    let escaped = tcplab::report::html::escape(&sysctl);
    if !summary.contains("all 1 case passed, 2 skipped")
        || !summary.contains("skipped: needs sysctl net.ipv4.does\\_not\\_exist")
    {
        return Err(format!("the job summary does not show the skipped cases:\n{summary}").into());
    }
    if !html.contains("SKIPPED") || !html.contains(&escaped) {
        return Err("the HTML report does not show the skipped cases and why".into());
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
