//! End-to-end: `minifleet watch` against the embedded sandbox over loopback, which pushes its
//! audit verdicts to the daemon. Every wait is bounded; the daemon is killed if a test fails.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{App, Daemon, PATIENCE, TestFleet, app_plan, code, http_get, text};
use serde_json::Value;

fn is(line: &Value, message: &str) -> bool {
    line["message"] == message
}

fn field<'a>(line: &'a Value, name: &str) -> &'a str {
    line[name].as_str().unwrap_or_default()
}

fn at(line: &Value) -> SystemTime {
    humantime::parse_rfc3339_weak(field(line, "timestamp")).expect("a log timestamp")
}

/// Polls `status -o json` (asked of the daemon, which holds the store) until `pred` holds.
fn wait_status(fleet: &TestFleet, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let out = fleet.run(&["status", "-o", "json"]);
        if code(&out) == 0 {
            let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
            if pred(&status) {
                return status;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "status never {what}: {status}"
            );
        } else {
            assert!(
                started.elapsed() < PATIENCE,
                "status failed: {}",
                text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn live_starts(status: &Value, app: &str, version: &str) -> bool {
    let row = app_plan(status, app);
    row["state"] == "in_sync" && common::live_text(row).starts_with(version)
}

/// Replaces the fleet file as editors do: write a temporary file, rename it over.
fn atomic_save(fleet: &TestFleet, text: &str) {
    let temp = fleet.dir().join(".fleet.yaml.tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, fleet.path()).unwrap();
}

fn two_apps() -> Vec<App> {
    vec![
        App::new("tea-house", "wx1111111111111111"),
        App::new("noodle-bar", "wx2222222222222222"),
    ]
}

#[test]
fn edits_on_disk_are_applied_and_an_invalid_one_keeps_the_last_good_fleet() {
    let fleet = TestFleet::new();
    fleet.write(&two_apps());
    let daemon = Daemon::start(&fleet, &[]);
    wait_status(&fleet, "converged", |s| {
        live_starts(s, "tea-house", "1.0.0") && live_starts(s, "noodle-bar", "1.0.0")
    });
    // `status` tells where its rows come from.
    let out = fleet.run(&["status"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds the store"),
        "{}",
        text(&out)
    );

    // An editor's atomic save bumping one app: only that app is planned again.
    let yaml = std::fs::read_to_string(fleet.path()).unwrap();
    let bumped = yaml.replacen("version: 1.0.0", "version: 1.0.1", 1);
    atomic_save(&fleet, &bumped);
    wait_status(&fleet, "tea-house at 1.0.1", |s| {
        live_starts(s, "tea-house", "1.0.1")
    });
    let reloaded = daemon.lines(|l| is(l, "pass started") && field(l, "trigger") == "reload");
    assert_eq!(reloaded.len(), 1, "{}", daemon.log_text());
    assert_eq!(field(&reloaded[0], "app"), "tea-house");

    // An invalid edit: every error is logged, a metric is set, the last good fleet runs on.
    atomic_save(
        &fleet,
        &format!("{bumped}  - name: broken\n    gray: 300\n"),
    );
    daemon.wait_log("about the invalid fleet", |l| {
        is(l, "invalid fleet file; keeping the last good fleet")
    });
    let (status, metrics) = daemon.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("\nminifleet_fleet_valid 0\n"), "{metrics}");
    assert!(
        metrics.contains("\nminifleet_fleet_reload_failures_total 1\n"),
        "{metrics}"
    );
    assert_eq!(
        daemon.get("/readyz").0,
        200,
        "the last good fleet is loaded"
    );
    // (`status` refuses the invalid file; the daemon's API still serves the last good fleet.)
    let (status, body) = daemon.get("/api/v1/apps");
    assert_eq!(status, 200, "{body}");
    let apps: Value = serde_json::from_str(&body).unwrap();
    let rows = apps["apps"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["tea-house", "noodle-bar"]);
    assert!(rows.iter().all(|r| r["state"] == "in_sync"), "{apps}");

    // Fixing the file (and bumping the other app) is picked up again.
    atomic_save(&fleet, &bumped.replace("version: 1.0.0", "version: 1.0.2"));
    wait_status(&fleet, "noodle-bar at 1.0.2", |s| {
        live_starts(s, "noodle-bar", "1.0.2") && live_starts(s, "tea-house", "1.0.1")
    });
    assert!(
        daemon
            .get("/metrics")
            .1
            .contains("\nminifleet_fleet_valid 1\n")
    );

    // `history` asks the daemon too, JSON included.
    let out = fleet.run(&["history", "noodle-bar", "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let commits = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "commit" && e["app"] == "noodle-bar")
        .count();
    assert_eq!(commits, 2, "{history}");

    let (code, logs) = daemon.terminate();
    assert_eq!(code, 0, "{logs}");
    // The store is free again: `status` reads it, and the daemon's address is gone.
    assert!(!fleet.store().join("daemon.addr").exists());
    let out = fleet.run(&["status"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("holds the store"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_audit_push_starts_the_apps_pass_within_a_second() {
    let fleet = TestFleet::new();
    fleet.write(&two_apps()[..1]);
    // Polls would come only after a minute: the push is what moves the app on.
    let daemon = Daemon::start(&fleet, &["--audit-poll", "60s"]);
    let pushed = daemon.wait_log("about the audit push", |l| is(l, "audit event pushed"));
    let pass = daemon.wait_log("of a pass triggered by the push", |l| {
        is(l, "pass started") && field(l, "trigger") == "push"
    });
    assert_eq!(field(&pass, "app"), "tea-house");
    let delay = at(&pass).duration_since(at(&pushed)).unwrap_or_default();
    assert!(
        delay < Duration::from_secs(1),
        "the pass began {delay:?} after the push"
    );
    daemon.wait_log("of the release", |l| {
        is(l, "action applied") && field(l, "action") == "release"
    });
    wait_status(&fleet, "in sync", |s| live_starts(s, "tea-house", "1.0.0"));

    let (status, body) = daemon.get("/readyz");
    assert_eq!((status, body.as_str()), (200, "ready"));
    let (status, metrics) = daemon.get("/metrics");
    assert_eq!(status, 200);
    let families = common::openmetrics::check(&metrics);
    for (family, kind) in [
        ("minifleet_apps", "gauge"),
        ("minifleet_actions", "counter"),
        ("minifleet_api_errors", "counter"),
        ("minifleet_passes", "counter"),
        ("minifleet_pass_duration_seconds", "histogram"),
        ("minifleet_fleet_last_load_timestamp_seconds", "gauge"),
        ("minifleet_fleet_valid", "gauge"),
    ] {
        assert!(
            families.iter().any(|(f, k)| f == family && k == kind),
            "no {kind} {family}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("minifleet_passes_total{trigger=\"push\"} "),
        "{metrics}"
    );
    assert!(
        metrics.contains("minifleet_actions_total{kind=\"release\",result=\"ok\"} 1\n"),
        "{metrics}"
    );
    assert_eq!(daemon.terminate().0, 0);
}

#[test]
fn sigterm_while_applying_leaves_nothing_unsettled() {
    let fleet = TestFleet::new();
    fleet.write(&[
        App::new("tea-house", "wx1111111111111111"),
        App::new("noodle-bar", "wx2222222222222222"),
        App::new("dim-sum", "wx3333333333333333"),
        App::new("hot-pot", "wx4444444444444444"),
    ]);
    let daemon = Daemon::start(&fleet, &["--concurrency", "2"]);
    daemon.wait_log("of a first commit", |l| {
        is(l, "action applied") && field(l, "action") == "commit"
    });
    let (code, logs) = daemon.terminate();
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("\"message\":\"stopped\""), "{logs}");
    // The stop came mid-way: no new pass started, so some apps were never committed.
    let commits = logs.matches("\"action\":\"commit\"").count();
    assert!(
        (1..4).contains(&commits),
        "{commits} commits before the stop:\n{logs}"
    );

    {
        let store = minifleet::store::Store::open(&fleet.store()).expect("the store is free");
        let open = store.unsettled_intents().unwrap();
        assert!(open.is_empty(), "unsettled after SIGTERM: {open:?}");
    }
    // A restart converges without committing anything twice.
    fleet.converge();
    let out = fleet.run(&["history", "-o", "json"]);
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    for app in ["tea-house", "noodle-bar", "dim-sum", "hot-pot"] {
        let commits = history["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["app"] == app && e["what"] == "commit" && e["result"] == "ok")
            .count();
        assert_eq!(commits, 1, "{app} committed {commits} times: {history}");
    }
}

#[test]
fn serve_stops_cleanly_on_sigterm_and_ctrl_c_releasing_the_store() {
    let fleet = TestFleet::new();
    fleet.write(&two_apps());
    let lock = fleet.store().join("LOCK.json");
    for signal in ["TERM", "INT"] {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
            .arg("-f")
            .arg(fleet.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("MINIFLEET_STORE")
            .env_remove("MINIFLEET_FLEET")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start minifleet serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the first stdout line");
        let url = first
            .strip_prefix("serving on ")
            .and_then(|rest| rest.split(": ").next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        assert_eq!(http_get(&url, "/healthz"), (200, "ok".to_string()));
        assert!(lock.exists(), "serve holds the store");
        let exit = common::stop_with(&mut child, signal);
        assert_eq!(exit, Some(0), "SIG{signal} exits 0");
        assert!(!lock.exists(), "SIG{signal} releases the lock");
        let next = fleet.run(&["plan"]);
        let all = text(&next);
        assert_eq!(code(&next), 0, "the store is free at once: {all}");
        assert!(
            !all.contains("took over"),
            "no stale lock to take over: {all}"
        );
    }
}

#[test]
fn a_watch_killed_right_after_a_release_keeps_the_release_in_the_embedded_sandbox() {
    let fleet = TestFleet::new();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    let mut daemon = Daemon::start(&fleet, &[]);
    // The release is the pass's last call: nothing of the engine's flushes the store after it.
    daemon.wait_log("of the release", |l| {
        is(l, "action applied") && field(l, "action") == "release"
    });
    daemon.child.kill().expect("SIGKILL the daemon");
    daemon.child.wait().expect("reap the daemon");
    // What the sandbox answered must be what it finds on restart.
    let store = minifleet::store::Store::open(&fleet.store()).expect("the store is free");
    let spec = minifleet::fleet::SandboxSpec::default();
    let sim =
        minifleet::sandbox::wechat::Sim::new(&spec, minifleet::sandbox::Persist::Store(store))
            .expect("the sandbox's state loads");
    let app = sim.app_state("wx1111111111111111").expect("the app");
    assert!(
        app.live.is_some(),
        "the answered release was rolled back by the kill"
    );
}

#[test]
fn watch_runs_against_a_standalone_sandbox_at_sandbox_url() {
    // The standalone sandbox runs on its own runtime, as `minifleet sandbox` would.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let spec = minifleet::fleet::SandboxSpec {
        audit_delay_ms: 300,
        privacy_scan_ms: 100,
        ..minifleet::fleet::SandboxSpec::default()
    };
    let handle = runtime
        .block_on(minifleet::sandbox::start(
            "127.0.0.1:0".parse().unwrap(),
            &spec,
            minifleet::sandbox::Persist::Memory,
        ))
        .expect("the standalone sandbox starts");
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", handle.base_url());
    fleet.write(&[
        App::new("tea-house", "wx1111111111111111"),
        App::alipay("rice-shop", "2021004100000001"),
    ]);
    let daemon = Daemon::start(&fleet, &[]);
    let started = Instant::now();
    loop {
        let wechat_live = handle
            .wechat()
            .app_state("wx1111111111111111")
            .is_some_and(|a| a.live.is_some());
        let alipay_live = handle
            .accepted()
            .iter()
            .any(|r| r.call == "alipay.open.mini.version.online");
        if wechat_live && alipay_live {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "watch did not release on the sandbox at `sandbox.url` (wechat {wechat_live}, alipay {alipay_live}):\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(daemon);
    let commits = handle
        .accepted()
        .iter()
        .filter(|r| r.call == "wxa/commit")
        .count();
    assert_eq!(commits, 1, "one commit, on the standalone sandbox");
    runtime.block_on(handle.stop()).expect("the sandbox stops");
}

/// The checker `/metrics` is held to fails on what is not OpenMetrics text.
#[test]
fn the_openmetrics_checker_refuses_malformed_text() {
    let good = "# HELP a_b Help with \\\\ and \\n.\n# TYPE a_b counter\na_b_total{kind=\"x\\\"y\",result=\"ok\"} 1\n\
                # TYPE h_seconds histogram\n# UNIT h_seconds seconds\nh_seconds_sum 0.3\nh_seconds_count 1\n\
                h_seconds_bucket{le=\"0.5\"} 1\nh_seconds_bucket{le=\"+Inf\"} 1\n# EOF\n";
    assert_eq!(
        common::openmetrics::check(good),
        [
            ("a_b".to_string(), "counter".to_string()),
            ("h_seconds".to_string(), "histogram".to_string())
        ]
    );
    for (why, text) in [
        ("no EOF", "# TYPE a gauge\na 1\n"),
        ("text after EOF", "# TYPE a gauge\na 1\n# EOF\na 2\n"),
        ("a sample without TYPE", "a 1\n# EOF\n"),
        (
            "a sample before its TYPE",
            "# HELP a A.\na 1\n# TYPE a gauge\n# EOF\n",
        ),
        (
            "a family twice",
            "# TYPE a gauge\na 1\n# TYPE a gauge\na 2\n# EOF\n",
        ),
        (
            "two TYPEs",
            "# TYPE a gauge\n# TYPE a counter\na 1\n# EOF\n",
        ),
        (
            "interleaved families",
            "# TYPE a gauge\n# TYPE b gauge\na 1\n# EOF\n",
        ),
        ("an unknown type", "# TYPE a number\na 1\n# EOF\n"),
        ("a counter without _total", "# TYPE a counter\na 1\n# EOF\n"),
        (
            "a counter family named _total",
            "# TYPE a_total counter\na_total_total 1\n# EOF\n",
        ),
        ("a blank line", "# TYPE a gauge\n\na 1\n# EOF\n"),
        ("no value", "# TYPE a gauge\na\n# EOF\n"),
        ("a bad value", "# TYPE a gauge\na one\n# EOF\n"),
        ("text after the value", "# TYPE a gauge\na 1 2 3\n# EOF\n"),
        ("unclosed labels", "# TYPE a gauge\na{x=\"1\" 1\n# EOF\n"),
        ("a bad escape", "# TYPE a gauge\na{x=\"\\t\"} 1\n# EOF\n"),
        (
            "a label twice",
            "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n# EOF\n",
        ),
        (
            "a bad label name",
            "# TYPE a gauge\na{x-y=\"1\"} 1\n# EOF\n",
        ),
        (
            "a unit not in the name",
            "# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF\n",
        ),
        (
            "a bucket without le",
            "# TYPE h histogram\nh_count 0\nh_bucket 0\n# EOF\n",
        ),
        (
            "buckets not cumulative",
            "# TYPE h histogram\nh_count 1\nh_bucket{le=\"1.0\"} 2\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
        ),
        (
            "+Inf is not the count",
            "# TYPE h histogram\nh_count 2\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
        ),
        (
            "no +Inf bucket",
            "# TYPE h histogram\nh_count 1\nh_bucket{le=\"1.0\"} 1\n# EOF\n",
        ),
    ] {
        let checked = std::panic::catch_unwind(|| common::openmetrics::check(text));
        assert!(checked.is_err(), "{why} passed:\n{text}");
    }
}
