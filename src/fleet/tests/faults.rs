//! Tests: `sandbox.faults` and `sandbox.url` resolve, and their mistakes are reported.

use super::*;
use crate::fleet::{DEFAULT_TIMEOUT_AFTER_MS, FaultSpec, json_schema};

#[test]
fn faults_and_url_resolve_with_humantime_durations() {
    let text = format!(
        "{BASE}sandbox:\n  url: http://127.0.0.1:8690/\n  faults:\n    error_rate: 0.2\n    codes: [-1, 45011, isp.unknow-error]\n    latency: 50ms\n    timeout_rate: 0\n    lost_response_rate: 0.05\n    seed: 42\n"
    );
    let fleet = load(&text).unwrap();
    let want = FaultSpec {
        error_rate: 0.2,
        codes: vec!["-1".into(), "45011".into(), "isp.unknow-error".into()],
        latency_ms: 50,
        timeout_rate: 0.0,
        timeout_after_ms: DEFAULT_TIMEOUT_AFTER_MS,
        lost_response_rate: 0.05,
        seed: Some(42),
    };
    assert_eq!(fleet.sandbox.faults, want);
    assert_eq!(
        fleet.sandbox.url.as_deref(),
        Some("http://127.0.0.1:8690"),
        "no trailing slash"
    );
}

#[test]
fn no_faults_section_means_no_faults_and_no_url() {
    let fleet = load(BASE).unwrap();
    assert_eq!(fleet.sandbox.faults, FaultSpec::default());
    assert!(!fleet.sandbox.faults.any());
    assert_eq!(fleet.sandbox.url, None);
}

#[test]
fn rates_outside_0_to_1_bad_durations_and_urls_are_all_reported() {
    let text = format!(
        "{BASE}sandbox:\n  url: localhost:8690\n  faults:\n    error_rate: 1.5\n    lost_response_rate: -0.1\n    latency: fast\n    timeout_after: 3 parsecs\n    codes: [\"\"]\n"
    );
    let errors = problems(&text);
    let rate = problem_at(&errors, "sandbox.faults.error_rate");
    assert_eq!(rate.message, "a rate must be between 0 and 1, got `1.5`");
    assert!(rate.help.as_deref().is_some_and(|h| h.contains("0.2")));
    problem_at(&errors, "sandbox.faults.lost_response_rate");
    let latency = problem_at(&errors, "sandbox.faults.latency");
    assert!(
        latency.message.starts_with("invalid duration `fast`"),
        "{latency:?}"
    );
    problem_at(&errors, "sandbox.faults.timeout_after");
    problem_at(&errors, "sandbox.faults.codes[0]");
    let url = problem_at(&errors, "sandbox.url");
    assert_eq!(
        url.message,
        "`url` must be an http(s) URL, got `localhost:8690`"
    );
    assert_eq!(errors.len(), 6, "{errors:#?}");
}

#[test]
fn unknown_fault_keys_are_errors_with_a_hint() {
    let text = format!("{BASE}sandbox:\n  faults:\n    error_rat: 0.1\n");
    let errors = problems(&text);
    let e = problem_at(&errors, "sandbox.faults.error_rat");
    assert!(
        e.help.as_deref().is_some_and(|h| h.contains("error_rate")),
        "{e:?}"
    );
}

#[test]
fn the_schema_describes_faults_with_bounded_rates() {
    let schema = json_schema(crate::platform::registry::SPECS);
    let faults = &schema["$defs"]["Faults"];
    assert_eq!(faults["additionalProperties"], false);
    assert_eq!(faults["properties"]["error_rate"]["maximum"], 1.0);
    assert_eq!(faults["properties"]["error_rate"]["minimum"], 0.0);
    let sandbox = &schema["$defs"]["Sandbox"]["properties"];
    assert!(sandbox["url"]["description"].is_string());
    assert!(sandbox["faults"].is_object());
}

#[test]
fn the_schema_takes_a_gray_percentage_or_a_walk() {
    let schema = json_schema(crate::platform::registry::SPECS);
    let gray = &schema["$defs"]["Gray"]["anyOf"];
    assert_eq!(gray[0]["type"], "integer");
    assert_eq!(
        (gray[0]["minimum"].as_i64(), gray[0]["maximum"].as_i64()),
        (Some(1), Some(100))
    );
    assert_eq!(gray[1]["$ref"], "#/$defs/GrayWalk");
    let walk = &schema["$defs"]["GrayWalk"];
    assert_eq!(walk["required"], serde_json::json!(["steps"]));
    assert_eq!(walk["properties"]["steps"]["minItems"], 1);
    assert_eq!(walk["properties"]["steps"]["items"]["maximum"], 100);
    assert_eq!(walk["additionalProperties"], false);
}
