//! Resyncs that prove "nothing changed" with the platform's cheapest read.
//!
//! The daemon is the only writer of its apps, so a resync of a settled app mostly confirms what
//! the last observation said. On a resync the engine asks the platform's probe
//! ([`Platform::probe`]: one read, digested) and, when the digest equals the one the last
//! observation carried ([`Observed::probe`]), plans on that observation instead of observing
//! again. It observes fully when:
//!
//! * the pass is not a resync (a start, an edit of the fleet, a push, a pass after changes);
//! * the last observation has no digest, or shows something in flight (an audit under review, a
//!   gray release), whose next step the probe may not reveal;
//! * the digest differs, or the last observation plans a change or an unsettled state (a hold
//!   ended, a quota reset): nothing is ever applied on a proven observation;
//! * every k-th resync of an app ([`Proofs::every`]), for what no probe reveals (the testers, an
//!   audit submitted by hand on WeChat).
//!
//! The plan of a proposed fleet ([`Mode::Proposal`], the daemon's answer to a CI run) is planned
//! on the last observations the probe proves, whatever it plans (nothing is applied), so asking
//! costs one read per app not in flight; what no probe reveals is as fresh as the daemon's last
//! full observation of the app (at most k resyncs old).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Engine, Mode, PassError, now_ms};
use crate::model::{AuditStatus, Desired, Observed, Record};
use crate::plan::{Context, plan_app};
use crate::platform::Platform;

/// Resyncs between two full observations of an app, by default: with a probe of one call and a
/// full observation of two to four, about 1.1–1.3 calls per app per resync.
pub const DEFAULT_FULL_EVERY: u32 = 10;

/// The count of proven resyncs per app since its last full observation.
#[derive(Debug)]
pub struct Proofs {
    every: AtomicU32,
    proven: Mutex<HashMap<String, u32>>,
}

impl Proofs {
    /// Every `every`-th resync observes fully (`1`: every resync does, no probes).
    pub fn new(every: u32) -> Proofs {
        Proofs {
            every: AtomicU32::new(every.max(1)),
            proven: Mutex::default(),
        }
    }

    /// Every `every`-th resync observes fully from now on.
    pub fn set_every(&self, every: u32) {
        self.every.store(every.max(1), Ordering::Relaxed);
    }

    /// One resync in this many observes fully.
    pub fn every(&self) -> u32 {
        self.every.load(Ordering::Relaxed)
    }

    fn proven(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.proven
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this resync of `appid` may be proven by a probe (it is not the k-th).
    fn may_probe(&self, appid: &str) -> bool {
        self.proven().get(appid).copied().unwrap_or(0) + 1 < self.every()
    }

    fn count_proven(&self, appid: &str) {
        *self.proven().entry(appid.to_string()).or_default() += 1;
    }

    fn observed_fully(&self, appid: &str) {
        self.proven().remove(appid);
    }
}

impl Default for Proofs {
    fn default() -> Proofs {
        Proofs::new(DEFAULT_FULL_EVERY)
    }
}

/// Whether `observed` shows something in flight whose next step a probe may not reveal.
fn in_flight(observed: &Observed) -> bool {
    let reviewing = observed
        .audit
        .as_ref()
        .is_some_and(|a| matches!(a.status, AuditStatus::Auditing | AuditStatus::Delayed));
    let gray = observed.live.as_ref().is_some_and(|l| l.gray.is_some());
    reviewing || gray
}

impl Engine {
    /// The app's live state: on a `resync` about to apply, the last observation when the probe
    /// proves it and it plans nothing; for a proposal, the last observation the probe proves (see
    /// the module doc); otherwise a full observation.
    pub(super) async fn live_state(
        &self,
        app: &Desired,
        platform: &dyn Platform,
        record: &Record,
        mode: Mode,
        resync: bool,
    ) -> Result<Observed, PassError> {
        match mode {
            Mode::Apply if resync => {
                if let Some(last) = self.proven(app, platform, Some(record)).await? {
                    self.proofs.count_proven(&app.appid);
                    return Ok(last);
                }
            }
            Mode::Proposal => {
                if let Some(last) = self.proven(app, platform, None).await? {
                    return Ok(last);
                }
                // A proposal changes nothing of the engine's, not even the resync count.
                return observe(app, platform).await;
            }
            _ => {}
        }
        let observed = observe(app, platform).await?;
        self.proofs.observed_fully(&app.appid);
        Ok(observed)
    }

    /// The last observation of `app`, when the platform's probe answers what it answered then;
    /// given the app's `record` (a resync about to apply), only when this is not the k-th resync
    /// and that observation plans nothing.
    async fn proven(
        &self,
        app: &Desired,
        platform: &dyn Platform,
        record: Option<&Record>,
    ) -> Result<Option<Observed>, PassError> {
        if record.is_some() && !self.proofs.may_probe(&app.appid) {
            return Ok(None);
        }
        let Some((last, _)) = self.store.observation(&app.appid)? else {
            return Ok(None);
        };
        let for_this =
            !platform.observes_by_version() || last.wanted.as_deref() == Some(app.version.as_str());
        let Some(expected) = last
            .probe
            .as_deref()
            .filter(|_| for_this && !in_flight(&last))
        else {
            return Ok(None);
        };
        if let Some(record) = record {
            let plan = plan_app(
                app,
                &last,
                record,
                &Context {
                    now: now_ms() / 1000,
                },
            );
            if !plan.state.is_settled() || plan.has_changes() {
                return Ok(None);
            }
        }
        let probe = platform
            .probe(app)
            .await
            .map_err(|e| PassError::Platform(Box::new(e)))?;
        Ok((probe.as_deref() == Some(expected)).then_some(last))
    }
}

/// A full observation of `app`, marked with the version it was read for.
async fn observe(app: &Desired, platform: &dyn Platform) -> Result<Observed, PassError> {
    let mut observed = platform
        .observe(app)
        .await
        .map_err(|e| PassError::Platform(Box::new(e)))?;
    observed.wanted = Some(app.version.clone());
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kth_resync_observes_fully() {
        let proofs = Proofs::new(3);
        let mut full = Vec::new();
        for _ in 0..7 {
            if proofs.may_probe("wx1") {
                proofs.count_proven("wx1");
                full.push(false);
            } else {
                proofs.observed_fully("wx1");
                full.push(true);
            }
        }
        assert_eq!(full, [false, false, true, false, false, true, false]);
        assert!(
            !Proofs::new(1).may_probe("wx1"),
            "1: every resync observes fully"
        );
        assert!(!Proofs::new(0).may_probe("wx1"), "0 counts as 1");
    }
}
