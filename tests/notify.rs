//! End to end, notifications (issue 17): `reconcile` and the daemon tell the fleet's `notify`
//! sinks what happened, each in its own format and language, signed as each platform documents
//! — checked by receivers on loopback that refuse a bad signature as the real robots do (DingTalk
//! 310000, Feishu 19021). Each notice is told once, across runs; a burst becomes a digest; a sink
//! that does not take messages neither blocks reconciling nor goes unseen in `/metrics`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{App, code, text};
use serde_json::Value;

/// One request a receiver got: path with query, headers (lower-case names), body.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
    raw: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<String> {
        let query = self.path.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(percent_decode)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// What a receiver answers to a request: status and body.
type Answer = fn(&Got) -> (u16, String);

/// A receiver on loopback; `answer` decides each reply (a signature check refuses as the platform
/// would).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start(path: &str, answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
                let headers = common::read_headers(&mut reader);
                let length: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut raw = vec![0; length];
                reader.read_exact(&mut raw).unwrap();
                let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                let got = Got {
                    path,
                    headers,
                    body,
                    raw,
                };
                let (status, reply) = answer(&got);
                sink.lock().unwrap().push(got);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        Receiver { url, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Every message's text, joined.
    fn text(&self) -> String {
        self.got()
            .iter()
            .map(|g| g.body.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

const DING_SECRET: &str = "SEC0123456789abcdef";
const FEISHU_SECRET: &str = "feishu-signing-secret";
const HOOK_SECRET: &str = "webhook-hmac-key";

fn wecom(_: &Got) -> (u16, String) {
    (200, r#"{"errcode":0,"errmsg":"ok"}"#.into())
}

/// DingTalk refuses a bad or stale signature with 310000.
fn dingtalk(got: &Got) -> (u16, String) {
    let (Some(ts), Some(sign)) = (got.query("timestamp"), got.query("sign")) else {
        return (
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#.into(),
        );
    };
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac(
        DING_SECRET.as_bytes(),
        format!("{ts}\n{DING_SECRET}").as_bytes(),
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let fresh = ts.parse::<u64>().is_ok_and(|t| now.abs_diff(t) < 3_600_000);
    if sign == expected && fresh {
        (200, r#"{"errcode":0,"errmsg":"ok"}"#.into())
    } else {
        (
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#.into(),
        )
    }
}

/// Feishu refuses a bad signature with 19021.
fn feishu(got: &Got) -> (u16, String) {
    let ts = got.body["timestamp"].as_str().unwrap_or_default();
    let sign = got.body["sign"].as_str().unwrap_or_default();
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hmac(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b""));
    if !ts.is_empty() && sign == expected {
        (200, r#"{"code":0,"msg":"success"}"#.into())
    } else {
        (200, r#"{"code":19021,"msg":"sign match fail"}"#.into())
    }
}

fn slack(_: &Got) -> (u16, String) {
    (200, "ok".into())
}

fn webhook(got: &Got) -> (u16, String) {
    let ts = got.header("x-minifleet-timestamp").unwrap_or_default();
    let mut message = format!("{ts}.").into_bytes();
    message.extend_from_slice(&got.raw);
    let expected = format!(
        "sha256={}",
        hex::encode(hmac(HOOK_SECRET.as_bytes(), &message))
    );
    if got.header("x-minifleet-signature") == Some(expected.as_str()) {
        (200, "{}".into())
    } else {
        (401, "{}".into())
    }
}

/// A sink that never takes a message.
fn broken(_: &Got) -> (u16, String) {
    (
        200,
        r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#.into(),
    )
}

fn run_with_env(fleet: &common::TestFleet, env: &[(&str, String)]) -> std::process::Output {
    fleet.run_env(&common::TestFleet::wait_args("60s", &[]), env)
}

fn apps() -> Vec<App> {
    let mut apps: Vec<App> = [
        ("tea-house", "wx1111111111111111"),
        ("rice-shop", "wx2222222222222222"),
        ("noodle-bar", "wx3333333333333333"),
    ]
    .into_iter()
    .map(|(name, appid)| App {
        extra: "    labels: { region: east }\n",
        ..App::new(name, appid)
    })
    .collect();
    apps.push(App {
        ext: "{ shopId: \"9\", theme: neon }",
        extra: "    labels: { region: west }\n",
        ..App::new("neon-bar", "wx4444444444444444")
    });
    apps
}

#[test]
fn every_sink_is_told_once_in_its_format_signed_as_its_platform_documents() {
    let receivers = [
        Receiver::start("/cgi-bin/webhook/send?key=wecom-key", wecom),
        Receiver::start("/robot/send?access_token=ding-token", dingtalk),
        Receiver::start("/open-apis/bot/v2/hook/feishu-hook", feishu),
        Receiver::start("/services/T000/B000/slack", slack),
        Receiver::start("/minifleet", webhook),
    ];
    let [wecom_r, ding_r, feishu_r, slack_r, hook_r] = &receivers;
    let mut fleet = common::TestFleet::new();
    fleet.sandbox_extra = concat!(
        "  reject:\n    - when_ext: { theme: neon }\n      reason: Neon theme breaks the content rules\n",
        "notify:\n  link: https://minifleet.example.com\n  batch: 1s\n  sinks:\n",
        "    - { name: ops-wecom, kind: wecom, url_secret: '${env:WECOM_URL}', events: [audit_approved, audit_rejected, app_failed, converged] }\n",
        "    - { name: ops-ding, kind: dingtalk, url_secret: '${env:DING_URL}', secret: '${env:DING_SECRET}', events: [audit_rejected] }\n",
        "    - { name: east-feishu, kind: feishu, url_secret: '${env:FEISHU_URL}', secret: '${env:FEISHU_SECRET}', events: [audit_approved], selector: { region: east } }\n",
        "    - { name: dev-slack, kind: slack, url_secret: '${env:SLACK_URL}', events: [audit_rejected] }\n",
        "    - { name: audit-log, kind: webhook, url_secret: '${env:HOOK_URL}', secret: '${env:HOOK_SECRET}', events: [audit_approved, audit_rejected, converged] }\n",
        "rollout:\n  waves:\n    - { name: east, match: { region: east } }\n    - { name: rest }\n",
    )
    .to_owned();
    fleet.write(&apps());
    let env = [
        ("WECOM_URL", wecom_r.url.clone()),
        ("DING_URL", ding_r.url.clone()),
        ("DING_SECRET", DING_SECRET.to_owned()),
        ("FEISHU_URL", feishu_r.url.clone()),
        ("FEISHU_SECRET", FEISHU_SECRET.to_owned()),
        ("SLACK_URL", slack_r.url.clone()),
        ("HOOK_URL", hook_r.url.clone()),
        ("HOOK_SECRET", HOOK_SECRET.to_owned()),
    ];
    let out = run_with_env(&fleet, &env);
    let all = text(&out);
    assert_eq!(code(&out), 1, "the neon app is rejected: {all}");
    for (name, value) in &env {
        if name.ends_with("SECRET") || name.ends_with("URL") {
            assert!(
                !all.contains(value.as_str()),
                "{name} leaked into the output"
            );
        }
    }

    // DingTalk: signed in the URL (the receiver refused anything else), the rejection only, in
    // Chinese markdown with its reason and link.
    let ding = ding_r.got();
    assert_eq!(ding.len(), 1, "{ding:?}");
    assert_eq!(
        dingtalk(&ding[0]).1,
        r#"{"errcode":0,"errmsg":"ok"}"#,
        "a valid signature"
    );
    let md = ding[0].body["markdown"]["text"].as_str().unwrap();
    assert!(
        md.contains("**neon-bar** (wechat) 审核被驳回: Neon theme breaks the content rules"),
        "{md}"
    );
    assert!(
        md.contains("https://minifleet.example.com/apps/neon-bar"),
        "{md}"
    );
    assert_eq!(ding[0].body["msgtype"], "markdown");

    // Feishu: the east apps' approvals only (the selector), signed in the body, as a digest.
    let fei = feishu_r.got();
    assert!(!fei.is_empty());
    for got in &fei {
        assert_eq!(
            feishu(got).1,
            r#"{"code":0,"msg":"success"}"#,
            "a valid signature"
        );
        assert_eq!(got.body["msg_type"], "text");
    }
    let fei_text = feishu_r.text();
    for app in ["tea-house", "rice-shop", "noodle-bar"] {
        assert!(fei_text.contains(app), "{app}: {fei_text}");
    }
    assert!(
        !fei_text.contains("neon-bar"),
        "west is not east's: {fei_text}"
    );
    assert!(fei_text.contains("审核通过"), "{fei_text}");

    // Slack: English, the rejection only.
    let slack_text = slack_r.text();
    assert_eq!(slack_r.got().len(), 1);
    assert!(
        slack_text.contains("neon-bar (wechat) audit rejected: Neon theme"),
        "{slack_text}"
    );

    // The webhook: signed, the notices as JSON; three approvals, one rejection, three converged.
    let hooks = hook_r.got();
    let notices: Vec<Value> = hooks
        .iter()
        .inspect(|g| assert_eq!(webhook(g).0, 200, "a valid signature"))
        .flat_map(|g| g.body["notices"].as_array().unwrap().clone())
        .collect();
    let count = |kind: &str| notices.iter().filter(|n| n["kind"] == kind).count();
    assert_eq!(count("audit_approved"), 3, "{notices:?}");
    assert_eq!(count("audit_rejected"), 1, "{notices:?}");
    assert_eq!(count("converged"), 3, "{notices:?}");
    // Each notice names its app's wave, which a burst's digest names too.
    for notice in &notices {
        let wave = if notice["app"] == "neon-bar" {
            "rest"
        } else {
            "east"
        };
        assert_eq!(notice["wave"], wave, "{notice}");
    }
    assert!(
        hooks.len() < notices.len(),
        "notices arriving together share a message: {} messages for {} notices",
        hooks.len(),
        notices.len()
    );

    // WeCom: markdown, Chinese, the failed app too.
    let wecom_text = wecom_r.text();
    assert!(
        wecom_text.contains("\"msgtype\":\"markdown\""),
        "{wecom_text}"
    );
    assert!(
        wecom_text.contains("应用失败") || wecom_text.contains("审核被驳回"),
        "{wecom_text}"
    );

    // A second run tells nothing again: what was told is in the store.
    let before: Vec<usize> = receivers.iter().map(|r| r.got().len()).collect();
    let out = run_with_env(&fleet, &env);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let after: Vec<usize> = receivers.iter().map(|r| r.got().len()).collect();
    assert_eq!(before, after, "each notice is told once, across runs");
}

#[test]
fn a_sink_that_takes_nothing_blocks_nothing_and_shows_in_metrics() {
    let bad = Receiver::start("/cgi-bin/webhook/send?key=revoked", broken);
    let mut fleet = common::TestFleet::new();
    fleet.sandbox_extra = concat!(
        "notify:\n  batch: 100ms\n  sinks:\n",
        "    - { name: revoked-robot, kind: wecom, url_secret: '${env:WECOM_URL}', events: [audit_approved, converged] }\n",
    )
    .to_owned();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    let url = bad.url.clone();
    let daemon =
        common::Daemon::start_with_env(&fleet, &["--resync", "1h"], &[("WECOM_URL", &url)]);
    let started = Instant::now();
    daemon.wait_log("the app converged", |line| {
        line["message"] == "pass finished" && line["state"] == "in_sync"
    });
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "reconciling was not held up by the sink"
    );
    let mut metrics = String::new();
    while started.elapsed() < Duration::from_secs(60) {
        metrics = daemon.get("/metrics").1;
        if metrics
            .contains("minifleet_notify_failures_total{sink=\"revoked-robot\",kind=\"wecom\"} 1")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        metrics
            .contains("minifleet_notify_failures_total{sink=\"revoked-robot\",kind=\"wecom\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("minifleet_notify_sent_total{sink=\"revoked-robot\",kind=\"wecom\"} 0")
    );
    common::openmetrics::check(&metrics);
    assert!(bad.got().len() >= 2, "tried again: {:?}", bad.got().len());
    let warned = daemon.wait_log("of the sink's failure", |l| {
        l["message"] == "a notification could not be sent"
    });
    assert!(
        warned["error"]
            .as_str()
            .is_some_and(|e| e.contains("93000")),
        "the failure is logged with the robot's code: {warned}"
    );
    assert!(
        !daemon.log_text().contains("key=revoked"),
        "the URL (a credential) is never logged"
    );
}

#[test]
fn a_low_audit_quota_is_told_once_a_month() {
    let hook_r = Receiver::start("/minifleet", webhook);
    let mut fleet = common::TestFleet::new();
    fleet.sandbox_extra = concat!(
        "  audit_quota: 4\n",
        "notify:\n  batch: 100ms\n  quota_low: 5\n  sinks:\n",
        "    - { name: quota-watch, kind: webhook, url_secret: '${env:HOOK_URL}', secret: '${env:HOOK_SECRET}', events: [quota_low] }\n",
    )
    .to_owned();
    fleet.write(&[
        App::new("tea-house", "wx1111111111111111"),
        App::new("rice-shop", "wx2222222222222222"),
    ]);
    let env = [
        ("HOOK_URL", hook_r.url.clone()),
        ("HOOK_SECRET", HOOK_SECRET.to_owned()),
    ];
    let out = run_with_env(&fleet, &env);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let notices: Vec<Value> = hook_r
        .got()
        .iter()
        .flat_map(|g| g.body["notices"].as_array().unwrap().clone())
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["kind"], "quota_low");
    let detail = notices[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("4 of 4 audit submissions left this month"),
        "{detail}"
    );
    // The next run reads the quota again, lower still: told once this month all the same.
    let mut apps = vec![
        App::new("tea-house", "wx1111111111111111"),
        App::new("rice-shop", "wx2222222222222222"),
    ];
    for app in &mut apps {
        app.version = "1.1.0";
    }
    fleet.write(&apps);
    let out = run_with_env(&fleet, &env);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(hook_r.got().len(), 1, "once a month");
}
