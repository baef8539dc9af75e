//! The engine in process against the embedded sandbox: the journal and settling of unknown
//! outcomes, the store's backoff and its lifting by an edit, quota parks and the audit budget's
//! hold — without going through the binary.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::{Action, Desired, Record};
use crate::store::Intent;

/// An engine on the embedded sandbox for a WeChat fleet of `apps` (YAML list items), with
/// `sandbox` appended to the fleet's `sandbox:` section; the store lives in the returned dir.
async fn engine(apps: &str, sandbox: &str) -> (tempfile::TempDir, Arc<Engine>, Vec<Desired>) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "version: 1\n\
         platforms:\n  wechat:\n    component_appid: wx00000000000000aa\n    api_base: sandbox\n\
         templates:\n  shop:\n    wechat: {{ template_id: 7 }}\n\
         defaults:\n  template: shop\n  version: 1.0.0\n  description: Test\n  audit:\n    items:\n      - {{ address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 1, second_id: 2, title: Home }}\n\
         sandbox:\n  audit_delay: 100ms\n  privacy_scan: 50ms\n{sandbox}\
         apps:\n{apps}"
    );
    let path = dir.path().join("fleet.yaml");
    let fleet = crate::fleet::load_str(&text, &path, &|_| None, crate::platform::registry::SPECS)
        .unwrap_or_else(|e| panic!("a valid fleet: {e}"));
    let store = Store::open(&dir.path().join("store")).unwrap();
    let engine = Engine::connect(&fleet, store).await.unwrap();
    (dir, Arc::new(engine), fleet.apps)
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
        let planned = engine.plan_pass(&apps, apply()).await;
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
        let planned = engine.plan_proposal(&apps, 4).await;
        let budget = planned.audit_budget.expect("a budget");
        assert_eq!((budget.planned, budget.left, budget.waiting), (2, 1, 1));
        assert!(planned.reports.iter().all(|r| r.error.is_none() && r.plan.is_some()));
        for app in &apps {
            assert_eq!(engine.store.observation(&app.appid).unwrap(), None);
            assert_eq!(engine.store.record(&app.appid).unwrap(), Record::default());
        }
        assert!(engine.store.history(None).unwrap().is_empty());
        assert!(engine.reserved.lock().unwrap().values().all(|a| a.is_empty()));
        // A dry run keeps its observations (for `status`) but reserves nothing either: only
        // plans about to be applied hold a submission.
        let dry = PassOptions {
            apply: false,
            ..apply()
        };
        engine.plan_pass(&apps, dry).await;
        assert!(engine.store.observation(&apps[0].appid).unwrap().is_some());
        assert!(engine.reserved.lock().unwrap().values().all(|a| a.is_empty()));
        // So a pass that applies still gets the one submission left.
        let planned = engine.plan_pass(&apps, apply()).await;
        assert!(planned.reports[0].held.is_none());
    })
    .await;
}
