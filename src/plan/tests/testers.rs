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
                member: Some("u9".into())
            },
            reason: "tester `old-zhao` is no longer in the fleet file".into(),
        }]
    );
}

#[test]
fn an_unknown_member_waits_until_every_wanted_tester_is_bound() {
    // `ops-li` (u1) was unbound outside minifleet and someone else (u7) was bound.
    let p = plan(
        &wanting(&["ops-li"]),
        &with_members(&["u7"]),
        &knowing(&[("ops-li", "u1")]),
    );
    assert_eq!(
        p.steps,
        [bind(
            "ops-li",
            "tester `ops-li` was unbound outside minifleet"
        )]
    );
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
                member: Some("u7".into())
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
            member: Some("u8".into())
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
            audit: None,
        }),
        ..Record::default()
    };
    let p = plan(&wanting(&["ops-li"]), &steady_old(), &record);
    assert_eq!(kinds(&p), ["bind_tester"]);
    assert!(matches!(p.state, AppState::Failed { .. }));
}

/// A verification step.
fn verify(tester: &str, reason: &str) -> Step {
    Step {
        action: Action::VerifyTester {
            tester: tester.into(),
        },
        reason: reason.into(),
    }
}

/// An unbind step by WeChat id (the member id unknown).
fn unbind_by_id(tester: &str, reason: &str) -> Step {
    Step {
        action: Action::UnbindTester {
            tester: Some(tester.into()),
            member: None,
        },
        reason: reason.into(),
    }
}

/// A record that knows these testers are bound, without their member ids.
fn unpaired(testers: &[&str]) -> Record {
    Record {
        unpaired_testers: testers.iter().map(|t| t.to_string()).collect(),
        ..Record::default()
    }
}

#[test]
fn a_fresh_store_verifies_testers_instead_of_inventing_binds_and_unbinds() {
    // The CI symptom: apps in sync, but the store that maps testers to member ids is empty.
    let p = plan(
        &wanting(&["qa-wang02", "ops-li01"]),
        &with_members(&["628dfaa1", "b71c0e42"]),
        &Record::default(),
    );
    let reason = "the tester map has no entry for `<t>`: it may be bound as one of the 2 unknown \
                  members";
    assert_eq!(
        p.steps,
        [
            verify("ops-li01", &reason.replace("<t>", "ops-li01")),
            verify("qa-wang02", &reason.replace("<t>", "qa-wang02")),
        ]
    );
    assert_eq!(
        p.notes,
        [
            "unverified: 2 testers, no tester map here (WeChat only shows opaque member ids); \
             `reconcile` binds them, which is harmless if they are bound already"
        ]
    );
    assert_eq!(p.state, AppState::InSync);
    assert!(!p.has_changes(), "a verification is not a change");
}

#[test]
fn a_fresh_store_on_alipay_verifies_too_and_says_how_alipay_lists_members() {
    let mut d = wanting(&["ops.li@example.com"]);
    d.platform = crate::platform::alipay::spec::KIND;
    d.rules = &crate::platform::alipay::spec::RULES;
    let p = plan(&d, &with_members(&["2088022549698147"]), &Record::default());
    assert_eq!(kinds(&p), ["verify_tester"]);
    assert_eq!(
        p.notes,
        [
            "unverified: 1 tester, no tester map here (Alipay lists members by user id); \
             `reconcile` binds it, which is harmless if it is bound already"
        ]
    );
    assert!(!p.has_changes());
}

#[test]
fn testers_found_bound_without_a_member_id_plan_nothing() {
    let p = plan(
        &wanting(&["ops-li01", "qa-wang02"]),
        &with_members(&["m1", "m2"]),
        &unpaired(&["ops-li01", "qa-wang02"]),
    );
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    assert_eq!(p.state, AppState::InSync);
}

#[test]
fn a_tester_added_beside_testers_bound_without_an_id_is_a_real_bind() {
    let p = plan(
        &wanting(&["ops-li01", "qa-wang02", "dev-zhao03"]),
        &with_members(&["m1", "m2"]),
        &unpaired(&["ops-li01", "qa-wang02"]),
    );
    assert_eq!(
        p.steps,
        [bind("dev-zhao03", "tester `dev-zhao03` is not bound")]
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn more_testers_without_an_id_than_unknown_members_is_a_change() {
    // A fresh store and a fleet file that added a tester: at least one bind is real.
    let p = plan(
        &wanting(&["ops-li01", "qa-wang02", "dev-zhao03"]),
        &with_members(&["m1", "m2"]),
        &Record::default(),
    );
    assert_eq!(kinds(&p), ["bind_tester"; 3]);
    assert_eq!(
        p.steps[0].reason,
        "the tester map has no entry for `dev-zhao03`, and the 2 unknown members cannot all be \
         the 3 testers without one"
    );
    assert_eq!(
        p.notes,
        [
            "3 testers have no entry in the tester map here (WeChat only shows opaque member \
             ids) and only 2 unknown members are listed: at least 1 of them is not bound"
        ]
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn a_tester_bound_without_an_id_that_left_the_fleet_is_unbound_by_its_wechat_id() {
    let p = plan(
        &wanting(&["qa-wang02"]),
        &with_members(&["m1", "m2"]),
        &unpaired(&["ops-li01", "qa-wang02"]),
    );
    assert_eq!(
        p.steps,
        [unbind_by_id(
            "ops-li01",
            "tester `ops-li01` is no longer in the fleet file"
        )]
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn a_member_bound_outside_beside_testers_without_an_id_is_told_apart_by_binding_again() {
    let p = plan(
        &wanting(&["ops-li01"]),
        &with_members(&["m1", "m9"]),
        &unpaired(&["ops-li01"]),
    );
    assert_eq!(
        p.steps,
        [
            unbind_by_id(
                "ops-li01",
                "the member id of `ops-li01` is unknown here, and 1 member bound outside \
                 minifleet cannot be told apart from it: unbind it and bind it again to learn \
                 the id"
            ),
            bind("ops-li01", "bind `ops-li01` again to learn its member id"),
        ]
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn testers_bound_without_an_id_whose_members_went_are_bound_again() {
    // Two testers were known bound without ids; only one member is left: one was unbound
    // outside minifleet, nobody knows which.
    let p = plan(
        &wanting(&["ops-li01", "qa-wang02"]),
        &with_members(&["m1"]),
        &unpaired(&["ops-li01", "qa-wang02"]),
    );
    assert_eq!(kinds(&p), ["bind_tester", "bind_tester"]);
    assert!(p.has_changes());
}

#[test]
fn no_members_listed_makes_every_bind_a_real_change() {
    let p = plan(
        &wanting(&["ops-li01"]),
        &with_members(&[]),
        &unpaired(&["ops-li01"]),
    );
    assert_eq!(
        p.steps,
        [bind("ops-li01", "tester `ops-li01` is not bound")]
    );
    assert!(p.notes.is_empty());
}
