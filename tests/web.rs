//! The web status page in a real browser (issue 17): headless Chromium, driven through
//! ChromeDriver's W3C WebDriver API, against `minifleet watch` on the sandbox. It signs in with
//! the read token, finds every app in the table, finds the platform's reason on the page of the
//! app whose audit the sandbox's reject rule rejected, narrows the table with the search form, and
//! saves a screenshot (`target/test-artifacts/web-fleet.png`).
//!
//! Chromium and ChromeDriver are Debian's (`chromium`, `chromium-driver`); when they are missing
//! the test installs them with apt-get (as `.ci/run` does), and fails saying so if it cannot.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{App, Daemon, TestFleet};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const READ: &str = "web-read-token-0123456789";

/// Chromium and ChromeDriver, installed from Debian's packages when missing.
fn ensure_browser() {
    if std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists() {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "-q", "chromium", "chromium-driver"];
    let installed = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
    assert!(
        installed
            && std::path::Path::new(CHROMIUM).exists()
            && std::path::Path::new(CHROMEDRIVER).exists(),
        "this test needs Debian's chromium and chromium-driver: `apt-get install chromium chromium-driver` (as root)"
    );
}

/// One HTTP/1.1 exchange with ChromeDriver on loopback: the JSON answer's `value`.
fn wd(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to chromedriver");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    // ChromeDriver keeps the connection open: read the head, then exactly Content-Length bytes.
    let mut reader = std::io::BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).expect("an HTTP answer");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).expect("the answer's body");
    let answer: Value = serde_json::from_slice(&payload)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&payload)));
    assert!(
        answer["value"].get("error").is_none(),
        "{method} {path}: {answer}"
    );
    answer["value"].clone()
}

/// A browser session, ended (and its driver stopped) when dropped.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        ensure_browser();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let session = wd(port, "POST", "/session", Some(caps))["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Browser {
            driver,
            port,
            session,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        wd(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The element `css` selects.
    fn find(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call(
            "POST",
            &format!("/element/{element}/clear"),
            Some(json!({})),
        );
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// Clicks `css` and waits until the page it leads to, whose address `arrived` accepts, has
    /// loaded: a click returns before the navigation it starts is over.
    fn click_to(&self, css: &str, arrived: impl Fn(&str) -> bool) {
        self.click(css);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = self.url();
            if arrived(&url) && self.script("return document.readyState;") == "complete" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} did not arrive: {url}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text_of(&self, css: &str) -> String {
        let element = self.find(css);
        self.call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// What `script` (a function body) returns in the page.
    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn screenshot(&self) -> Vec<u8> {
        let png = self.call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            wd(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            )
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn the_status_page_in_headless_chromium_lists_explains_filters_and_is_photographed() {
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra =
        "  reject:\n    - when_ext: { theme: neon }\n      reason: Neon theme breaks the content rules\n"
            .to_owned();
    let apps = [
        App::new("tea-house", "wx1111111111111111"),
        App::new("rice-shop", "wx2222222222222222"),
        App::alipay("bun-factory", "2021004100000001"),
        App {
            ext: "{ shopId: \"9\", theme: neon }",
            ..App::new("neon-bar", "wx4444444444444444")
        },
    ];
    fleet.write(&apps);
    let daemon = Daemon::start_with_env(
        &fleet,
        &["--resync", "1h", "--read-token", "${env:WEB_READ}"],
        &[("WEB_READ", READ)],
    );
    daemon.wait_log("of the rejection", |l| {
        l["message"] == "pass finished" && l["app"] == "neon-bar" && l["state"] == "failed"
    });
    for app in ["tea-house", "rice-shop", "bun-factory"] {
        daemon.wait_log(app, |l| {
            l["message"] == "pass finished" && l["app"] == app && l["state"] == "in_sync"
        });
    }

    let browser = Browser::start();
    // Not signed in: sent to the sign-in page; the read token lets in.
    browser.go(&format!("{}/", daemon.url));
    assert!(browser.url().ends_with("/login"), "{}", browser.url());
    browser.type_into("input[name=token]", READ);
    browser.click_to("button[type=submit]", |url| url.ends_with('/'));

    let table = browser.text_of("#fleet");
    for app in &apps {
        assert!(
            table.contains(app.name),
            "{} in the table: {table}",
            app.name
        );
    }
    assert!(table.contains("failed"), "{table}");
    std::fs::create_dir_all(artifacts()).unwrap();
    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    std::fs::write(artifacts().join("web-fleet.png"), &png).unwrap();

    // The rejected app's page says why.
    browser.click_to("a[href='/apps/neon-bar']", |url| {
        url.ends_with("/apps/neon-bar")
    });
    assert!(
        browser
            .text_of("#audit")
            .contains("Neon theme breaks the content rules"),
        "{}",
        browser.text_of("#audit")
    );
    assert!(
        browser.text_of("#reason").contains("Neon theme"),
        "the failure's reason"
    );
    assert!(browser.text_of("#history").contains("neon-bar"));
    let qr_width = browser.script("return document.querySelector('#qr img').naturalWidth");
    assert!(
        qr_width.as_u64().is_some_and(|w| w > 0),
        "the QR code is a picture the browser draws: {qr_width}"
    );
    std::fs::write(artifacts().join("web-app.png"), browser.screenshot()).unwrap();

    // The search narrows the table.
    browser.go(&format!("{}/", daemon.url));
    browser.type_into("input[name=q]", "rice");
    // A GET form: the search is in the address.
    browser.click_to("#filter", |url| url.contains("q=rice"));
    let table = browser.text_of("#fleet");
    assert!(table.contains("rice-shop"), "{table}");
    for other in ["tea-house", "bun-factory", "neon-bar"] {
        assert!(!table.contains(other), "{other} filtered out: {table}");
    }
    assert_eq!(browser.text_of("#shown"), "1 shown");

    // Live: the page follows the daemon's event stream (its cookie is the read token) and shows
    // an app added to the fleet without anyone reloading it. While the stream is open the page
    // never reloads on a timer, so the reload below is the stream's doing.
    browser.go(&format!("{}/", daemon.url));
    let look = "var f=document.getElementById('fleet');\
                return {marked: window.mfMarked===true, table: f?f.innerText:'', stream: document.body.dataset.stream||''};";
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.script(look)["stream"] != "open" {
        assert!(
            Instant::now() < deadline,
            "the event stream opens: {}",
            browser.script(look)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    browser.script("window.mfMarked = true; return null;");
    let mut more = apps.to_vec();
    more.push(App::new("noodle-bar", "wx3333333333333333"));
    fleet.write(&more);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = browser.script(look);
        if now["table"]
            .as_str()
            .unwrap_or_default()
            .contains("noodle-bar")
        {
            assert_eq!(now["marked"], false, "the page reloaded by itself: {now}");
            break;
        }
        assert!(Instant::now() < deadline, "the new app appears: {now}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Where the test's screenshots go.
fn artifacts() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts")
}
