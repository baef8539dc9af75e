//! Property tests: a matching live state plans nothing (on both platforms), planning is
//! deterministic, a plan never commits or submits twice, a failed app has no code steps, the state
//! agrees with the steps, and Alipay deletions only make room for a commit.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::model::{Action, AppState, Failure};

use super::*;

/// Fingerprints the generated inputs draw from (few, so they collide often).
const FPS: [&str; 3] = [FP, OLD, OTHER];

/// Tester ids and member ids the generated inputs draw from.
const TESTERS: [&str; 3] = ["ops-li", "qa-wang", "dev-zhao"];

fn fp() -> impl Strategy<Value = String> {
    prop::sample::select(FPS.to_vec()).prop_map(str::to_owned)
}

fn some_build() -> impl Strategy<Value = Build> {
    prop_oneof![
        4 => fp().prop_map(|fp| build("1.0.0", &fp)),
        1 => Just(foreign("0.9.0")),
    ]
}

fn status() -> impl Strategy<Value = AuditStatus> {
    prop::sample::select(vec![
        AuditStatus::Auditing,
        AuditStatus::Delayed,
        AuditStatus::Approved,
        AuditStatus::Rejected,
        AuditStatus::Withdrawn,
    ])
}

fn gray() -> impl Strategy<Value = u8> {
    prop_oneof![Just(100u8), Just(10u8), Just(30u8), 1u8..=100]
}

fn stage() -> impl Strategy<Value = Stage> {
    prop::sample::select(vec![Stage::Experience, Stage::Audit, Stage::Release])
}

fn testers() -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(TESTERS.to_vec(), 0..=3)
        .prop_map(|ts| ts.into_iter().map(str::to_owned).collect())
}

fn any_desired() -> impl Strategy<Value = Desired> {
    (fp(), gray(), stage(), testers(), any::<bool>()).prop_map(|(fp, gray, stage, ts, alipay)| {
        let mut d = desired();
        d.fingerprint = fp;
        d.gray = gray;
        d.stage = stage;
        d.testers = ts;
        if alipay {
            d.platform = crate::platform::alipay::spec::KIND;
            d.rules = &crate::platform::alipay::spec::RULES;
        }
        d
    })
}

/// Alipay gray percentages.
fn alipay_gray() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![10u8, 30, 50, 100])
}

/// Development builds 0.0.0 … 0.0.(n-1), oldest first, with drawn fingerprints.
fn dev_builds() -> impl Strategy<Value = Vec<Build>> {
    prop::collection::vec(fp(), 0..=24).prop_map(|fps| {
        fps.iter()
            .enumerate()
            .map(|(i, fp)| build(&format!("0.0.{i}"), fp))
            .collect()
    })
}

/// Builds the platform lists: versions around the wanted 1.5.0, sometimes with other content.
fn listed_builds() -> impl Strategy<Value = Vec<Build>> {
    let version = prop::sample::select(vec!["1.4.0", "1.5.0", "1.6.0"]);
    prop::collection::vec((version, fp()), 0..=3)
        .prop_map(|bs| bs.into_iter().map(|(v, fp)| build(v, &fp)).collect())
}

fn any_observed() -> impl Strategy<Value = Observed> {
    let lists = (listed_builds(), dev_builds());
    (
        prop::bool::weighted(0.9),
        prop::option::of(some_build()),
        prop::option::of((some_build(), status())),
        prop::option::of((some_build(), prop::option::of(gray()))),
        prop::option::of(some_build()),
        prop::sample::subsequence(vec!["u-ops-li", "u-qa-wang", "u-x"], 0..=3),
        lists,
    )
        .prop_map(
            |(authorized, experience, audit_, live_, previous, members, (builds, dev))| Observed {
                authorized,
                experience,
                audit: audit_.map(|(b, s)| audit("7", b, s)),
                live: live_.and_then(|(b, g)| live(b, g.filter(|g| *g < 100))),
                previous,
                members: members.into_iter().map(str::to_owned).collect(),
                builds,
                dev_builds: dev,
                probe: None,
                wanted: None,
                domains: None,
                jump: None,
            },
        )
}

fn alipay_desired() -> impl Strategy<Value = Desired> {
    (fp(), alipay_gray(), stage(), testers()).prop_map(|(fp, gray, stage, ts)| {
        let mut d = desired();
        d.platform = crate::platform::alipay::spec::KIND;
        d.rules = &crate::platform::alipay::spec::RULES;
        d.fingerprint = fp;
        d.gray = gray;
        d.stage = stage;
        d.testers = ts;
        d
    })
}

fn any_record() -> impl Strategy<Value = Record> {
    (
        prop::sample::subsequence(TESTERS.to_vec(), 0..=3),
        prop::option::of(fp()),
        prop::option::of(fp()),
        0u32..=6,
        0u32..=11,
    )
        .prop_map(|(known, failed, refused, today, month)| Record {
            testers: known
                .into_iter()
                .map(|t| (t.to_owned(), format!("u-{t}")))
                .collect(),
            failure: failed.map(|fingerprint| Failure {
                fingerprint,
                call: "wxa/commit".into(),
                code: "85013".into(),
                message: "bad ext".into(),
                audit: None,
            }),
            rollback_refused: refused,
            withdrawals: withdrawals(today, month),
            ..Record::default()
        })
}

/// An observation that matches `d` exactly, with every wanted tester bound.
fn matching(d: &Desired) -> (Observed, Record) {
    let own = build(&d.version, &d.fingerprint);
    let testers: BTreeMap<String, String> = d
        .testers
        .iter()
        .map(|t| (t.clone(), format!("u-{t}")))
        .collect();
    let observed = Observed {
        authorized: true,
        experience: Some(own.clone()),
        audit: Some(audit("9", own.clone(), AuditStatus::Approved)),
        live: live(own, (d.gray < 100).then_some(d.gray)),
        previous: Some(build("0.1.0", OTHER)),
        members: testers.values().cloned().collect(),
        builds: vec![build("0.1.0", OTHER), build(&d.version, &d.fingerprint)],
        dev_builds: Vec::new(),
        probe: None,
        wanted: None,
        domains: None,
        jump: None,
    };
    let record = Record {
        testers,
        ..Record::default()
    };
    (observed, record)
}

fn is_code_step(action: &Action) -> bool {
    !matches!(
        action,
        Action::BindTester { .. } | Action::VerifyTester { .. } | Action::UnbindTester { .. }
    )
}

/// A WeChat or Alipay app walking its gray over a drawn set of increasing steps.
fn walking_desired() -> impl Strategy<Value = Desired> {
    let steps = prop::sample::subsequence(vec![5u8, 10, 20, 30, 50, 100], 1..=6);
    (any_desired(), steps, 1u64..=48).prop_map(|(mut d, steps, hours)| {
        d.gray = *steps.last().unwrap_or(&100);
        d.walk = Some(crate::model::GrayWalk {
            steps: steps.into(),
            hold_secs: hours * 3600,
        });
        d
    })
}

/// A record with a drawn gray mark: some build, some percentage, since some hours ago.
fn marked_record() -> impl Strategy<Value = Record> {
    (any_record(), prop::option::of((fp(), gray(), 0u64..=72))).prop_map(|(mut r, mark)| {
        r.gray_mark = mark.map(|(fingerprint, percent, ago)| crate::model::GrayMark {
            fingerprint,
            percent,
            since: NOW - ago * 3600,
        });
        r
    })
}

proptest! {
    /// Gray steps never go down, and never come before their hold has passed.
    #[test]
    fn a_walk_only_raises_and_only_when_due(
        d in walking_desired(),
        o in any_observed(),
        r in marked_record(),
    ) {
        let p = plan(&d, &o, &r);
        let live_gray = o
            .live
            .as_ref()
            .filter(|l| l.build.fingerprint.as_deref() == Some(d.fingerprint.as_str()))
            .and_then(|l| l.gray);
        let Some(current) = live_gray else {
            return Ok(()); // not walking yet (or done): the release steps' own rules hold
        };
        let walk = d.walk.as_ref().expect("walking");
        let due = r
            .gray_mark
            .as_ref()
            .filter(|m| m.fingerprint == d.fingerprint && m.percent == current)
            .map(|m| m.since + walk.hold_secs);
        for step in &p.steps {
            match &step.action {
                Action::Gray { to, .. } => {
                    prop_assert!(*to > current, "lowered {current}% to {to}%");
                    prop_assert!(due.is_some_and(|due| due <= NOW), "raised before due");
                }
                Action::Release { .. } => {
                    prop_assert!(due.is_some_and(|due| due <= NOW), "released before due");
                }
                Action::RevertGray | Action::Rollback { .. } => {
                    prop_assert!(false, "a walk went back: {:?}", step.action);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_suspended_app_gets_no_mutating_action(d in any_desired(), o in any_observed(), r in any_record()) {
        let running = plan(&d, &o, &r);
        let mut suspended = d.clone();
        suspended.suspended = true;
        let p = plan(&suspended, &o, &r);
        prop_assert!(!p.steps.iter().any(|s| s.action.is_mutating()), "{:?}", p.steps);
        prop_assert!(p.ext_change.is_none());
        if o.authorized {
            prop_assert_eq!(&p.state, &AppState::Suspended);
            let withheld = running.steps.iter().filter(|s| s.action.is_mutating()).count();
            let said = if withheld == 0 {
                "suspended: nothing would change now".to_owned()
            } else {
                format!("suspended: {withheld} step")
            };
            prop_assert!(p.notes[0].starts_with(&said), "{:?}", p.notes);
        } else {
            prop_assert_eq!(&p, &running);
        }
    }

    #[test]
    fn a_matching_live_state_plans_nothing(d in any_desired(), refused in prop::option::of(fp())) {
        let (o, mut r) = matching(&d);
        r.rollback_refused = refused;
        let p = plan(&d, &o, &r);
        prop_assert!(p.steps.is_empty(), "steps: {:?}", p.steps);
        prop_assert_eq!(&p.state, &AppState::InSync);
        prop_assert!(!p.has_changes());
    }

    #[test]
    fn a_lost_tester_map_invents_no_changes(d in any_desired(), unpaired in prop::sample::subsequence(TESTERS.to_vec(), 0..=3)) {
        // A fresh store (a CI runner) or one that lost the map: the platform lists the members,
        // the store cannot name them; some testers may be known bound without an id.
        let (o, mut r) = matching(&d);
        r.testers.clear();
        r.unpaired_testers = unpaired.iter().map(|t| t.to_string()).collect();
        r.unpaired_testers.retain(|t| d.testers.contains(t));
        let p = plan(&d, &o, &r);
        prop_assert!(!p.has_changes(), "steps: {:?}", p.steps);
        prop_assert_eq!(&p.state, &AppState::InSync);
        let verified = p.steps.iter().filter(|s| s.action.kind() == "verify_tester").count();
        prop_assert_eq!(verified, d.testers.len() - r.unpaired_testers.len());
        prop_assert_eq!(verified > 0, p.notes.iter().any(|n| n.starts_with("unverified: ")));
    }

    #[test]
    fn an_in_sync_alipay_app_plans_nothing_even_with_a_full_development_list(
        d in alipay_desired(), dev in dev_builds()
    ) {
        let (mut o, r) = matching(&d);
        o.builds.extend(dev.iter().cloned());
        o.dev_builds = dev;
        let p = plan(&d, &o, &r);
        prop_assert!(p.steps.is_empty(), "steps: {:?}", p.steps);
        prop_assert_eq!(&p.state, &AppState::InSync);
    }

    #[test]
    fn alipay_deletions_only_make_room_for_a_commit(
        d in alipay_desired(), o in any_observed(), r in any_record()
    ) {
        let p = plan(&d, &o, &r);
        let deleted: Vec<&str> = p.steps.iter().filter_map(|s| match &s.action {
            Action::DeleteBuild { version } => Some(version.as_str()),
            _ => None,
        }).collect();
        let commit = p.steps.iter().position(|s| s.action.kind() == "commit");
        if deleted.is_empty() {
            prop_assert!(commit.is_none() || o.dev_builds.len() < 20 || !p.notes.is_empty());
            return Ok(());
        }
        let commit = commit.expect("deletions come with a commit");
        prop_assert!(p.steps[..commit].iter().filter(|s| s.action.kind() == "delete_build").count() == deleted.len());
        prop_assert!(o.dev_builds.len() + 1 - deleted.len() <= 20 || !p.notes.is_empty());
        let experience = o.experience.as_ref().map(|b| b.version.as_str());
        for v in &deleted {
            prop_assert!(*v != d.version && Some(*v) != experience, "{v} is protected");
            prop_assert!(o.dev_builds.iter().any(|b| b.version == *v), "{v} is a dev build");
        }
    }

    #[test]
    fn planning_is_deterministic(d in any_desired(), o in any_observed(), r in any_record()) {
        prop_assert_eq!(plan(&d, &o, &r), plan(&d, &o, &r));
    }

    #[test]
    fn a_plan_never_commits_or_submits_twice(
        d in any_desired(), o in any_observed(), r in any_record()
    ) {
        let p = plan(&d, &o, &r);
        let count = |kind: &str| p.steps.iter().filter(|s| s.action.kind() == kind).count();
        prop_assert!(count("commit") <= 1);
        prop_assert!(count("submit_audit") <= 1);
        prop_assert!(count("withdraw_audit") <= 1);
    }

    #[test]
    fn a_failed_app_has_no_code_steps(d in any_desired(), o in any_observed(), r in any_record()) {
        let p = plan(&d, &o, &r);
        if matches!(p.state, AppState::Failed { .. } | AppState::NotAuthorized { .. }) {
            prop_assert!(!p.steps.iter().any(|s| is_code_step(&s.action)), "{:?}", p.steps);
        }
    }

    #[test]
    fn the_state_agrees_with_the_steps(d in any_desired(), o in any_observed(), r in any_record()) {
        let p = plan(&d, &o, &r);
        let waits = p.steps.iter().any(|s| s.action.kind() == "wait_for_audit");
        match &p.state {
            AppState::Changes => prop_assert!(p.has_changes()),
            AppState::WaitingOnAudit => prop_assert!(!p.has_changes() && waits),
            // In sync, but with testers to verify (a lost tester map): those are not changes.
            AppState::InSync => prop_assert!(
                p.steps.iter().all(|s| s.action.kind() == "verify_tester") && !p.has_changes()
            ),
            AppState::NotAuthorized { .. } => prop_assert!(p.steps.is_empty() && !o.authorized),
            AppState::Failed { .. } => {}
            AppState::Suspended => prop_assert!(d.suspended && p.steps.is_empty()),
            AppState::Graying => prop_assert!(
                !p.has_changes() && !waits && p.walk.as_ref().is_some_and(|w| w.next.is_some())
            ),
        }
        prop_assert_eq!(p.ext_change.is_some(), p.steps.iter().any(|s| s.action.kind() == "commit"));
    }
}
