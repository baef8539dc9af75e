//! The engine in process against the embedded sandbox: the journal and settling of unknown
//! outcomes, the store's backoff and its lifting by an edit, quota parks and the audit budget's
//! hold — without going through the binary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::*;
use crate::model::{Action, Desired, Record};
use crate::store::Intent;

/// An engine on the embedded sandbox for a WeChat fleet of `apps` (YAML list items), with
/// `sandbox` appended to the fleet's `sandbox:` section; the store lives in the returned dir.
async fn engine(apps: &str, sandbox: &str) -> (tempfile::TempDir, Arc<Engine>, Vec<Desired>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    let fleet = fleet(apps, sandbox, &path);
    let store = Store::open(&dir.path().join("store")).unwrap();
    let engine = Engine::connect(&fleet, store).await.unwrap();
    (dir, Arc::new(engine), fleet.apps)
}

/// The WeChat sandbox fleet of [`engine`]; audits take 100 ms unless `sandbox` says otherwise.
fn fleet(apps: &str, sandbox: &str, path: &std::path::Path) -> crate::fleet::Fleet {
    let audit_delay = if sandbox.contains("audit_delay:") {
        ""
    } else {
        "  audit_delay: 100ms\n"
    };
    let text = format!(
        "version: 1\n\
         platforms:\n  wechat:\n    component_appid: wx00000000000000aa\n    api_base: sandbox\n\
         templates:\n  shop:\n    wechat: {{ template_id: 7 }}\n\
         defaults:\n  template: shop\n  version: 1.0.0\n  description: Test\n  audit:\n    items:\n      - {{ address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 220, second_id: 225, title: Home }}\n\
         sandbox:\n{audit_delay}  privacy_scan: 50ms\n{sandbox}\
         apps:\n{apps}"
    );
    crate::fleet::load_str(&text, path, &|_| None, crate::platform::registry::SPECS)
        .unwrap_or_else(|e| panic!("a valid fleet: {e}"))
}

const ONE: &str = "  - { name: tea-house, platform: wechat, appid: \"wx1111111111111111\", ext: { shopId: \"1\" } }\n";

/// The mutating calls the sandbox accepted for `appid` named `call`.
fn accepted(engine: &Engine, appid: &str, call: &str) -> usize {
    engine
        .platforms()
        .sandbox()
        .expect("the embedded sandbox")
        .accepted()
        .iter()
        .filter(|r| r.app == appid && r.call == call)
        .count()
}

fn apply() -> PassOptions {
    PassOptions {
        apply: true,
        concurrency: 4,
    }
}

/// Runs `f` with a bound, so a hang fails the test instead of the suite.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("within a minute")
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_settled_by_observing_and_not_sent_again() {
    bounded(async {
        let (_dir, engine, apps) = engine(ONE, "").await;
        let app = &apps[0];
        let commit = Action::Commit {
            version: app.version.clone(),
            fingerprint: app.fingerprint.clone(),
        };
        // A crash between the call and its outcome: the intent is journalled, the platform
        // applied the commit, no outcome was written.
        let intent = Intent {
            app: app.name.clone(),
            appid: app.appid.clone(),
            action: commit.kind().to_string(),
            fingerprint: app.fingerprint.clone(),
            at_ms: now_ms(),
            step: Some(commit.clone()),
            revision: None,
        };
        engine.store.journal_intent(&intent).await.unwrap();
        let platform = engine.platform(app.platform).unwrap().clone();
        platform.execute(app, &commit).await.unwrap();
        assert_eq!(engine.store.unsettled_for(&app.appid).unwrap().len(), 1);

        let reports = engine.pass(std::slice::from_ref(app), apply()).await;
        assert!(reports[0].error.is_none(), "{:?}", reports[0].error);
        assert!(engine.store.unsettled_for(&app.appid).unwrap().is_empty());
        assert_eq!(
            accepted(&engine, &app.appid, "wxa/commit"),
            1,
            "no second commit"
        );
        let kinds: Vec<&str> = reports[0]
            .applied
            .iter()
            .map(|a| a.step.action.kind())
            .collect();
        assert!(!kinds.contains(&"commit"), "{kinds:?}");
        let history = engine.store.history(Some(&app.appid)).unwrap();
        assert!(
            history
                .iter()
                .any(|e| e.result == "settled" && e.detail.contains("settled: applied")),
            "{history:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_pass_backs_off_in_the_store_and_an_edit_of_the_entry_lifts_it() {
    bounded(async {
        let faults = "  faults: { error_rate: 1.0, codes: [-1], seed: 1 }\n";
        let (_dir, engine, apps) = engine(ONE, faults).await;
        let app = &apps[0];
        let first = engine.pass(std::slice::from_ref(app), apply()).await;
        assert!(first[0].error.is_some());
        let record = engine.store.record(&app.appid).unwrap();
        assert_eq!(record.failures, 1);
        assert!(record.backoff_until_ms.is_some_and(|t| t > now_ms()));
        assert!(record.last_error.as_deref().unwrap().contains("-1"));
        let held_now = first[0].held.as_ref().expect("held after the failure");
        assert_eq!(held_now.kind, HoldKind::Backoff);

        let second = engine.pass(std::slice::from_ref(app), apply()).await;
        assert_eq!(
            second[0].held.as_ref().map(|h| h.kind),
            Some(HoldKind::Backoff)
        );
        assert!(second[0].applied.is_empty(), "a held app applies nothing");

        let mut edited = app.clone();
        edited.gray = 50;
        assert_eq!(held(&record, &edited, now_ms(), true), None);
        assert!(held(&record, app, now_ms(), true).is_some());
    })
    .await;
}

#[tokio::test]
async fn a_quota_error_parks_the_app_until_the_quota_resets() {
    bounded(async {
        let faults = "  faults: { error_rate: 1.0, codes: [45009], seed: 1 }\n";
        let (_dir, engine, apps) = engine(ONE, faults).await;
        let app = &apps[0];
        let reports = engine.pass(std::slice::from_ref(app), apply()).await;
        let error = match &reports[0].error {
            Some(PassError::Platform(e)) => e.clone(),
            other => panic!("a platform error, got {other:?}"),
        };
        assert_eq!(error.class, crate::platform::ErrorClass::Quota);
        let record = engine.store.record(&app.appid).unwrap();
        let parked = record.parked.expect("parked");
        let tomorrow = crate::model::calendar::next_beijing_day(now_ms() / 1000);
        assert_eq!(
            parked.until, tomorrow,
            "45009 resets at the next Beijing midnight"
        );
        let hold = reports[0]
            .held
            .as_ref()
            .expect("the report says it is held");
        assert_eq!(hold.kind, HoldKind::Parked);
        let mut polls = 0;
        let timing = policy::Timing::new(Duration::from_secs(600), Duration::from_secs(30), false);
        let next = policy::outcome(&reports[0], &mut polls, &timing, 0.5, now_ms());
        assert!(!next.settled);
        assert_eq!(next.held_until_ms, Some(tomorrow * 1000));
    })
    .await;
}

#[tokio::test]
async fn the_audit_budget_holds_submissions_beyond_the_quota_in_fleet_order() {
    bounded(async {
        let apps_yaml = "  - { name: a, platform: wechat, appid: \"wx1111111111111111\", ext: { shopId: \"1\" } }\n  \
                         - { name: b, platform: wechat, appid: \"wx2222222222222222\", ext: { shopId: \"2\" } }\n  \
                         - { name: c, platform: wechat, appid: \"wx3333333333333333\", ext: { shopId: \"3\" } }\n";
        let (_dir, engine, apps) = engine(apps_yaml, "  audit_quota: 1\n").await;
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&told);
        engine.events().subscribe(Arc::new(move |e: &Event| {
            if let Event::Held { app, kind, reason, .. } = e {
                sink.lock().unwrap().push((app.name.clone(), *kind, reason.clone()));
            }
        }));
        let planned = engine.plan_pass(&apps, apply()).await;
        let told = told.lock().unwrap().clone();
        let names: Vec<(&str, &str)> = told.iter().map(|(a, k, _)| (a.as_str(), *k)).collect();
        assert_eq!(names, [("b", "audit_quota"), ("c", "audit_quota")], "told, in line");
        assert!(told[1].2.contains("number 2 in line"), "{told:?}");
        let budget = planned.audit_budget.expect("a budget");
        assert_eq!((budget.planned, budget.left, budget.waiting), (3, 1, 2));
        assert_eq!(budget.label(), "WeChat audit quota: ", "the platform's own name");
        let held: Vec<Option<HoldKind>> = planned
            .reports
            .iter()
            .map(|r| r.held.as_ref().map(|h| h.kind))
            .collect();
        assert_eq!(
            held,
            [None, Some(HoldKind::AuditQuota), Some(HoldKind::AuditQuota)],
            "the first in fleet order gets the one left"
        );
        let reports = engine.apply_planned(&apps, planned.reports, 4).await;
        assert!(reports.iter().all(|r| r.error.is_none()));
        assert_eq!(accepted(&engine, &apps[0].appid, "wxa/submit_audit"), 1);
        assert_eq!(accepted(&engine, &apps[1].appid, "wxa/submit_audit"), 0);
        assert_eq!(accepted(&engine, &apps[2].appid, "wxa/submit_audit"), 0);
        // The ones held back still committed: only the submission waits.
        assert_eq!(accepted(&engine, &apps[2].appid, "wxa/commit"), 1);
    })
    .await;
}

#[tokio::test]
async fn a_proposed_fleet_is_planned_against_live_state_and_nothing_is_stored_or_reserved() {
    bounded(async {
        let apps_yaml = "  - { name: a, platform: wechat, appid: \"wx1111111111111111\", ext: { shopId: \"1\" } }\n  \
                         - { name: b, platform: wechat, appid: \"wx2222222222222222\", ext: { shopId: \"2\" } }\n";
        let (_dir, engine, apps) = engine(apps_yaml, "  audit_quota: 1\n").await;
        let planned = engine.plan_proposal(&apps, None, 4).await;
        let budget = planned.audit_budget.expect("a budget");
        assert_eq!((budget.planned, budget.left, budget.waiting), (2, 1, 1));
        assert!(planned.reports.iter().all(|r| r.error.is_none() && r.plan.is_some()));
        for app in &apps {
            assert_eq!(engine.store.observation(&app.appid).unwrap(), None);
            assert_eq!(engine.store.record(&app.appid).unwrap(), Record::default());
        }
        assert!(engine.store.history(None).unwrap().is_empty());
        assert!(engine.ledger().is_clear());
        // A dry run keeps its observations (for `status`) but reserves nothing either: only
        // plans about to be applied hold a submission.
        let dry = PassOptions {
            apply: false,
            ..apply()
        };
        engine.plan_pass(&apps, dry).await;
        assert!(engine.store.observation(&apps[0].appid).unwrap().is_some());
        assert!(engine.ledger().is_clear());
        // So a pass that applies still gets the one submission left.
        let planned = engine.plan_pass(&apps, apply()).await;
        assert!(planned.reports[0].held.is_none());
    })
    .await;
}

/// Passes `apps` until every one settled (the sandbox's audits take 100 ms).
async fn converge(engine: &Arc<Engine>, apps: &[Desired]) {
    for _ in 0..80 {
        let reports = engine.pass(apps, apply()).await;
        if reports.iter().all(AppReport::is_settled) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    panic!("the apps did not converge");
}

/// A resync round of `apps` as the scheduler starts it (planned, not applied): what it read
/// from the sandbox (calls by path) and the reports.
async fn resync(engine: &Arc<Engine>, apps: &[Desired]) -> (BTreeMap<String, u64>, Vec<AppReport>) {
    let sim = &engine
        .platforms()
        .sandbox()
        .expect("the embedded sandbox")
        .wechat();
    let before = sim.calls();
    let due: Vec<scheduler::Due> = apps
        .iter()
        .map(|app| scheduler::Due {
            app: app.clone(),
            trigger: Trigger::Resync,
        })
        .collect();
    let permits = Arc::new(Semaphore::new(4));
    let reports = engine.plan_due(&due, &permits).await.reports;
    let calls = calls_since(sim, &before);
    (calls, reports.into_iter().map(Option::unwrap).collect())
}

/// The calls `sim` answered since it had answered `before`, by path.
fn calls_since(
    sim: &crate::sandbox::wechat::Sim,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let mut calls = sim.calls();
    for (path, n) in before {
        if let Some(after) = calls.get_mut(path) {
            *after -= n;
        }
    }
    calls.retain(|_, n| *n > 0);
    calls
}

fn reads(calls: &BTreeMap<String, u64>) -> Vec<(&str, u64)> {
    calls.iter().map(|(p, n)| (p.as_str(), *n)).collect()
}

/// The first resync after a rollout: the last pass planned on the state its release made, which
/// has no probe digest, so this resync reads in full (and plans nothing); from the next one on,
/// the probe proves.
async fn first_resync_reads_in_full(engine: &Arc<Engine>, apps: &[Desired]) {
    let observed = engine.store.observation(&apps[0].appid).unwrap().unwrap().0;
    assert_eq!(
        observed.probe, None,
        "the state the release made: {observed:?}"
    );
    let (calls, reports) = resync(engine, apps).await;
    assert_eq!(calls.get("wxa/memberauth"), Some(&1), "in full: {calls:?}");
    assert!(reports[0].is_settled(), "{:?}", reports[0]);
}

#[tokio::test]
async fn a_resync_of_a_converged_app_is_proven_by_one_read_and_every_kth_observes_fully() {
    bounded(async {
        let (_dir, engine, apps) = engine(ONE, "").await;
        converge(&engine, &apps).await;
        first_resync_reads_in_full(&engine, &apps).await;
        engine.set_full_observe_every(3);
        let (calls, reports) = resync(&engine, &apps).await;
        assert_eq!(reads(&calls), [("wxa/getversioninfo", 1)]);
        assert!(reports[0].is_settled(), "{:?}", reports[0]);
        let (calls, _) = resync(&engine, &apps).await;
        assert_eq!(reads(&calls), [("wxa/getversioninfo", 1)]);
        // The third resync observes fully (what no probe shows: testers, audits, gray).
        let (calls, reports) = resync(&engine, &apps).await;
        assert_eq!(
            reads(&calls),
            [
                ("wxa/get_latest_auditstatus", 1),
                ("wxa/getgrayreleaseplan", 1),
                ("wxa/getversioninfo", 1),
                ("wxa/memberauth", 1)
            ]
        );
        assert!(reports[0].is_settled());
        // A pass that is not a resync (a start, an edit, a push) always observes fully.
        let sim = &engine.platforms().sandbox().unwrap().wechat();
        let audits = sim.call_count("wxa/get_latest_auditstatus");
        engine.plan_pass(&apps, apply()).await;
        assert_eq!(sim.call_count("wxa/get_latest_auditstatus"), audits + 1);
    })
    .await;
}

#[tokio::test]
async fn while_its_audit_is_reviewed_an_app_is_read_but_its_testers_and_a_hand_change_shows_later()
{
    bounded(async {
        let (_dir, engine, apps) = engine(ONE, "  audit_delay: 1s\n").await;
        let sim = &engine.platforms().sandbox().unwrap().wechat();
        // The first pass commits and submits, touching no tester.
        engine.pass(&apps, apply()).await;
        assert_eq!(accepted(&engine, &apps[0].appid, "wxa/submit_audit"), 1);
        // On the platform's console, while the audit is reviewed: a tester bound by hand.
        let platform = engine.platform(apps[0].platform).unwrap().clone();
        let bind = Action::BindTester {
            tester: "hand-made-tester".into(),
        };
        platform.execute(&apps[0], &bind).await.unwrap();
        // The passes waiting for the verdict read the audit, still of the submitted build: not
        // version info, not the testers.
        let before = sim.calls();
        let reports = engine.pass(&apps, apply()).await;
        let calls = calls_since(sim, &before);
        assert_eq!(
            reads(&calls),
            [("wxa/get_latest_auditstatus", 1)],
            "{reports:?}"
        );
        converge(&engine, &apps).await;
        // The first resync after the release reads in full and plans the hand-made tester away.
        let (calls, reports) = resync(&engine, &apps).await;
        assert_eq!(calls.get("wxa/memberauth"), Some(&1), "in full: {calls:?}");
        let plan = reports[0].plan.as_ref().unwrap();
        assert!(
            plan.steps
                .iter()
                .any(|s| matches!(s.action, Action::UnbindTester { .. })),
            "the fix is planned: {plan:?}"
        );
    })
    .await;
}

/// On the platform's console, once the app's audit is approved: its release, by hand.
async fn release_by_hand_once_approved(engine: &Engine, app: &Desired) {
    let platform = engine.platform(app.platform).unwrap().clone();
    let release = Action::Release {
        fingerprint: app.fingerprint.clone(),
    };
    for _ in 0..100 {
        if platform.execute(app, &release).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the audit is approved within its delay");
}

#[tokio::test]
async fn a_release_made_by_hand_before_its_own_is_answered_by_the_platform_and_the_app_converges() {
    bounded(async {
        let (_dir, engine, apps) = engine(ONE, "  audit_delay: 1s\n").await;
        let sim = &engine.platforms().sandbox().unwrap().wechat();
        engine.pass(&apps, apply()).await;
        assert_eq!(accepted(&engine, &apps[0].appid, "wxa/submit_audit"), 1);
        release_by_hand_once_approved(&engine, &apps[0]).await;
        // The next pass reads the audit alone (approved, of the submitted build) and releases:
        // WeChat answers that the build is released already (85052), which re-observes.
        let before = sim.calls();
        let reports = engine.pass(&apps, apply()).await;
        let calls = calls_since(sim, &before);
        assert_eq!(
            (calls.get("wxa/getversioninfo"), calls.get("wxa/release")),
            (None, Some(&1)),
            "{calls:?} {reports:?}"
        );
        converge(&engine, &apps).await;
        assert_eq!(
            accepted(&engine, &apps[0].appid, "wxa/release"),
            1,
            "the release by hand is the one that took effect"
        );
        let observed = engine.store.observation(&apps[0].appid).unwrap().unwrap().0;
        let live = observed.live.map(|l| l.build.fingerprint);
        assert_eq!(live, Some(Some(apps[0].fingerprint.clone())));
    })
    .await;
}

/// One pass commits, submits and waits (the fleet's audit stays open for an hour); then, on
/// the platform's console, the audit is withdrawn.
async fn submit_then_withdraw_by_hand(engine: &Arc<Engine>, apps: &[Desired]) {
    let reports = engine.pass(apps, apply()).await;
    let audit_id = reports[0]
        .plan
        .iter()
        .flat_map(|plan| &plan.steps)
        .find_map(|s| match &s.action {
            Action::WaitForAudit { audit_id } => Some(audit_id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the pass waits for an audit: {reports:?}"));
    let platform = engine.platform(apps[0].platform).unwrap().clone();
    let withdraw = Action::WithdrawAudit {
        audit_id,
        fingerprint: Some(apps[0].fingerprint.clone()),
    };
    platform.execute(&apps[0], &withdraw).await.unwrap();
}

#[tokio::test]
async fn an_audit_withdrawn_by_hand_while_awaited_is_read_and_submitted_again() {
    bounded(async {
        let (_dir, engine, apps) = engine(ONE, "  audit_delay: 1h\n").await;
        let sim = &engine.platforms().sandbox().unwrap().wechat();
        submit_then_withdraw_by_hand(&engine, &apps).await;
        // The pass waiting for the verdict reads the audit alone: withdrawn, so it submits again.
        let before = sim.calls();
        let reports = engine.pass(&apps, apply()).await;
        let calls = calls_since(sim, &before);
        assert_eq!(
            calls.get("wxa/get_latest_auditstatus"),
            Some(&1),
            "{calls:?}"
        );
        assert_eq!(calls.get("wxa/getversioninfo"), None, "{calls:?}");
        assert_eq!(
            accepted(&engine, &apps[0].appid, "wxa/submit_audit"),
            2,
            "{reports:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_release_rolled_back_by_hand_is_noticed_by_the_next_resync() {
    bounded(async {
        let (dir, engine, v1) = engine(ONE, "").await;
        converge(&engine, &v1).await;
        let v2 = fleet(
            &ONE.replace("ext:", "version: 1.1.0, ext:"),
            "",
            &dir.path().join("fleet.yaml"),
        )
        .apps;
        converge(&engine, &v2).await;
        first_resync_reads_in_full(&engine, &v2).await;
        // On the platform's console: roll back to 1.0.0.
        let platform = engine.platform(v2[0].platform).unwrap().clone();
        let rollback = Action::Rollback {
            fingerprint: v1[0].fingerprint.clone(),
        };
        platform.execute(&v2[0], &rollback).await.unwrap();
        let (calls, reports) = resync(&engine, &v2).await;
        assert_eq!(
            calls.get("wxa/getversioninfo"),
            Some(&2),
            "probe, then observe"
        );
        let plan = reports[0].plan.as_ref().unwrap();
        assert!(plan.has_changes(), "the fix is planned: {plan:?}");
        let live = engine
            .store
            .observation(&v2[0].appid)
            .unwrap()
            .unwrap()
            .0
            .live;
        assert_eq!(live.unwrap().build.version, "1.0.0");
    })
    .await;
}

#[tokio::test]
async fn a_build_committed_by_hand_is_noticed_by_the_next_resync() {
    bounded(async {
        let (_dir, engine, apps) = engine(ONE, "").await;
        converge(&engine, &apps).await;
        let platform = engine.platform(apps[0].platform).unwrap().clone();
        let mut other = apps[0].clone();
        (other.version, other.fingerprint) = ("1.0.1".into(), "0badc0de".into());
        let commit = Action::Commit {
            version: other.version.clone(),
            fingerprint: other.fingerprint.clone(),
        };
        platform.execute(&other, &commit).await.unwrap();
        let (calls, reports) = resync(&engine, &apps).await;
        assert_eq!(
            calls.get("wxa/memberauth"),
            Some(&1),
            "observed fully: {calls:?}"
        );
        let observed = engine.store.observation(&apps[0].appid).unwrap().unwrap().0;
        assert_eq!(observed.experience.unwrap().version, "1.0.1");
        assert!(reports[0].error.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_tester_unbound_by_hand_is_noticed_within_k_resyncs() {
    bounded(async {
        let one = ONE.replace("ext:", "testers: [ops-li01], ext:");
        let (_dir, engine, apps) = engine(&one, "").await;
        converge(&engine, &apps).await;
        first_resync_reads_in_full(&engine, &apps).await;
        engine.set_full_observe_every(2);
        let member = engine.store.record(&apps[0].appid).unwrap().testers["ops-li01"].clone();
        let platform = engine.platform(apps[0].platform).unwrap().clone();
        let unbind = Action::UnbindTester {
            tester: Some("ops-li01".into()),
            member: Some(member),
        };
        platform.execute(&apps[0], &unbind).await.unwrap();
        // The version info does not show testers: the first resync is proven…
        let (calls, reports) = resync(&engine, &apps).await;
        assert_eq!(reads(&calls), [("wxa/getversioninfo", 1)]);
        assert!(!reports[0].plan.as_ref().unwrap().has_changes());
        // …and the k-th (here the 2nd) observes fully and plans the bind.
        let (_, reports) = resync(&engine, &apps).await;
        let plan = reports[0].plan.as_ref().unwrap();
        assert!(
            plan.steps.iter().any(
                |s| matches!(&s.action, Action::BindTester { tester } if tester == "ops-li01")
            ),
            "{plan:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_gray_percentage_changed_by_hand_is_noticed_by_the_next_resync() {
    bounded(async {
        let (dir, engine, v1) = engine(ONE, "").await;
        converge(&engine, &v1).await;
        let v2 = fleet(
            &ONE.replace("ext:", "version: 1.1.0, gray: 10, ext:"),
            "",
            &dir.path().join("fleet.yaml"),
        )
        .apps;
        converge(&engine, &v2).await;
        // A gray release runs: the version info does not show its percentage, so no probe.
        let gray = Action::Gray {
            fingerprint: v2[0].fingerprint.clone(),
            from: Some(10),
            to: 30,
        };
        let platform = engine.platform(v2[0].platform).unwrap().clone();
        platform.execute(&v2[0], &gray).await.unwrap();
        let (calls, _) = resync(&engine, &v2).await;
        assert_eq!(calls.get("wxa/getgrayreleaseplan"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("wxa/getversioninfo"), Some(&1), "no probe first");
        let live = engine
            .store
            .observation(&v2[0].appid)
            .unwrap()
            .unwrap()
            .0
            .live;
        assert_eq!(live.unwrap().gray, Some(30));
    })
    .await;
}

#[tokio::test]
async fn a_proposal_is_planned_on_observations_the_probe_proves_for_one_read_per_app() {
    bounded(async {
        let (dir, engine, apps) = engine(ONE, "").await;
        converge(&engine, &apps).await;
        first_resync_reads_in_full(&engine, &apps).await;
        let sim = &engine.platforms().sandbox().unwrap().wechat();
        let proposed = fleet(
            &ONE.replace("ext:", "version: 1.1.0, ext:"),
            "",
            &dir.path().join("fleet.yaml"),
        )
        .apps;
        let before = sim.calls();
        let planned = engine.plan_proposal(&proposed, None, 4).await;
        let plan = planned.reports[0].plan.as_ref().unwrap();
        assert!(
            plan.steps
                .iter()
                .any(|s| matches!(s.action, Action::Commit { .. })),
            "{plan:?}"
        );
        let calls = calls_since(sim, &before);
        // One read of the app, and the audit quota (once per proposal, for its budget line).
        assert_eq!(
            reads(&calls),
            [("wxa/getversioninfo", 1), ("wxa/queryquota", 1)]
        );
        // Live state moved behind the daemon's back: the proposal observes in full.
        let platform = engine.platform(apps[0].platform).unwrap().clone();
        let mut other = apps[0].clone();
        (other.version, other.fingerprint) = ("1.0.1".into(), "0badc0de".into());
        let commit = Action::Commit {
            version: other.version.clone(),
            fingerprint: other.fingerprint.clone(),
        };
        platform.execute(&other, &commit).await.unwrap();
        let audits = sim.call_count("wxa/get_latest_auditstatus");
        engine.plan_proposal(&proposed, None, 4).await;
        assert_eq!(sim.call_count("wxa/get_latest_auditstatus"), audits + 1);
    })
    .await;
}

#[tokio::test]
async fn an_audit_withdrawn_by_hand_is_noticed_by_the_next_resync_and_submitted_again() {
    bounded(async {
        let (_dir, engine, apps) = engine(ONE, "  audit_delay: 1h\n").await;
        submit_then_withdraw_by_hand(&engine, &apps).await;
        // The app is in flight, so the resync observes in full (no probe) and plans a new
        // submission.
        let (calls, reports) = resync(&engine, &apps).await;
        assert_eq!(
            calls.get("wxa/get_latest_auditstatus"),
            Some(&1),
            "{calls:?}"
        );
        let plan = reports[0].plan.as_ref().unwrap();
        assert!(
            plan.steps
                .iter()
                .any(|s| matches!(s.action, Action::SubmitAudit { .. })),
            "{plan:?}"
        );
    })
    .await;
}
