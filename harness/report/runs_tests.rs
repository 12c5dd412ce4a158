use super::*;

fn scratch(what: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/tmp")
        .join(format!("runs-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn result(run: &str, name: &str, passed: bool, started: f64) -> CaseResult {
    CaseResult {
        run: run.into(),
        name: name.into(),
        file: format!("cases/{name}.case"),
        cases_dir: "cases".into(),
        passed,
        started,
        seconds: 0.5,
        failure: (!passed).then(|| format!("cases/{name}.case:3: packets differ")),
        ladder: "  |--- SYN --->|\n".into(),
        packets: vec![],
        log: vec![],
        pcap: Some(format!("{name}.pcap")),
        nc: "tcplab nc".into(),
        kernel: "6.18".into(),
        family: "IPv4".into(),
        tolerance: String::new(),
        states: vec![],
        skipped: None,
    }
}

/// What one process of a run does: write its captures and results.
fn play(root: &Path, id: &str, cases: &[(&str, bool)], t0: f64) -> Run {
    let run = Run::open(root, id).unwrap();
    for (i, (name, passed)) in cases.iter().enumerate() {
        std::fs::write(run.dir.join(format!("{name}.pcap")), b"pcap").unwrap();
        results::write(&run.dir, &result(id, name, *passed, t0 + i as f64)).unwrap();
    }
    run
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn run_ids_name_folders() {
    assert!(valid_id("87bba709-af0a-4391-8b01-c769df29a954"));
    assert!(valid_id("shard-1-of-2.x_y"));
    for bad in ["", "..", ".hidden", "a/b", "a b", "é"] {
        assert!(!valid_id(bad), "{bad:?}");
    }
}

/// Processes of one run (nextest: one case each) each assemble; the last
/// report holds every case, and the root points at that run.
#[test]
fn every_process_of_a_run_adds_to_one_report() {
    let root = scratch("one-run");
    let t0 = 1_700_000_000.0;
    let _a = play(&root, "run-a", &[("handshake", true)], t0);
    let first = assemble(&root, "run-a", KEEP).unwrap();
    assert_eq!(first.cases, 1);
    let _b = play(&root, "run-a", &[("teardown", false)], t0 + 10.0);
    let second = assemble(&root, "run-a", KEEP).unwrap();
    assert_eq!(second.cases, 2);
    let page = read(&second.run_page);
    assert!(page.contains("1 of 2 cases failed"), "{page}");
    assert!(page.contains("href=\"teardown.pcap\""));
    let latest = read(&second.latest_page);
    assert!(latest.contains("href=\"runs/run-a/teardown.pcap\""));
    assert!(latest.contains("This report holds run <code>run-a</code>"));
    assert_eq!(
        std::fs::read_link(root.join("latest")).unwrap(),
        Path::new("runs/run-a")
    );
    assert!(root.join("latest/handshake.pcap").is_file());
    let md = read(&root.join("summary.md"));
    assert!(md.contains("Run `run-a`"), "{md}");
    let xml = read(&root.join("runs/run-a").join(JUNIT));
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    // From the first start to the last end.
    assert!(md.contains("wall time 10.5 s"), "{md}");
    let _ = std::fs::remove_dir_all(&root);
}

/// Two runs at once in one root: each its own captures and report; the
/// root's index says which runs it holds.
#[test]
fn two_runs_keep_their_own_captures_and_the_index_lists_both() {
    let root = scratch("two-runs");
    let _a = play(&root, "run-a", &[("teardown", true)], 1_700_000_000.0);
    let _b = play(&root, "run-b", &[("teardown", false)], 1_700_000_001.0);
    assemble(&root, "run-a", KEEP).unwrap();
    let b = assemble(&root, "run-b", KEEP).unwrap();
    for id in ["run-a", "run-b"] {
        assert!(root.join("runs").join(id).join("teardown.pcap").is_file());
    }
    assert!(read(&root.join("runs/run-a/index.html")).contains("All 1 case passed"));
    let latest = read(&b.latest_page);
    assert!(
        latest.contains("href=\"runs/run-a/index.html\""),
        "{latest}"
    );
    assert!(latest.contains("href=\"runs/run-b/index.html\">run-b</a> (this page)"));
    let ids: Vec<String> = list(&root).into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["run-b", "run-a"]);
    let _ = std::fs::remove_dir_all(&root);
}

fn age(dir: &Path, secs: i64) {
    let t = nix::sys::time::TimeVal::new(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - secs,
        0,
    );
    nix::sys::stat::utimes(dir, &t, &t).unwrap();
}

#[test]
fn pruning_keeps_the_newest_fresh_and_held_runs() {
    let root = scratch("prune");
    let t0 = 1_700_000_000.0;
    for id in ["old-free", "old-held", "fresh"] {
        drop(play(&root, id, &[("data", true)], t0));
    }
    let held = Run::open(&root, "old-held").unwrap();
    age(&root.join("runs/old-free"), 3600);
    age(&root.join("runs/old-held"), 3600);
    drop(play(&root, "now", &[("data", true)], t0));
    let done = assemble(&root, "now", 1).unwrap();
    assert_eq!(done.pruned, ["old-free"]);
    for id in ["old-held", "fresh", "now"] {
        assert!(root.join("runs").join(id).is_dir(), "{id} was pruned");
    }
    drop(held);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_finished_one_process_run_is_pruned_after_seconds_not_minutes() {
    let root = scratch("prune-one");
    let t0 = 1_700_000_000.0;
    let (done_id, live_id, shared_id) = (
        "20261202-101318-4242",
        "20261202-101319-4243",
        "nextest-5f2c",
    );
    for id in [done_id, live_id, shared_id] {
        drop(play(&root, id, &[("data", true)], t0));
    }
    let live = Run::open(&root, live_id).unwrap();
    for id in [done_id, live_id, shared_id] {
        age(&root.join("runs").join(id), 60);
    }
    drop(play(&root, "now", &[("data", true)], t0));
    let done = assemble(&root, "now", 1).unwrap();
    assert_eq!(
        done.pruned,
        [done_id],
        "a minute-old run of one ended process goes; a held one and a shared id stay"
    );
    drop(live);
    let _ = std::fs::remove_dir_all(&root);
}

/// CI shards: output roots from several machines become one report with
/// every case, each capture under its run.
#[test]
fn shards_merge_into_one_report() {
    let base = scratch("merge");
    let (s1, s2) = (base.join("shard-1"), base.join("shard-2"));
    drop(play(
        &s1,
        "uuid-1",
        &[("data", true), ("teardown", true)],
        1_700_000_000.0,
    ));
    drop(play(
        &s2,
        "uuid-2",
        &[("handshake", false)],
        1_700_000_003.0,
    ));
    let out = base.join("merged");
    let merged = merge(&out, &[s1.clone(), s2.join("runs/uuid-2")]).unwrap();
    assert_eq!(merged.cases, 3);
    assert_eq!(merged.matrix, None, "no run of ci/kernels: no kernel table");
    let html = read(&merged.page);
    assert!(html.contains("This report holds 2 runs, merged"), "{html}");
    assert!(html.contains("1 of 3 cases failed"));
    for (id, case) in [
        ("uuid-1", "data"),
        ("uuid-1", "teardown"),
        ("uuid-2", "handshake"),
    ] {
        assert!(html.contains(&format!("href=\"runs/{id}/{case}.pcap\"")));
        assert!(out
            .join("runs")
            .join(id)
            .join(format!("{case}.pcap"))
            .is_file());
    }
    let md = read(&out.join("summary.md"));
    assert!(md.contains("2 runs merged: `uuid-1`, `uuid-2`"), "{md}");
    assert!(md.starts_with("## \u{274c} tcplab: 1 of 3 cases failed"));
    let xml = read(&out.join(JUNIT));
    assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
    let e = merge(&out, &[base.join("nothing")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither a run folder"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}
