//! The daemon's metrics, kept and written by **prometheus-client** in the OpenMetrics text format:
//! apps by state and platform, actions by kind and result, failed API calls by endpoint and error
//! class, passes by trigger, a pass-duration histogram, the fleet file's load state and revision,
//! git fetch failures (under `watch --git`), the rollout's held apps and halted releases, the
//! notifier's sinks' counts, and the audit quotas.
//!
//! Events count into the crate's counters and histogram, registered once. What is a reading of
//! the daemon's state rather than a count of events — apps by their last pass's state, held apps,
//! halted releases, the running revision, the sinks' counts, the audit quota ledger — is written
//! at each scrape by a collector (`Scrape`), so an app that left the fleet leaves the counts with
//! it. Every label takes values from a small fixed set (no app names, no appids); the crate
//! escapes them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::engine::events::{Event, Subscriber};
use crate::engine::ledger::LedgerView;
use crate::notify::{Notifier, SinkStats};
use crate::plan::rollout::Change;

/// Upper bounds (seconds) of the pass-duration histogram's buckets.
const PASS_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The `Content-Type` of [`Metrics::render`]'s output: the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    kind: String,
    /// `ok` or `error`.
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiErrorLabels {
    endpoint: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabels {
    trigger: &'static str,
}

/// The metrics, shared by the scheduler, the watcher and `/metrics`.
pub struct Metrics {
    /// Every family. Locked for a scrape, and to register the git fetches' counter late.
    registry: Mutex<Registry>,
    actions: Family<ActionLabels, Counter>,
    api_errors: Family<ApiErrorLabels, Counter>,
    passes: Family<PassLabels, Counter>,
    pass_duration: Histogram,
    fleet_valid: Gauge,
    fleet_errors: Gauge,
    reload_failures: Counter,
    /// Registered once the fleet comes from git.
    git_fetch_failures: OnceLock<Counter>,
    /// What a scrape reads (the registry's [`Scrape`] holds it too).
    state: Arc<Mutex<State>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// The metrics, every family registered, nothing counted yet.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Mutex::default(),
            actions: Family::default(),
            api_errors: Family::default(),
            passes: Family::default(),
            pass_duration: Histogram::new(PASS_BUCKETS),
            fleet_valid: Gauge::default(),
            fleet_errors: Gauge::default(),
            reload_failures: Counter::default(),
            git_fetch_failures: OnceLock::new(),
            state: Arc::default(),
        };
        metrics.register();
        metrics
    }

    /// Registers the families; the crate adds `_total` to a counter's samples and the unit to
    /// the name, and ends each help with a full stop.
    fn register(&self) {
        let mut registry = self.registry();
        registry.register(
            "minifleet_actions",
            "Actions applied, by kind and result",
            Described(self.actions.clone()),
        );
        registry.register(
            "minifleet_api_errors",
            "Failed platform API calls, by endpoint and error class",
            Described(self.api_errors.clone()),
        );
        registry.register(
            "minifleet_passes",
            "Passes run, by what triggered them",
            Described(self.passes.clone()),
        );
        registry.register_with_unit(
            "minifleet_pass_duration",
            "How long one app's pass took",
            Unit::Seconds,
            self.pass_duration.clone(),
        );
        registry.register(
            "minifleet_fleet_valid",
            "1 when the fleet file's last load was good, 0 while it is invalid (the last good fleet runs)",
            self.fleet_valid.clone(),
        );
        registry.register(
            "minifleet_fleet_errors",
            "Problems found in the fleet file by its last load",
            self.fleet_errors.clone(),
        );
        registry.register(
            "minifleet_fleet_reload_failures",
            "Loads of the fleet file that failed",
            self.reload_failures.clone(),
        );
        registry.register_collector(Box::new(Scrape(self.state.clone())));
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets an app that left the fleet.
    pub fn forget_app(&self, name: &str) {
        let mut state = self.state();
        state.apps.remove(name);
        state.held.remove(name);
    }

    /// Records a good load of the fleet at `at` (unix seconds), from `revision` (a git commit,
    /// or the file's digest).
    pub fn fleet_loaded(&self, at: u64, revision: &str) {
        {
            let mut state = self.state();
            state.loaded_at = Some(at);
            state.revision = (!revision.is_empty()).then(|| revision.to_owned());
        }
        self.fleet_valid.set(1);
        self.fleet_errors.set(0);
    }

    /// The fleet comes from git: its failed fetches are counted (from 0).
    pub fn follow_git(&self) {
        self.git_fetch_counter();
    }

    /// Counts a fetch of the fleet's git branch that failed.
    pub fn git_fetch_failed(&self) {
        self.git_fetch_counter().inc();
    }

    fn git_fetch_counter(&self) -> &Counter {
        self.git_fetch_failures.get_or_init(|| {
            let counter = Counter::default();
            self.registry().register(
                "minifleet_git_fetch_failures",
                "Fetches of the fleet's git branch that failed (`watch --git`); the running commit stays",
                counter.clone(),
            );
            counter
        })
    }

    /// Records a load of the fleet file that failed with `errors` problems.
    pub fn fleet_invalid(&self, errors: usize) {
        self.fleet_valid.set(0);
        self.fleet_errors
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
        self.reload_failures.inc();
    }

    /// Records the releases halted when the daemon starts (kept in the store).
    pub fn rollout_halted(&self, releases: impl Iterator<Item = String>) {
        self.state().halted.extend(releases);
    }

    /// Whether the last load of the fleet file was good.
    pub fn fleet_valid(&self) -> bool {
        self.fleet_valid.get() == 1
    }

    /// The metrics in the OpenMetrics text format, `# EOF` last.
    pub fn render(&self) -> String {
        let mut out = String::new();
        text::encode(&mut out, &self.registry())
            .expect("the families write to a String, which takes every write");
        out
    }

    /// Exports where the audit quotas stand, as `quotas` reads them at each scrape.
    pub fn follow_quotas(&self, quotas: Quotas) {
        self.state().quotas = Some(quotas);
    }

    /// Exports the counts of `notifier`'s sinks.
    pub fn follow_notifier(&self, notifier: Arc<Notifier>) {
        self.state().notifier = Some(notifier);
    }
}

impl Subscriber for Metrics {
    /// A finished pass counts its trigger, duration, state and actions; a failed call counts
    /// under its endpoint and class.
    fn on(&self, event: &Event) {
        match event {
            Event::PassFinished {
                app,
                trigger,
                state,
                took_ms,
                actions,
            } => {
                let labels = PassLabels { trigger };
                self.passes.get_or_create(&labels).inc();
                self.pass_duration.observe(*took_ms as f64 / 1000.0);
                for (kind, ok) in actions {
                    let result = if *ok { "ok" } else { "error" };
                    let labels = ActionLabels {
                        kind: kind.clone(),
                        result,
                    };
                    self.actions.get_or_create(&labels).inc();
                }
                self.state()
                    .apps
                    .insert(app.name.clone(), (app.platform.to_string(), state.clone()));
            }
            Event::ActionFailed { error, .. }
            | Event::PassFailed {
                platform_error: Some(error),
                ..
            } => {
                let labels = ApiErrorLabels {
                    endpoint: error.call.clone(),
                    class: error.class.as_str(),
                };
                self.api_errors.get_or_create(&labels).inc();
            }
            // A pass starts by observing: the rollout's hold of the last one is over.
            Event::Observed { app } => {
                self.state().held.remove(&app.name);
            }
            Event::Held { app, kind, .. } if matches!(*kind, "wave" | "gate") => {
                self.state().held.insert(app.name.clone(), *kind);
            }
            Event::Rollout { change } => match change {
                Change::Halted { release, .. } => {
                    self.state().halted.insert(release.clone());
                }
                Change::Lifted { release } | Change::Resumed { release } => {
                    self.state().halted.remove(release);
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// A family registered with its HELP and TYPE written even before its first sample (the crate
/// leaves an empty family out), so every scrape names every family.
#[derive(Debug)]
struct Described<M>(M);

impl<M: EncodeMetric> EncodeMetric for Described<M> {
    fn encode(&self, encoder: MetricEncoder) -> fmt::Result {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// What a scrape reads off the daemon rather than counts: written by [`Scrape`].
#[derive(Default)]
struct State {
    /// App name → (platform, state name); written as counts by (state, platform).
    apps: BTreeMap<String, (String, String)>,
    /// Unix seconds of the last good load of the fleet.
    loaded_at: Option<u64>,
    /// The revision of the last good load.
    revision: Option<String>,
    /// App name → the rollout hold of its last pass (`wave` or `gate`).
    held: BTreeMap<String, &'static str>,
    /// Halted releases (`shop@1.5.0`: few, one per template and version).
    halted: BTreeSet<String>,
    /// The notifier whose sinks' counts are exported.
    notifier: Option<Arc<Notifier>>,
    /// Where the audit quotas stand (the engine's ledger), read at each scrape.
    quotas: Option<Quotas>,
}

/// What the audit quotas stand at now, per platform a round has asked.
pub type Quotas = Arc<dyn Fn() -> Vec<LedgerView> + Send + Sync>;

/// The registry's collector of [`State`], called at each scrape.
struct Scrape(Arc<Mutex<State>>);

impl fmt::Debug for Scrape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        // Read without the state's lock held: the ledger has its own, taken elsewhere while
        // events (which lock the state) are told.
        let quotas = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .quotas
            .clone();
        let quotas = quotas.map(|read| read());
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.encode_apps(&mut encoder)?;
        state.encode_fleet(&mut encoder)?;
        state.encode_rollout(&mut encoder)?;
        if let Some(notifier) = &state.notifier {
            encode_sinks(&mut encoder, notifier)?;
        }
        if let Some(quotas) = quotas {
            encode_quotas(&mut encoder, &quotas)?;
        }
        Ok(())
    }
}

impl State {
    fn encode_apps(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (platform, state) in self.apps.values() {
            *counts.entry((state, platform)).or_default() += 1;
        }
        family(
            encoder,
            "minifleet_apps",
            "Apps by state after their last pass, and platform",
            MetricType::Gauge,
            counts.into_iter().map(|((state, platform), n)| {
                let labels = [("state", state), ("platform", platform)];
                (labels, ConstGauge::new(n))
            }),
        )
    }

    fn encode_fleet(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        if let Some(at) = self.loaded_at {
            ConstGauge::new(at).encode(describe(
                encoder,
                "minifleet_fleet_last_load_timestamp",
                "Unix time of the last good load of the fleet file",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?)?;
        }
        if let Some(revision) = &self.revision {
            family(
                encoder,
                "minifleet_fleet_revision",
                "1 for the fleet revision running: the git commit of `watch --git`, else `sha256:` and the fleet file's digest",
                MetricType::Gauge,
                [([("revision", revision.as_str())], ConstGauge::new(1))],
            )?;
        }
        Ok(())
    }

    fn encode_rollout(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        family(
            encoder,
            "minifleet_rollout_held_apps",
            "Apps whose code steps the rollout held in their last pass: `wave` (a wave before theirs, a place in theirs, a bake) or `gate` (a halt or a manual gate: a person must act)",
            MetricType::Gauge,
            ["wave", "gate"].map(|kind| {
                let n = self.held.values().filter(|k| **k == kind).count();
                ([("kind", kind)], ConstGauge::new(n))
            }),
        )?;
        family(
            encoder,
            "minifleet_rollout_halted",
            "1 for each release (template@version) halted by audit rejections: `minifleet resume` or a fixed build lifts it",
            MetricType::Gauge,
            self.halted
                .iter()
                .map(|release| ([("release", release.as_str())], ConstGauge::new(1))),
        )
    }
}

/// The notifier's sinks: notices told, messages failed after every try, notices dropped.
fn encode_sinks(encoder: &mut DescriptorEncoder, notifier: &Notifier) -> fmt::Result {
    let stats = notifier.stats();
    for (name, help, read) in [
        (
            "minifleet_notify_sent",
            "Notices told, by sink",
            (|s: &SinkStats| s.sent.load(Ordering::Relaxed)) as fn(&SinkStats) -> u64,
        ),
        (
            "minifleet_notify_failures",
            "Messages a sink did not take after every try, by sink",
            |s| s.failed.load(Ordering::Relaxed),
        ),
        (
            "minifleet_notify_dropped",
            "Notices dropped because a sink's queue was full, by sink",
            |s| s.dropped.load(Ordering::Relaxed),
        ),
    ] {
        family(
            encoder,
            name,
            help,
            MetricType::Counter,
            stats.iter().map(|(sink, kind, s)| {
                let labels = [("sink", sink.as_str()), ("kind", kind.as_str())];
                (labels, ConstCounter::new(read(s)))
            }),
        )?;
    }
    Ok(())
}

/// The audit quotas, per platform a round has asked: what is left, what passes in flight were
/// granted, the apps waiting for a slot, and when the quota resets where the platform says.
fn encode_quotas(encoder: &mut DescriptorEncoder, quotas: &[LedgerView]) -> fmt::Result {
    let platform = |q: &LedgerView| [("platform", q.platform.as_str())];
    for (name, help, read) in [
        (
            "minifleet_audit_quota_left",
            "Audit submissions left this month, as the platform said at the last round that asked",
            (|q: &LedgerView| u64::from(q.left)) as fn(&LedgerView) -> u64,
        ),
        (
            "minifleet_audit_quota_granted",
            "Audit submissions granted to passes in flight",
            |q| q.reserved as u64,
        ),
        (
            "minifleet_audit_quota_waiting_apps",
            "Apps waiting for an audit submission slot",
            |q| q.waiting.len() as u64,
        ),
    ] {
        family(
            encoder,
            name,
            help,
            MetricType::Gauge,
            quotas
                .iter()
                .map(|q| (platform(q), ConstGauge::new(read(q)))),
        )?;
    }
    let mut resets = describe(
        encoder,
        "minifleet_audit_quota_resets_timestamp",
        "Unix time when the platform's audit quota resets, where it says",
        Some(&Unit::Seconds),
        MetricType::Gauge,
    )?;
    for q in quotas {
        if let Some(at) = q.resets_at {
            ConstGauge::new(at).encode(resets.encode_family(&platform(q))?)?;
        }
    }
    Ok(())
}

/// Writes the HELP and TYPE (and UNIT) of a family as the registry does: `help` gets its full
/// stop.
fn describe<'a>(
    encoder: &'a mut DescriptorEncoder,
    name: &'a str,
    help: &str,
    unit: Option<&'a Unit>,
    kind: MetricType,
) -> Result<MetricEncoder<'a>, fmt::Error> {
    encoder.encode_descriptor(name, &format!("{help}."), unit, kind)
}

/// Writes a family of `kind` with its `samples` (its HELP and TYPE even when there are none).
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    let mut family = describe(encoder, name, help, None, kind)?;
    for (labels, metric) in samples {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
