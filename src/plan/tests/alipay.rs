//! Table tests of the Alipay transitions: gray p10/p30/p50 and full release, versions that must
//! increase, the development-build cap, the single review slot, and rollback.

use crate::model::{Action, AppState, AuditStatus, Record};

use super::*;

/// `tea-house` on Alipay, wanting 1.5.0 [mf:1a2b3c4d] released at `gray` percent.
fn alipay(gray: u8) -> Desired {
    let mut d = desired_named("tea-house", "2021000000000101");
    d.platform = crate::platform::alipay::spec::KIND;
    d.rules = &crate::platform::alipay::spec::RULES;
    d.template_id = "2021000000000100".to_owned();
    d.template_version = Some("0.0.3".to_owned());
    d.gray = gray;
    d
}

/// An Alipay audit (its id is the app_version) of `build`.
fn review(build: Build, status: AuditStatus) -> Audit {
    audit(&build.version.clone(), build, status)
}

/// `observed` with the version list Alipay reports: every build named in it.
fn with_builds(o: Observed) -> Observed {
    let mut builds: Vec<Build> = [
        o.experience.clone(),
        o.audit.as_ref().map(|a| a.build.clone()),
        o.live.as_ref().map(|l| l.build.clone()),
        o.previous.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    builds.sort_by(|a, b| a.version.cmp(&b.version));
    builds.dedup_by(|a, b| a.version == b.version);
    Observed { builds, ..o }
}

fn step_of<'p>(p: &'p AppPlan, kind: &str) -> &'p crate::model::Step {
    p.steps
        .iter()
        .find(|s| s.action.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(p)))
}

#[test]
fn the_first_release_may_be_gray_at_10() {
    let p = plan(&alipay(10), &observed(), &Record::default());
    assert_eq!(
        kinds(&p),
        ["commit", "submit_audit", "wait_for_audit", "gray"]
    );
    let approved_first = Observed {
        live: None,
        previous: None,
        ..with_builds(approved())
    };
    let p = plan(&alipay(10), &approved_first, &Record::default());
    assert_eq!(kinds(&p), ["gray"]);
    assert_eq!(
        p.steps[0].action,
        Action::Gray {
            fingerprint: FP.into(),
            from: None,
            to: 10
        }
    );
    assert_eq!(
        p.steps[0].reason,
        "nothing is released yet: start a 10% gray release of build 1.5.0 [mf:1a2b3c4d]"
    );
    assert!(p.notes.is_empty(), "no 'first release cannot be gray' note");
}

#[test]
fn gray_goes_10_to_30_to_50_then_a_full_release() {
    for (from, to) in [(10, 30), (30, 50), (10, 50)] {
        let p = plan(
            &alipay(to),
            &with_builds(released(Some(from))),
            &Record::default(),
        );
        let want = Action::Gray {
            fingerprint: FP.into(),
            from: Some(from),
            to,
        };
        assert_eq!(
            p.steps.iter().map(|s| &s.action).collect::<Vec<_>>(),
            [&want]
        );
        assert_eq!(
            p.steps[0].reason,
            format!("move the gray release of build 1.5.0 [mf:1a2b3c4d] from {from}% to {to}%")
        );
    }
    let p = plan(
        &alipay(100),
        &with_builds(released(Some(50))),
        &Record::default(),
    );
    assert_eq!(
        p.steps[0].action,
        Action::Release {
            fingerprint: FP.into()
        }
    );
    assert_eq!(
        p.steps[0].reason,
        "finish the 50% gray release: publish build 1.5.0 [mf:1a2b3c4d] to every user"
    );
    let done = plan(
        &alipay(100),
        &with_builds(released(None)),
        &Record::default(),
    );
    assert_eq!(done.state, AppState::InSync);
}

#[test]
fn lowering_a_gray_reverts_then_grays_again() {
    let p = plan(
        &alipay(10),
        &with_builds(released(Some(50))),
        &Record::default(),
    );
    assert_eq!(kinds(&p), ["revert_gray", "gray"]);
    assert_eq!(
        p.steps[0].reason,
        "gray can only go up on Alipay: revert the 50% gray, then gray again at 10%"
    );
}

#[test]
fn a_version_built_with_another_fingerprint_fails_the_app() {
    let mut o = with_builds(steady_old());
    o.builds.push(build("1.5.0", OTHER));
    let p = plan(&alipay(100), &o, &Record::default());
    assert_eq!(
        p.state,
        AppState::Failed {
            reason: "version 1.5.0 was already built with another fingerprint ([mf:5e6f7a8b]); \
                     Alipay builds each version once: bump `version` in the fleet file"
                .into(),
            help: "bump `version` in the fleet file: Alipay builds each version once".into(),
        }
    );
    assert!(p.steps.is_empty());

    let mut o = with_builds(steady_old());
    o.builds.push(foreign("1.5.0"));
    let p = plan(&alipay(100), &o, &Record::default());
    let AppState::Failed { reason, help } = &p.state else {
        panic!("{:?}", p.state)
    };
    assert!(
        reason.contains("another fingerprint (an unknown build)"),
        "{reason}"
    );
    assert!(help.starts_with("bump `version`"), "{help}");
}

#[test]
fn a_version_below_the_highest_fails_the_app() {
    let mut o = with_builds(steady_old());
    o.builds.push(build("1.10.0", OTHER));
    let p = plan(&alipay(100), &o, &Record::default());
    assert_eq!(
        p.state,
        AppState::Failed {
            reason: "version 1.5.0 is not higher than 1.10.0, the highest version this app has; \
                     Alipay versions must increase: bump `version`"
                .into(),
            help: "bump `version` in the fleet file: Alipay builds each version once".into(),
        }
    );
    assert!(p.steps.is_empty());
}

#[test]
fn version_rules_spare_our_own_builds_and_wechat() {
    let mut o = with_builds(approved());
    o.builds.push(build("1.6.0", OTHER));
    let p = plan(&alipay(100), &o, &Record::default());
    assert_eq!(kinds(&p), ["release"], "1.5.0 is ours, built before 1.6.0");

    let mut wechat = with_builds(steady_old());
    wechat.builds.push(build("1.5.0", OTHER));
    let p = plan(&desired(), &wechat, &Record::default());
    assert_eq!(
        p.state,
        AppState::Changes,
        "WeChat rebuilds a version freely"
    );
}

#[test]
fn a_rollback_target_below_the_highest_version_rolls_back() {
    let o = Observed {
        live: live(build("1.6.0", OTHER), None),
        previous: Some(wanted_build()),
        ..with_builds(steady_old())
    };
    let o = with_builds(o);
    let p = plan(&alipay(100), &o, &Record::default());
    assert_eq!(
        p.steps.iter().map(|s| &s.action).collect::<Vec<_>>(),
        [&Action::Rollback {
            fingerprint: FP.into()
        }]
    );
    let unlisted = Observed {
        builds: vec![build("1.6.0", OTHER)],
        ..o
    };
    assert_eq!(
        kinds(&plan(&alipay(100), &unlisted, &Record::default())),
        ["rollback"]
    );
}

/// `n` development builds 1.0.0 … 1.0.(n-1), oldest first, over the steady old release; the
/// experience version is the oldest.
fn crowded(n: usize) -> Observed {
    let dev_builds: Vec<Build> = (0..n).map(|i| build(&format!("1.0.{i}"), OTHER)).collect();
    let mut o = with_builds(Observed {
        experience: Some(dev_builds[0].clone()),
        ..steady_old()
    });
    o.builds.extend(dev_builds.iter().cloned());
    o.dev_builds = dev_builds;
    o
}

#[test]
fn a_full_development_list_deletes_the_oldest_stale_build_before_the_commit() {
    let p = plan(&alipay(100), &crowded(20), &Record::default());
    assert_eq!(
        kinds(&p),
        [
            "delete_build",
            "commit",
            "submit_audit",
            "wait_for_audit",
            "release"
        ]
    );
    assert_eq!(
        p.steps[0].action,
        Action::DeleteBuild {
            version: "1.0.1".into()
        },
        "1.0.0 is the experience version and stays"
    );
    assert_eq!(
        p.steps[0].reason,
        "20 of 20 development versions are used: delete stale build 1.0.1 so the upload fits"
    );
}

#[test]
fn the_cap_keeps_the_review_slot_and_deletes_only_what_is_needed() {
    let mut o = crowded(21);
    o.audit = Some(review(build("1.0.1", OTHER), AuditStatus::Auditing));
    let p = plan(&alipay(100), &o, &Record::default());
    let deleted: Vec<&Action> = p
        .steps
        .iter()
        .filter(|s| s.action.kind() == "delete_build")
        .map(|s| &s.action)
        .collect();
    let want = ["1.0.2", "1.0.3"].map(|v| Action::DeleteBuild { version: v.into() });
    assert_eq!(deleted, [&want[0], &want[1]]);
    assert_eq!(kinds(&p)[2], "commit", "deletions come first");

    let p = plan(&alipay(100), &crowded(19), &Record::default());
    assert_eq!(kinds(&p)[0], "commit", "19 + 1 fits");
    let wechat = plan(&desired(), &crowded(30), &Record::default());
    assert_eq!(kinds(&wechat)[0], "commit", "no cap on WeChat");
}

#[test]
fn no_commit_means_no_deletion() {
    let mut o = crowded(20);
    o.experience = Some(wanted_build());
    o.audit = Some(review(wanted_build(), AuditStatus::Auditing));
    let p = plan(&alipay(100), &with_builds(o), &Record::default());
    assert_eq!(kinds(&p), ["wait_for_audit", "release"]);
}

#[test]
fn an_approved_review_of_another_build_is_cancelled_before_submitting() {
    let o = with_builds(Observed {
        experience: Some(build("1.4.5", OTHER)),
        audit: Some(review(build("1.4.5", OTHER), AuditStatus::Approved)),
        ..steady_old()
    });
    let p = plan(&alipay(100), &o, &Record::default());
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
        step_of(&p, "withdraw_audit").action,
        Action::WithdrawAudit {
            audit_id: "1.4.5".into(),
            fingerprint: Some(OTHER.into())
        }
    );
    assert_eq!(
        step_of(&p, "withdraw_audit").reason,
        "cancels the approved review of outdated build 1.4.5 [mf:5e6f7a8b] (back to \
         development): Alipay has one review slot per app, and the approved version holds it \
         until it is released or cancelled"
    );
}

#[test]
fn a_rejected_review_of_another_build_is_cancelled_when_the_fingerprint_changes() {
    let o = with_builds(Observed {
        experience: Some(build("1.4.5", OTHER)),
        audit: Some(Audit {
            reason: Some("blurry logo".into()),
            ..review(build("1.4.5", OTHER), AuditStatus::Rejected)
        }),
        ..steady_old()
    });
    let p = plan(&alipay(100), &o, &Record::default());
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
    assert!(
        step_of(&p, "withdraw_audit")
            .reason
            .starts_with("cancels the rejected review of outdated build 1.4.5")
    );
    let wechat = plan(&desired(), &o, &Record::default());
    assert_eq!(
        kinds(&wechat),
        ["commit", "submit_audit", "wait_for_audit", "release"],
        "a settled WeChat audit does not block"
    );
}

#[test]
fn the_released_builds_audit_does_not_hold_the_slot() {
    let p = plan(&alipay(100), &with_builds(steady_old()), &Record::default());
    assert_eq!(
        kinds(&p),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
}

#[test]
fn a_rejection_of_the_wanted_build_fails_the_app() {
    let o = with_builds(Observed {
        experience: Some(wanted_build()),
        audit: Some(review(wanted_build(), AuditStatus::Rejected)),
        ..steady_old()
    });
    let p = plan(&alipay(100), &o, &Record::default());
    assert!(matches!(p.state, AppState::Failed { .. }), "{:?}", p.state);
    assert!(p.steps.is_empty());
}

/// 1.4.0 [mf:99aabbcc] live as a `gray`% gray release: on Alipay its version is `GRAY`, which
/// the observation reports as its approved review, in the slot; `previous` is the full release.
fn gray_of_old(gray: u8, previous: Option<Build>) -> Observed {
    with_builds(Observed {
        experience: Some(build("1.4.0", OLD)),
        audit: Some(review(build("1.4.0", OLD), AuditStatus::Approved)),
        live: live(build("1.4.0", OLD), Some(gray)),
        previous,
        ..observed()
    })
}

/// Before: the plan submitted the new build while the gray of the older one held the review slot
/// (`CAN_NOT_SUBMIT_WITH_AUDIT_GRAY`, forever), and only reverted the gray "after approval".
#[test]
fn a_live_gray_of_an_older_build_is_ended_before_the_new_build_is_submitted() {
    let o = gray_of_old(10, Some(build("1.3.0", OTHER)));
    let p = plan(&alipay(10), &o, &Record::default());
    assert_eq!(
        kinds(&p),
        [
            "commit",
            "revert_gray",
            "withdraw_audit",
            "submit_audit",
            "wait_for_audit",
            "gray"
        ],
        "commit first (a failed build leaves the gray alone), then cancel the gray, then its \
         approval, then submit"
    );
    assert_eq!(p.state, AppState::Changes);
    assert_eq!(
        step_of(&p, "revert_gray").reason,
        "end the 10% gray release of outdated build 1.4.0 [mf:99aabbcc] first: on Alipay a gray \
         version holds the app's single review slot, so the new build cannot be submitted while \
         it runs. Cancelling the gray sends its users back to release 1.3.0 [mf:5e6f7a8b]; \
         releasing it to every user instead would publish a build the fleet no longer wants"
    );
    assert_eq!(
        step_of(&p, "withdraw_audit").action,
        Action::WithdrawAudit {
            audit_id: "1.4.0".into(),
            fingerprint: Some(OLD.into())
        }
    );
    assert!(
        !kinds(&p).contains(&"release"),
        "the outdated gray is not released to everyone"
    );
    assert_eq!(
        step_of(&p, "gray").reason,
        "start a 10% gray release of build 1.5.0 [mf:1a2b3c4d]",
        "no second revert after approval: the gray is over by then"
    );
    assert_eq!(
        p.steps
            .iter()
            .filter(|s| s.action == Action::RevertGray)
            .count(),
        1
    );
}

#[test]
fn after_ending_an_older_gray_the_release_replaces_the_release_before_it() {
    let p = plan(
        &alipay(100),
        &gray_of_old(30, Some(build("1.3.0", OTHER))),
        &Record::default(),
    );
    assert_eq!(
        kinds(&p),
        [
            "commit",
            "revert_gray",
            "withdraw_audit",
            "submit_audit",
            "wait_for_audit",
            "release"
        ]
    );
    assert_eq!(
        step_of(&p, "release").reason,
        "publish build 1.5.0 [mf:1a2b3c4d] to every user, replacing 1.3.0 [mf:5e6f7a8b]"
    );
}

#[test]
fn ending_a_first_release_gray_says_nothing_stays_released() {
    let p = plan(&alipay(10), &gray_of_old(10, None), &Record::default());
    assert_eq!(
        kinds(&p),
        [
            "commit",
            "revert_gray",
            "withdraw_audit",
            "submit_audit",
            "wait_for_audit",
            "gray"
        ]
    );
    assert!(
        step_of(&p, "revert_gray")
            .reason
            .contains("Cancelling the gray leaves nothing released until the new build is;"),
        "{}",
        step_of(&p, "revert_gray").reason
    );
    assert_eq!(
        step_of(&p, "gray").reason,
        "nothing is released yet: start a 10% gray release of build 1.5.0 [mf:1a2b3c4d]"
    );
}

#[test]
fn an_older_gray_is_left_alone_below_stage_audit_and_on_wechat() {
    let o = gray_of_old(10, Some(build("1.3.0", OTHER)));
    let experience = Desired {
        stage: Stage::Experience,
        ..alipay(10)
    };
    assert_eq!(
        kinds(&plan(&experience, &o, &Record::default())),
        ["commit"]
    );
    let mut wechat = desired();
    wechat.gray = 10;
    assert_eq!(
        kinds(&plan(&wechat, &o, &Record::default())),
        [
            "commit",
            "submit_audit",
            "wait_for_audit",
            "revert_gray",
            "gray"
        ],
        "a WeChat gray does not hold the review slot"
    );
}

/// The development build 1.5.0 that nothing identifies: its fingerprint was only in the lost
/// store, and a build that never went to audit carries none in its description.
fn unknown_wanted_dev_build() -> Observed {
    let mut o = with_builds(Observed {
        experience: Some(foreign("1.5.0")),
        ..steady_old()
    });
    o.dev_builds = vec![foreign("1.5.0")];
    o
}

/// Before: deleting the store after convergence failed every Alipay app at `stage: experience`
/// with "another fingerprint (an unknown build)" on the next run.
#[test]
fn an_unknown_development_build_of_the_wanted_version_is_deleted_and_rebuilt() {
    let experience = Desired {
        stage: Stage::Experience,
        ..alipay(100)
    };
    let p = plan(&experience, &unknown_wanted_dev_build(), &Record::default());
    assert_eq!(p.state, AppState::Changes, "{:?}", p.state);
    assert_eq!(kinds(&p), ["delete_build", "commit"]);
    assert_eq!(
        p.steps[0].action,
        Action::DeleteBuild {
            version: "1.5.0".into()
        }
    );
    assert_eq!(
        p.steps[0].reason,
        "version 1.5.0 exists but its fingerprint is unknown (the store was lost?); Alipay cannot \
         show a build's ext, so it is deleted and built again"
    );
    let p = plan(
        &alipay(100),
        &unknown_wanted_dev_build(),
        &Record::default(),
    );
    assert_eq!(
        kinds(&p),
        [
            "delete_build",
            "commit",
            "submit_audit",
            "wait_for_audit",
            "release"
        ]
    );
}

#[test]
fn an_unknown_build_that_cannot_be_rebuilt_still_asks_for_a_version_bump() {
    let bump = |p: &AppPlan| match &p.state {
        AppState::Failed { reason, help } => {
            reason.contains("bump `version`") && help.starts_with("bump `version`")
        }
        _ => false,
    };
    // Under review (not in development): it cannot be deleted.
    let mut o = unknown_wanted_dev_build();
    o.dev_builds.clear();
    o.audit = Some(review(foreign("1.5.0"), AuditStatus::Auditing));
    assert!(bump(&plan(&alipay(100), &o, &Record::default())));
    // A higher version exists: the number could not be uploaded again.
    let mut o = unknown_wanted_dev_build();
    o.builds.push(build("1.6.0", OTHER));
    assert!(bump(&plan(&alipay(100), &o, &Record::default())));
    // A development build of the wanted version with another, known fingerprint.
    let mut o = unknown_wanted_dev_build();
    o.dev_builds = vec![build("1.5.0", OTHER)];
    o.builds.retain(|b| b.version != "1.5.0");
    o.builds.push(build("1.5.0", OTHER));
    assert!(bump(&plan(&alipay(100), &o, &Record::default())));
}
