//! Table tests of gray walks over time (`gray: { steps, hold }`): the first step, each next step
//! once the hold has passed, the end at 100 %, the first release on WeChat, Alipay's p10/p30/p50,
//! and the engine-side mark: a step seen begins its hold, a rollback aborts the walk.

use crate::model::{Action, AppState, GrayMark, GrayWalk, Record, WalkView};
use crate::plan::gray::{WALK_CALL, track};

use super::*;

const HOUR: u64 = 3600;

/// `tea-house` walking 5 → 20 → 50 → 100, each step held a day.
fn walking() -> Desired {
    let mut d = desired();
    d.walk = Some(GrayWalk {
        steps: [5, 20, 50, 100].into(),
        hold_secs: 24 * HOUR,
    });
    d.gray = 100;
    d
}

/// A record that saw the wanted build at `percent` since `since`.
fn marked(percent: u8, since: u64) -> Record {
    Record {
        gray_mark: Some(GrayMark {
            fingerprint: FP.into(),
            percent,
            since,
        }),
        ..Record::default()
    }
}

#[test]
fn an_approved_build_starts_the_walk_at_its_first_step() {
    let p = plan(&walking(), &approved(), &Record::default());
    assert_eq!(
        p.steps[0].action,
        Action::Gray {
            fingerprint: FP.into(),
            from: None,
            to: 5
        }
    );
    assert_eq!(
        p.steps[0].reason,
        "start a 5% gray release of build 1.5.0 [mf:1a2b3c4d], the first step of the walk \
         5% → 20% → 50% → 100%, each held 1day"
    );
}

#[test]
fn a_step_holds_until_its_hold_has_passed() {
    let since = NOW - 23 * HOUR;
    let p = plan(&walking(), &released(Some(5)), &marked(5, since));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert_eq!(p.state, AppState::Graying);
    assert_eq!(
        p.walk,
        Some(WalkView {
            percent: 5,
            next: Some(20),
            due: Some(since + 24 * HOUR),
        })
    );
    assert!(!p.state.is_settled(), "a --wait waits for the walk");
}

#[test]
fn the_next_step_comes_once_the_hold_has_passed() {
    let p = plan(&walking(), &released(Some(5)), &marked(5, NOW - 24 * HOUR));
    assert_eq!(
        p.steps[0].action,
        Action::Gray {
            fingerprint: FP.into(),
            from: Some(5),
            to: 20
        }
    );
    assert_eq!(
        p.steps[0].reason,
        "the 5% step has held for 1day: raise the gray of build 1.5.0 [mf:1a2b3c4d] to 20% \
         (walk 5% → 20% → 50% → 100%)"
    );
    assert_eq!(p.state, AppState::Changes);
    assert_eq!(p.walk.as_ref().and_then(|w| w.next), Some(20));
}

#[test]
fn the_last_step_is_a_full_release() {
    let p = plan(
        &walking(),
        &released(Some(50)),
        &marked(50, NOW - 25 * HOUR),
    );
    assert_eq!(
        p.steps[0].action,
        Action::Release {
            fingerprint: FP.into()
        }
    );
    assert!(p.steps[0].reason.contains("end the gray walk"));
}

#[test]
fn a_walk_is_over_once_the_build_is_fully_live() {
    let p = plan(&walking(), &released(None), &marked(100, NOW - HOUR));
    assert!(p.steps.is_empty());
    assert_eq!(p.state, AppState::InSync);
    assert_eq!(p.walk, None);
}

#[test]
fn a_mark_of_another_step_or_build_does_not_count_and_the_hold_starts_now() {
    for record in [marked(20, NOW - 48 * HOUR), Record::default()] {
        let p = plan(&walking(), &released(Some(5)), &record);
        assert!(p.steps.is_empty(), "an unknown start never raises early");
        assert_eq!(p.walk.as_ref().and_then(|w| w.due), Some(NOW + 24 * HOUR));
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("no record of when the 5% step began")),
            "{:?}",
            p.notes
        );
    }
}

#[test]
fn a_gray_between_steps_goes_to_the_next_step_above_it() {
    let p = plan(
        &walking(),
        &released(Some(10)),
        &marked(10, NOW - 24 * HOUR),
    );
    assert_eq!(
        p.steps[0].action,
        Action::Gray {
            fingerprint: FP.into(),
            from: Some(10),
            to: 20
        }
    );
}

#[test]
fn a_walk_never_lowers_a_gray() {
    let mut d = walking();
    d.walk = Some(GrayWalk {
        steps: [5, 20].into(),
        hold_secs: HOUR,
    });
    d.gray = 20;
    let p = plan(&d, &released(Some(50)), &marked(50, NOW - 48 * HOUR));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert_eq!(p.state, AppState::InSync);
    assert!(
        p.notes[0].contains("a walk never lowers a gray"),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_walk_ending_below_100_stays_at_its_last_step() {
    let mut d = walking();
    d.walk = Some(GrayWalk {
        steps: [5, 20].into(),
        hold_secs: HOUR,
    });
    d.gray = 20;
    let p = plan(&d, &released(Some(20)), &marked(20, NOW - 48 * HOUR));
    assert!(p.steps.is_empty());
    assert_eq!(p.state, AppState::InSync);
}

#[test]
fn the_first_release_on_wechat_is_full_and_ends_the_walk() {
    let o = Observed {
        live: None,
        ..approved()
    };
    let p = plan(&walking(), &o, &Record::default());
    assert_eq!(kinds(&p), ["release"]);
    assert!(p.notes[0].contains("the first release cannot be gray on WeChat"));
}

#[test]
fn alipay_walks_p10_p30_p50_then_online() {
    let mut d = walking();
    d.platform = crate::platform::alipay::spec::KIND;
    d.rules = &crate::platform::alipay::spec::RULES;
    d.walk = Some(GrayWalk {
        steps: [10, 30, 50, 100].into(),
        hold_secs: HOUR,
    });
    let first_release = Observed {
        live: None,
        ..approved()
    };
    let p = plan(&d, &first_release, &Record::default());
    assert_eq!(kinds(&p), ["gray"], "Alipay's first release may be gray");
    let mut walked = Vec::new();
    for (at, next) in [(10, "gray"), (30, "gray"), (50, "release")] {
        let p = plan(&d, &released(Some(at)), &marked(at, NOW - HOUR));
        assert_eq!(kinds(&p), [next], "at {at}%");
        walked.push(match p.steps[0].action {
            Action::Gray { to, .. } => to,
            _ => 100,
        });
    }
    assert_eq!(walked, [30, 50, 100]);
}

#[test]
fn a_seen_step_begins_its_hold_and_a_raised_one_is_not_marked_again() {
    let d = walking();
    let mut record = Record::default();
    assert!(track(&d, &released(Some(5)), &mut record, NOW * 1000));
    assert_eq!(record.gray_mark, marked(5, NOW).gray_mark);
    assert!(!track(
        &d,
        &released(Some(5)),
        &mut record,
        (NOW + HOUR) * 1000
    ));
    assert_eq!(
        record.gray_mark,
        marked(5, NOW).gray_mark,
        "the hold keeps its start"
    );
    assert!(track(
        &d,
        &released(Some(20)),
        &mut record,
        (NOW + HOUR) * 1000
    ));
    assert_eq!(record.gray_mark, marked(20, NOW + HOUR).gray_mark);
    assert_eq!(record.failure, None);
}

#[test]
fn a_mark_rounds_up_so_a_hold_is_never_cut_short() {
    let mut record = Record::default();
    track(&walking(), &released(Some(5)), &mut record, NOW * 1000 + 1);
    assert_eq!(record.gray_mark, marked(5, NOW + 1).gray_mark);
}

#[test]
fn a_rollback_aborts_the_walk_until_the_fleet_wants_another_build() {
    let d = walking();
    let mut record = marked(20, NOW - HOUR);
    // Someone reverted the gray in the console: the build before it is live again.
    assert!(track(&d, &steady_old(), &mut record, NOW * 1000));
    assert_eq!(record.gray_mark, None);
    let failure = record.failure.clone().expect("the walk is aborted");
    assert_eq!(failure.call, WALK_CALL);
    assert_eq!(failure.code, "rolled_back");
    assert_eq!(
        failure.message,
        "the walk of build 1.5.0 [mf:1a2b3c4d] was rolled back at 20% (1.4.0 [mf:99aabbcc] is \
         live now)"
    );
    let p = plan(&d, &approved(), &record);
    assert!(
        p.steps.is_empty(),
        "the walk does not start again: {:?}",
        p.steps
    );
    assert!(matches!(p.state, AppState::Failed { .. }));
    let mut next = d.clone();
    next.fingerprint = OTHER.into();
    assert!(
        !plan(&next, &approved(), &record).steps.is_empty(),
        "a new build walks"
    );
}

#[test]
fn a_finished_walk_or_no_walk_leaves_no_failure_behind() {
    let d = walking();
    let mut record = marked(100, NOW - HOUR);
    assert!(track(&d, &steady_old(), &mut record, NOW * 1000));
    assert_eq!(
        (record.gray_mark.clone(), record.failure.clone()),
        (None, None)
    );
    let mut record = marked(20, NOW - HOUR);
    assert!(
        track(&desired(), &steady_old(), &mut record, NOW * 1000),
        "no walk: forgotten"
    );
    assert_eq!((record.gray_mark, record.failure), (None, None));
}
