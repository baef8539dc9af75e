//! Rollout tests: a table test per rule of the gate (waves in order, `max_update` places, manual
//! gates, bakes, halts and their lifting, the catch-all wave), the progress of an app from its
//! plan, and property tests (never more than `max_update` on their way per wave; a halted release
//! never starts; tester steps are never held).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::rollout::{HaltRule, MaxUpdate, Rollout, RolloutState, Wave};
use crate::model::{Action, AppState};
use crate::plan::rollout::{
    Change, Member, Progress, WaveState, gate, progress, promote, resume, wave_of, withhold,
};

fn wave(name: &str, labels: &[(&str, &str)], max_update: MaxUpdate, bake_secs: u64) -> Wave {
    Wave {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        max_update,
        bake_secs,
    }
}

/// One wave `name` taking every app, `max_update` at a time, no bake, the default halt rule.
fn one_wave(name: &str, max_update: MaxUpdate) -> Rollout {
    Rollout {
        waves: vec![wave(name, &[], max_update, 0)],
        halt: HaltRule::default(),
    }
}

/// canary (1 at a time, 1 h bake) → east (50 %) → rest (manual gate).
fn three_waves() -> Rollout {
    Rollout {
        waves: vec![
            wave("canary", &[("tier", "canary")], MaxUpdate::Count(1), 3600),
            wave("east", &[("region", "east")], MaxUpdate::Percent(50), 0),
            wave("rest", &[], MaxUpdate::Count(0), 0),
        ],
        halt: HaltRule::default(),
    }
}

/// A member of wave `w` named `name`, wanting `shop@1.5.0` as build `fp-<name>`.
fn member(name: &str, w: usize, progress: Progress) -> Member {
    Member {
        name: name.to_owned(),
        release: "shop@1.5.0".to_owned(),
        fingerprint: format!("fp-{name}"),
        wave: w,
        progress,
        here: true,
    }
}

fn held_names(members: &[Member], gated: &crate::plan::rollout::Gated) -> Vec<String> {
    members
        .iter()
        .zip(&gated.holds)
        .filter(|(_, h)| h.is_some())
        .map(|(m, _)| m.name.clone())
        .collect()
}

fn started_names(members: &[Member], gated: &crate::plan::rollout::Gated) -> Vec<String> {
    gated
        .started
        .iter()
        .map(|&i| members[i].name.clone())
        .collect()
}

#[test]
fn a_wave_starts_only_after_the_one_before_converged() {
    let rollout = three_waves();
    let members = vec![
        member("c1", 0, Progress::Pending),
        member("e1", 1, Progress::Pending),
        member("r1", 2, Progress::Pending),
    ];
    let mut state = RolloutState::default();
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert_eq!(started_names(&members, &gated), ["c1"]);
    assert_eq!(held_names(&members, &gated), ["e1", "r1"]);
    let why = gated.holds[1].as_ref().unwrap();
    assert!(!why.needs_person, "time will tell");
    assert!(
        why.reason
            .contains("waits for wave `canary` to be released: 0 of 1"),
        "{}",
        why.reason
    );
    assert_eq!(
        gated.view.waves[1].state,
        WaveState::Waiting {
            on: "canary".into()
        }
    );
    assert!(gated.changes.is_empty());
}

#[test]
fn max_update_bounds_the_apps_on_their_way_counting_those_already_started() {
    let rollout = one_wave("all", MaxUpdate::Count(2));
    let members = vec![
        member("a", 0, Progress::InFlight),
        member("b", 0, Progress::Pending),
        member("c", 0, Progress::Pending),
        member("d", 0, Progress::Done),
        member("e", 0, Progress::Pending),
    ];
    let gated = gate(&rollout, &members, &mut RolloutState::default(), NOW);
    assert_eq!(started_names(&members, &gated), ["b"]);
    assert_eq!(held_names(&members, &gated), ["c", "e"]);
    assert!(
        gated.holds[2]
            .as_ref()
            .unwrap()
            .reason
            .contains("waits its turn in wave `all`: 2 of 5 on their way (max_update 2)")
    );
    // A share rounds up: 50 % of 5 is 3 places.
    let half = Rollout {
        waves: vec![wave("all", &[], MaxUpdate::Percent(50), 0)],
        ..rollout
    };
    let gated = gate(&half, &members, &mut RolloutState::default(), NOW);
    assert_eq!(started_names(&members, &gated), ["b", "c"]);
}

#[test]
fn places_go_to_the_apps_of_the_round_first() {
    let rollout = one_wave("all", MaxUpdate::Count(1));
    let mut members = vec![
        member("a", 0, Progress::Pending),
        member("b", 0, Progress::Pending),
    ];
    members[0].here = false;
    let gated = gate(&rollout, &members, &mut RolloutState::default(), NOW);
    assert_eq!(started_names(&members, &gated), ["b"]);
    assert_eq!(gated.holds[0], None, "not in the round: nothing to hold");
}

#[test]
fn a_manual_gate_waits_for_promote_and_closes_again_for_new_builds() {
    let rollout = three_waves();
    let mut members = vec![
        member("c1", 0, Progress::Done),
        member("e1", 1, Progress::Done),
        member("r1", 2, Progress::Pending),
        member("r2", 2, Progress::Pending),
    ];
    let mut state = RolloutState::default();
    // The canary converged long ago.
    gate(&rollout, &members, &mut state, NOW - 7200);
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert_eq!(held_names(&members, &gated), ["r1", "r2"]);
    let hold = gated.holds[2].as_ref().unwrap();
    assert!(hold.needs_person);
    assert!(
        hold.reason.contains("`minifleet promote rest`"),
        "{}",
        hold.reason
    );
    assert_eq!(gated.view.waves[2].state, WaveState::Gate);

    assert_eq!(
        promote(&rollout, &members, &mut state, None),
        Ok("rest".into())
    );
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert_eq!(
        started_names(&members, &gated),
        ["r1", "r2"],
        "a promoted gate lets all go"
    );

    // A new build for the wave is a new rollout of it: the gate is closed again.
    members[3].fingerprint = "fp-r2-new".into();
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert_eq!(held_names(&members, &gated), ["r1", "r2"]);
    assert_eq!(
        promote(&rollout, &members, &mut state, Some("nope")),
        Err("the rollout has no wave `nope`; its waves: canary, east, rest".into())
    );
    assert_eq!(
        promote(&rollout, &members, &mut state, Some("rest")),
        Ok("rest".into())
    );
    assert!(
        promote(&rollout, &members, &mut state, None).is_err(),
        "none left closed"
    );
}

#[test]
fn the_next_wave_waits_out_the_bake_of_the_one_before() {
    let rollout = three_waves();
    let members = vec![
        member("c1", 0, Progress::Done),
        member("e1", 1, Progress::Pending),
    ];
    let mut state = RolloutState::default();
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert_eq!(
        gated.changes,
        [Change::WaveConverged {
            wave: "canary".into()
        }]
    );
    assert_eq!(held_names(&members, &gated), ["e1"]);
    let hold = gated.holds[1].as_ref().unwrap();
    assert_eq!(hold.until, Some(NOW + 3600));
    assert!(
        hold.reason
            .contains("waits for wave `canary` to bake until 2024-02-01T03:00:00Z"),
        "{}",
        hold.reason
    );
    assert!(!hold.needs_person);
    assert_eq!(
        gated.view.waves[0].state,
        WaveState::Baking { until: NOW + 3600 }
    );
    // Remembered: half an hour on, still baking, nothing new to tell.
    let gated = gate(&rollout, &members, &mut state, NOW + 1800);
    assert!(gated.changes.is_empty());
    assert_eq!(held_names(&members, &gated), ["e1"]);
    let gated = gate(&rollout, &members, &mut state, NOW + 3600);
    assert_eq!(started_names(&members, &gated), ["e1"]);
    assert_eq!(gated.view.waves[0].state, WaveState::Converged);
}

#[test]
fn rejections_reaching_the_rule_halt_the_release_everywhere() {
    let rollout = Rollout {
        waves: vec![
            wave("canary", &[("tier", "canary")], MaxUpdate::Percent(100), 0),
            wave("rest", &[], MaxUpdate::Percent(100), 0),
        ],
        halt: HaltRule::default(),
    };
    let mut members: Vec<Member> = (0..10)
        .map(|i| member(&format!("c{i}"), 0, Progress::InFlight))
        .collect();
    members[0].progress = Progress::Rejected;
    members[1].progress = Progress::Done;
    members.push(member("r1", 1, Progress::Pending));
    let mut state = RolloutState::default();
    // One rejection of ten: under both the count (2) and the rate (20 %).
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert!(state.halts.is_empty());
    assert!(gated.changes.is_empty());

    members[2].progress = Progress::Rejected;
    let gated = gate(&rollout, &members, &mut state, NOW);
    let Change::Halted {
        release,
        wave,
        rejected,
        ..
    } = &gated.changes[0]
    else {
        panic!("{:?}", gated.changes)
    };
    assert_eq!((release.as_str(), wave.as_str()), ("shop@1.5.0", "canary"));
    assert_eq!(rejected, &["c0", "c2"]);
    // Everything of the release that is not through waits; the released app is left alone.
    let held = held_names(&members, &gated);
    assert!(!held.contains(&"c1".to_owned()), "{held:?}");
    assert_eq!(held.len(), 10);
    let hold = gated.holds[3].as_ref().unwrap();
    assert!(hold.needs_person);
    assert!(
        hold.reason
            .contains("halted: 2 apps of wave `canary` rejected (c0, c2)")
    );
    assert!(hold.reason.contains("`minifleet resume shop@1.5.0`"));
    assert!(gated.started.is_empty());
    assert_eq!(gated.view.halts[0].rejected, ["c0", "c2"]);

    // A fix of one rejected app is not enough; of both, the halt lifts by itself.
    members[0].fingerprint = "fp-c0-fixed".into();
    members[0].progress = Progress::Pending;
    gate(&rollout, &members, &mut state, NOW);
    assert!(state.halts.contains_key("shop@1.5.0"));
    members[2].fingerprint = "fp-c2-fixed".into();
    members[2].progress = Progress::Pending;
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert_eq!(
        gated.changes,
        [Change::Lifted {
            release: "shop@1.5.0".into()
        }]
    );
    assert!(state.halts.is_empty());
}

#[test]
fn a_rate_halts_a_small_wave_on_one_rejection() {
    let rollout = one_wave("canary", MaxUpdate::Percent(100));
    let members = vec![
        member("c0", 0, Progress::Rejected),
        member("c1", 0, Progress::InFlight),
        member("c2", 0, Progress::InFlight),
    ];
    let mut state = RolloutState::default();
    gate(&rollout, &members, &mut state, NOW);
    assert!(
        state.halts.contains_key("shop@1.5.0"),
        "1 of 3 is over 20 %"
    );
    let count_only = Rollout {
        halt: HaltRule {
            rejections: 2,
            rate_percent: 0,
        },
        ..rollout
    };
    let mut state = RolloutState::default();
    gate(&count_only, &members, &mut state, NOW);
    assert!(state.halts.is_empty());
}

#[test]
fn resume_lifts_a_halt_and_forgives_its_rejections() {
    let rollout = one_wave("all", MaxUpdate::Percent(100));
    let members = vec![
        member("a", 0, Progress::Rejected),
        member("b", 0, Progress::Rejected),
        member("c", 0, Progress::Pending),
    ];
    let mut state = RolloutState::default();
    gate(&rollout, &members, &mut state, NOW);
    assert_eq!(
        resume(&mut state, Some("shop@2.0.0")),
        Err("release `shop@2.0.0` is not halted; halted: shop@1.5.0".into())
    );
    assert_eq!(resume(&mut state, None), Ok("shop@1.5.0".into()));
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert!(
        state.halts.is_empty(),
        "the forgiven rejections do not halt again"
    );
    assert_eq!(started_names(&members, &gated), ["c"]);
    assert_eq!(resume(&mut state, None), Err("no release is halted".into()));
}

#[test]
fn apps_in_no_wave_fall_in_the_catch_all_or_the_last() {
    let mut d = desired();
    let rollout = three_waves();
    d.labels = BTreeMap::from([("tier".to_owned(), "canary".to_owned())]).into();
    assert_eq!(wave_of(&rollout, &d), 0);
    d.labels = BTreeMap::from([("region".to_owned(), "east".to_owned())]).into();
    assert_eq!(wave_of(&rollout, &d), 1);
    d.labels = Default::default();
    assert_eq!(wave_of(&rollout, &d), 2);
    let labelled_only = Rollout {
        waves: rollout.waves[..2].to_vec(),
        ..rollout
    };
    assert_eq!(wave_of(&labelled_only, &d), 1, "no catch-all: the last");
}

#[test]
fn excluded_apps_do_not_block_a_wave_and_unknown_ones_do() {
    let rollout = three_waves();
    let mut members = vec![
        member("c1", 0, Progress::Excluded),
        member("c2", 0, Progress::Done),
        member("e1", 1, Progress::Pending),
    ];
    let mut state = RolloutState::default();
    gate(&rollout, &members, &mut state, NOW - 7200);
    let gated = gate(&rollout, &members, &mut state, NOW);
    assert_eq!(started_names(&members, &gated), ["e1"]);
    members[0].progress = Progress::Unknown;
    let gated = gate(&rollout, &members, &mut RolloutState::default(), NOW);
    assert_eq!(held_names(&members, &gated), ["e1"]);
}

#[test]
fn progress_reads_the_plan() {
    let d = desired();
    let at = |o: &Observed| {
        let p = plan(&d, o, &Record::default());
        progress(&d, o, &p)
    };
    assert_eq!(at(&steady_old()), Progress::Pending, "commit first");
    assert_eq!(at(&approved()), Progress::InFlight, "release next");
    assert_eq!(at(&released(None)), Progress::Done);
    let rejected = Observed {
        audit: Some(audit("102", wanted_build(), AuditStatus::Rejected)),
        experience: Some(wanted_build()),
        ..steady_old()
    };
    assert_eq!(at(&rejected), Progress::Rejected);
    let unauthorized = Observed {
        authorized: false,
        ..steady_old()
    };
    assert_eq!(at(&unauthorized), Progress::Excluded);
}

#[test]
fn a_held_plan_keeps_its_tester_steps_and_its_wait() {
    let mut d = desired();
    d.testers = vec!["ops-li".into()];
    let mut p = plan(&d, &steady_old(), &Record::default());
    assert!(p.ext_change.is_some());
    let hold = crate::plan::rollout::Hold {
        needs_person: false,
        reason: "waits".into(),
        until: None,
    };
    withhold(&mut p, &hold);
    let kinds =
        |p: &AppPlan| -> Vec<&'static str> { p.steps.iter().map(|s| s.action.kind()).collect() };
    assert_eq!(
        kinds(&p),
        ["bind_tester"],
        "the wait after the held submission goes too"
    );
    assert!(p.ext_change.is_none());
    assert_eq!(p.notes.last().map(String::as_str), Some("waits"));
    assert_eq!(p.state, AppState::Changes);
    // Under review: the wait stays, the release after it goes.
    let reviewing = Observed {
        experience: Some(wanted_build()),
        audit: Some(audit("102", wanted_build(), AuditStatus::Auditing)),
        ..steady_old()
    };
    let mut p = plan(&desired(), &reviewing, &Record::default());
    assert_eq!(kinds(&p), ["wait_for_audit", "release"]);
    withhold(&mut p, &hold);
    assert_eq!(kinds(&p), ["wait_for_audit"]);
}

/// A walk is on its way until its last step: its app holds a place, does not let its wave
/// converge, and a halt of its release (which holds every app of it not through) stops the walk
/// where it is.
#[test]
fn a_gray_walk_is_in_flight_and_a_halt_stops_it_where_it_is() {
    let mut d = desired();
    d.walk = Some(crate::model::GrayWalk {
        steps: [5, 20, 100].into(),
        hold_secs: 3600,
    });
    let mark = |since| Record {
        gray_mark: Some(crate::model::GrayMark {
            fingerprint: FP.into(),
            percent: 5,
            since,
        }),
        ..Record::default()
    };
    let holding = plan(&d, &released(Some(5)), &mark(NOW));
    assert_eq!(holding.state, AppState::Graying);
    assert_eq!(
        progress(&d, &released(Some(5)), &holding),
        Progress::InFlight
    );
    let mut due = plan(&d, &released(Some(5)), &mark(NOW - 3600));
    assert_eq!(progress(&d, &released(Some(5)), &due), Progress::InFlight);
    let rollout = one_wave("all", MaxUpdate::Percent(100));
    let mut members = vec![member("a", 0, Progress::InFlight)];
    members.extend((0..2).map(|i| member(&format!("r{i}"), 0, Progress::Rejected)));
    let mut state = RolloutState::default();
    let gated = gate(&rollout, &members, &mut state, NOW);
    let hold = gated.holds[0]
        .as_ref()
        .expect("the walking app is held by the halt");
    assert!(hold.needs_person);
    withhold(&mut due, hold);
    assert!(
        !due.steps.iter().any(|s| s.action.kind() == "gray"),
        "{:?}",
        due.steps
    );
}

fn any_progress() -> impl Strategy<Value = Progress> {
    prop::sample::select(vec![
        Progress::Done,
        Progress::InFlight,
        Progress::Rejected,
        Progress::Pending,
        Progress::Excluded,
        Progress::Unknown,
    ])
}

fn any_max_update() -> impl Strategy<Value = MaxUpdate> {
    prop_oneof![
        (0u32..4).prop_map(MaxUpdate::Count),
        (1u8..=100).prop_map(MaxUpdate::Percent),
    ]
}

/// Up to three waves; members of two releases spread over them.
fn any_fleet() -> impl Strategy<Value = (Rollout, Vec<Member>, u32, bool)> {
    (
        prop::collection::vec((any_max_update(), 0u64..2), 1..=3),
        prop::collection::vec(
            (0usize..3, any_progress(), any::<bool>(), any::<bool>()),
            0..24,
        ),
        0u32..4,
        any::<bool>(),
    )
        .prop_map(|(waves, apps, rejections, promoted)| {
            let n = waves.len();
            let rollout = Rollout {
                waves: waves
                    .into_iter()
                    .enumerate()
                    .map(|(i, (m, bake))| wave(&format!("w{i}"), &[], m, bake * 60))
                    .collect(),
                halt: HaltRule {
                    rejections,
                    rate_percent: 20,
                },
            };
            let members = apps
                .into_iter()
                .enumerate()
                .map(|(i, (w, progress, two, here))| Member {
                    release: if two { "shop@2.0.0" } else { "shop@1.5.0" }.to_owned(),
                    here,
                    ..member(&format!("a{i}"), w % n, progress)
                })
                .collect();
            (rollout, members, rejections, promoted)
        })
}

proptest! {
    #[test]
    fn never_more_than_max_update_on_their_way_per_wave((rollout, members, _, promoted) in any_fleet()) {
        let mut state = RolloutState::default();
        if promoted {
            while promote(&rollout, &members, &mut state, None).is_ok() {}
        }
        let gated = gate(&rollout, &members, &mut state, NOW);
        for (w, wave) in rollout.waves.iter().enumerate() {
            let size = members.iter().filter(|m| m.wave == w).count();
            let before = members.iter().filter(|m| m.wave == w && matches!(m.progress, Progress::InFlight | Progress::Rejected)).count();
            let started = gated.started.iter().filter(|&&i| members[i].wave == w).count();
            if started > 0 {
                prop_assert!(before + started <= wave.max_update.limit(size), "wave {w}: {before} + {started} > {}", wave.max_update);
            }
        }
        for &i in &gated.started {
            prop_assert_eq!(members[i].progress, Progress::Pending);
            prop_assert!(members[i].here);
            prop_assert!(gated.holds[i].is_none());
        }
    }

    #[test]
    fn a_halted_release_is_never_started((rollout, members, _, _) in any_fleet()) {
        let mut state = RolloutState::default();
        let gated = gate(&rollout, &members, &mut state, NOW);
        for (i, m) in members.iter().enumerate() {
            if state.halts.contains_key(&m.release) && m.here && !matches!(m.progress, Progress::Done | Progress::Excluded) {
                prop_assert!(!gated.started.contains(&i));
                prop_assert!(gated.holds[i].as_ref().is_some_and(|h| h.needs_person), "{:?}", gated.holds[i]);
            }
        }
        // Deterministic, and a second look changes nothing more.
        let mut again = state.clone();
        let second = gate(&rollout, &members, &mut again, NOW);
        prop_assert_eq!(&again, &state);
        prop_assert!(second.changes.is_empty(), "{:?}", second.changes);
    }

    #[test]
    fn an_app_in_no_members_wave_is_never_held_by_waves(progress in any_progress()) {
        // A single wave, always open: only a halt or the app's own place can hold it.
        let rollout = Rollout { waves: vec![wave("all", &[], MaxUpdate::Percent(100), 0)], halt: HaltRule::default() };
        let members = vec![member("a", 0, progress)];
        let gated = gate(&rollout, &members, &mut RolloutState::default(), NOW);
        if progress != Progress::Rejected {
            prop_assert!(gated.holds[0].is_none());
        }
    }

    #[test]
    fn tester_steps_are_never_held(o in props_observed()) {
        let mut d = desired();
        d.testers = vec!["ops-li".into(), "qa-wang".into()];
        let p = plan(&d, &o, &Record::default());
        let testers: Vec<_> = p.steps.iter().filter(|s| matches!(s.action, Action::BindTester { .. } | Action::UnbindTester { .. } | Action::VerifyTester { .. })).cloned().collect();
        let mut held = p.clone();
        withhold(&mut held, &crate::plan::rollout::Hold { needs_person: true, reason: "halted".into(), until: None });
        let kept: Vec<_> = held.steps.iter().filter(|s| !matches!(s.action, Action::WaitForAudit { .. })).cloned().collect();
        prop_assert_eq!(kept, testers);
    }
}

fn props_observed() -> impl Strategy<Value = Observed> {
    prop::sample::select(vec![steady_old(), approved(), released(None), observed()])
}
