//! The metrics' unit tests: what events count, what leaves with an app, the text's escaping.

use super::*;
use crate::engine::events::AppRef;

use crate::platform::ErrorClass;

use crate::engine::fixtures::platform_error;

fn app() -> AppRef {
    crate::engine::fixtures::app_ref()
}

fn finished(trigger: &'static str, state: &str, took_ms: u64, actions: &[(&str, bool)]) -> Event {
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
    let metrics = Metrics::new();
    metrics.rollout_halted(["a\"b\\c\nd".to_owned()].into_iter());
    let mut error = platform_error(ErrorClass::Transient);
    error.call = "wxa/\"odd\"".into();
    metrics.on(&Event::ActionFailed {
        app: app(),
        action: crate::model::Action::Release {
            fingerprint: "abcd1234".into(),
        },
        error,
    });
    let text = metrics.render();
    for line in [
        "minifleet_rollout_halted{release=\"a\\\"b\\\\c\\nd\"} 1",
        "minifleet_api_errors_total{endpoint=\"wxa/\\\"odd\\\"\",class=\"transient\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
}

#[test]
fn every_family_is_described_before_its_first_sample_and_eof_ends_the_text() {
    let text = Metrics::new().render();
    for line in [
        "# TYPE minifleet_actions counter",
        "# TYPE minifleet_api_errors counter",
        "# TYPE minifleet_passes counter",
        "# TYPE minifleet_pass_duration_seconds histogram",
        "# UNIT minifleet_pass_duration_seconds seconds",
        "# TYPE minifleet_apps gauge",
        "# TYPE minifleet_fleet_valid gauge",
        "minifleet_fleet_valid 0",
        "# TYPE minifleet_rollout_halted gauge",
        "minifleet_rollout_held_apps{kind=\"wave\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    // Present once they mean something: a loaded fleet, a git branch followed.
    assert!(!text.contains("minifleet_fleet_revision"), "{text}");
    assert!(!text.contains("minifleet_fleet_last_load"), "{text}");
    assert!(!text.contains("minifleet_git_fetch_failures"), "{text}");
}

#[test]
fn git_fetch_failures_are_counted_from_zero_once_git_is_followed() {
    let metrics = Metrics::new();
    metrics.follow_git();
    assert!(
        metrics
            .render()
            .contains("\nminifleet_git_fetch_failures_total 0\n")
    );
    metrics.follow_git();
    metrics.git_fetch_failed();
    let text = metrics.render();
    assert!(
        text.contains("\nminifleet_git_fetch_failures_total 1\n"),
        "{text}"
    );
    assert_eq!(
        text.matches("# TYPE minifleet_git_fetch_failures counter\n")
            .count(),
        1,
        "registered once: {text}"
    );
}

#[test]
fn the_audit_quotas_are_read_at_each_scrape() {
    let metrics = Metrics::new();
    assert!(
        !metrics.render().contains("minifleet_audit_quota"),
        "not followed yet"
    );
    let left = Arc::new(std::sync::atomic::AtomicU32::new(20));
    metrics.follow_quotas({
        let left = left.clone();
        Arc::new(move || {
            vec![LedgerView {
                platform: crate::model::PlatformKind::new("wechat"),
                left: left.load(Ordering::Relaxed),
                resets_at: Some(1_800_000_000),
                reserved: 2,
                reserve: 1,
                waiting: vec!["tea-house".into()],
            }]
        })
    });
    let text = metrics.render();
    for line in [
        "minifleet_audit_quota_left{platform=\"wechat\"} 20",
        "minifleet_audit_quota_granted{platform=\"wechat\"} 2",
        "minifleet_audit_quota_waiting_apps{platform=\"wechat\"} 1",
        "# UNIT minifleet_audit_quota_resets_timestamp_seconds seconds",
        "minifleet_audit_quota_resets_timestamp_seconds{platform=\"wechat\"} 1800000000",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    left.store(19, Ordering::Relaxed);
    assert!(
        metrics
            .render()
            .contains("\nminifleet_audit_quota_left{platform=\"wechat\"} 19\n")
    );
}
