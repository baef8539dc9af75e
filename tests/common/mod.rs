//! A tiny builder for end-to-end tests: a fleet file in a temp dir, and runs of the real binary
//! against the embedded sandbox on loopback.

#![allow(dead_code)]

pub mod openmetrics;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// A fleet in a temporary directory; the store lands in `<dir>/.minifleet`.
pub struct TestFleet {
    dir: tempfile::TempDir,
    /// Extra YAML for the top-level `sandbox:` section.
    pub sandbox_extra: String,
}

/// One app of a test fleet.
#[derive(Clone)]
pub struct App {
    pub platform: &'static str,
    pub name: &'static str,
    pub appid: &'static str,
    pub version: &'static str,
    pub ext: &'static str,
    /// The app's `ext_json` (the other keys of ext.json) when not empty.
    pub ext_json: &'static str,
    pub testers: &'static str,
    pub gray: u8,
    /// A gray walk written in place of `gray` (`{ steps: [5, 100], hold: 2s }`) when not empty.
    pub walk: &'static str,
    pub stage: &'static str,
    /// More keys of the app, as YAML lines indented by four spaces (`    domains: …\n`).
    pub extra: &'static str,
}

impl App {
    pub fn new(name: &'static str, appid: &'static str) -> App {
        App {
            platform: "wechat",
            name,
            appid,
            version: "1.0.0",
            ext: "{ shopId: \"1\" }",
            ext_json: "",
            testers: "[]",
            gray: 100,
            walk: "",
            stage: "release",
            extra: "",
        }
    }

    /// An Alipay app (merchant appid of 16 digits) with the same defaults.
    pub fn alipay(name: &'static str, appid: &'static str) -> App {
        App {
            platform: "alipay",
            ..App::new(name, appid)
        }
    }

    /// A Douyin app (`tt` and 16 letters or digits) with the same defaults.
    pub fn douyin(name: &'static str, appid: &'static str) -> App {
        App {
            platform: "douyin",
            ..App::new(name, appid)
        }
    }
}

impl TestFleet {
    pub fn new() -> TestFleet {
        TestFleet {
            dir: tempfile::tempdir().expect("a temp dir"),
            sandbox_extra: String::new(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("fleet.yaml")
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join(".minifleet")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the fleet file with these apps.
    pub fn write(&self, apps: &[App]) {
        let mut yaml = String::from(
            "version: 1\n\
             platforms:\n  wechat:\n    component_appid: wx00000000000000aa\n    api_base: sandbox\n\
             \x20 alipay:\n    app_id: \"2021000000000000\"\n    gateway: sandbox\n\
             \x20 douyin:\n    component_appid: tt00000000000000aa\n    api_base: sandbox\n\
             templates:\n  shop:\n    wechat: { template_id: 7 }\n    alipay: { template_id: \"2021000000000100\", template_version: 0.0.3 }\n    douyin: { template_id: 9133504853504535288 }\n\
             defaults:\n  template: shop\n  description: Test build\n  audit:\n    items:\n      - { address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 220, second_id: 225, title: Home }\n\
             sandbox:\n  audit_delay: 300ms\n  privacy_scan: 100ms\n",
        );
        yaml.push_str(&self.sandbox_extra);
        yaml.push_str("apps:\n");
        for app in apps {
            let gray = match app.walk {
                "" => app.gray.to_string(),
                walk => walk.to_owned(),
            };
            yaml.push_str(&format!(
                "  - name: {}\n    platform: {}\n    appid: \"{}\"\n    version: {}\n    ext: {}\n    testers: {}\n    gray: {}\n    stage: {}\n",
                app.name, app.platform, app.appid, app.version, app.ext, app.testers, gray, app.stage
            ));
            if !app.ext_json.is_empty() {
                yaml.push_str(&format!("    ext_json: {}\n", app.ext_json));
            }
            yaml.push_str(app.extra);
        }
        if apps.is_empty() {
            yaml.push_str("  []\n");
        }
        std::fs::write(self.path(), yaml).expect("write the fleet file");
    }

    /// Writes raw text as the fleet file.
    pub fn write_raw(&self, text: &str) {
        std::fs::write(self.path(), text).expect("write the fleet file");
    }

    /// Runs `minifleet -f <fleet> ARGS…` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// [`TestFleet::run`] with these environment variables set.
    pub fn run_env(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        Command::cargo_bin("minifleet")
            .expect("the binary")
            .arg("-f")
            .arg(self.path())
            .args(args)
            .env_remove("MINIFLEET_STORE")
            .env_remove("MINIFLEET_FLEET")
            .env_remove("MINIFLEET_SERVER")
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run minifleet")
    }

    /// `reconcile --wait --interval 200ms --timeout TIMEOUT`, however it ends.
    pub fn wait(&self, timeout: &str) -> Output {
        self.wait_with(timeout, &[])
    }

    /// [`TestFleet::wait`] with more arguments (`--only NAME`…).
    pub fn wait_with(&self, timeout: &str, more: &[&str]) -> Output {
        self.run(&TestFleet::wait_args(timeout, more))
    }

    /// The arguments of [`TestFleet::wait_with`].
    pub fn wait_args<'a>(timeout: &'a str, more: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "reconcile",
            "--wait",
            "--interval",
            "200ms",
            "--timeout",
            timeout,
        ];
        args.extend_from_slice(more);
        args
    }

    /// `reconcile --wait` with short intervals; asserts it converged (exit 0).
    pub fn converge(&self) -> Output {
        let out = self.wait("60s");
        assert_eq!(
            code(&out),
            0,
            "reconcile --wait must converge:\n{}",
            text(&out)
        );
        out
    }

    /// The JSON plan of a dry run, which must exit 0.
    pub fn plan_json(&self) -> Value {
        self.plan_json_exiting(0)
    }

    /// The JSON plan of a dry run, which must exit with `expected` (1: the plan is incomplete).
    pub fn plan_json_exiting(&self, expected: i32) -> Value {
        let out = self.run(&["plan", "-o", "json"]);
        assert_eq!(code(&out), expected, "plan:\n{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("plan JSON")
    }

    /// The JSON status.
    pub fn status_json(&self) -> Value {
        let out = self.run(&["status", "-o", "json"]);
        assert_eq!(code(&out), 0, "status failed:\n{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }
}

/// The exit code.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// stdout and stderr together, for assertion messages and matching.
pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The step kinds planned for one app in a JSON plan.
pub fn step_kinds(plan: &Value, app: &str) -> Vec<String> {
    app_plan(plan, app)["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["kind"].as_str().expect("kind").to_string())
        .collect()
}

/// One app's entry in a JSON plan or status.
pub fn app_plan<'a>(doc: &'a Value, app: &str) -> &'a Value {
    doc["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["name"] == app)
        .unwrap_or_else(|| panic!("app {app} in {doc}"))
}

/// The reason `status` gives for `app`, asserting its row is `held`.
pub fn held_reason(fleet: &TestFleet, app: &str) -> String {
    let status = fleet.status_json();
    let row = app_plan(&status, app);
    assert_eq!(
        row["state"], "held",
        "status says why from the store: {row}"
    );
    row["reason"].as_str().expect("a reason").to_owned()
}

/// A `minifleet sandbox` child process, killed when dropped.
pub struct SandboxProcess {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl SandboxProcess {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`) and waits (at most 30 s) for the exit code.
    pub fn stop_with(&mut self, signal: &str) -> Option<i32> {
        stop_with(&mut self.child, signal)
    }
}

/// Sends `signal` (`TERM`, `INT`, …) to `child` and waits (at most 30 s) for its exit code
/// (`None` when a signal ended it).
pub fn stop_with(child: &mut Child, signal: &str) -> Option<i32> {
    let pid = child.id().to_string();
    let sent = StdCommand::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status.code();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "pid {pid} did not stop on SIG{signal}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `minifleet sandbox --listen 127.0.0.1:0 ARGS…` and reads its URL from the first line.
/// Every mutating call the standalone sandbox at `url` accepted, oldest first.
pub fn records(url: &str) -> Vec<minifleet::sandbox::Accepted> {
    block_on(minifleet::sandbox::RemoteSandbox::new(url).accepted()).expect("GET /sandbox/records")
}

/// Runs `f` to its end on a runtime of its own (for the sandbox's async admin client).
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(f)
}

/// A standalone sandbox with quick audits and privacy scans, and a fleet pointed at it.
pub fn fleet_on_sandbox() -> (SandboxProcess, TestFleet) {
    let sandbox = spawn_sandbox(&["--audit-delay", "200ms", "--privacy-scan", "100ms"]);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    (sandbox, fleet)
}

pub fn spawn_sandbox(args: &[&str]) -> SandboxProcess {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start minifleet sandbox");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("the first line");
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .expect("a URL at the end of the first line")
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "first line: {first}");
    SandboxProcess { child, url }
}

/// A status row's live build in words: `1.0.0 [mf:1a2b3c4d] gray 10%` (empty when nothing is
/// live), from the structured `live` field.
pub fn live_text(row: &Value) -> String {
    let live = &row["live"];
    if live.is_null() {
        return String::new();
    }
    let build = format!(
        "{} [mf:{}]",
        live["build"]["version"].as_str().unwrap_or_default(),
        live["build"]["fingerprint"].as_str().unwrap_or("--------")
    );
    match live["gray"].as_u64() {
        Some(p) => format!("{build} gray {p}%"),
        None => build,
    }
}

/// How long any one wait may take.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running `minifleet watch` with its JSON log lines.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Where it serves (`http://127.0.0.1:PORT`).
    pub url: String,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl Daemon {
    pub fn start(fleet: &TestFleet, extra: &[&str]) -> Daemon {
        Daemon::start_with_env(fleet, extra, &[])
    }

    /// [`Daemon::start`] with these environment variables set for it.
    pub fn start_with_env(fleet: &TestFleet, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        Daemon::start_at(fleet, "127.0.0.1:0", extra, env)
    }

    /// [`Daemon::start_with_env`] listening on `listen`.
    pub fn start_at(
        fleet: &TestFleet,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("minifleet"))
            .arg("-f")
            .arg(fleet.path())
            .args(["--log-format", "json", "watch", "--listen", listen])
            .args(extra)
            .env_remove("MINIFLEET_STORE")
            .env_remove("MINIFLEET_FLEET")
            .env("MINIFLEET_LOG", "minifleet=info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start minifleet watch");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(value);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the first stdout line");
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        Daemon { child, url, logs }
    }

    /// Waits until a log line satisfies `pred`, and returns it.
    pub fn wait_log(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Some(found) = self.logs.lock().unwrap().iter().find(|l| pred(l)) {
                return found.clone();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no log line {what}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn lines(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| pred(l))
            .cloned()
            .collect()
    }

    pub fn log_text(&self) -> String {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.url, path)
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        let sent = StdCommand::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the daemon") {
                break status;
            }
            assert!(started.elapsed() < PATIENCE, "the daemon did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status.code().unwrap_or(-1), self.log_text())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The header lines of an HTTP request after its first line, names lower-cased, up to the
/// blank line (for the tests' loopback receivers).
pub fn read_headers(reader: &mut impl BufRead) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    headers
}

/// A bare HTTP/1.1 GET over loopback: status and body.
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    let (status, _, body) = http(base, "GET", path, &[], b"");
    (status, body)
}

/// One HTTP/1.1 exchange over loopback (`Connection: close`) with these extra headers: the
/// status, the response's head and its body.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect to the daemon");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A refused body may close the connection before it is all sent.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).to_string();
    let (head, body) = response.split_once("\r\n\r\n").expect("headers");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head.to_owned(), body.to_owned())
}

/// Starts `reconcile --wait` on `fleet` and SIGKILLs it as soon as the sandbox at `url` has
/// accepted a `call` (polled every 5 ms); fails if the run ends first. Returns the sandbox's
/// records right after the kill.
pub fn kill_right_after(
    fleet: &TestFleet,
    url: &str,
    call: &str,
) -> Vec<minifleet::sandbox::Accepted> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let remote = minifleet::sandbox::RemoteSandbox::new(url);
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args([
            "reconcile",
            "--wait",
            "--interval",
            "100ms",
            "--timeout",
            "60s",
        ])
        .env_remove("MINIFLEET_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start reconcile");
    let started = Instant::now();
    loop {
        let records = runtime
            .block_on(remote.accepted())
            .expect("GET /sandbox/records");
        if records.iter().any(|r| r.call == call) {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            panic!("reconcile ended before the sandbox accepted `{call}`: {records:#?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for `{call}`"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap reconcile");
    runtime
        .block_on(remote.accepted())
        .expect("GET /sandbox/records")
}
