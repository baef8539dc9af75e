//! Table tests of release planning: full and first releases, gray start/raise/lower/finish,
//! rollback and its refusal.

use crate::model::{Action, AppState, Record, Stage, Step};

use super::*;

#[test]
fn an_approved_audit_is_released() {
    let p = plan(&desired(), &approved(), &Record::default());
    assert_eq!(
        p.steps[0].action,
        Action::Release {
            fingerprint: FP.into()
        }
    );
    assert_eq!(p.steps.len(), 1);
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn an_approved_audit_still_releases_when_the_experience_moved_on() {
    let o = Observed {
        experience: Some(build("1.4.5", OTHER)),
        ..approved()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(kinds(&p), ["release"]);
}

#[test]
fn the_first_release_is_full_on_wechat_even_when_gray_is_wanted() {
    let mut d = desired();
    d.gray = 10;
    let o = Observed {
        live: None,
        ..approved()
    };
    let p = plan(&d, &o, &Record::default());
    assert_eq!(kinds(&p), ["release"]);
    assert_eq!(
        p.notes,
        [
            "the first release cannot be gray on WeChat: releasing to 100% instead of 10%; later \
          releases can be gray"
        ]
    );
}

#[test]
fn the_first_release_may_be_gray_on_alipay() {
    let mut d = desired();
    d.platform = crate::platform::alipay::spec::KIND;
    d.rules = &crate::platform::alipay::spec::RULES;
    d.gray = 10;
    let o = Observed {
        live: None,
        ..approved()
    };
    let p = plan(&d, &o, &Record::default());
    assert_eq!(
        p.steps[0].action,
        Action::Gray {
            fingerprint: FP.into(),
            from: None,
            to: 10
        }
    );
    assert!(p.notes.is_empty());
}

#[test]
fn a_gray_release_starts_after_approval() {
    let mut d = desired();
    d.gray = 10;
    let p = plan(&d, &approved(), &Record::default());
    assert_eq!(
        p.steps[0].action,
        Action::Gray {
            fingerprint: FP.into(),
            from: None,
            to: 10
        }
    );
    assert_eq!(p.steps.len(), 1);
    assert_eq!(
        p.steps[0].reason,
        "start a 10% gray release of build 1.5.0 [mf:1a2b3c4d]"
    );
}

#[test]
fn another_builds_gray_is_reverted_before_graying() {
    let mut d = desired();
    d.gray = 30;
    let o = Observed {
        live: live(build("1.4.5", OTHER), Some(10)),
        ..approved()
    };
    let p = plan(&d, &o, &Record::default());
    assert_eq!(kinds(&p), ["revert_gray", "gray"]);
    assert_eq!(
        p.steps[0].reason,
        "a 10% gray release of 1.4.5 [mf:5e6f7a8b] is running: cancel it before graying build \
         1.5.0 [mf:1a2b3c4d]"
    );
}

#[test]
fn a_full_release_ends_another_builds_gray() {
    let o = Observed {
        live: live(build("1.4.5", OTHER), Some(10)),
        ..approved()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(kinds(&p), ["release"]);
    assert!(
        p.steps[0]
            .reason
            .ends_with("and ending its 10% gray release")
    );
}

#[test]
fn a_running_gray_is_raised() {
    let mut d = desired();
    d.gray = 30;
    let p = plan(&d, &released(Some(10)), &Record::default());
    assert_eq!(
        p.steps,
        [Step {
            action: Action::Gray {
                fingerprint: FP.into(),
                from: Some(10),
                to: 30
            },
            reason: "move the gray release of build 1.5.0 [mf:1a2b3c4d] from 10% to 30%".into(),
        }]
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn lowering_a_gray_reverts_then_grays_again() {
    let mut d = desired();
    d.gray = 10;
    let p = plan(&d, &released(Some(30)), &Record::default());
    assert_eq!(kinds(&p), ["revert_gray", "gray"]);
    assert_eq!(
        p.steps[0].reason,
        "gray can only go up on WeChat: revert the 30% gray, then gray again at 10%"
    );
    assert_eq!(
        p.steps[1].action,
        Action::Gray {
            fingerprint: FP.into(),
            from: None,
            to: 10
        }
    );
}

#[test]
fn a_gray_raised_to_100_finishes_with_a_release() {
    let p = plan(&desired(), &released(Some(30)), &Record::default());
    assert_eq!(kinds(&p), ["release"]);
    assert_eq!(
        p.steps[0].reason,
        "finish the 30% gray release: publish build 1.5.0 [mf:1a2b3c4d] to every user"
    );
}

#[test]
fn a_gray_at_the_wanted_percentage_is_in_sync() {
    let mut d = desired();
    d.gray = 30;
    let p = plan(&d, &released(Some(30)), &Record::default());
    assert!(p.steps.is_empty());
    assert_eq!(p.state, AppState::InSync);
}

#[test]
fn a_full_release_is_not_lowered_to_gray() {
    let mut d = desired();
    d.gray = 10;
    let p = plan(&d, &released(None), &Record::default());
    assert!(p.steps.is_empty());
    assert_eq!(p.state, AppState::InSync);
    assert_eq!(
        p.notes,
        ["already fully released; a gray percentage cannot be lowered after a full release"]
    );
}

/// The wanted build was released before; 1.4.5 [mf:5e6f7a8b] replaced it at `gray` percent.
fn superseded(gray: Option<u8>) -> Observed {
    Observed {
        experience: Some(build("1.4.5", OTHER)),
        audit: Some(audit("105", build("1.4.5", OTHER), AuditStatus::Approved)),
        live: live(build("1.4.5", OTHER), gray),
        previous: Some(wanted_build()),
        ..observed()
    }
}

#[test]
fn the_previous_release_is_rolled_back_to() {
    let p = plan(&desired(), &superseded(None), &Record::default());
    assert_eq!(
        p.steps[0].action,
        Action::Rollback {
            fingerprint: FP.into()
        }
    );
    assert_eq!(p.steps.len(), 1);
    assert_eq!(
        p.steps[0].reason,
        "the wanted build is the previous release: roll back without a new audit"
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn a_rollback_during_gray_reverts_the_gray() {
    let p = plan(&desired(), &superseded(Some(10)), &Record::default());
    assert_eq!(kinds(&p), ["revert_gray"]);
    assert_eq!(
        p.steps[0].reason,
        "the wanted build is the pre-gray release: cancelling the gray restores it"
    );
}

#[test]
fn a_refused_rollback_goes_the_long_way() {
    let record = Record {
        rollback_refused: Some(FP.into()),
        ..Record::default()
    };
    let p = plan(&desired(), &superseded(None), &record);
    assert_eq!(
        kinds(&p),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
    assert_eq!(
        p.notes,
        [
            "the platform refused to roll back to [mf:1a2b3c4d]: going the long way through a new \
          audit"
        ]
    );
}

#[test]
fn no_rollback_below_stage_release() {
    let mut d = desired();
    d.stage = Stage::Audit;
    let p = plan(&d, &superseded(None), &Record::default());
    assert_eq!(kinds(&p), ["commit", "submit_audit", "wait_for_audit"]);
}
