//! Tester planning: binds, unbinds of removed testers, and members bound outside minifleet.

use std::collections::BTreeMap;

use crate::model::{Action, AppState, AuditStatus, Failure, Record, Step};

use super::*;

/// `desired()` wanting `testers`.
fn wanting(testers: &[&str]) -> Desired {
    let mut d = desired();
    d.testers = testers.iter().map(|t| t.to_string()).collect();
    d
}

/// A record that knows these `wechatid → userstr` pairs.
fn knowing(pairs: &[(&str, &str)]) -> Record {
    let testers: BTreeMap<String, String> = pairs
        .iter()
        .map(|(t, u)| (t.to_string(), u.to_string()))
        .collect();
    Record {
        testers,
        ..Record::default()
    }
}

/// An in-sync app with these members.
fn with_members(members: &[&str]) -> Observed {
    Observed {
        experience: Some(wanted_build()),
        audit: Some(audit("102", wanted_build(), AuditStatus::Approved)),
        live: live(wanted_build(), None),
        members: members.iter().map(|m| m.to_string()).collect(),
        ..observed()
    }
}

/// A bind step.
fn bind(tester: &str, reason: &str) -> Step {
    Step {
        action: Action::BindTester {
            tester: tester.into(),
        },
        reason: reason.into(),
    }
}

#[test]
fn wanted_testers_are_bound_in_order() {
    let p = plan(
        &wanting(&["qa-wang", "ops-li"]),
        &with_members(&[]),
        &Record::default(),
    );
    assert_eq!(
        p.steps,
        [
            bind("ops-li", "tester `ops-li` is not bound"),
            bind("qa-wang", "tester `qa-wang` is not bound"),
        ]
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn a_tester_unbound_outside_minifleet_is_bound_again() {
    let p = plan(
        &wanting(&["ops-li"]),
        &with_members(&[]),
        &knowing(&[("ops-li", "u1")]),
    );
    assert_eq!(
        p.steps,
        [bind(
            "ops-li",
            "tester `ops-li` was unbound outside minifleet"
        )]
    );
}

#[test]
fn bound_testers_plan_nothing() {
    let p = plan(
        &wanting(&["ops-li"]),
        &with_members(&["u1"]),
        &knowing(&[("ops-li", "u1")]),
    );
    assert!(p.steps.is_empty());
    assert!(p.notes.is_empty());
    assert_eq!(p.state, AppState::InSync);
}

#[test]
fn a_tester_removed_from_the_fleet_is_unbound() {
    let p = plan(
        &wanting(&["ops-li"]),
        &with_members(&["u1", "u9"]),
        &knowing(&[("ops-li", "u1"), ("old-zhao", "u9")]),
    );
    assert_eq!(
        p.steps,
        [Step {
            action: Action::UnbindTester {
                tester: Some("old-zhao".into()),
                member: "u9".into()
            },
            reason: "tester `old-zhao` is no longer in the fleet file".into(),
        }]
    );
}

#[test]
fn an_unknown_member_waits_until_every_wanted_tester_is_bound() {
    let p = plan(
        &wanting(&["ops-li"]),
        &with_members(&["u7"]),
        &Record::default(),
    );
    assert_eq!(p.steps, [bind("ops-li", "tester `ops-li` is not bound")]);
    assert_eq!(
        p.notes,
        [
            "member `u7` is not a wanted tester; it will be removed once every wanted tester is bound"
        ]
    );
}

#[test]
fn an_unknown_member_is_unbound_once_every_wanted_tester_is_bound() {
    let p = plan(
        &wanting(&["ops-li"]),
        &with_members(&["u7", "u1"]),
        &knowing(&[("ops-li", "u1")]),
    );
    assert_eq!(
        p.steps,
        [Step {
            action: Action::UnbindTester {
                tester: None,
                member: "u7".into()
            },
            reason: "member `u7` was bound outside minifleet".into(),
        }]
    );
    assert!(p.notes.is_empty());
}

#[test]
fn tester_steps_come_first_unbinds_before_binds() {
    let p = plan(
        &wanting(&["qa-wang"]),
        &Observed {
            members: vec!["u9".into(), "u8".into()],
            ..steady_old()
        },
        &knowing(&[("old-a", "u9"), ("old-b", "u8")]),
    );
    assert_eq!(
        kinds(&p),
        [
            "unbind_tester",
            "unbind_tester",
            "bind_tester",
            "commit",
            "submit_audit",
            "wait_for_audit",
            "release"
        ]
    );
    assert_eq!(
        p.steps[0].action,
        Action::UnbindTester {
            tester: Some("old-b".into()),
            member: "u8".into()
        }
    );
}

#[test]
fn testers_are_planned_even_when_the_code_failed() {
    let record = Record {
        failure: Some(Failure {
            fingerprint: FP.into(),
            call: "wxa/submit_audit".into(),
            code: "85086".into(),
            message: "nothing committed".into(),
        }),
        ..Record::default()
    };
    let p = plan(&wanting(&["ops-li"]), &steady_old(), &record);
    assert_eq!(kinds(&p), ["bind_tester"]);
    assert!(matches!(p.state, AppState::Failed { .. }));
}
