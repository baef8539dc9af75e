//! End-to-end rollouts: the real binary against a standalone sandbox on loopback, counted from
//! the sandbox's own records — a canary wave that meets the reject rule halts the release with
//! every other app untouched, a fixed build lifts the halt and the waves go in order within
//! `max_update`; a manual gate holds its wave until `minifleet promote`; a suspended app is never
//! changed.

mod common;

use std::collections::BTreeMap;

use common::{TestFleet, app_plan, code, records, spawn_sandbox, text};
use minifleet::sandbox::Accepted;

const COMMIT: &str = "wxa/commit";
const SUBMIT: &str = "wxa/submit_audit";
const RELEASE: &str = "wxa/release";

/// Unix ms of each app's calls of `call`, by appid.
fn times(records: &[Accepted], call: &str) -> BTreeMap<String, Vec<u64>> {
    let mut by_app: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.call == call) {
        by_app.entry(r.app.clone()).or_default().push(r.at_ms);
    }
    by_app
}

/// A fleet file on the sandbox at `url`: `apps` are (name, appid, labels) on WeChat, every app
/// with `ext` from defaults plus its shop id; `rollout` and `extra_defaults` are YAML.
fn fleet_text(url: &str, theme: &str, rollout: &str, apps: &[(String, String, &str)]) -> String {
    let mut yaml = format!(
        "version: 1
platforms:
  wechat: {{ component_appid: wx00000000000000aa, api_base: sandbox }}
templates:
  shop:
    wechat: {{ template_id: 7 }}
defaults:
  template: shop
  version: 1.0.0
  description: Test build
  ext: {{ theme: {theme} }}
  audit:
    items:
      - {{ address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 220, second_id: 225, title: Home }}
sandbox:
  url: {url}
{rollout}apps:
"
    );
    for (i, (name, appid, extra)) in apps.iter().enumerate() {
        yaml.push_str(&format!(
            "  - {{ name: {name}, platform: wechat, appid: {appid}, ext: {{ shopId: \"{i}\" }}{extra} }}\n"
        ));
    }
    yaml
}

/// `n` apps named `<prefix>-<i>` with appids `wx<digit>…<i>` and `extra` keys.
fn apps(
    prefix: &str,
    digit: char,
    n: usize,
    extra: &'static str,
) -> Vec<(String, String, &'static str)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}-{i}"),
                format!("wx{}{i:04}", digit.to_string().repeat(12)),
                extra,
            )
        })
        .collect()
}

fn wait(fleet: &TestFleet) -> std::process::Output {
    fleet.wait("90s")
}

const THREE_WAVES: &str = "rollout:
  waves:
    - { name: canary, match: { tier: canary }, max_update: 3 }
    - { name: east, match: { region: east }, max_update: 50% }
    - { name: rest }
";

#[test]
fn a_rejected_canary_halts_the_release_everywhere_and_a_fix_goes_through_the_waves_in_order() {
    let sandbox = spawn_sandbox(&[
        "--audit-delay",
        "300ms",
        "--reject",
        "theme=neon:Neon breaks the content rules",
    ]);
    let mut all = apps("canary", '1', 3, ", labels: { tier: canary }");
    let east = apps("east", '2', 7, ", labels: { region: east }");
    let rest = apps("rest", '3', 10, "");
    all.extend(east.iter().cloned());
    all.extend(rest.iter().cloned());
    let fleet = TestFleet::new();
    fleet.write_raw(&fleet_text(&sandbox.url, "neon", THREE_WAVES, &all));

    // The canary is rejected: the release halts, and `--wait` stops (a person must act).
    let out = wait(&fleet);
    assert_eq!(code(&out), 1, "the canary failed:\n{}", text(&out));
    let accepted = records(&sandbox.url);
    let canaries: Vec<&str> = all[..3].iter().map(|a| a.1.as_str()).collect();
    let touched: Vec<&Accepted> = accepted
        .iter()
        .filter(|r| !canaries.contains(&r.app.as_str()))
        .collect();
    assert!(
        touched.is_empty(),
        "apps outside the canary were changed: {touched:#?}"
    );
    // One rejection of three canaries is over the default 20 %: those not submitted by then
    // never are (no audit quota spent on a build known bad).
    let submitted = times(&accepted, SUBMIT);
    assert!(
        (1..=3).contains(&submitted.len()) && submitted.values().all(|t| t.len() == 1),
        "{submitted:#?}"
    );
    assert!(times(&accepted, RELEASE).is_empty());

    let plan = fleet.plan_json_exiting(1);
    let halts = &plan["rollout"]["halts"];
    assert_eq!(halts[0]["release"], "shop@1.0.0", "{plan:#}");
    assert_eq!(halts[0]["wave"], "canary");
    assert_eq!(
        halts[0]["rejected"].as_array().unwrap().len(),
        submitted.len(),
        "every submission was rejected and counted"
    );
    let held = app_plan(&plan, "east-0");
    assert!(held["steps"].as_array().unwrap().is_empty(), "{held:#}");
    let notes = held["notes"].to_string();
    assert!(
        notes.contains("halted") && notes.contains("minifleet resume shop@1.0.0"),
        "{notes}"
    );
    let text_plan = text(&fleet.run(&["plan"]));
    assert!(text_plan.contains("Halted: shop@1.0.0"), "{text_plan}");
    let status = fleet.status_json();
    let row = app_plan(&status, "east-0");
    assert_eq!(row["state"], "held", "{row:#}");
    assert!(
        row["reason"].as_str().unwrap().contains("halted"),
        "{row:#}"
    );

    // A fixed ext is a new build for every app: the halt lifts, and the waves go in order.
    fleet.write_raw(&fleet_text(&sandbox.url, "green", THREE_WAVES, &all));
    let out = wait(&fleet);
    assert_eq!(code(&out), 0, "converges after the fix:\n{}", text(&out));
    let accepted = records(&sandbox.url);
    let commits = times(&accepted, COMMIT);
    let releases = times(&accepted, RELEASE);
    assert_eq!(releases.len(), 20, "every app released: {releases:#?}");
    let last_release =
        |group: &[(String, String, &str)]| group.iter().map(|a| releases[&a.1][0]).max().unwrap();
    let first_commit =
        |group: &[(String, String, &str)]| group.iter().map(|a| commits[&a.1][0]).min().unwrap();
    assert!(
        first_commit(&east) >= last_release(&all[..3]),
        "east starts after the canary is released"
    );
    assert!(
        first_commit(&rest) >= last_release(&east),
        "the rest starts after east is released"
    );
    // Never more than max_update (50 % of 7: 4) east apps between commit and release.
    let mut edges: Vec<(u64, i32)> = east
        .iter()
        .flat_map(|a| [(commits[&a.1][0], 1), (releases[&a.1][0], -1)])
        .collect();
    edges.sort();
    let mut on_their_way = 0;
    let mut most = 0;
    for (_, step) in edges {
        on_their_way += step;
        most = most.max(on_their_way);
    }
    assert!(most <= 4, "{most} east apps on their way at once");
    for app in east.iter().chain(&rest) {
        assert_eq!(commits[&app.1].len(), 1, "{} committed once", app.0);
    }
}

#[test]
fn a_manual_gate_waits_for_promote_and_a_suspended_app_is_never_changed() {
    let sandbox = spawn_sandbox(&["--audit-delay", "300ms"]);
    let rollout = "rollout:
  waves:
    - { name: canary, match: { tier: canary } }
    - { name: rest, max_update: 0 }
";
    let mut all = apps("canary", '1', 1, ", labels: { tier: canary }");
    all.extend(apps("rest", '3', 3, ""));
    all.extend(apps(
        "frozen",
        '4',
        1,
        ", labels: { tier: canary }, suspend: true",
    ));
    let fleet = TestFleet::new();
    fleet.write_raw(&fleet_text(&sandbox.url, "green", rollout, &all));

    let plan = fleet.plan_json();
    assert_eq!(app_plan(&plan, "frozen-0")["state"], "suspended");
    assert!(
        app_plan(&plan, "frozen-0")["steps"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let out = wait(&fleet);
    assert_eq!(code(&out), 0, "the gate is a settled wait:\n{}", text(&out));
    let accepted = records(&sandbox.url);
    let changed: Vec<&str> = accepted.iter().map(|r| r.app.as_str()).collect();
    assert!(changed.contains(&all[0].1.as_str()), "the canary went");
    for app in &all[1..] {
        assert!(!changed.contains(&app.1.as_str()), "{} waits", app.0);
    }
    let plan = fleet.plan_json();
    assert_eq!(plan["rollout"]["waves"][1]["state"], "gate", "{plan:#}");

    let promoted = fleet.run(&["promote"]);
    assert_eq!(code(&promoted), 0, "{}", text(&promoted));
    assert!(text(&promoted).contains("opened the gate of wave `rest` (3 apps)"));
    let again = fleet.run(&["promote", "rest"]);
    assert_eq!(code(&again), 0, "promoting an open gate again is harmless");
    let none = fleet.run(&["promote"]);
    assert_eq!(code(&none), 1);
    assert!(
        text(&none).contains("no manual gate is closed"),
        "{}",
        text(&none)
    );

    let out = wait(&fleet);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let releases = times(&records(&sandbox.url), RELEASE);
    for app in &all[..4] {
        assert!(releases.contains_key(&app.1), "{} released", app.0);
    }
    assert!(
        !releases.contains_key(&all[4].1),
        "the suspended app was never released"
    );
    assert!(
        records(&sandbox.url).iter().all(|r| r.app != all[4].1),
        "nor changed in any way"
    );
}
