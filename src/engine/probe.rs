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
//!
//! A dry run (`plan`, `reconcile --dry-run`) reads what it shows, but knowing the last
//! observation for the same wanted build with nothing in flight, the platform keeps from it what
//! its fresh reads prove unmoved ([`Known::Since`]: on WeChat the audit and the gray
//! plan of a build live in full, when version info shows it still live and in experience); the
//! testers, domains and the rest are read. A pass about to apply always observes fully.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Engine, Mode, PassError, now_ms};
use crate::model::{Action, Desired, Observed, Record};
use crate::plan::{Context, plan_app};
use crate::platform::{Known, Platform};

/// Resyncs between two full observations of an app, by default: with a probe of one call and a
/// full observation of two to four, about 1.1–1.3 calls per app per resync.
pub const DEFAULT_FULL_EVERY: u32 = 10;

/// The count of proven resyncs per app since its last full observation.
#[derive(Debug)]
pub struct Proofs {
    every: AtomicU32,
    proven: Mutex<HashMap<String, u32>>,
    /// Apps whose stored observation is what their last pass's release made of the one before
    /// (see [`Engine::note_release`]): their next pass plans on it without reading.
    released: Mutex<std::collections::HashSet<String>>,
    /// Apps waiting for the verdict on this process's submission, which left their settings
    /// alone (see [`Engine::note_submission`]): their passes take the settings from the
    /// observation before it.
    submitted: Mutex<std::collections::HashSet<String>>,
}

impl Proofs {
    /// Every `every`-th resync observes fully (`1`: every resync does, no probes).
    pub fn new(every: u32) -> Proofs {
        Proofs {
            every: AtomicU32::new(every.max(1)),
            proven: Mutex::default(),
            released: Mutex::default(),
            submitted: Mutex::default(),
        }
    }

    /// Notes whether `appid` waits for the verdict on a submission that left its settings alone.
    fn note_submitted(&self, appid: &str, waiting: bool) {
        let mut submitted = self
            .submitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if waiting {
            submitted.insert(appid.to_owned());
        } else {
            submitted.remove(appid);
        }
    }

    /// Whether `appid` waits for the verdict on a submission that left its settings alone.
    fn submitted(&self, appid: &str) -> bool {
        self.submitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(appid)
    }

    /// Notes that `appid`'s stored observation is the state its release made.
    fn note_released(&self, appid: &str) {
        self.released
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(appid.to_owned());
    }

    /// Whether `appid`'s stored observation is the state its release made (asked once).
    fn take_released(&self, appid: &str) -> bool {
        self.released
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(appid)
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
    let gray = observed.live.as_ref().is_some_and(|l| l.gray.is_some());
    observed.under_review() || gray
}

impl Engine {
    /// The app's live state: right after its release, the state the release made when it plans
    /// nothing (see [`Engine::note_release`]); on a `resync` about to apply, the last observation
    /// when the probe proves it and it plans nothing; for a proposal, the last observation the
    /// probe proves (see the module doc); otherwise a full observation.
    pub(super) async fn live_state(
        &self,
        app: &Desired,
        platform: &dyn Platform,
        record: &Record,
        mode: Mode,
        resync: bool,
    ) -> Result<Observed, PassError> {
        let released = self.proofs.take_released(&app.appid);
        match mode {
            Mode::Apply if released && !resync => {
                if let Some((last, _)) = self.store.observation(&app.appid)?
                    && plans_nothing(app, &last, record)
                {
                    return Ok(last);
                }
            }
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
                return self.observe_on_stored(app, platform, Basis::Since).await;
            }
            _ => {}
        }
        let observed = match mode {
            Mode::Apply if !resync && self.proofs.submitted(&app.appid) => {
                self.observe_on_stored(app, platform, Basis::Settings)
                    .await?
            }
            // About to write (or the k-th resync, or one the probe did not prove): every read.
            Mode::Apply => observe(app, platform, Known::Nothing).await?,
            Mode::DryRun | Mode::Proposal => {
                self.observe_on_stored(app, platform, Basis::Since).await?
            }
        };
        self.proofs.observed_fully(&app.appid);
        Ok(observed)
    }

    /// An observation of `app` on the stored one, as `basis` allows ([`Known`]): for a dry run,
    /// the last observation for the same wanted build with nothing in flight; waiting for the
    /// verdict on this process's submission, the observation from before it, whose settings are
    /// taken (once the verdict is in, the next pass reads all). Without such an observation, a
    /// full one.
    async fn observe_on_stored(
        &self,
        app: &Desired,
        platform: &dyn Platform,
        basis: Basis,
    ) -> Result<Observed, PassError> {
        let last = self.store.observation(&app.appid)?.map(|(last, _)| last);
        let last = last.filter(|last| {
            last.wanted.as_deref() == Some(app.fingerprint.as_str())
                && (basis == Basis::Settings || !in_flight(last))
        });
        let known = match (&last, basis) {
            (None, _) => Known::Nothing,
            (Some(last), Basis::Since) => Known::Since(last),
            (Some(last), Basis::Settings) => Known::Settings(last),
        };
        let observed = observe(app, platform, known).await?;
        if basis == Basis::Settings && (last.is_none() || !in_flight(&observed)) {
            self.proofs.note_submitted(&app.appid, false);
        }
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
        // What a platform reads can depend on the wanted build: Alipay's experience build is the
        // wanted version's; WeChat reads the rollback history only when the live build is not the
        // wanted one. So an observation made for another wanted build proves something only on a
        // platform that does not read by version, and only for a build the app never had (no
        // rollback to find): a version bump, not a way back.
        let same = last.wanted.as_deref() == Some(app.fingerprint.as_str());
        let for_this =
            same || (!platform.observes_by_version() && !self.had_build(app, &last, record)?);
        let Some(expected) = last
            .probe
            .as_deref()
            .filter(|_| for_this && !in_flight(&last))
        else {
            return Ok(None);
        };
        if record.is_some_and(|record| !plans_nothing(app, &last, record)) {
            return Ok(None);
        }
        let probe = platform
            .probe(app)
            .await
            .map_err(|e| PassError::Platform(Box::new(e)))?;
        Ok((probe.as_deref() == Some(expected)).then_some(last))
    }
}

impl Engine {
    /// After a pass whose steps all took effect and fully released a build (with nothing else
    /// but the privacy guide set): the platform now shows that build live and nothing else moved,
    /// so that state is stored, when it plans nothing there (the last step of a rollout), and the
    /// app's state change is told with it (status and history agree from then on); the app's
    /// next pass plans on it without reading, and the next resync observes for real.
    pub(super) fn note_release(&self, app: &Desired, applied: &[super::Applied]) {
        let released = applied.iter().find_map(|a| match &a.step.action {
            Action::Release { fingerprint } => Some(fingerprint),
            _ => None,
        });
        let only_release = applied.iter().all(|a| {
            a.result.is_ok()
                && matches!(
                    a.step.action,
                    Action::Release { .. } | Action::SetPrivacy { .. }
                )
        });
        let (Some(fingerprint), true) = (released, only_release) else {
            return;
        };
        let after = match self.store.observation(&app.appid) {
            Ok(Some((before, _))) => before.after_release(fingerprint),
            _ => None,
        };
        let (Some(after), Ok(mut record)) = (after, self.store.record(&app.appid)) else {
            return;
        };
        let plan = plan_now(app, &after, &record);
        if !plan.state.is_settled() || plan.has_changes() {
            return;
        }
        // The state is told (and recorded) before the observation that shows it is stored, so
        // whoever sees the app in sync also finds it in the history.
        if self.tell_state(app, &plan, &mut record)
            && let Err(err) = self.store.put_record(&app.appid, &record)
        {
            tracing::warn!(app = %app.name, error = %err, "cannot record the app's state");
        }
        if let Err(err) = self.store.put_observation(&app.appid, &after, now_ms()) {
            tracing::warn!(app = %app.name, error = %err, "cannot store the state a release made");
            return;
        }
        self.proofs.note_released(&app.appid);
    }
}

impl Engine {
    /// After a pass that submitted the wanted build for audit and touched no setting (testers,
    /// domains, jump rules): until the verdict, the app's passes take the settings from the
    /// observation this pass planned on, since only a hand change moves them (caught by the
    /// first full observation after the verdict: the first resync after the release). Any other
    /// pass that applied something ends this.
    pub(super) fn note_submission(&self, app: &Desired, applied: &[super::Applied]) {
        if applied.is_empty() {
            return;
        }
        let touches_settings = applied.iter().any(|a| {
            matches!(
                a.step.action,
                Action::BindTester { .. }
                    | Action::VerifyTester { .. }
                    | Action::UnbindTester { .. }
                    | Action::SetDomains { .. }
                    | Action::AddJumpRule { .. }
                    | Action::PublishJumpRule { .. }
                    | Action::DeleteJumpRule { .. }
            )
        });
        let submitted = applied
            .iter()
            .any(|a| matches!(a.step.action, Action::SubmitAudit { .. }) && a.result.is_ok());
        self.proofs
            .note_submitted(&app.appid, submitted && !touches_settings);
    }
}

impl Engine {
    /// Whether the app had the build `app` wants before: minifleet committed it (the record), or
    /// the platform showed it (the last observation). A rollback can only go to such a build.
    fn had_build(
        &self,
        app: &Desired,
        last: &Observed,
        record: Option<&Record>,
    ) -> Result<bool, PassError> {
        let stored;
        let record = match record {
            Some(record) => record,
            None => {
                stored = self.store.record(&app.appid)?;
                &stored
            }
        };
        let fp = app.fingerprint.as_str();
        let committed =
            record.last_fingerprint.as_deref() == Some(fp) || record.build_revision(fp).is_some();
        let shown = last
            .live
            .as_ref()
            .map(|l| &l.build)
            .into_iter()
            .chain(&last.previous)
            .chain(&last.experience)
            .chain(last.audit.as_ref().map(|a| &a.build))
            .chain(&last.builds)
            .chain(&last.dev_builds)
            .any(|b| b.fingerprint.as_deref() == Some(fp));
        Ok(committed || shown)
    }
}

/// The plan of `app` on `observed`, now.
fn plan_now(app: &Desired, observed: &Observed, record: &Record) -> crate::model::AppPlan {
    plan_app(
        app,
        observed,
        record,
        &Context {
            now: now_ms() / 1000,
        },
    )
}

/// Whether `observed` plans nothing for `app`: settled, no change.
fn plans_nothing(app: &Desired, observed: &Observed, record: &Record) -> bool {
    let plan = plan_now(app, observed, record);
    plan.state.is_settled() && !plan.has_changes()
}

/// What a pass observes on, besides fresh reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// The last observation ([`Known::Since`]).
    Since,
    /// The observation before this process's submission ([`Known::Settings`]).
    Settings,
}

/// An observation of `app`, taking from an earlier one what `known` allows, marked with the
/// version it was read for.
pub(super) async fn observe(
    app: &Desired,
    platform: &dyn Platform,
    known: Known<'_>,
) -> Result<Observed, PassError> {
    let mut observed = platform
        .observe_with(app, known)
        .await
        .map_err(|e| PassError::Platform(Box::new(e)))?;
    observed.wanted = Some(app.fingerprint.clone());
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
