//! The daemon's HTTP API end to end over loopback: tokens refused and accepted, the plan of a
//! proposed fleet file equal to the local dry run on the same store, bad uploads refused with
//! nothing changed, passes on demand, the event stream, and the CLI asking the daemon.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{App, Daemon, PATIENCE, TestFleet, code, spawn_sandbox, text};
use serde_json::Value;

const READ: &str = "read-token-0123456789";
const ADMIN: &str = "admin-token-9876543210";

/// `watch` on `fleet` with the API's read and admin tokens.
fn with_tokens(fleet: &TestFleet) -> Daemon {
    Daemon::start_with_env(
        fleet,
        &[
            "--resync",
            "1h",
            "--read-token",
            "${env:API_READ}",
            "--admin-token",
            "${env:API_ADMIN}",
        ],
        &[("API_READ", READ), ("API_ADMIN", ADMIN)],
    )
}

/// Waits until the daemon's `apps` are all in sync (asking the API with `token`).
fn converged(daemon: &Daemon, token: Option<&str>, apps: usize) {
    let started = Instant::now();
    loop {
        let (status, body) = request(&daemon.url, "GET", "/api/v1/apps", token, &[]);
        if status == 200 {
            let doc: Value = serde_json::from_str(&body).unwrap();
            let rows = doc["apps"].as_array().unwrap();
            if rows.len() == apps && rows.iter().all(|r| r["state"] == "in_sync") {
                return;
            }
        }
        assert!(started.elapsed() < PATIENCE, "never converged: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One HTTP/1.1 request with a bearer token, if any: the status and the body.
fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("Authorization", b))
        .into_iter()
        .collect();
    let (status, _, body) = common::http(base, method, path, &headers, body);
    (status, body)
}

fn minifleet(fleet: &TestFleet, args: &[&str]) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(args)
        .env_remove("MINIFLEET_STORE")
        .env_remove("MINIFLEET_SERVER")
        .env_remove("MINIFLEET_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn apps() -> Vec<App> {
    vec![
        App::new("tea-house", "wx1111111111111111"),
        App::alipay("rice-shop", "2021004100000001"),
    ]
}

#[test]
fn tokens_are_refused_and_accepted_by_kind() {
    let fleet = TestFleet::new();
    fleet.write(&apps());
    let daemon = with_tokens(&fleet);
    converged(&daemon, Some(READ), 2);

    let (status, body) = request(&daemon.url, "GET", "/api/v1/apps", None, &[]);
    assert_eq!(status, 401, "no token: {body}");
    let refusal: Value = serde_json::from_str(&body).unwrap();
    assert!(
        refusal["help"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    let (status, _) = request(&daemon.url, "GET", "/api/v1/apps", Some("guess"), &[]);
    assert_eq!(status, 401, "an unknown token");
    for path in [
        "/api/v1/apps",
        "/api/v1/apps/tea-house",
        "/api/v1/history",
        "/api/v1/plan",
    ] {
        let (status, body) = request(&daemon.url, "GET", path, Some(READ), &[]);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            !body.contains(READ) && !body.contains(ADMIN),
            "{path} shows a token"
        );
    }
    let pass = br#"{"apps": ["tea-house"]}"#;
    let (status, body) = request(&daemon.url, "POST", "/api/v1/passes", Some(READ), pass);
    assert_eq!(status, 403, "the read token cannot pass apps: {body}");
    let (status, body) = request(&daemon.url, "POST", "/api/v1/passes", Some(ADMIN), pass);
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["passing"],
        serde_json::json!(["tea-house"])
    );
    let (status, _) = request(&daemon.url, "GET", "/api/v1/apps", Some(ADMIN), &[]);
    assert_eq!(status, 200, "the admin token reads too");
    let (status, body) = request(
        &daemon.url,
        "POST",
        "/api/v1/passes",
        Some(ADMIN),
        br#"{"apps": ["nope"]}"#,
    );
    assert_eq!(status, 404, "{body}");

    // One app, filters, paged history.
    let (_, body) = request(
        &daemon.url,
        "GET",
        "/api/v1/apps?platform=alipay",
        Some(READ),
        &[],
    );
    let names: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["rice-shop"]);
    let (_, body) = request(
        &daemon.url,
        "GET",
        "/api/v1/apps/tea-house",
        Some(READ),
        &[],
    );
    let one: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(one["app"]["state"], "in_sync", "{one}");
    assert_eq!(one["wanted"]["version"], "1.0.0");
    let (_, body) = request(
        &daemon.url,
        "GET",
        "/api/v1/apps/tea-house/history?limit=2",
        Some(READ),
        &[],
    );
    let page: Value = serde_json::from_str(&body).unwrap();
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 3, "{page}");
    let cursor = page["next_before"].as_u64().expect("more pages");
    let (_, body) = request(
        &daemon.url,
        "GET",
        &format!("/api/v1/apps/tea-house/history?limit=1000&before={cursor}"),
        Some(READ),
        &[],
    );
    let older: Value = serde_json::from_str(&body).unwrap();
    assert!(
        older["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["at_ms"].as_u64().unwrap() < cursor)
    );
    assert!(older["next_before"].is_null(), "the last page");

    // The CLI with --server and the token from the environment: status through the API.
    let out = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["--server", &daemon.url, "status", "-o", "json"])
        .env("MINIFLEET_TOKEN", READ)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows["apps"].as_array().unwrap().len(), 2);
    let out = minifleet(&fleet, &["--server", &daemon.url, "status"]);
    assert_eq!(code(&out), 1, "no token: refused");
    assert!(text(&out).contains("401"), "{}", text(&out));
}

#[test]
fn without_tokens_only_loopback_is_answered() {
    let fleet = TestFleet::new();
    fleet.write(&apps()[..1]);
    let daemon = Daemon::start(&fleet, &[]);
    let (status, _) = request(&daemon.url, "GET", "/api/v1/apps", None, &[]);
    assert_eq!(status, 200, "loopback needs no token");
}

/// The plan of a proposed file, asked of the daemon (by --server and by finding it beside the
/// store), is the local dry run's on the same store, in text and JSON; a proposal changes nothing.
#[test]
fn the_remote_plan_of_a_proposed_file_equals_the_local_dry_run() {
    let sandbox = spawn_sandbox(&[]);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    fleet.write(&apps());
    fleet.converge();
    let proposed = TestFleet::new();
    let bumped: Vec<App> = apps()
        .into_iter()
        .map(|a| App {
            version: "1.1.0",
            ..a
        })
        .collect();
    let mut proposed_fleet = proposed;
    proposed_fleet.sandbox_extra = fleet.sandbox_extra.clone();
    proposed_fleet.write(&bumped);
    let store = fleet.store();
    let store = store.to_str().unwrap();
    let local_json = minifleet(
        &proposed_fleet,
        &[
            "--store",
            store,
            "plan",
            "-o",
            "json",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(code(&local_json), 2, "{}", text(&local_json));
    let local_text = minifleet(
        &proposed_fleet,
        &["--store", store, "plan", "--detailed-exitcode"],
    );
    assert_eq!(code(&local_text), 2);
    let daemon = Daemon::start(&fleet, &[]);
    converged(&daemon, None, 2);
    let calls_before = sandbox_calls(&sandbox.url);
    let history_before = request(&daemon.url, "GET", "/api/v1/history?limit=1000", None, &[]).1;
    for how in [
        vec!["--server", daemon.url.as_str()],
        vec!["--store", store],
    ] {
        let mut json_args = how.clone();
        json_args.extend(["plan", "-o", "json", "--detailed-exitcode"]);
        let remote_json = minifleet(&proposed_fleet, &json_args);
        assert_eq!(code(&remote_json), 2, "{how:?}: {}", text(&remote_json));
        let (a, b): (Value, Value) = (
            serde_json::from_slice(&local_json.stdout).unwrap(),
            serde_json::from_slice(&remote_json.stdout).unwrap(),
        );
        assert_eq!(a, b, "{how:?}: the JSON plans differ");
        let mut text_args = how.clone();
        text_args.extend(["plan", "--detailed-exitcode"]);
        let remote_text = minifleet(&proposed_fleet, &text_args);
        assert_eq!(code(&remote_text), 2);
        assert_eq!(
            String::from_utf8_lossy(&local_text.stdout),
            String::from_utf8_lossy(&remote_text.stdout),
            "{how:?}: the text plans differ"
        );
        assert!(
            String::from_utf8_lossy(&remote_text.stderr).contains("asking"),
            "{how:?}"
        );
    }
    // Nothing was applied or recorded: no changing call reached the sandbox, history is as it was.
    assert_eq!(
        sandbox_calls(&sandbox.url),
        calls_before,
        "a proposal made changing calls"
    );
    let history_after = request(&daemon.url, "GET", "/api/v1/history?limit=1000", None, &[]).1;
    assert_eq!(history_before, history_after);
    // `reconcile` beside the daemon is refused with how to pass apps through it.
    let out = minifleet(&fleet, &["reconcile"]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("/api/v1/passes"), "{}", text(&out));
}

/// The changing calls the standalone sandbox answered, per platform.
fn sandbox_calls(url: &str) -> Vec<u64> {
    let (status, body) = request(url, "GET", "/sandbox/calls", None, &[]);
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let platforms = doc["platforms"].as_object().expect("calls by platform");
    assert!(
        platforms.contains_key("wechat") && platforms.contains_key("alipay"),
        "{body}"
    );
    platforms
        .values()
        .map(|p| p["mutating"].as_u64().expect("a count"))
        .collect()
}

#[test]
fn malformed_and_oversized_uploads_get_4xx_and_change_nothing() {
    let fleet = TestFleet::new();
    fleet.write(&apps());
    let daemon = with_tokens(&fleet);
    converged(&daemon, Some(READ), 2);
    let before = request(
        &daemon.url,
        "GET",
        "/api/v1/history?limit=1000",
        Some(READ),
        &[],
    )
    .1;

    let (status, body) = request(
        &daemon.url,
        "POST",
        "/api/v1/plan",
        Some(READ),
        b"version: 1\napps: [ {",
    );
    assert_eq!(status, 422, "{body}");
    let problems: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problems["valid"], false);
    assert!(!problems["errors"].as_array().unwrap().is_empty());
    let mut invalid = std::fs::read_to_string(fleet.path()).unwrap();
    invalid.push_str("  - name: broken\n    platform: wechat\n    appid: nope\n");
    let (status, body) = request(
        &daemon.url,
        "POST",
        "/api/v1/plan",
        Some(READ),
        invalid.as_bytes(),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("broken"), "the problem names the app: {body}");
    let (status, _) = request(
        &daemon.url,
        "POST",
        "/api/v1/plan",
        Some(READ),
        &[0xff, 0xfe, 0x00],
    );
    assert_eq!(status, 400, "not UTF-8");
    let huge = vec![b'#'; 5 << 20];
    let (status, body) = request(&daemon.url, "POST", "/api/v1/plan", Some(READ), &huge);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("KiB"), "{body}");
    let (status, _) = request(
        &daemon.url,
        "POST",
        "/api/v1/passes",
        Some(ADMIN),
        b"{not json",
    );
    assert_eq!(status, 400);

    let after = request(
        &daemon.url,
        "GET",
        "/api/v1/history?limit=1000",
        Some(READ),
        &[],
    )
    .1;
    assert_eq!(before, after, "refused uploads changed the history");
    converged(&daemon, Some(READ), 2);
}

/// The event stream carries a pass asked for through the API.
#[test]
fn the_event_stream_carries_a_pass_asked_for_through_the_api() {
    let fleet = TestFleet::new();
    fleet.write(&apps()[..1]);
    let daemon = with_tokens(&fleet);
    converged(&daemon, Some(READ), 1);
    let addr = daemon.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {READ}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    std::thread::sleep(Duration::from_millis(200));
    let (code, body) = request(
        &daemon.url,
        "POST",
        "/api/v1/passes",
        Some(ADMIN),
        br#"{"apps": ["tea-house"]}"#,
    );
    assert_eq!(code, 202, "{body}");
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("the stream ended: {seen:?}");
        }
        if let Some(data) = line.trim().strip_prefix("data:") {
            let event: Value = serde_json::from_str(data.trim()).unwrap();
            if event["app"]["name"] == "tea-house" && event["event"] == "observed" {
                break;
            }
            seen.push(event);
        }
        assert!(started.elapsed() < PATIENCE, "no observed event: {seen:?}");
    }
}

/// `auth wechat link` while the daemon holds the store: the daemon runs it (admin token only).
#[test]
fn auth_runs_in_the_daemon_while_it_holds_the_store() {
    let fleet = TestFleet::new();
    fleet.write(&apps());
    let daemon = with_tokens(&fleet);
    converged(&daemon, Some(READ), 2);
    let auth = |token: &str, extra: &[&str]| {
        let mut args = vec![
            "auth",
            "wechat",
            "link",
            "--redirect-uri",
            "https://ops.example.com/cb",
        ];
        args.extend_from_slice(extra);
        Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
            .arg("-f")
            .arg(fleet.path())
            .args(&args)
            .env_remove("MINIFLEET_STORE")
            .env_remove("MINIFLEET_SERVER")
            .env("MINIFLEET_TOKEN", token)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = auth(ADMIN, &["--app", "tea-house", "--mobile"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let link = String::from_utf8_lossy(&out.stdout);
    assert!(link.contains("pre_auth_code="), "{link}");
    assert!(
        link.contains("biz_appid=wx1111111111111111"),
        "--app went through: {link}"
    );
    assert!(
        link.contains("bindcomponent"),
        "--mobile went through: {link}"
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("holds the store"), "{said}");
    assert!(
        !said.contains("stops with this command"),
        "the daemon keeps serving: {said}"
    );
    let out = auth(READ, &[]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("403"), "{}", text(&out));
    let out = auth(ADMIN, &["--app", "nope"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("no WeChat app `nope`"),
        "{}",
        text(&out)
    );
}

/// The state of `app` in the daemon's rows.
fn row_state(daemon: &Daemon, app: &str) -> String {
    let (_, body) = request(&daemon.url, "GET", "/api/v1/apps", Some(READ), &[]);
    let doc: Value = serde_json::from_str(&body).unwrap();
    doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == app)
        .map(|r| r["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[test]
fn promote_opens_a_gate_in_the_running_daemon_which_passes_the_wave_at_once() {
    let fleet = TestFleet::new();
    fleet.write(&apps());
    // tea-house is the canary; rice-shop waits behind a manual gate.
    let yaml = std::fs::read_to_string(fleet.path()).unwrap().replacen(
        "  - name: tea-house\n",
        "  - name: tea-house\n    labels: { tier: canary }\n",
        1,
    );
    fleet.write_raw(&format!(
        "{yaml}rollout:\n  waves:\n    - {{ name: canary, match: {{ tier: canary }} }}\n    - {{ name: rest, max_update: 0 }}\n"
    ));
    let daemon = with_tokens(&fleet);
    let started = Instant::now();
    while row_state(&daemon, "tea-house") != "in_sync" {
        assert!(started.elapsed() < PATIENCE, "the canary never converged");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The gate holds: rice-shop has changes it may not start.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(row_state(&daemon, "rice-shop"), "changes");
    // The running plan says so as the next round would: no code step, the gate named.
    let (status, body) = request(&daemon.url, "GET", "/api/v1/plan", Some(READ), &[]);
    assert_eq!(status, 200, "{body}");
    let plan: Value = serde_json::from_str(&body).unwrap();
    let rice = common::app_plan(&plan, "rice-shop");
    let kinds: Vec<&str> = rice["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert!(!kinds.contains(&"commit"), "held at the gate: {rice}");
    assert!(rice["notes"].to_string().contains("promote"), "{rice}");
    assert_eq!(plan["rollout"]["waves"][1]["name"], "rest", "{plan}");
    // The web page shows the waves and the audit quota.
    let (status, page) = request(&daemon.url, "GET", "/", Some(READ), &[]);
    assert_eq!(status, 200, "{page}");
    let rollout = page
        .split("<h2>rollout</h2><pre>")
        .nth(1)
        .expect("a rollout section");
    assert!(
        rollout.contains("canary") && rollout.contains("rest"),
        "{rollout}"
    );
    assert!(
        rollout.contains("promote"),
        "the gate and what opens it: {rollout}"
    );
    assert!(page.contains("<h2>audit quota</h2><pre>wechat: "), "{page}");
    assert!(page.contains("left this month"), "{page}");
    let (status, body) = request(
        &daemon.url,
        "POST",
        "/api/v1/rollout/promote",
        Some(READ),
        b"",
    );
    assert_eq!(status, 403, "promoting needs the admin token: {body}");
    let (status, body) = request(
        &daemon.url,
        "POST",
        "/api/v1/rollout/resume",
        Some(ADMIN),
        b"",
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("no release is halted"), "{body}");

    let out = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["promote", "rest"])
        .env_remove("MINIFLEET_STORE")
        .env_remove("MINIFLEET_SERVER")
        .env("MINIFLEET_TOKEN", ADMIN)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("opened the gate of wave `rest` (1 app); the daemon passes them now"),
        "{}",
        text(&out)
    );
    // Passed at once (the resync is an hour): converged well within the patience.
    converged(&daemon, Some(READ), 2);
    let (_, metrics) = request(&daemon.url, "GET", "/metrics", None, &[]);
    assert!(
        metrics.contains("minifleet_rollout_held_apps{kind=\"gate\"} 0"),
        "{metrics}"
    );
    // The audit quota the page shows, as gauges: what WeChat said is left, nothing granted now.
    let left = metrics
        .lines()
        .find_map(|l| l.strip_prefix("minifleet_audit_quota_left{platform=\"wechat\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(left.is_some_and(|n| n > 0), "{metrics}");
    assert!(
        metrics.contains("minifleet_audit_quota_granted{platform=\"wechat\"} 0"),
        "{metrics}"
    );
    common::openmetrics::check(&metrics);
}

/// `qr` while the daemon holds the store: the daemon asks the platform (read token), the CLI
/// writes the image; Alipay's URL comes back as JSON; a read without a token is refused.
#[test]
fn the_experience_qr_code_comes_through_the_daemon() {
    let fleet = TestFleet::new();
    fleet.write(&apps());
    let daemon = with_tokens(&fleet);
    converged(&daemon, Some(READ), 2);
    let (status, _) = request(&daemon.url, "GET", "/api/v1/apps/tea-house/qr", None, &[]);
    assert_eq!(status, 401, "a read needs the read token");
    let (status, body) = request(
        &daemon.url,
        "GET",
        "/api/v1/apps/rice-shop/qr",
        Some(READ),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["url"].as_str().unwrap().starts_with("https://"),
        "{body}"
    );
    let (status, body) = request(&daemon.url, "GET", "/api/v1/apps/nope/qr", Some(READ), &[]);
    assert_eq!(status, 404, "{body}");

    let image = fleet.dir().join("tea.jpg");
    let out = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["qr", "tea-house", "--path", "pages/a?b=1", "--out"])
        .arg(&image)
        .env_remove("MINIFLEET_STORE")
        .env_remove("MINIFLEET_SERVER")
        .env("MINIFLEET_TOKEN", READ)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("holds the store"), "{}", text(&out));
    let bytes = std::fs::read(&image).expect("written");
    assert_eq!(bytes[..2], [0xFF, 0xD8]);
    assert!(String::from_utf8_lossy(&bytes).contains("pages/a?b=1"));
}

/// The web page signs in with the API's tokens; its cookie may read, never act.
#[test]
fn the_web_page_signs_in_with_the_read_token_and_its_cookie_cannot_act() {
    let fleet = TestFleet::new();
    fleet.write(&apps());
    let daemon = with_tokens(&fleet);
    converged(&daemon, Some(READ), 2);
    let (status, head, _) = common::http(&daemon.url, "GET", "/", &[], b"");
    assert_eq!(status, 303, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("location: /login"),
        "{head}"
    );
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _, body) =
        common::http(&daemon.url, "POST", "/login", &form, b"token=not-a-token");
    assert_eq!(status, 401);
    assert!(body.contains("not one of this daemon"), "{body}");
    let (status, head, _) = common::http(
        &daemon.url,
        "POST",
        "/login",
        &form,
        format!("token={READ}").as_bytes(),
    );
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .expect("a cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let jar = cookie.split(';').next().unwrap().to_owned();
    let (status, _, page) = common::http(&daemon.url, "GET", "/", &[("Cookie", &jar)], b"");
    assert_eq!(status, 200);
    assert!(
        page.contains("tea-house") && page.contains("rice-shop"),
        "{page}"
    );
    let (status, _, page) = common::http(
        &daemon.url,
        "GET",
        "/apps/tea-house",
        &[("Cookie", &jar)],
        b"",
    );
    assert_eq!(status, 200);
    assert!(page.contains("id=\"plan\""), "{page}");
    assert!(
        !page.contains(READ) && !page.contains(ADMIN),
        "no token on the page"
    );
    let (status, _, _) = common::http(&daemon.url, "GET", "/api/v1/apps", &[("Cookie", &jar)], b"");
    assert_eq!(status, 200, "the cookie reads the API too");
    let (status, _, _) = common::http(
        &daemon.url,
        "POST",
        "/api/v1/passes",
        &[("Cookie", &jar), ("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(status, 401, "a cookie never acts");
}

/// A proposal going back to the release before is planned as a rollback, as a local plan would:
/// the daemon's last observation was read for the build it wanted then (it had no reason to read
/// the rollback history), so it proves nothing for another wanted build.
#[test]
fn a_proposal_back_to_the_previous_release_plans_a_rollback() {
    let fleet = TestFleet::new();
    let mut app = App::new("tea-house", "wx1111111111111111");
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    app.version = "1.1.0";
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    let daemon = Daemon::start(&fleet, &[]);
    converged(&daemon, None, 1);
    let mut proposed = TestFleet::new();
    proposed.sandbox_extra = fleet.sandbox_extra.clone();
    app.version = "1.0.0";
    proposed.write(std::slice::from_ref(&app));
    let out = minifleet(
        &proposed,
        &[
            "--server",
            &daemon.url,
            "plan",
            "-o",
            "json",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        common::step_kinds(&plan, "tea-house"),
        ["rollback"],
        "{plan}"
    );
}
