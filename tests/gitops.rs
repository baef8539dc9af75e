//! GitOps for real (issue 18): `watch --git` follows a branch of a local bare repository, over
//! `file://` and over a loopback smart-HTTP server (git's own `http-backend`, behind basic
//! auth); every action and history event records the fleet commit, `status` and `/metrics` name
//! it; a broken commit keeps the last good one running; push webhooks are checked as each forge
//! signs them. The test makes its commits with the git binary; minifleet never runs it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{App, Daemon, TestFleet};
use serde_json::Value;

const HOOK_SECRET: &str = "hook-secret-for-tests";
const GIT_TOKEN: &str = "git-token-for-tests-0123456789";

/// Runs git in `dir` as the test's committer (Ana).
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Ana", "-c", "user.email=ana@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare origin and the fleet's directory as its working clone; the store stays untracked.
struct Repo {
    _dir: tempfile::TempDir,
    origin: PathBuf,
}

impl Repo {
    fn new(fleet: &TestFleet) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "--bare", "-q"]);
        git(fleet.dir(), &["init", "-q"]);
        git(
            fleet.dir(),
            &["remote", "add", "origin", origin.to_str().unwrap()],
        );
        std::fs::write(fleet.dir().join(".gitignore"), ".minifleet/\n").unwrap();
        Repo { _dir: dir, origin }
    }

    /// Commits the fleet directory and pushes it; the commit's id.
    fn push(&self, fleet: &TestFleet, message: &str) -> String {
        git(fleet.dir(), &["add", "-A"]);
        git(fleet.dir(), &["commit", "-q", "-m", message]);
        git(fleet.dir(), &["push", "-q", "origin", "HEAD:main"]);
        git(fleet.dir(), &["rev-parse", "HEAD"])
    }

    fn url(&self) -> String {
        format!("file://{}", self.origin.display())
    }
}

fn apps(version: &'static str) -> Vec<App> {
    vec![
        App {
            version,
            ..App::new("tea-house", "wx1111111111111111")
        },
        App::alipay("bun-factory", "2021004100000001"),
    ]
}

fn converged(daemon: &Daemon, app: &str, after: usize) {
    let started = Instant::now();
    loop {
        let done = daemon
            .lines(|l| {
                l["message"] == "pass finished" && l["app"] == app && l["state"] == "in_sync"
            })
            .len();
        if done > after {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{app} converges:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn passes_in_sync(daemon: &Daemon, app: &str) -> usize {
    daemon
        .lines(|l| l["message"] == "pass finished" && l["app"] == app && l["state"] == "in_sync")
        .len()
}

/// The status row of `app` from the daemon's API.
fn row(daemon: &Daemon, app: &str) -> Value {
    let (status, body) = daemon.get(&format!("/api/v1/apps?name={app}"));
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    doc["apps"][0].clone()
}

fn history(daemon: &Daemon, app: &str) -> Vec<Value> {
    let (status, body) = daemon.get(&format!("/api/v1/apps/{app}/history?limit=500"));
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    doc["events"].as_array().unwrap().clone()
}

fn revision_metric(daemon: &Daemon) -> String {
    let (_, metrics) = daemon.get("/metrics");
    common::openmetrics::check(&metrics);
    metrics
        .lines()
        .find(|l| l.starts_with("minifleet_fleet_revision{"))
        .unwrap_or_default()
        .to_owned()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
}

fn webhook(daemon: &Daemon, header: (&str, &str), body: &str) -> u16 {
    let (status, _, _) = common::http(
        &daemon.url,
        "POST",
        "/git/webhook",
        &[header, ("Content-Type", "application/json")],
        body.as_bytes(),
    );
    status
}

#[test]
fn the_daemon_follows_a_branch_records_each_commit_and_keeps_the_last_good_one() {
    let fleet = TestFleet::new();
    let repo = Repo::new(&fleet);
    fleet.write(&apps("1.0.0"));
    let first = repo.push(&fleet, "two shops");
    // A long interval: after the start, only the webhooks make the daemon fetch.
    let daemon = Daemon::start_with_env(
        &fleet,
        &[
            "--resync",
            "1h",
            "--git",
            &repo.url(),
            "--branch",
            "main",
            "--path",
            "fleet.yaml",
            "--interval",
            "1h",
            "--git-webhook-secret",
            "${env:HOOK_SECRET}",
        ],
        &[("HOOK_SECRET", HOOK_SECRET)],
    );
    converged(&daemon, "tea-house", 0);
    converged(&daemon, "bun-factory", 0);

    // The commit per app: status, history and /metrics name it.
    assert_eq!(row(&daemon, "tea-house")["live_revision"], first.as_str());
    assert_eq!(row(&daemon, "bun-factory")["live_revision"], first.as_str());
    let events = history(&daemon, "tea-house");
    let applied: Vec<&Value> = events.iter().filter(|e| e["result"] == "ok").collect();
    assert!(!applied.is_empty(), "{events:?}");
    for event in &applied {
        assert_eq!(event["revision"], first.as_str(), "{event}");
    }
    assert_eq!(
        revision_metric(&daemon),
        format!("minifleet_fleet_revision{{revision=\"{first}\"}} 1")
    );

    // A broken commit: reported with its id and author, the last good commit keeps running.
    fleet.write_raw("version: 2\napps: []\n");
    let broken = repo.push(&fleet, "oops");
    let push = format!(r#"{{"ref":"refs/heads/main","after":"{broken}"}}"#);
    let gitea = hmac_hex(HOOK_SECRET, push.as_bytes());
    assert_eq!(webhook(&daemon, ("X-Gitea-Signature", &gitea), &push), 202);
    let refused = daemon.wait_log("the broken commit refused", |l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the fleet file of a new commit is invalid"))
    });
    assert_eq!(refused["commit"], broken.as_str());
    assert_eq!(refused["author"], "Ana <ana@example.com>");
    assert_eq!(refused["running"], first.as_str());
    assert!(
        revision_metric(&daemon).contains(&first),
        "the last good commit runs"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("\nminifleet_fleet_valid 0\n"), "{metrics}");

    // A fixed commit raising tea-house: a webhook with a bad signature changes nothing; a good
    // one (GitHub's) makes the daemon fetch, converge, and record the new commit.
    fleet.write(&apps("1.1.0"));
    let fixed = repo.push(&fleet, "tea-house 1.1.0");
    let push = format!(r#"{{"ref":"refs/heads/main","after":"{fixed}"}}"#);
    let forged = format!("sha256={}", hmac_hex("not-the-secret", push.as_bytes()));
    assert_eq!(
        webhook(&daemon, ("X-Hub-Signature-256", &forged), &push),
        401
    );
    assert_eq!(webhook(&daemon, ("X-Gitlab-Token", "guess"), &push), 401);
    let unsigned = common::http(&daemon.url, "POST", "/git/webhook", &[], push.as_bytes()).0;
    assert_eq!(unsigned, 401);
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        daemon
            .lines(|l| l["message"] == "following a new commit")
            .is_empty(),
        "a refused webhook fetches nothing:\n{}",
        daemon.log_text()
    );
    let in_sync_before = passes_in_sync(&daemon, "tea-house");
    let other_branch = r#"{"ref":"refs/heads/dev"}"#;
    let signed = format!("sha256={}", hmac_hex(HOOK_SECRET, other_branch.as_bytes()));
    assert_eq!(
        webhook(&daemon, ("X-Hub-Signature-256", &signed), other_branch),
        202
    );
    let signed = format!("sha256={}", hmac_hex(HOOK_SECRET, push.as_bytes()));
    assert_eq!(
        webhook(&daemon, ("X-Hub-Signature-256", &signed), &push),
        202
    );
    let followed = daemon.wait_log("the fixed commit followed", |l| {
        l["message"] == "following a new commit"
    });
    assert!(
        followed["commit"]
            .as_str()
            .is_some_and(|c| c.starts_with(&fixed[..12])),
        "{followed}"
    );
    converged(&daemon, "tea-house", in_sync_before);
    let tea = row(&daemon, "tea-house");
    assert_eq!(tea["live_revision"], fixed.as_str(), "{tea}");
    assert!(tea["live"]["build"]["version"] == "1.1.0", "{tea}");
    assert_eq!(
        row(&daemon, "bun-factory")["live_revision"],
        first.as_str(),
        "an app the commit left alone keeps the commit its build came from"
    );
    assert!(
        history(&daemon, "tea-house")
            .iter()
            .any(|e| e["what"] == "release" && e["revision"] == fixed.as_str())
    );
    assert_eq!(
        revision_metric(&daemon),
        format!("minifleet_fleet_revision{{revision=\"{fixed}\"}} 1")
    );
    // A saved plan needs the store, which the daemon holds: said, not half done.
    let out = fleet.run(&["plan", "--out", "plan.json"]);
    assert_eq!(common::code(&out), 1, "{}", common::text(&out));
    assert!(
        common::text(&out).contains("not yet through the daemon"),
        "{}",
        common::text(&out)
    );
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
}

#[test]
fn a_file_secret_outside_the_commit_is_refused() {
    let fleet = TestFleet::new();
    let repo = Repo::new(&fleet);
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "a-secret").unwrap();
    fleet.write(&apps("1.0.0"));
    let text = std::fs::read_to_string(fleet.path()).unwrap().replace(
        "    component_appid: wx00000000000000aa\n",
        &format!(
            "    component_appid: wx00000000000000aa\n    component_secret: '${{file:{}}}'\n",
            outside.path().display()
        ),
    );
    fleet.write_raw(&text);
    repo.push(&fleet, "a secret from outside");
    let out = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["watch", "--listen", "127.0.0.1:0", "--git", &repo.url()])
        .env_remove("MINIFLEET_STORE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = common::text(&out);
    assert_eq!(common::code(&out), 1, "{all}");
    assert!(all.contains("is outside the fleet's git commit"), "{all}");
    assert!(all.contains("${env:NAME}"), "says what to do: {all}");
    assert!(!all.contains("a-secret"), "{all}");
}

/// A loopback smart-HTTP git server: each request runs git's own `http-backend` (CGI) on the
/// repositories under `root`, after checking basic auth for `user:token`.
struct GitHttp {
    url: String,
}

impl GitHttp {
    fn start(root: PathBuf, user: &'static str, token: &'static str) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, expected) = (root.clone(), expected.clone());
                std::thread::spawn(move || serve(stream, &root, &expected));
            }
        });
        GitHttp { url }
    }
}

fn serve(stream: TcpStream, root: &Path, expected_auth: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let headers = common::read_headers(&mut reader);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(length) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body).unwrap();
    } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    if get("authorization").as_deref() != Some(expected_auth) {
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &method)
        .env("REMOTE_USER", "ci")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("git-protocol", "GIT_PROTOCOL"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
    ] {
        if let Some(value) = get(header) {
            cgi.env(var, value);
        }
    }
    let mut child = cgi.spawn().expect("git http-backend");
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let output = child.wait_with_output().unwrap();
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .expect("CGI headers");
    let head = String::from_utf8_lossy(&output.stdout[..split.0]).to_string();
    let payload = &output.stdout[split.0 + split.1..];
    let mut status = "200 OK".to_owned();
    let mut response = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_owned(),
            Some(_) => response.push_str(&format!("{}\r\n", line.trim())),
            None => {}
        }
    }
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    let _ = stream.write_all(payload);
}

#[test]
fn the_branch_is_followed_over_smart_http_with_a_token_that_never_shows() {
    let fleet = TestFleet::new();
    let repo = Repo::new(&fleet);
    fleet.write(&apps("1.0.0"));
    let first = repo.push(&fleet, "two shops");
    let server = GitHttp::start(repo.origin.parent().unwrap().to_path_buf(), "ci", GIT_TOKEN);
    let url = format!("{}/origin.git", server.url);

    // Without the token the server refuses, and so does `watch`, clearly.
    let out = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["watch", "--listen", "127.0.0.1:0", "--git", &url])
        .env_remove("MINIFLEET_STORE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 1, "{}", common::text(&out));
    assert!(
        common::text(&out).contains("git fetch of http://127.0.0.1"),
        "{}",
        common::text(&out)
    );

    let daemon = Daemon::start_with_env(
        &fleet,
        &[
            "--resync",
            "1h",
            "--git",
            &url,
            "--git-user",
            "ci",
            "--git-token",
            "${env:GIT_TOKEN}",
            "--interval",
            "300ms",
        ],
        &[("GIT_TOKEN", GIT_TOKEN)],
    );
    converged(&daemon, "tea-house", 0);
    assert_eq!(row(&daemon, "tea-house")["live_revision"], first.as_str());
    // A new commit is fetched on the interval.
    let before = passes_in_sync(&daemon, "tea-house");
    fleet.write(&apps("1.2.0"));
    let second = repo.push(&fleet, "tea-house 1.2.0");
    converged(&daemon, "tea-house", before);
    assert_eq!(row(&daemon, "tea-house")["live_revision"], second.as_str());
    let (code, logs) = daemon.terminate();
    assert_eq!(code, 0);
    assert!(
        !logs.contains(GIT_TOKEN),
        "the token never shows in the logs"
    );
    assert!(!common::text(&out).contains(GIT_TOKEN));
}

fn shops(version: &'static str) -> Vec<App> {
    vec![
        App {
            version,
            ..App::new("tea-house", "wx1111111111111111")
        },
        App {
            version,
            ..App::new("rice-shop", "wx2222222222222222")
        },
        App {
            version,
            ..App::alipay("bun-factory", "2021004100000001")
        },
    ]
}

/// The mutating calls the sandbox accepted for `appid`.
fn writes(url: &str, appid: &str) -> usize {
    common::records(url)
        .iter()
        .filter(|r| r.app == appid)
        .count()
}

#[test]
fn a_saved_plan_applies_exactly_once_and_refuses_what_moved_or_was_planned_blind() {
    let (sandbox, fleet) = common::fleet_on_sandbox();
    fleet.write(&shops("1.0.0"));
    fleet.converge();
    // With a plain file, the file's digest stands in for the commit.
    let text = std::fs::read(fleet.path()).unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
    let revision = format!("sha256:{}", hex::encode(&digest.as_ref()[..6]));
    for row in fleet.status_json()["apps"].as_array().unwrap() {
        assert_eq!(row["live_revision"], revision.as_str(), "{row}");
    }
    let history = fleet.run(&["history", "tea-house"]);
    assert!(
        common::text(&history).contains(&format!("(fleet {revision})")),
        "{}",
        common::text(&history)
    );
    fleet.write(&shops("1.1.0"));
    let plan_file = fleet.dir().join("plan.json");
    let out = fleet.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(common::code(&out), 0, "{}", common::text(&out));
    assert!(
        common::text(&out).contains("Saved plan"),
        "{}",
        common::text(&out)
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["format"], "minifleet-plan/1");
    assert_eq!(saved["apps"].as_array().unwrap().len(), 3, "{saved}");
    assert!(
        saved["revision"]
            .as_str()
            .is_some_and(|r| r.starts_with("sha256:"))
    );
    for app in saved["apps"].as_array().unwrap() {
        assert_eq!(app["known"], true, "{app}");
        assert_eq!(app["live"].as_str().unwrap().len(), 16);
    }

    // rice-shop moves on without the plan: its live state is no longer what was planned from.
    let moved = fleet.wait_with("60s", &["--only", "rice-shop"]);
    assert_eq!(common::code(&moved), 0, "{}", common::text(&moved));
    let rice_writes = writes(&sandbox.url, "wx2222222222222222");

    let out = fleet.run(&["apply", plan_file.to_str().unwrap()]);
    let all = common::text(&out);
    assert_eq!(common::code(&out), 1, "one app refused: {all}");
    assert!(
        all.contains("rice-shop: refused: stale: experience: 1.0.0"),
        "says what moved: {all}"
    );
    assert!(all.contains("tea-house: applied: commit 1.1.0"), "{all}");
    assert!(all.contains("bun-factory: applied:"), "{all}");
    assert!(all.contains("Applied: 2 · refused: 1 · failed: 0"), "{all}");
    assert_eq!(
        writes(&sandbox.url, "wx2222222222222222"),
        rice_writes,
        "nothing of a refused app is applied"
    );
    assert!(
        common::records(&sandbox.url)
            .iter()
            .any(|r| r.app == "wx1111111111111111"
                && r.call == "wxa/commit"
                && r.version.as_deref() == Some("1.1.0")),
        "tea-house's saved commit reached the platform"
    );

    // Applied once: a second apply changes nothing.
    let before = common::records(&sandbox.url).len();
    let again = fleet.run(&["apply", plan_file.to_str().unwrap()]);
    assert_eq!(common::code(&again), 1, "{}", common::text(&again));
    assert!(
        common::text(&again).contains("was applied already"),
        "{}",
        common::text(&again)
    );
    assert_eq!(common::records(&sandbox.url).len(), before);
    fleet.converge();

    // A plan made against an empty store knows no record: marked, and refused; nor does a plan
    // apply against another store.
    fleet.write(&shops("1.2.0"));
    let empty = tempfile::tempdir().unwrap();
    let blind_file = fleet.dir().join("blind.json");
    let store_flag = empty.path().to_str().unwrap();
    let out = fleet.run(&[
        "--store",
        store_flag,
        "plan",
        "--out",
        blind_file.to_str().unwrap(),
    ]);
    assert_eq!(common::code(&out), 0, "{}", common::text(&out));
    assert!(
        common::text(&out).contains("`apply` will refuse them"),
        "{}",
        common::text(&out)
    );
    let blind: Value = serde_json::from_slice(&std::fs::read(&blind_file).unwrap()).unwrap();
    assert!(
        blind["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["known"] == false),
        "{blind}"
    );
    let before = common::records(&sandbox.url).len();
    let out = fleet.run(&[
        "--store",
        store_flag,
        "-o",
        "json",
        "apply",
        blind_file.to_str().unwrap(),
    ]);
    assert_eq!(common::code(&out), 1, "{}", common::text(&out));
    assert!(
        common::text(&out).contains("planned without its record"),
        "{}",
        common::text(&out)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("-o json prints one JSON document");
    assert_eq!(doc["refused"], 3, "{doc}");
    assert_eq!(doc["applied"], 0, "{doc}");
    let out = fleet.run(&["apply", blind_file.to_str().unwrap()]);
    assert_eq!(common::code(&out), 1, "{}", common::text(&out));
    assert!(
        common::text(&out).contains("was made against another store"),
        "{}",
        common::text(&out)
    );
    assert_eq!(
        common::records(&sandbox.url).len(),
        before,
        "nothing applied"
    );
}
