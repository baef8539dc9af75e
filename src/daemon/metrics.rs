//! The daemon's metrics, written by hand in the Prometheus text format (version 0.0.4): apps by
//! state and platform, actions by kind and result, failed API calls by endpoint and error class,
//! passes by trigger, a pass-duration histogram, and the fleet file's load state. Every label
//! takes values from a small fixed set (no app names, no appids).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use crate::engine::events::{Event, Subscriber};
use crate::plan::rollout::Change;

/// Upper bounds (seconds) of the pass-duration histogram's buckets.
pub const PASS_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default)]
struct Inner {
    /// App name → (platform, state name); rendered as counts by (state, platform).
    apps: BTreeMap<String, (String, String)>,
    actions: BTreeMap<(String, String), u64>,
    api_errors: BTreeMap<(String, String), u64>,
    passes: BTreeMap<String, u64>,
    buckets: [u64; PASS_BUCKETS.len()],
    pass_sum: f64,
    pass_count: u64,
    fleet_loaded_at: Option<u64>,
    fleet_revision: Option<String>,
    fleet_valid: bool,
    fleet_errors: usize,
    reload_failures: u64,
    git_fetch_failures: Option<u64>,
    /// App name → the rollout hold of its last pass (`wave` or `gate`).
    held: BTreeMap<String, &'static str>,
    /// Halted releases (`shop@1.5.0`: few, one per template and version).
    halted: std::collections::BTreeSet<String>,
}

/// The metrics registry, shared by the scheduler, the watcher and `/metrics`.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    notifier: Mutex<Option<Arc<crate::notify::Notifier>>>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Forgets an app that left the fleet: its state and its rollout hold.
    pub fn forget_app(&self, name: &str) {
        self.with(|m| {
            m.apps.remove(name);
            m.held.remove(name);
        });
    }

    /// Records a good load of the fleet at `at` (unix seconds), from `revision` (a git commit,
    /// or the file's digest).
    pub fn fleet_loaded(&self, at: u64, revision: &str) {
        self.with(|m| {
            m.fleet_loaded_at = Some(at);
            m.fleet_revision = (!revision.is_empty()).then(|| revision.to_owned());
            m.fleet_valid = true;
            m.fleet_errors = 0;
        });
    }

    /// The fleet comes from git: its failed fetches are counted (from 0).
    pub fn follow_git(&self) {
        self.with(|m| m.git_fetch_failures = Some(0));
    }

    /// Counts a fetch of the fleet's git branch that failed.
    pub fn git_fetch_failed(&self) {
        self.with(|m| *m.git_fetch_failures.get_or_insert(0) += 1);
    }

    /// Records a load of the fleet file that failed with `errors` problems.
    pub fn fleet_invalid(&self, errors: usize) {
        self.with(|m| {
            m.fleet_valid = false;
            m.fleet_errors = errors;
            m.reload_failures += 1;
        });
    }

    /// Records the releases halted when the daemon starts (kept in the store).
    pub fn rollout_halted(&self, releases: impl Iterator<Item = String>) {
        self.with(|m| m.halted.extend(releases));
    }

    /// Whether the last load of the fleet file was good.
    pub fn fleet_valid(&self) -> bool {
        self.with(|m| m.fleet_valid)
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = self.with(|m| {
            let mut out = String::new();
            render_apps(&mut out, m);
            render_counters(&mut out, m);
            render_histogram(&mut out, m);
            render_fleet(&mut out, m);
            render_rollout(&mut out, m);
            out
        });
        let notifier = self
            .notifier
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(notifier) = notifier {
            render_notify(&mut out, &notifier);
        }
        out
    }

    /// Exports the counts of `notifier`'s sinks.
    pub fn follow_notifier(&self, notifier: Arc<crate::notify::Notifier>) {
        *self.notifier.lock().unwrap_or_else(PoisonError::into_inner) = Some(notifier);
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
            } => self.with(|m| {
                *m.passes.entry((*trigger).to_string()).or_default() += 1;
                m.apps
                    .insert(app.name.clone(), (app.platform.to_string(), state.clone()));
                for (kind, ok) in actions {
                    let result = if *ok { "ok" } else { "error" };
                    *m.actions
                        .entry((kind.clone(), result.to_string()))
                        .or_default() += 1;
                }
                let secs = *took_ms as f64 / 1000.0;
                for (count, bound) in m.buckets.iter_mut().zip(PASS_BUCKETS) {
                    if secs <= bound {
                        *count += 1;
                    }
                }
                m.pass_sum += secs;
                m.pass_count += 1;
            }),
            Event::ActionFailed { error, .. }
            | Event::PassFailed {
                platform_error: Some(error),
                ..
            } => self.with(|m| count_api_error(m, &error.call, error.class.as_str())),
            // A pass starts by observing: the rollout's hold of the last one is over.
            Event::Observed { app } => self.with(|m| {
                m.held.remove(&app.name);
            }),
            Event::Held { app, kind, .. } if matches!(*kind, "wave" | "gate") => {
                let kind = if *kind == "wave" { "wave" } else { "gate" };
                self.with(|m| m.held.insert(app.name.clone(), kind));
            }
            Event::Rollout { change } => self.with(|m| match change {
                Change::Halted { release, .. } => {
                    m.halted.insert(release.clone());
                }
                Change::Lifted { release } | Change::Resumed { release } => {
                    m.halted.remove(release);
                }
                _ => {}
            }),
            _ => {}
        }
    }
}

fn count_api_error(m: &mut Inner, call: &str, class: &str) {
    *m.api_errors
        .entry((call.to_string(), class.to_string()))
        .or_default() += 1;
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value, escaped as the text format wants.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The notifier's sinks: notices told, messages failed after every try, notices dropped.
fn render_notify(out: &mut String, notifier: &crate::notify::Notifier) {
    let stats = notifier.stats();
    for (name, kind, help, read) in [
        (
            "minifleet_notify_sent_total",
            "counter",
            "Notices told, by sink.",
            (|s: &crate::notify::SinkStats| s.sent.load(Ordering::Relaxed))
                as fn(&crate::notify::SinkStats) -> u64,
        ),
        (
            "minifleet_notify_failures_total",
            "counter",
            "Messages a sink did not take after every try, by sink.",
            |s| s.failed.load(Ordering::Relaxed),
        ),
        (
            "minifleet_notify_dropped_total",
            "counter",
            "Notices dropped because a sink's queue was full, by sink.",
            |s| s.dropped.load(Ordering::Relaxed),
        ),
    ] {
        header(out, name, kind, help);
        for (sink, sink_kind, s) in &stats {
            let _ = writeln!(
                out,
                "{name}{{sink=\"{sink}\",kind=\"{}\"}} {}",
                sink_kind.as_str(),
                read(s)
            );
        }
    }
}

fn render_apps(out: &mut String, m: &Inner) {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (platform, state) in m.apps.values() {
        *counts.entry((state, platform)).or_default() += 1;
    }
    header(
        out,
        "minifleet_apps",
        "gauge",
        "Apps by state after their last pass, and platform.",
    );
    for ((state, platform), n) in counts {
        let _ = writeln!(
            out,
            "minifleet_apps{{state=\"{}\",platform=\"{}\"}} {n}",
            escape(state),
            escape(platform)
        );
    }
}

fn render_counters(out: &mut String, m: &Inner) {
    header(
        out,
        "minifleet_actions_total",
        "counter",
        "Actions applied, by kind and result.",
    );
    for ((kind, result), n) in &m.actions {
        let _ = writeln!(
            out,
            "minifleet_actions_total{{kind=\"{}\",result=\"{}\"}} {n}",
            escape(kind),
            escape(result)
        );
    }
    header(
        out,
        "minifleet_api_errors_total",
        "counter",
        "Failed platform API calls, by endpoint and error class.",
    );
    for ((endpoint, class), n) in &m.api_errors {
        let _ = writeln!(
            out,
            "minifleet_api_errors_total{{endpoint=\"{}\",class=\"{}\"}} {n}",
            escape(endpoint),
            escape(class)
        );
    }
    header(
        out,
        "minifleet_passes_total",
        "counter",
        "Passes run, by what triggered them.",
    );
    for (trigger, n) in &m.passes {
        let _ = writeln!(
            out,
            "minifleet_passes_total{{trigger=\"{}\"}} {n}",
            escape(trigger)
        );
    }
}

fn render_histogram(out: &mut String, m: &Inner) {
    let name = "minifleet_pass_duration_seconds";
    header(out, name, "histogram", "How long one app's pass took.");
    for (bound, n) in PASS_BUCKETS.iter().zip(m.buckets) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", m.pass_count);
    let _ = writeln!(out, "{name}_sum {}", m.pass_sum);
    let _ = writeln!(out, "{name}_count {}", m.pass_count);
}

fn render_rollout(out: &mut String, m: &Inner) {
    header(
        out,
        "minifleet_rollout_held_apps",
        "gauge",
        "Apps whose code steps the rollout held in their last pass: `wave` (a wave before theirs, a place in theirs, a bake) or `gate` (a halt or a manual gate: a person must act).",
    );
    for kind in ["wave", "gate"] {
        let n = m.held.values().filter(|k| **k == kind).count();
        let _ = writeln!(out, "minifleet_rollout_held_apps{{kind=\"{kind}\"}} {n}");
    }
    header(
        out,
        "minifleet_rollout_halted",
        "gauge",
        "1 for each release (template@version) halted by audit rejections: `minifleet resume` or a fixed build lifts it.",
    );
    for release in &m.halted {
        let release = escape(release);
        let _ = writeln!(out, "minifleet_rollout_halted{{release=\"{release}\"}} 1");
    }
}

fn render_fleet(out: &mut String, m: &Inner) {
    if let Some(at) = m.fleet_loaded_at {
        header(
            out,
            "minifleet_fleet_last_load_timestamp_seconds",
            "gauge",
            "Unix time of the last good load of the fleet file.",
        );
        let _ = writeln!(out, "minifleet_fleet_last_load_timestamp_seconds {at}");
    }
    if let Some(revision) = &m.fleet_revision {
        header(
            out,
            "minifleet_fleet_revision",
            "gauge",
            "1 for the fleet revision running: the git commit of `watch --git`, else `sha256:` and the fleet file's digest.",
        );
        let revision = escape(revision);
        let _ = writeln!(out, "minifleet_fleet_revision{{revision=\"{revision}\"}} 1");
    }
    header(
        out,
        "minifleet_fleet_valid",
        "gauge",
        "1 when the fleet file's last load was good, 0 while it is invalid (the last good fleet runs).",
    );
    let _ = writeln!(out, "minifleet_fleet_valid {}", u8::from(m.fleet_valid));
    header(
        out,
        "minifleet_fleet_errors",
        "gauge",
        "Problems found in the fleet file by its last load.",
    );
    let _ = writeln!(out, "minifleet_fleet_errors {}", m.fleet_errors);
    header(
        out,
        "minifleet_fleet_reload_failures_total",
        "counter",
        "Loads of the fleet file that failed.",
    );
    let _ = writeln!(
        out,
        "minifleet_fleet_reload_failures_total {}",
        m.reload_failures
    );
    if let Some(failures) = m.git_fetch_failures {
        header(
            out,
            "minifleet_git_fetch_failures_total",
            "counter",
            "Fetches of the fleet's git branch that failed (`watch --git`); the running commit stays.",
        );
        let _ = writeln!(out, "minifleet_git_fetch_failures_total {failures}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::AppRef;

    use crate::platform::ErrorClass;

    use crate::engine::fixtures::platform_error;

    fn app() -> AppRef {
        crate::engine::fixtures::app_ref()
    }

    fn finished(
        trigger: &'static str,
        state: &str,
        took_ms: u64,
        actions: &[(&str, bool)],
    ) -> Event {
        Event::PassFinished {
            app: app(),
            trigger,
            state: state.into(),
            took_ms,
            actions: actions
                .iter()
                .map(|(k, ok)| ((*k).to_string(), *ok))
                .collect(),
        }
    }

    #[test]
    fn rollout_holds_and_halts_are_counted_until_they_end() {
        let metrics = Metrics::new();
        let held = |kind: &'static str| Event::Held {
            app: app(),
            kind,
            until_ms: None,
            reason: "waits".into(),
        };
        metrics.on(&held("gate"));
        metrics.on(&Event::Rollout {
            change: Change::Halted {
                release: "shop@1.5.0".into(),
                wave: "canary".into(),
                rejected: vec!["tea-house".into()],
                help: String::new(),
            },
        });
        let text = metrics.render();
        assert!(
            text.contains("minifleet_rollout_held_apps{kind=\"gate\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("minifleet_rollout_held_apps{kind=\"wave\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("minifleet_rollout_halted{release=\"shop@1.5.0\"} 1"),
            "{text}"
        );
        // The next pass observes again; a resume ends the halt.
        metrics.on(&Event::Observed { app: app() });
        metrics.on(&Event::Rollout {
            change: Change::Resumed {
                release: "shop@1.5.0".into(),
            },
        });
        let text = metrics.render();
        assert!(
            text.contains("minifleet_rollout_held_apps{kind=\"gate\"} 0"),
            "{text}"
        );
        assert!(!text.contains("minifleet_rollout_halted{"), "{text}");
        metrics.rollout_halted(["a\"b".to_owned()].into_iter());
        assert!(
            metrics
                .render()
                .contains("minifleet_rollout_halted{release=\"a\\\"b\"} 1")
        );
    }

    #[test]
    fn a_pass_counts_its_state_actions_errors_and_duration() {
        let metrics = Metrics::new();
        let err = platform_error(ErrorClass::Conflict);
        metrics.on(&Event::ActionFailed {
            app: app(),
            action: crate::model::Action::Release {
                fingerprint: "abcd1234".into(),
            },
            error: err,
        });
        metrics.on(&finished(
            "push",
            "changes",
            300,
            &[("release", false), ("release", true)],
        ));
        metrics.fleet_loaded(1_700_000_000, "3f2a1b9c0d4e5f60718293a4b5c6d7e8f9012345");
        let text = metrics.render();
        for line in [
            "minifleet_apps{state=\"changes\",platform=\"wechat\"} 1",
            "minifleet_actions_total{kind=\"release\",result=\"error\"} 1",
            "minifleet_actions_total{kind=\"release\",result=\"ok\"} 1",
            "minifleet_api_errors_total{endpoint=\"wxa/release\",class=\"conflict\"} 1",
            "minifleet_passes_total{trigger=\"push\"} 1",
            "minifleet_fleet_revision{revision=\"3f2a1b9c0d4e5f60718293a4b5c6d7e8f9012345\"} 1",
            "minifleet_pass_duration_seconds_bucket{le=\"0.25\"} 0",
            "minifleet_pass_duration_seconds_bucket{le=\"0.5\"} 1",
            "minifleet_pass_duration_seconds_bucket{le=\"+Inf\"} 1",
            "minifleet_pass_duration_seconds_count 1",
            "minifleet_fleet_last_load_timestamp_seconds 1700000000",
            "minifleet_fleet_valid 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }

    #[test]
    fn an_invalid_load_clears_the_valid_flag_and_counts() {
        let metrics = Metrics::new();
        metrics.fleet_loaded(10, "sha256:0123456789ab");
        metrics.fleet_invalid(3);
        assert!(!metrics.fleet_valid());
        let text = metrics.render();
        assert!(text.contains("minifleet_fleet_valid 0\n"), "{text}");
        assert!(text.contains("minifleet_fleet_errors 3\n"), "{text}");
        assert!(
            text.contains("minifleet_fleet_reload_failures_total 1\n"),
            "{text}"
        );
        assert!(text.contains("minifleet_fleet_last_load_timestamp_seconds 10\n"));
    }

    #[test]
    fn a_removed_app_leaves_the_state_gauge() {
        let metrics = Metrics::new();
        metrics.on(&finished("start", "in_sync", 0, &[]));
        assert!(metrics.render().contains("state=\"in_sync\""));
        metrics.forget_app("tea-house");
        assert!(!metrics.render().contains("state=\"in_sync\""));
    }

    #[test]
    fn a_removed_app_leaves_the_rollout_held_gauge() {
        let metrics = Metrics::new();
        metrics.on(&Event::Held {
            app: app(),
            kind: "wave",
            until_ms: None,
            reason: "waits".into(),
        });
        let text = metrics.render();
        assert!(
            text.contains("minifleet_rollout_held_apps{kind=\"wave\"} 1\n"),
            "{text}"
        );
        metrics.forget_app("tea-house");
        let text = metrics.render();
        assert!(
            text.contains("minifleet_rollout_held_apps{kind=\"wave\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
