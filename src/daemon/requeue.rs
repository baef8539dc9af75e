//! When an app's next pass is due, from how its last pass went (kube-runtime's `Action::requeue`
//! and `error_policy`, as one pure function): waiting on an audit polls with a growing, capped
//! interval; failing backs off exponentially with jitter; in sync resyncs with jitter.

use std::time::Duration;

use crate::engine::{AppReport, PassError};
use crate::model::AppState;
use crate::platform::ErrorClass;

/// The scheduler's intervals.
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
    /// The first retry after a failed pass; doubles with every failure in a row…
    pub backoff: Duration,
    /// …up to this (also the wait after a quota error).
    pub backoff_max: Duration,
}

impl Timing {
    /// Intervals around `resync` and `audit_poll`; `fast` (every platform is the sandbox)
    /// shortens the progress and backoff steps.
    pub fn new(resync: Duration, audit_poll: Duration, fast: bool) -> Timing {
        let (progress, backoff, backoff_max) = if fast {
            (ms(200), ms(200), Duration::from_secs(5))
        } else {
            (
                Duration::from_secs(5),
                Duration::from_secs(5),
                Duration::from_secs(300),
            )
        };
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
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the scheduler remembers of an app between passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Polls in a row that found the app waiting on an audit.
    pub polls: u32,
    /// Failed passes in a row.
    pub failures: u32,
}

/// When the next pass is due, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requeue {
    /// After this long.
    pub after: Duration,
    /// `resync`, `waiting_on_audit`, `changes`, `backoff` or `quota`.
    pub why: &'static str,
}

/// The next pass after `report`, updating `counters`; `unit` is a random number in `[0, 1)`
/// for the jitter.
pub fn requeue(report: &AppReport, counters: &mut Counters, timing: &Timing, unit: f64) -> Requeue {
    if let Some(class) = failure_class(report) {
        return after_failure(class, counters, timing, unit);
    }
    counters.failures = 0;
    match report.plan.as_ref().map(|p| &p.state) {
        Some(AppState::WaitingOnAudit) => {
            counters.polls = counters.polls.saturating_add(1);
            Requeue {
                after: doubled(timing.audit_poll, counters.polls, timing.audit_poll_max),
                why: "waiting_on_audit",
            }
        }
        Some(AppState::Changes) => {
            counters.polls = 0;
            Requeue {
                after: timing.progress,
                why: "changes",
            }
        }
        _ => {
            counters.polls = 0;
            resync(timing, unit)
        }
    }
}

fn after_failure(
    class: ErrorClass,
    counters: &mut Counters,
    timing: &Timing,
    unit: f64,
) -> Requeue {
    counters.polls = 0;
    match class {
        // The operator must act: look again now and then, as for a settled app.
        ErrorClass::Permanent | ErrorClass::Auth => {
            counters.failures = 0;
            resync(timing, unit)
        }
        // Often already converged: observe again soon.
        ErrorClass::Conflict => Requeue {
            after: timing.progress,
            why: "changes",
        },
        ErrorClass::Quota => Requeue {
            after: timing.backoff_max,
            why: "quota",
        },
        ErrorClass::Transient => {
            counters.failures = counters.failures.saturating_add(1);
            let cap = doubled(timing.backoff, counters.failures, timing.backoff_max);
            // Equal jitter: half fixed, half random, so retries of many apps spread out.
            Requeue {
                after: cap / 2 + cap.mul_f64(unit.clamp(0.0, 1.0) / 2.0),
                why: "backoff",
            }
        }
    }
}

fn resync(timing: &Timing, unit: f64) -> Requeue {
    let spread = 1.0 - timing.jitter + 2.0 * timing.jitter * unit.clamp(0.0, 1.0);
    Requeue {
        after: timing.resync.mul_f64(spread.max(0.0)),
        why: "resync",
    }
}

/// `base · 2^(n-1)`, at most `cap`.
fn doubled(base: Duration, n: u32, cap: Duration) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// The class of what failed in a pass, if anything did.
fn failure_class(report: &AppReport) -> Option<ErrorClass> {
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
    use crate::daemon::fixtures::{failed_report, report};

    fn timing() -> Timing {
        Timing::new(Duration::from_secs(600), Duration::from_secs(30), false)
    }

    #[test]
    fn waiting_on_audit_polls_with_a_growing_capped_interval() {
        let mut c = Counters::default();
        let waiting = report(AppState::WaitingOnAudit, Vec::new());
        let afters: Vec<u64> = (0..8)
            .map(|_| requeue(&waiting, &mut c, &timing(), 0.5).after.as_secs())
            .collect();
        assert_eq!(afters, [30, 60, 120, 240, 480, 600, 600, 600]);
        // Once the verdict is in, the polls start over.
        let synced = report(AppState::InSync, Vec::new());
        assert_eq!(requeue(&synced, &mut c, &timing(), 0.5).why, "resync");
        assert_eq!(c.polls, 0);
    }

    #[test]
    fn in_sync_resyncs_within_the_jitter() {
        let mut c = Counters::default();
        let synced = report(AppState::InSync, Vec::new());
        let low = requeue(&synced, &mut c, &timing(), 0.0).after;
        let mid = requeue(&synced, &mut c, &timing(), 0.5).after;
        let high = requeue(&synced, &mut c, &timing(), 0.999).after;
        assert_eq!(low, Duration::from_secs(540));
        assert_eq!(mid, Duration::from_secs(600));
        assert!(high > Duration::from_secs(659) && high <= Duration::from_secs(660));
    }

    #[test]
    fn transient_failures_back_off_and_success_resets() {
        let mut c = Counters::default();
        let failed = failed_report(ErrorClass::Transient);
        let caps: Vec<u64> = (0..9)
            .map(|_| requeue(&failed, &mut c, &timing(), 1.0).after.as_secs())
            .collect();
        assert_eq!(caps, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(c.failures, 9);
        // With no luck the wait is half the cap.
        assert_eq!(
            requeue(&failed, &mut c, &timing(), 0.0).after,
            Duration::from_secs(150)
        );
        let changes = report(AppState::Changes, Vec::new());
        let next = requeue(&changes, &mut c, &timing(), 0.5);
        assert_eq!((next.after, next.why), (Duration::from_secs(5), "changes"));
        assert_eq!(c.failures, 0);
    }

    #[test]
    fn permanent_and_quota_failures_do_not_hammer() {
        let mut c = Counters::default();
        let next = requeue(
            &failed_report(ErrorClass::Permanent),
            &mut c,
            &timing(),
            0.5,
        );
        assert_eq!((next.after.as_secs(), next.why), (600, "resync"));
        let next = requeue(&failed_report(ErrorClass::Quota), &mut c, &timing(), 0.5);
        assert_eq!((next.after.as_secs(), next.why), (300, "quota"));
        let next = requeue(&failed_report(ErrorClass::Conflict), &mut c, &timing(), 0.5);
        assert_eq!((next.after.as_secs(), next.why), (5, "changes"));
    }

    #[test]
    fn a_failed_action_counts_as_a_failed_pass() {
        use crate::daemon::fixtures::{platform_error, step};
        use crate::engine::Applied;
        use crate::model::Action;
        let applied = vec![Applied {
            step: step(Action::RevertGray),
            result: Err(platform_error(ErrorClass::Transient)),
        }];
        let mut c = Counters::default();
        let next = requeue(&report(AppState::Changes, applied), &mut c, &timing(), 0.5);
        assert_eq!(next.why, "backoff");
        assert_eq!(c.failures, 1);
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
}
