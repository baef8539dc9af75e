//! End-to-end: the real binary against a standalone sandbox (`sandbox.url`), seeding credentials
//! over the sandbox's admin endpoints; and `minifleet sandbox` itself with fault flags.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{App, TestFleet, code, spawn_sandbox, text};
use minifleet::fleet::SandboxSpec;
use minifleet::sandbox::{self, Accepted, Persist, RemoteSandbox};

fn apps() -> Vec<App> {
    vec![
        App::new("tea-house", "wx1111111111111111"),
        App::alipay("rice-shop", "2021004100000001"),
    ]
}

/// How many accepted calls each (call, fingerprint) pair has.
fn counts(records: &[Accepted]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in records {
        let key = (r.call.clone(), r.fingerprint.clone().unwrap_or_default());
        *out.entry(key).or_default() += 1;
    }
    out
}

fn count_of(records: &[Accepted], call: &str) -> usize {
    records.iter().filter(|r| r.call == call).count()
}

/// Runs `reconcile --wait` for `fleet` off the async runtime, so the in-process sandbox serves.
async fn converge(fleet: TestFleet) -> TestFleet {
    tokio::task::spawn_blocking(move || {
        fleet.converge();
        fleet
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_with_sandbox_url_converges_on_that_sandbox_seeded_over_http() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let spec = SandboxSpec {
            audit_delay_ms: 300,
            privacy_scan_ms: 100,
            ..SandboxSpec::default()
        };
        let addr = "127.0.0.1:0".parse().unwrap();
        let handle = sandbox::start(addr, &spec, Persist::Memory).await.unwrap();
        let mut fleet = TestFleet::new();
        fleet.sandbox_extra = format!("  url: {}\n", handle.base_url());
        fleet.write(&apps());
        let fleet = converge(fleet).await;

        let records = handle.accepted();
        assert_eq!(count_of(&records, "wxa/commit"), 1, "{records:#?}");
        assert_eq!(count_of(&records, "wxa/submit_audit"), 1, "{records:#?}");
        assert_eq!(count_of(&records, "wxa/release"), 1, "{records:#?}");
        assert_eq!(
            count_of(&records, "alipay.open.mini.version.upload"),
            1,
            "{records:#?}"
        );
        assert_eq!(
            count_of(&records, "alipay.open.mini.version.audit.apply"),
            1
        );
        assert!(records.iter().all(|r| r.fingerprint.is_some()
            || r.call.contains("tester")
            || r.call.contains("members")));
        let live = handle.wechat().app_state("wx1111111111111111").unwrap();
        assert!(live.live.is_some(), "released on the external sandbox");
        let over_http = RemoteSandbox::new(&handle.base_url()).accepted().await;
        assert_eq!(over_http.unwrap(), handle.accepted());

        let again = tokio::task::spawn_blocking(move || {
            fleet.run(&["reconcile", "--dry-run", "--detailed-exitcode"])
        })
        .await
        .unwrap();
        assert_eq!(code(&again), 0, "in sync: {}", text(&again));
        assert_eq!(
            handle.accepted().len(),
            records.len(),
            "a dry run changes nothing"
        );
    })
    .await
    .expect("test timed out");
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_sandbox_command_prints_its_url_first_and_injects_the_flagged_faults() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let process = spawn_sandbox(&[
            "--error-rate",
            "1",
            "--fault-codes",
            "45011,-1",
            "--seed",
            "3",
        ]);
        let url = format!("{}/wxa/get_latest_auditstatus", process.url);
        let mut seen = Vec::new();
        for _ in 0..20 {
            let reply = http().get(&url).send().await.unwrap();
            let body: serde_json::Value = reply.json().await.unwrap();
            seen.push(body["errcode"].as_i64().unwrap());
        }
        assert!(seen.iter().all(|c| *c == 45011 || *c == -1), "{seen:?}");
        assert!(seen.contains(&45011) && seen.contains(&-1), "{seen:?}");
        let records = RemoteSandbox::new(&process.url).accepted().await;
        assert_eq!(records.unwrap(), [], "admin endpoints get no faults");

        let bad = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
            .args(["sandbox", "--listen", "127.0.0.1:0", "--error-rate", "2"])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "clap rejects a rate above 1");
        assert!(String::from_utf8_lossy(&bad.stderr).contains("between 0 and 1"));
    })
    .await
    .expect("test timed out");
}

/// Before the journal settle, a lost `submit_audit` answer was retried blindly and the build was
/// submitted again once its first audit had been decided; this counts that from the sandbox's side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_converges_against_a_sandbox_process_with_lost_answers_and_records_no_duplicates()
{
    tokio::time::timeout(Duration::from_secs(150), async {
        let process = spawn_sandbox(&[
            "--audit-delay",
            "300ms",
            "--privacy-scan",
            "100ms",
            "--lost-response-rate",
            "0.3",
            "--seed",
            "11",
        ]);
        let mut fleet = TestFleet::new();
        fleet.sandbox_extra = format!("  url: {}\n", process.url);
        fleet.write(&[
            App::new("tea-house", "wx1111111111111111"),
            App::new("noodle-bar", "wx2222222222222222"),
        ]);
        converge(fleet).await;
        let records = RemoteSandbox::new(&process.url).accepted().await.unwrap();
        for ((call, fp), n) in counts(&records) {
            if call == "wxa/submit_audit" {
                assert_eq!(n, 1, "audit of {fp} submitted {n} times: {records:#?}");
            }
        }
        assert_eq!(count_of(&records, "wxa/submit_audit"), 2, "{records:#?}");
    })
    .await
    .expect("test timed out");
}

const COMPONENT: &str = "wx00000000000000aa";
const APP: &str = "wx1111111111111111";

/// A component access token minted by the sandbox at `url` (a mutating platform call).
async fn component_token(url: &str, ticket: &str) -> String {
    let body = serde_json::json!({
        "component_appid": COMPONENT,
        "component_appsecret": "s3cret",
        "component_verify_ticket": ticket,
    });
    let reply: serde_json::Value = http()
        .post(format!("{url}/cgi-bin/component/api_component_token"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["component_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a component token: {reply}"))
        .to_string()
}

/// The errcode of a component call made with `token` (0 when the sandbox knows the token).
async fn preauth_code_errcode(url: &str, token: &str) -> i64 {
    let reply: serde_json::Value = http()
        .post(format!(
            "{url}/cgi-bin/component/api_create_preauthcode?component_access_token={token}"
        ))
        .json(&serde_json::json!({ "component_appid": COMPONENT }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["errcode"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn a_sandbox_killed_right_after_answering_a_mutating_call_still_has_it_on_restart() {
    tokio::time::timeout(Duration::from_secs(120), async {
        for round in 0..3 {
            let state = tempfile::tempdir().unwrap();
            let dir = state.path().to_str().unwrap();
            let first = spawn_sandbox(&["--state", dir]);
            let remote = RemoteSandbox::new(&first.url);
            let ticket = remote.issue_ticket(COMPONENT).await.unwrap();
            let token = component_token(&first.url, &ticket).await;
            let refresh = remote.authorize(APP).await.unwrap();
            drop(first); // SIGKILL, right after the answers
            let second = spawn_sandbox(&["--state", dir]);
            assert_eq!(
                preauth_code_errcode(&second.url, &token).await,
                0,
                "round {round}: the component token the killed sandbox answered is known"
            );
            let again = RemoteSandbox::new(&second.url).authorize(APP).await;
            assert_eq!(
                again.unwrap(),
                refresh,
                "round {round}: the authorization the killed sandbox answered is kept"
            );
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_sandbox_command_stops_cleanly_on_sigterm_and_ctrl_c_releasing_its_state() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().to_str().unwrap();
        let lock = state.path().join("LOCK.json");
        let mut refresh = None;
        for signal in ["TERM", "INT"] {
            let mut process = spawn_sandbox(&["--state", dir]);
            assert!(lock.exists(), "the running sandbox holds its state's lock");
            let remote = RemoteSandbox::new(&process.url);
            let token = remote.authorize(APP).await.unwrap();
            assert_eq!(*refresh.get_or_insert(token.clone()), token, "state kept");
            assert_eq!(process.stop_with(signal), Some(0), "SIG{signal} exits 0");
            assert!(!lock.exists(), "SIG{signal} releases the lock");
        }
        // The state is free at once, with nothing to take over.
        let store = minifleet::store::Store::open(state.path()).expect("the state opens");
        assert_eq!(store.taken_over(), None);
    })
    .await
    .expect("test timed out");
}

/// The fleet's apps that `--shard SHARD` owns, by name, from `status -o json` on an empty store
/// (no platform call).
fn owned(fleet: &TestFleet, shard: &str, store: &std::path::Path) -> Vec<String> {
    let out = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["--shard", shard, "--store"])
        .arg(store)
        .args(["status", "-o", "json"])
        .env_remove("MINIFLEET_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap().to_string())
        .collect()
}

/// Three processes, a store each, `--shard i/3`, on one sandbox: every app is converged by exactly
/// one of them (one commit or upload per app in the sandbox's records), and a fourth shard takes
/// over at most 35 % of the apps, all of them from the three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_converge_every_app_exactly_once_and_a_fourth_moves_few() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let spec = SandboxSpec {
            audit_delay_ms: 300,
            privacy_scan_ms: 100,
            ..SandboxSpec::default()
        };
        let addr = "127.0.0.1:0".parse().unwrap();
        let handle = sandbox::start(addr, &spec, Persist::Memory).await.unwrap();
        let mut fleet = TestFleet::new();
        fleet.sandbox_extra = format!("  url: {}\n", handle.base_url());
        let apps = [
            App::new("w1", "wx1111111111111111"),
            App::new("w2", "wx2222222222222222"),
            App::new("w3", "wx3333333333333333"),
            App::new("w4", "wx4444444444444444"),
            App::new("w5", "wx5555555555555555"),
            App::new("w6", "wx6666666666666666"),
            App::alipay("a1", "2021004100000001"),
            App::alipay("a2", "2021004100000002"),
            App::alipay("a3", "2021004100000003"),
            App::alipay("a4", "2021004100000004"),
            App::alipay("a5", "2021004100000005"),
            App::alipay("a6", "2021004100000006"),
        ];
        fleet.write(&apps);
        let path = fleet.path();
        let dir = fleet.dir().to_path_buf();
        let codes = tokio::task::spawn_blocking(move || {
            let children: Vec<_> = (0..3)
                .map(|i| {
                    Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
                        .arg("-f")
                        .arg(&path)
                        .args(["--shard", &format!("{i}/3"), "--store"])
                        .arg(dir.join(format!("store-{i}")))
                        .args(["--quiet", "reconcile", "--wait", "--interval", "200ms"])
                        .args(["--timeout", "90s"])
                        .env_remove("MINIFLEET_STORE")
                        .env("NO_COLOR", "1")
                        .stdout(std::process::Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            children
                .into_iter()
                .map(|c| c.wait_with_output().unwrap().status.code())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        assert_eq!(codes, [Some(0); 3]);

        let records = handle.accepted();
        let mut builds = BTreeMap::new();
        for r in records
            .iter()
            .filter(|r| r.call == "wxa/commit" || r.call == "alipay.open.mini.version.upload")
        {
            *builds.entry(r.app.clone()).or_insert(0) += 1;
        }
        assert_eq!(builds.len(), apps.len(), "every app built: {builds:?}");
        assert!(
            builds.values().all(|n| *n == 1),
            "each exactly once: {builds:?}"
        );

        // Ownership: the three shards split the fleet; four move at most 35 % of it.
        let scratch = tempfile::tempdir().unwrap();
        let of = |shard: &str| owned(&fleet, shard, &scratch.path().join(shard.replace('/', "-")));
        let three: Vec<Vec<String>> = (0..3).map(|i| of(&format!("{i}/3"))).collect();
        let mut all: Vec<&String> = three.iter().flatten().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), apps.len(), "{three:?}");
        assert_eq!(
            three.iter().map(Vec::len).sum::<usize>(),
            apps.len(),
            "disjoint"
        );
        let four: Vec<Vec<String>> = (0..4).map(|i| of(&format!("{i}/4"))).collect();
        let moved: Vec<&String> = (0..3)
            .flat_map(|i| {
                let before = &three[i];
                four[i].iter().filter(move |name| !before.contains(name))
            })
            .collect();
        assert!(moved.is_empty(), "apps moved between old shards: {moved:?}");
        assert!(
            four[3].len() * 100 <= apps.len() * 35,
            "the fourth shard took {} of {}",
            four[3].len(),
            apps.len()
        );
    })
    .await
    .unwrap();
}

/// A free loopback port (bound, read, released), for processes that must know each other's
/// addresses before they start.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Three `watch` shards with `--shard-peers`, one sandbox pushing everything (WeChat's and
/// Douyin's tickets and audit verdicts) to shard 0 only, as a platform pushes to one URL: the two
/// other shards get every ticket through shard 0, each app's verdict reaches the app's own shard
/// (which passes the app at once), and every app is built exactly once.
#[test]
fn shards_relay_tickets_to_each_other_and_verdicts_to_the_apps_shard() {
    use minifleet::fleet::shard::owner;
    let apps = [
        App::new("w1", "wx1111111111111111"),
        App::new("w2", "wx2222222222222222"),
        App::new("w3", "wx3333333333333333"),
        App::new("w4", "wx4444444444444444"),
        App::douyin("d1", "tt1111111111111111"),
        App::douyin("d2", "tt2222222222222222"),
        App::douyin("d3", "tt3333333333333333"),
        App::douyin("d4", "tt4444444444444444"),
        App::douyin("d5", "tt5555555555555555"),
        App::douyin("d6", "tt6666666666666666"),
    ];
    // The apps are spread so that shard 0 owns some of each platform and relays others'.
    for prefix in ["wx", "tt"] {
        let owners: std::collections::BTreeSet<u32> = apps
            .iter()
            .filter(|a| a.appid.starts_with(prefix))
            .map(|a| owner(a.appid, 3))
            .collect();
        assert!(
            owners.len() >= 2 && owners.contains(&0),
            "{prefix}: {owners:?}"
        );
    }
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let sandbox = spawn_sandbox(&[
        "--audit-delay",
        "300ms",
        "--privacy-scan",
        "100ms",
        "--component-appid",
        "wx00000000000000aa",
        "--douyin-component-appid",
        "tt00000000000000aa",
        "--ticket-interval",
        "2s",
        "--push-url",
        &format!("http://127.0.0.1:{}", ports[0]),
    ]);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    fleet.write(&apps);
    let shards: Vec<common::Daemon> = (0..3)
        .map(|i| {
            let store = fleet.dir().join(format!("store-{i}"));
            common::Daemon::start_at(
                &fleet,
                &format!("127.0.0.1:{}", ports[i]),
                &[
                    "--shard",
                    &format!("{i}/3"),
                    "--shard-peers",
                    &peers,
                    "--store",
                    store.to_str().unwrap(),
                ],
                &[],
            )
        })
        .collect();

    // Tickets: only shard 0 is pushed to; the others keep what it relays.
    for shard in &shards[1..] {
        shard.wait_log("a relayed WeChat ticket", |l| {
            l["message"] == "verify ticket stored"
        });
        shard.wait_log("a relayed Douyin ticket", |l| {
            l["message"] == "Douyin component ticket stored"
        });
    }
    for to in ["1/3", "2/3"] {
        shards[0].wait_log("the relay of a ticket", |l| {
            l["message"] == "ticket relayed" && l["to"] == to
        });
    }

    // Verdicts: each app's own shard hears it and passes the app at once.
    for app in &apps {
        let own = owner(app.appid, 3) as usize;
        shards[own].wait_log(app.appid, |l| {
            l["message"] == "push: passing the app now" && l["appid"] == app.appid
        });
        shards[own].wait_log(app.name, |l| {
            l["message"] == "pass finished" && l["app"] == app.name && l["state"] == "in_sync"
        });
        if own != 0 {
            shards[0].wait_log("the relay of a verdict", |l| {
                l["message"] == "push relayed to the app's shard"
                    && l["appid"] == app.appid
                    && l["to"] == format!("{own}/3")
                    && l["status"] == 200
            });
        }
        for (i, shard) in shards.iter().enumerate().filter(|(i, _)| *i != own) {
            assert!(
                shard
                    .lines(
                        |l| l["message"] == "push: passing the app now" && l["appid"] == app.appid
                    )
                    .is_empty(),
                "shard {i} does not own {}",
                app.name
            );
        }
    }
    let mut builds = BTreeMap::new();
    for r in common::records(&sandbox.url)
        .iter()
        .filter(|r| r.call == "wxa/commit" || r.call.contains("upload"))
    {
        *builds.entry(r.app.clone()).or_insert(0) += 1;
    }
    assert_eq!(builds.len(), apps.len(), "every app built: {builds:?}");
    assert!(builds.values().all(|n| *n == 1), "each once: {builds:?}");
    for shard in shards {
        let (code, _) = shard.terminate();
        assert_eq!(code, 0);
    }
}
