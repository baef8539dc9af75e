//! The one error policy (kube-runtime's `Action::requeue` and `error_policy` as one pure
//! function): how an app's pass went becomes an [`Outcome`] — whether the app has settled (a
//! `--wait` may stop for it) and when to look at it again. `reconcile --wait` and `watch` run the
//! same scheduler on it.
//!
//! | what happened | settled | next pass |
//! |---|---|---|
//! | in sync, failed for good (Permanent), not authorized (Auth) | yes | after `resync` ± jitter |
//! | waiting on an audit | no | audit poll, doubling up to its cap |
//! | changes pending, or something applied | no | after `progress` |
//! | Conflict | no | after `progress` (observe again, often converged) |
//! | Transient (network, store, a crashed pass) | no | when the store's backoff ends |
//! | Quota | no | when the quota resets (the store's park) |
//! | held by the audit budget with nothing else to do | no | after `resync`; never within a `--wait` |
//! | held by a wave (one before it, a place, a bake) | no | at the bake's end, else when woken (a place frees); a minute at most |
//! | held at a gate (a halt, `max_update: 0`) with nothing else to do | yes | after `resync` |
//! | a gray walk holding its step | no | when the next step is due |
//! | blocked: the platform says a submission would fail (no ICP filing), nothing else to do | yes | after `resync` |

use std::time::Duration;

use crate::engine::{AppReport, HoldKind, PassError};
use crate::model::AppState;
use crate::platform::ErrorClass;

/// The per-app backoff after failed passes, kept in the store record (`Record::backoff_until_ms`):
/// `first`, doubling with every failure in a row, up to `max`, ±25 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// After the first failure.
    pub first: Duration,
    /// At most.
    pub max: Duration,
}

impl Backoff {
    /// 2 s doubling to 5 minutes, on the sandbox too: a pass that fails takes most of a second
    /// (its reads retry), so a shorter hold would end before anyone saw it.
    pub const STANDARD: Backoff = Backoff {
        first: Duration::from_secs(2),
        max: Duration::from_secs(300),
    };

    /// How long the `failures`-th failure in a row (1-based) holds the app, before jitter.
    pub fn after(&self, failures: u32) -> Duration {
        doubled(self.first, failures.max(1), self.max)
    }
}

/// The loop's intervals, and the per-app backoff kept in the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Between passes of a settled app (in sync, failed for good, not authorized).
    pub resync: Duration,
    /// Resyncs are spread by ± this fraction of `resync`.
    pub jitter: f64,
    /// The first poll of an app waiting on an audit; doubles with every poll…
    pub audit_poll: Duration,
    /// …up to this.
    pub audit_poll_max: Duration,
    /// After a pass that left changes pending (a step must wait a moment, a conflict).
    pub progress: Duration,
    /// The backoff after a first failed pass; doubles with every failure in a row…
    pub backoff: Duration,
    /// …up to this.
    pub backoff_max: Duration,
}

impl Timing {
    /// Intervals around `resync` and `audit_poll`; `fast` (every platform is the sandbox)
    /// shortens the progress step; the backoff is [`Backoff::STANDARD`] everywhere.
    pub fn new(resync: Duration, audit_poll: Duration, fast: bool) -> Timing {
        let progress = if fast {
            ms(200)
        } else {
            Duration::from_secs(5)
        };
        let Backoff {
            first: backoff,
            max: backoff_max,
        } = Backoff::STANDARD;
        Timing {
            resync,
            jitter: 0.1,
            audit_poll,
            audit_poll_max: (audit_poll * 20)
                .min(Duration::from_secs(600))
                .max(audit_poll),
            progress,
            backoff,
            backoff_max: backoff_max.max(backoff),
        }
    }

    /// `reconcile --wait`'s intervals: a pass every `interval` while an app progresses or waits on
    /// an audit (no growth), the store's backoff after failures.
    pub fn every(interval: Duration, fast: bool) -> Timing {
        Timing {
            audit_poll_max: interval,
            progress: interval,
            ..Timing::new(Duration::from_secs(600), interval, fast)
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How a pass left an app.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Whether the app has settled: in sync, or stopped until the operator acts.
    pub settled: bool,
    /// When the next pass is due.
    pub after: Duration,
    /// `resync`, `waiting_on_audit`, `changes`, `conflict`, `backoff`, `quota`, `held`,
    /// `audit_quota`, `wave`, `gate` or `gray_walk` (a metric label and a log field: a small fixed set).
    pub why: &'static str,
    /// Unix ms when a hold (quota, backoff) ends; `u64::MAX` for the audit budget, whose reset
    /// the platform does not say. `None`: not held.
    pub held_until_ms: Option<u64>,
}

impl Outcome {
    fn settled(after: Duration) -> Outcome {
        Outcome {
            settled: true,
            after,
            why: "resync",
            held_until_ms: None,
        }
    }

    fn moving(after: Duration, why: &'static str) -> Outcome {
        Outcome {
            settled: false,
            after,
            why,
            held_until_ms: None,
        }
    }
}

/// The outcome of `report` at `now_ms`, counting the app's audit polls in `polls`; `unit` is a
/// random number in `[0, 1)` for the resync jitter.
pub fn outcome(
    report: &AppReport,
    polls: &mut u32,
    timing: &Timing,
    unit: f64,
    now_ms: u64,
) -> Outcome {
    let waiting = report
        .plan
        .as_ref()
        .is_some_and(|p| p.state == AppState::WaitingOnAudit);
    if !waiting || report.error.is_some() {
        *polls = 0;
    }
    let base = match failure_class(report) {
        Some(class) => after_failure(class, timing, unit),
        None => after_pass(report, polls, timing, unit),
    };
    held(report, base, timing, now_ms)
}

/// The outcome of a pass that failed with `class`.
fn after_failure(class: ErrorClass, timing: &Timing, unit: f64) -> Outcome {
    match class {
        // The operator must act: look again now and then.
        ErrorClass::Permanent | ErrorClass::Auth => Outcome::settled(resync(timing, unit)),
        // Often already converged: observe again soon.
        ErrorClass::Conflict => Outcome::moving(timing.progress, "conflict"),
        // The store's park or backoff (see `held`) says when; this is the floor.
        ErrorClass::Quota => Outcome::moving(timing.backoff_max, "quota"),
        ErrorClass::Transient => Outcome::moving(timing.backoff, "backoff"),
    }
}

/// The outcome of a pass without errors, by the state it planned.
fn after_pass(report: &AppReport, polls: &mut u32, timing: &Timing, unit: f64) -> Outcome {
    let Some(plan) = &report.plan else {
        return Outcome::moving(timing.backoff, "backoff");
    };
    match plan.state {
        AppState::WaitingOnAudit => {
            *polls = polls.saturating_add(1);
            let after = doubled(timing.audit_poll, *polls, timing.audit_poll_max);
            Outcome::moving(after, "waiting_on_audit")
        }
        AppState::Changes => Outcome::moving(timing.progress, "changes"),
        // Its walk's hold (see `held`) says when the next step is due.
        AppState::Graying => Outcome::moving(timing.progress, "gray_walk"),
        // Something was applied: one more pass confirms it took.
        _ if !report.applied.is_empty() => Outcome::moving(timing.progress, "changes"),
        _ => Outcome::settled(resync(timing, unit)),
    }
}

/// A hold of the store (quota park, failure backoff), of the audit budget or of the rollout
/// outlasts `base`.
fn held(report: &AppReport, base: Outcome, timing: &Timing, now_ms: u64) -> Outcome {
    let Some(hold) = report.held.as_ref().filter(|_| !base.settled) else {
        return base;
    };
    match hold.kind {
        HoldKind::AuditQuota => {
            let changes = report.plan.as_ref().is_some_and(|p| p.has_changes());
            if changes || report.error.is_some() {
                return base; // the steps before the submission still go on
            }
            Outcome {
                after: timing.resync,
                why: "audit_quota",
                held_until_ms: Some(u64::MAX),
                ..base
            }
        }
        // A person must act: settled (a `--wait` stops for it); looked at again at the resync.
        HoldKind::Gate | HoldKind::Blocked => {
            if report.plan.as_ref().is_some_and(|p| p.has_changes()) {
                return base; // its tester steps still go on
            }
            Outcome {
                settled: true,
                after: timing.resync,
                why: hold.kind.as_str(),
                held_until_ms: Some(u64::MAX),
            }
        }
        // Time will tell: at the bake's end; else the engine wakes the app when a place frees
        // (a wave opens, an app of its wave is through), and a look a minute later is only the
        // safety net (every look observes the app: the platforms' calls are the cost).
        // A gray walk's step: at the time the next is due.
        HoldKind::Walk => {
            let until = hold.until_ms.unwrap_or(now_ms);
            Outcome {
                after: Duration::from_millis(until.saturating_sub(now_ms)).max(base.after),
                why: "gray_walk",
                held_until_ms: hold.until_ms,
                ..base
            }
        }
        HoldKind::Wave => {
            let net = Duration::from_secs(60).min(timing.resync.max(timing.audit_poll));
            let after = match hold.until_ms {
                Some(until) => Duration::from_millis(until.saturating_sub(now_ms)),
                None => net,
            };
            Outcome {
                after: after.max(base.after),
                why: "wave",
                held_until_ms: hold.until_ms,
                ..base
            }
        }
        HoldKind::Parked | HoldKind::Backoff => {
            let Some(until) = hold.until_ms else {
                return base;
            };
            let left = Duration::from_millis(until.saturating_sub(now_ms));
            Outcome {
                after: left.max(base.after),
                why: "held",
                held_until_ms: Some(until),
                ..base
            }
        }
    }
}

fn resync(timing: &Timing, unit: f64) -> Duration {
    let spread = 1.0 - timing.jitter + 2.0 * timing.jitter * unit.clamp(0.0, 1.0);
    timing.resync.mul_f64(spread.max(0.0))
}

/// `base · 2^(n-1)`, at most `cap`.
pub fn doubled(base: Duration, n: u32, cap: Duration) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// The class of what failed in a pass, if anything did: the pass's error, else the first failed
/// action.
pub fn failure_class(report: &AppReport) -> Option<ErrorClass> {
    if let Some(err) = &report.error {
        return Some(match err {
            PassError::Platform(e) => e.class,
            PassError::NoPlatform(_) => ErrorClass::Permanent,
            PassError::Store(_) | PassError::Crashed => ErrorClass::Transient,
        });
    }
    report
        .applied
        .iter()
        .find_map(|a| a.result.as_ref().err())
        .map(|e| e.class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Held;
    use crate::engine::fixtures::{failed_report, report};

    const NOW: u64 = 1_000_000;

    fn timing() -> Timing {
        Timing::new(Duration::from_secs(600), Duration::from_secs(30), false)
    }

    fn out(report: &AppReport, polls: &mut u32, unit: f64) -> Outcome {
        outcome(report, polls, &timing(), unit, NOW)
    }

    #[test]
    fn waiting_on_audit_polls_with_a_growing_capped_interval() {
        let mut polls = 0;
        let waiting = report(AppState::WaitingOnAudit, Vec::new());
        let afters: Vec<u64> = (0..8)
            .map(|_| out(&waiting, &mut polls, 0.5).after.as_secs())
            .collect();
        assert_eq!(afters, [30, 60, 120, 240, 480, 600, 600, 600]);
        assert!(!out(&waiting, &mut polls, 0.5).settled);
        // Once the verdict is in, the polls start over.
        let synced = report(AppState::InSync, Vec::new());
        let next = out(&synced, &mut polls, 0.5);
        assert_eq!((next.why, next.settled), ("resync", true));
        assert_eq!(polls, 0);
    }

    #[test]
    fn reconcile_wait_polls_at_its_interval_without_growth() {
        let timing = Timing::every(Duration::from_secs(1), false);
        let mut polls = 0;
        let waiting = report(AppState::WaitingOnAudit, Vec::new());
        for _ in 0..5 {
            let next = outcome(&waiting, &mut polls, &timing, 0.5, NOW);
            assert_eq!(next.after, Duration::from_secs(1));
        }
        let changes = report(AppState::Changes, Vec::new());
        assert_eq!(
            outcome(&changes, &mut polls, &timing, 0.5, NOW).after,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn in_sync_resyncs_within_the_jitter() {
        let mut polls = 0;
        let synced = report(AppState::InSync, Vec::new());
        let low = out(&synced, &mut polls, 0.0).after;
        let mid = out(&synced, &mut polls, 0.5).after;
        let high = out(&synced, &mut polls, 0.999).after;
        assert_eq!(low, Duration::from_secs(540));
        assert_eq!(mid, Duration::from_secs(600));
        assert!(high > Duration::from_secs(659) && high <= Duration::from_secs(660));
    }

    #[test]
    fn transient_failures_wait_for_the_stores_backoff() {
        let mut polls = 0;
        let mut failed = failed_report(ErrorClass::Transient);
        let next = out(&failed, &mut polls, 0.5);
        assert_eq!((next.why, next.settled), ("backoff", false));
        assert_eq!(next.after, timing().backoff, "no hold recorded: the floor");
        failed.held = Some(Held {
            kind: HoldKind::Backoff,
            until_ms: Some(NOW + 40_000),
            reason: "backing off".into(),
        });
        let next = out(&failed, &mut polls, 0.5);
        assert_eq!((next.why, next.settled), ("held", false));
        assert_eq!(next.after, Duration::from_secs(40));
        assert_eq!(next.held_until_ms, Some(NOW + 40_000));
    }

    #[test]
    fn permanent_and_auth_failures_settle_and_quota_waits_for_its_reset() {
        let mut polls = 0;
        for class in [ErrorClass::Permanent, ErrorClass::Auth] {
            let next = out(&failed_report(class), &mut polls, 0.5);
            assert_eq!((next.after.as_secs(), next.why), (600, "resync"));
            assert!(next.settled, "{class:?} needs the operator");
        }
        let mut quota = failed_report(ErrorClass::Quota);
        let next = out(&quota, &mut polls, 0.5);
        assert_eq!((next.after.as_secs(), next.why), (300, "quota"));
        quota.held = Some(Held {
            kind: HoldKind::Parked,
            until_ms: Some(NOW + 3_600_000),
            reason: "parked".into(),
        });
        let next = out(&quota, &mut polls, 0.5);
        assert_eq!((next.after.as_secs(), next.why), (3600, "held"));
        let next = out(&failed_report(ErrorClass::Conflict), &mut polls, 0.5);
        assert_eq!((next.after.as_secs(), next.why), (5, "conflict"));
        assert!(!next.settled);
    }

    #[test]
    fn a_failed_action_counts_as_a_failed_pass() {
        use crate::engine::Applied;
        use crate::engine::fixtures::{platform_error, step};
        use crate::model::Action;
        let applied = vec![Applied {
            step: step(Action::RevertGray),
            result: Err(platform_error(ErrorClass::Transient)),
        }];
        let mut polls = 0;
        let next = out(&report(AppState::Changes, applied), &mut polls, 0.5);
        assert_eq!((next.why, next.settled), ("backoff", false));
    }

    #[test]
    fn an_applied_step_needs_one_more_pass_to_settle() {
        use crate::engine::Applied;
        use crate::engine::fixtures::step;
        use crate::model::Action;
        let applied = vec![Applied {
            step: step(Action::RevertGray),
            result: Ok(()),
        }];
        let mut polls = 0;
        let next = out(&report(AppState::InSync, applied), &mut polls, 0.5);
        assert_eq!((next.why, next.settled), ("changes", false));
    }

    #[test]
    fn the_audit_budget_holds_an_app_with_nothing_else_to_do_beyond_any_deadline() {
        let mut held = report(AppState::WaitingOnAudit, Vec::new());
        held.held = Some(Held {
            kind: HoldKind::AuditQuota,
            until_ms: None,
            reason: "waits for the monthly audit quota".into(),
        });
        let mut polls = 0;
        let next = out(&held, &mut polls, 0.5);
        assert_eq!(next.why, "audit_quota");
        assert_eq!(next.held_until_ms, Some(u64::MAX));
        assert!(!next.settled);
    }

    #[test]
    fn a_gray_walk_is_looked_at_again_when_its_next_step_is_due() {
        let mut walking = report(AppState::Graying, Vec::new());
        walking.held = Some(Held {
            kind: HoldKind::Walk,
            until_ms: Some(NOW + 7_200_000),
            reason: "gray walk at 5%: the 20% step is due …".into(),
        });
        let mut polls = 0;
        let next = out(&walking, &mut polls, 0.5);
        assert_eq!((next.why, next.settled), ("gray_walk", false));
        assert_eq!(
            next.after,
            Duration::from_secs(7200),
            "not the 10-minute resync"
        );
        assert_eq!(next.held_until_ms, Some(NOW + 7_200_000));
    }

    #[test]
    fn a_blocked_app_is_settled_until_the_resync_and_its_commit_still_goes() {
        let mut polls = 0;
        let blocked = |state| {
            let mut r = report(state, Vec::new());
            r.held = Some(Held {
                kind: HoldKind::Blocked,
                until_ms: None,
                reason: "blocked before submitting: the ICP filing …".into(),
            });
            r
        };
        let next = out(&blocked(AppState::InSync), &mut polls, 0.5);
        assert_eq!(
            (next.why, next.settled),
            ("resync", true),
            "failed plans settle"
        );
        let next = out(&blocked(AppState::WaitingOnAudit), &mut polls, 0.5);
        assert_eq!(
            (next.why, next.settled),
            ("blocked", true),
            "a person must act"
        );
        assert_eq!(next.after, Duration::from_secs(600));
    }

    #[test]
    fn doubling_saturates() {
        let cap = Duration::from_secs(10);
        assert_eq!(doubled(Duration::from_secs(1), 200, cap), cap);
        assert_eq!(
            doubled(Duration::from_secs(1), 0, cap),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn the_one_backoff_doubles_to_its_cap_and_is_the_schedulers_too() {
        let b = Backoff::STANDARD;
        assert_eq!(b.after(1), Duration::from_secs(2));
        assert_eq!(b.after(2), Duration::from_secs(4));
        assert_eq!(b.after(9), Duration::from_secs(300));
        assert_eq!(b.after(u32::MAX), Duration::from_secs(300));
        let timing = Timing::new(Duration::from_secs(600), Duration::from_secs(30), true);
        assert_eq!(
            (timing.backoff, timing.backoff_max),
            (b.first, b.max),
            "the scheduler's floor and the store's hold are one schedule"
        );
    }
}
