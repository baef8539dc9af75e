//! Table tests of the commit → audit pipeline: commits, withdrawals and their quota, submissions,
//! waits, failures, stages and authorization.

use serde_json::json;

use crate::model::{Action, AppState, AuditStatus, ExtChange, Failure, Record, Stage};

use super::*;

#[test]
fn first_commit_plans_the_whole_pipeline() {
    let p = plan(&desired(), &observed(), &Record::default());
    assert_eq!(
        kinds(&p),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
    assert_eq!(p.state, AppState::Changes);
    assert!(p.has_changes());
    assert_eq!(
        p.steps[0].action,
        Action::Commit {
            version: "1.5.0".into(),
            fingerprint: FP.into()
        }
    );
    assert_eq!(
        p.steps[0].reason,
        "nothing is committed yet; the fleet wants 1.5.0 [mf:1a2b3c4d]"
    );
    assert_eq!(
        p.steps[2].action,
        Action::WaitForAudit {
            audit_id: String::new()
        }
    );
    assert_eq!(
        p.steps[3].reason,
        "nothing is released yet: publish build 1.5.0 [mf:1a2b3c4d] to every user"
    );
    let change = p.ext_change.expect("a commit carries its ext change");
    assert_eq!(change.before, None);
    assert_eq!(change.after, desired().ext());
}

#[test]
fn an_ext_change_plans_exactly_one_commit_with_the_diff() {
    let record = Record {
        last_ext: Some(json!({"shopId": "1001", "theme": "green"})),
        ..Record::default()
    };
    let p = plan(&desired(), &steady_old(), &record);
    assert_eq!(
        kinds(&p),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
    assert_eq!(
        p.steps[0].reason,
        "experience version is 1.4.0 [mf:99aabbcc]; the fleet wants 1.5.0 [mf:1a2b3c4d]"
    );
    assert_eq!(
        p.ext_change,
        Some(ExtChange {
            before: Some(json!({"shopId": "1001", "theme": "green"})),
            after: json!({"shopId": "1001", "theme": "red"}),
            others_before: None,
            others_after: None,
        })
    );
    assert_eq!(
        p.steps[3].reason,
        "publish build 1.5.0 [mf:1a2b3c4d] to every user, replacing 1.4.0 [mf:99aabbcc]"
    );
}

#[test]
fn a_foreign_experience_version_is_named_as_such() {
    let o = Observed {
        experience: Some(foreign("1.4.9")),
        ..observed()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(
        p.steps[0].reason,
        "experience version is 1.4.9 (not made by minifleet); the fleet wants 1.5.0 [mf:1a2b3c4d]"
    );
}

/// An app whose outdated build 1.4.5 [mf:5e6f7a8b] is committed and in review.
fn outdated_in_review() -> Observed {
    Observed {
        experience: Some(build("1.4.5", OTHER)),
        audit: Some(audit("101", build("1.4.5", OTHER), AuditStatus::Auditing)),
        ..steady_old()
    }
}

#[test]
fn an_outdated_in_flight_audit_is_withdrawn_with_the_quota_in_words() {
    let record = Record {
        withdrawals: withdrawals(1, 3),
        ..Record::default()
    };
    let p = plan(&desired(), &outdated_in_review(), &record);
    assert_eq!(
        kinds(&p),
        [
            "commit",
            "withdraw_audit",
            "submit_audit",
            "wait_for_audit",
            "release"
        ]
    );
    assert_eq!(
        p.steps[1].action,
        Action::WithdrawAudit {
            audit_id: "101".into(),
            fingerprint: Some(OTHER.into())
        }
    );
    assert_eq!(
        p.steps[1].reason,
        "withdraws audit 101 of outdated build 1.4.5 [mf:5e6f7a8b], which blocks a new \
         submission; uses 1 of today's 4 withdrawals (then 6 left this month)"
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn a_delayed_foreign_audit_is_withdrawn_too() {
    let mut o = outdated_in_review();
    o.audit = Some(audit("101", foreign("1.4.9"), AuditStatus::Delayed));
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(
        p.steps[1].action,
        Action::WithdrawAudit {
            audit_id: "101".into(),
            fingerprint: None
        }
    );
    assert!(p.steps[1].reason.contains("1.4.9 (not made by minifleet)"));
    assert!(p.steps[1].reason.ends_with("(then 9 left this month)"));
}

#[test]
fn counters_of_an_older_day_do_not_count() {
    let mut counts = withdrawals(5, 5);
    counts.day -= 1;
    let record = Record {
        withdrawals: counts,
        ..Record::default()
    };
    let p = plan(&desired(), &outdated_in_review(), &record);
    assert!(kinds(&p).contains(&"withdraw_audit"));
    assert!(
        p.steps[1]
            .reason
            .ends_with("uses 1 of today's 5 withdrawals (then 4 left this month)")
    );
}

#[test]
fn an_exhausted_daily_budget_waits_for_the_outdated_audit() {
    let record = Record {
        withdrawals: withdrawals(5, 5),
        ..Record::default()
    };
    let p = plan(&desired(), &outdated_in_review(), &record);
    assert_eq!(kinds(&p), ["wait_for_audit"]);
    assert_eq!(
        p.steps[0].action,
        Action::WaitForAudit {
            audit_id: "101".into()
        }
    );
    assert_eq!(p.state, AppState::WaitingOnAudit);
    assert!(!p.has_changes());
    assert_eq!(
        p.notes,
        [
            "the withdrawal quota is used up (5 of 5 today, 5 of 10 this month): the outdated audit \
          101 must finish before the new build can be committed and submitted"
        ]
    );
}

#[test]
fn an_exhausted_monthly_budget_waits_even_on_a_fresh_day() {
    let mut counts = withdrawals(0, 10);
    counts.day -= 3;
    let record = Record {
        withdrawals: counts,
        ..Record::default()
    };
    let p = plan(&desired(), &outdated_in_review(), &record);
    assert_eq!(kinds(&p), ["wait_for_audit"]);
    assert_eq!(p.state, AppState::WaitingOnAudit);
    assert!(p.notes[0].contains("10 of 10 this month"));
}

#[test]
fn a_committed_build_without_audit_is_submitted() {
    let o = Observed {
        experience: Some(wanted_build()),
        ..steady_old()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(kinds(&p), ["submit_audit", "wait_for_audit", "release"]);
    assert_eq!(
        p.steps[0].reason,
        "build 1.5.0 [mf:1a2b3c4d] must pass the platform's audit"
    );
    assert_eq!(p.ext_change, None);
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn a_withdrawn_audit_of_the_wanted_build_is_submitted_again() {
    let o = Observed {
        experience: Some(wanted_build()),
        audit: Some(audit("104", wanted_build(), AuditStatus::Withdrawn)),
        ..steady_old()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(kinds(&p), ["submit_audit", "wait_for_audit", "release"]);
    assert_eq!(
        p.steps[0].reason,
        "audit 104 of build 1.5.0 [mf:1a2b3c4d] was withdrawn: submit it again"
    );
}

#[test]
fn an_audit_in_review_is_waited_on_and_release_is_foreseen() {
    let o = Observed {
        experience: Some(build("1.4.5", OTHER)),
        audit: Some(audit("102", wanted_build(), AuditStatus::Auditing)),
        ..steady_old()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(kinds(&p), ["wait_for_audit", "release"]);
    assert_eq!(
        p.steps[0].action,
        Action::WaitForAudit {
            audit_id: "102".into()
        }
    );
    assert_eq!(p.state, AppState::WaitingOnAudit);
    assert!(!p.has_changes(), "a pure wait is not a pending change");
}

#[test]
fn a_delayed_audit_names_the_platforms_reason() {
    let mut delayed = audit("102", wanted_build(), AuditStatus::Delayed);
    delayed.reason = Some("holiday backlog".into());
    let o = Observed {
        experience: Some(wanted_build()),
        audit: Some(delayed),
        ..steady_old()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert_eq!(
        p.steps[0].reason,
        "audit 102 of build 1.5.0 [mf:1a2b3c4d] is delayed by the platform: holiday backlog"
    );
    assert_eq!(p.state, AppState::WaitingOnAudit);
}

#[test]
fn alipay_has_no_withdrawal_quota() {
    let mut d = desired();
    d.platform = crate::platform::alipay::spec::KIND;
    d.rules = &crate::platform::alipay::spec::RULES;
    let record = Record {
        withdrawals: withdrawals(9, 99),
        ..Record::default()
    };
    let p = plan(&d, &outdated_in_review(), &record);
    assert_eq!(
        p.steps[1].reason,
        "cancels the review of outdated build 1.4.5 [mf:5e6f7a8b]: Alipay reviews one version at \
         a time, and the new build needs the review slot",
        "no quota, and Alipay's words"
    );
}

#[test]
fn a_rejected_audit_fails_the_app_until_the_fingerprint_changes() {
    let mut rejected = audit("103", wanted_build(), AuditStatus::Rejected);
    rejected.reason = Some("the logo is blurry".into());
    let o = Observed {
        experience: Some(wanted_build()),
        audit: Some(rejected),
        ..steady_old()
    };
    let p = plan(&desired(), &o, &Record::default());
    assert!(p.steps.is_empty());
    assert_eq!(
        p.state,
        AppState::Failed {
            reason: "audit 103 was rejected: the logo is blurry; change the version or ext to \
                     resubmit"
                .into(),
            help: "fix what the reviewer named, then change the app's version or ext in the \
                   fleet file to resubmit"
                .into(),
        }
    );

    let mut d = desired();
    d.version = "1.5.1".into();
    d.fingerprint = "0f0f0f0f".into();
    let p = plan(&d, &o, &Record::default());
    assert_eq!(
        kinds(&p),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
    assert_eq!(p.state, AppState::Changes);
}

#[test]
fn a_failed_submission_is_tried_again_with_other_audit_settings() {
    let d = desired();
    let record = Record {
        failure: Some(Failure {
            fingerprint: FP.into(),
            call: "wxa/get_page".into(),
            code: "85007".into(),
            message: "audit item 1's page is not a page of the build".into(),
            audit: Some(d.audit.digest()),
        }),
        ..Record::default()
    };
    let mut o = steady_old();
    o.experience = Some(build("1.5.0", FP));
    let p = plan(&d, &o, &record);
    assert!(matches!(p.state, AppState::Failed { .. }), "{:?}", p.state);
    let mut fixed = desired();
    let mut audit = (*fixed.audit).clone();
    audit.version_desc = Some("the menu page is pages/menu/index".into());
    fixed.audit = std::sync::Arc::new(audit);
    let p = plan(&fixed, &o, &record);
    assert_eq!(kinds(&p)[0], "submit_audit", "{:?}", p.state);
}

#[test]
fn a_recorded_failure_stops_the_app_until_the_fingerprint_changes() {
    let record = Record {
        failure: Some(Failure {
            fingerprint: FP.into(),
            call: "wxa/commit".into(),
            code: "85013".into(),
            message: "invalid custom domain in ext".into(),
            audit: None,
        }),
        ..Record::default()
    };
    let p = plan(&desired(), &steady_old(), &record);
    assert!(p.steps.is_empty());
    assert_eq!(
        p.state,
        AppState::Failed {
            reason: "wxa/commit failed with 85013: invalid custom domain in ext; change the \
                     version, the ext or (for a submission) the audit settings to try again"
                .into(),
            help: "change the app's version, ext or (for a submission) audit settings in the \
                   fleet file to try again"
                .into(),
        }
    );

    let mut d = desired();
    d.fingerprint = "0f0f0f0f".into();
    let p = plan(&d, &steady_old(), &record);
    assert_eq!(p.state, AppState::Changes);
    assert_eq!(kinds(&p)[0], "commit");
}

#[test]
fn stage_experience_only_commits() {
    let mut d = desired();
    d.stage = Stage::Experience;
    let p = plan(&d, &steady_old(), &Record::default());
    assert_eq!(kinds(&p), ["commit"]);
    assert_eq!(p.state, AppState::Changes);
    assert!(p.ext_change.is_some());

    let o = Observed {
        experience: Some(wanted_build()),
        ..steady_old()
    };
    let p = plan(&d, &o, &Record::default());
    assert!(p.steps.is_empty());
    assert_eq!(p.state, AppState::InSync);
}

#[test]
fn stage_audit_stops_before_release() {
    let mut d = desired();
    d.stage = Stage::Audit;
    let p = plan(&d, &steady_old(), &Record::default());
    assert_eq!(kinds(&p), ["commit", "submit_audit", "wait_for_audit"]);

    let p = plan(&d, &approved(), &Record::default());
    assert!(p.steps.is_empty());
    assert_eq!(p.state, AppState::InSync);
    assert_eq!(p.notes, ["approved; stage `audit` stops before release"]);

    let p = plan(&d, &released(None), &Record::default());
    assert_eq!(p.state, AppState::InSync);
    assert_eq!(
        p.notes,
        ["already released; stage `audit` has nothing left to do"]
    );
}

#[test]
fn an_unauthorized_app_gets_no_steps_and_the_fix() {
    let mut d = desired();
    d.testers = vec!["ops-li".into()];
    let o = Observed {
        authorized: false,
        ..steady_old()
    };
    let p = plan(&d, &o, &Record::default());
    assert!(p.steps.is_empty());
    assert_eq!(
        p.state,
        AppState::NotAuthorized {
            reason: "the app has not authorized the third-party platform (no refresh token): \
                     run `minifleet auth wechat link --app tea-house --redirect-uri URL`"
                .into()
        }
    );
}

#[test]
fn an_app_in_sync_plans_nothing() {
    let p = plan(&desired(), &released(None), &Record::default());
    assert!(p.steps.is_empty());
    assert!(p.notes.is_empty());
    assert_eq!(p.state, AppState::InSync);
}
