//! No token leaves minifleet, end to end: sentinel tokens are seeded into the fleet and the store,
//! the platform answers with messages that quote them (Alipay's `isv.invalid-signature` quotes its
//! whole signing string; a WeChat-side echo quotes the URL and body), and every output is searched
//! for them: stdout and stderr of `plan`, `reconcile`, `status` and `history` (text and `-o json`),
//! the daemon's log, and the store's files on disk.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestFleet, text};
use minifleet::platform::alipay::alipay_token_key;
use minifleet::platform::wechat::{authorizer_token_key, component_token_key, refresh_token_key};
use minifleet::secret::Secret;
use minifleet::store::{Store, Token};

/// The Alipay app_auth_token given in the fleet file (through `${env:…}`); never stored.
const FLEET_TOKEN: &str = "SENTINEL-FLEET-app-auth-token";
/// The WeChat component secret given in the fleet file (through `${env:…}`); never stored.
const COMPONENT_SECRET: &str = "SENTINEL-COMPONENT-secret";
/// The Alipay app_auth_token kept in the store.
const STORED_TOKEN: &str = "SENTINEL-STORED-app-auth-token";
/// The WeChat tokens kept in the store.
const WECHAT_TOKENS: [&str; 4] = [
    "SENTINEL-COMPONENT-token",
    "SENTINEL-AUTHORIZER-token",
    "SENTINEL-REFRESH-token-1",
    "SENTINEL-REFRESH-token-2",
];
/// Every sentinel starts with this.
const SENTINEL: &str = "SENTINEL-";

const ALIPAY_FLEET: &str = r#"version: 1
platforms:
  alipay:
    app_id: "2021000000000000"
    gateway: sandbox
    private_key: ${file:wrong-private-key.pem}
templates:
  shop:
    alipay: { template_id: "2021000000000100", template_version: 0.0.3 }
defaults:
  template: shop
  version: 1.0.0
  description: Test build
  stage: experience
apps:
  - name: rice-bowl
    platform: alipay
    appid: "2021000000000001"
    app_auth_token: ${env:MF_TEST_ALIPAY_TOKEN}
    ext: { shopId: "1" }
  - name: noodle-bar
    platform: alipay
    appid: "2021000000000002"
    ext: { shopId: "2" }
"#;

fn wechat_fleet(api_base: &str) -> String {
    format!(
        r#"version: 1
platforms:
  wechat:
    component_appid: wx00000000000000aa
    component_secret: ${{env:MF_TEST_COMPONENT_SECRET}}
    api_base: {api_base}
templates:
  shop:
    wechat: {{ template_id: 7 }}
defaults:
  template: shop
  version: 1.0.0
  description: Test build
  stage: experience
apps:
  - name: tea-house
    platform: wechat
    appid: "wx1111111111111111"
    ext: {{ shopId: "1" }}
  - name: dumpling-den
    platform: wechat
    appid: "wx2222222222222222"
    ext: {{ shopId: "2" }}
"#
    )
}

/// Runs `minifleet -f <fleet> ARGS…` with the fleet-file token in the environment.
fn run(fleet: &TestFleet, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("minifleet")
        .expect("the binary")
        .arg("-f")
        .arg(fleet.path())
        .args(args)
        .env_remove("MINIFLEET_STORE")
        .env_remove("MINIFLEET_FLEET")
        .env("NO_COLOR", "1")
        .env("MF_TEST_ALIPAY_TOKEN", FLEET_TOKEN)
        .env("MF_TEST_COMPONENT_SECRET", COMPONENT_SECRET)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run minifleet")
}

fn fresh(value: &str) -> Token {
    let now = now_secs();
    Token {
        value: Secret::new(value),
        expires_at: Some(now + 3600),
        obtained_at: now,
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn seed(fleet: &TestFleet, tokens: &[(String, Token)]) {
    let store = Store::open(&fleet.store()).expect("open the store");
    for (key, token) in tokens {
        store.put_token(key, token).unwrap();
    }
    store.flush().unwrap();
}

/// Runs every reading and writing command, text and JSON, and asserts no output names a sentinel;
/// returns how many of the outputs quoted the platform's failure (`code`).
fn assert_commands_leak_nothing(fleet: &TestFleet, code: &str) -> usize {
    let commands: [&[&str]; 10] = [
        &["plan"],
        &["plan", "-o", "json"],
        &["reconcile"],
        &["reconcile", "-o", "json"],
        &[
            "reconcile",
            "--wait",
            "--interval",
            "100ms",
            "--timeout",
            "2s",
        ],
        &["status"],
        &["status", "-o", "json"],
        &["history"],
        &["history", "-o", "json"],
        &["history", "--limit", "5"],
    ];
    let mut quoted = 0;
    for args in commands {
        let out = run(fleet, args);
        let all = text(&out);
        assert!(
            !all.contains(SENTINEL),
            "`minifleet {}` leaked a token:\n{all}",
            args.join(" ")
        );
        quoted += usize::from(all.contains(code));
    }
    quoted
}

/// Every file of the store, as text: only `allowed` sentinels (seeded into the token cache) may
/// appear in it.
fn assert_store_files_hold_only(dir: &Path, allowed: &[&str]) {
    let mut stack = vec![dir.to_path_buf()];
    let mut text = String::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    assert!(
        text.contains(allowed[0]),
        "the scan sees the seeded token, so the files are plain text"
    );
    let mut leaked: Vec<&str> = text
        .match_indices(SENTINEL)
        .map(|(at, _)| {
            let end = text[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(text.len(), |n| at + n);
            &text[at..end]
        })
        .filter(|found| !allowed.contains(found))
        .collect();
    leaked.sort_unstable();
    leaked.dedup();
    assert!(leaked.is_empty(), "the store holds {leaked:?}");
}

#[test]
fn alipay_invalid_signature_messages_never_show_the_merchant_tokens() {
    let fleet = TestFleet::new();
    let key = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alipay/app_private_pkcs8.pem"),
    )
    .unwrap();
    std::fs::write(fleet.dir().join("wrong-private-key.pem"), key).unwrap();
    fleet.write_raw(ALIPAY_FLEET);
    seed(
        &fleet,
        &[(alipay_token_key("2021000000000002"), fresh(STORED_TOKEN))],
    );
    let quoted = assert_commands_leak_nothing(&fleet, "isv.invalid-signature");
    assert!(
        quoted >= 5,
        "the failure is reported ({quoted} outputs name it)"
    );
    let history = run(&fleet, &["history", "-o", "json"]);
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(
        history.contains("app_auth_token=***"),
        "the history keeps the scrubbed signing string: {history}"
    );
    assert_store_files_hold_only(&fleet.store(), &[STORED_TOKEN]);
    let log = daemon_log(&fleet, "isv.invalid-signature");
    assert!(
        !log.contains(SENTINEL),
        "the daemon log leaked a token:\n{log}"
    );
}

/// A stand-in for WeChat on loopback that answers every request with errcode 40097 and an errmsg
/// quoting the request line and body (what a misbehaving proxy might do; the sandbox, faithful to
/// WeChat, never echoes a token). Serves until the test process ends.
fn echoing_wechat() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length.min(64 * 1024)];
                let _ = reader.read_exact(&mut body);
                let errmsg = format!(
                    "invalid args: {} {}",
                    request_line.trim(),
                    String::from_utf8_lossy(&body)
                );
                let answer = serde_json::json!({"errcode": 40097, "errmsg": errmsg}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    url
}

/// A loopback port nothing listens on.
fn dead_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[test]
fn wechat_errmsgs_and_transport_errors_never_show_tokens() {
    let fleet = TestFleet::new();
    let expired = Token {
        value: Secret::new("SENTINEL-EXPIRED-authorizer-token"),
        expires_at: Some(1),
        obtained_at: 0,
    };
    seed(
        &fleet,
        &[
            (
                component_token_key("wx00000000000000aa"),
                fresh(WECHAT_TOKENS[0]),
            ),
            (
                authorizer_token_key("wx1111111111111111"),
                fresh(WECHAT_TOKENS[1]),
            ),
            (
                refresh_token_key("wx1111111111111111"),
                fresh(WECHAT_TOKENS[2]),
            ),
            (
                refresh_token_key("wx2222222222222222"),
                fresh(WECHAT_TOKENS[3]),
            ),
            (authorizer_token_key("wx2222222222222222"), expired),
        ],
    );
    let mut allowed: Vec<&str> = WECHAT_TOKENS.to_vec();
    allowed.push("SENTINEL-EXPIRED-authorizer-token");
    // An errmsg that quotes the URL (`access_token=…`) and the body (`authorizer_refresh_token`).
    fleet.write_raw(&wechat_fleet(&echoing_wechat()));
    let quoted = assert_commands_leak_nothing(&fleet, "40097");
    assert!(
        quoted >= 5,
        "the failure is reported ({quoted} outputs name it)"
    );
    assert_store_files_hold_only(&fleet.store(), &allowed);
    // A platform that cannot be reached, with tokens in the URLs of the failed calls.
    fleet.write_raw(&wechat_fleet(&dead_port_url()));
    let quoted = assert_commands_leak_nothing(&fleet, "network");
    assert!(
        quoted >= 3,
        "the failure is reported ({quoted} outputs name it)"
    );
    assert_store_files_hold_only(&fleet.store(), &allowed);
}

/// Runs `minifleet watch` with debug logs until a log line names `code` (or 60 s pass), stops it,
/// and returns its log.
fn daemon_log(fleet: &TestFleet, code: &str) -> String {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["--log-format", "json", "watch", "--listen", "127.0.0.1:0"])
        .env_remove("MINIFLEET_STORE")
        .env_remove("MINIFLEET_FLEET")
        .env("MINIFLEET_LOG", "minifleet=debug")
        .env("MF_TEST_ALIPAY_TOKEN", FLEET_TOKEN)
        .env("MF_TEST_COMPONENT_SECRET", COMPONENT_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start minifleet watch");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = Arc::clone(&log);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let started = Instant::now();
    while !log.lock().unwrap().contains(code) && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let log = log.lock().unwrap().clone();
    assert!(log.contains(code), "the daemon logged the failure:\n{log}");
    log
}
