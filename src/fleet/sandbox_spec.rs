//! The top-level `sandbox` section, resolved into a [`SandboxSpec`].

use std::time::Duration;

use serde_json::Value;

use super::path::YamlPath;
use super::problems::Problems;
use super::raw::{RawFaultCode, RawFaults, RawRejectRule, RawSandbox};
use super::{FaultSpec, RejectRule, SandboxSpec, partial, rules};

/// Reads and checks `sandbox`; missing settings take their defaults.
pub(crate) fn read(value: &mut Value, p: &mut Problems<'_>) -> SandboxSpec {
    let path = YamlPath::top("sandbox");
    let raw: RawSandbox = partial::read(value, &path, p);
    let defaults = SandboxSpec::default();
    let audit_delay_ms = duration_ms(raw.audit_delay.as_deref(), &path.key("audit_delay"), p);
    let privacy_scan_ms = duration_ms(raw.privacy_scan.as_deref(), &path.key("privacy_scan"), p);
    let reject = raw
        .reject
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter_map(|(k, rule)| reject_rule(rule, &path.key("reject").index(k), p))
        .collect();
    let faults = raw
        .faults
        .map(|f| faults(f, &path.key("faults"), p))
        .unwrap_or_default();
    let url = raw.url.and_then(|u| url(u, &path.key("url"), p));
    SandboxSpec {
        audit_delay_ms: audit_delay_ms.unwrap_or(defaults.audit_delay_ms),
        privacy_scan_ms: privacy_scan_ms.unwrap_or(defaults.privacy_scan_ms),
        audit_quota: raw.audit_quota.unwrap_or(defaults.audit_quota),
        privacy_apis: raw.privacy_apis.unwrap_or_default(),
        privacy_keys: raw.privacy_keys.unwrap_or_default(),
        unfiled_domains: raw.unfiled_domains.unwrap_or_default(),
        jump_unverified: raw.jump_unverified.unwrap_or_default(),
        reject,
        faults,
        url,
    }
}

/// `sandbox.url`: an http(s) URL of a running sandbox, without a trailing slash.
fn url(text: String, path: &YamlPath, p: &mut Problems<'_>) -> Option<String> {
    match rules::api_base(&text) {
        Some(super::ApiBase::Url(u)) => Some(u.trim_end_matches('/').to_owned()),
        _ => {
            p.value(path, format!("`url` must be an http(s) URL, got `{text}`"))
                .help("e.g. `http://127.0.0.1:8690`, where `minifleet sandbox` listens");
            None
        }
    }
}

/// `sandbox.faults`; wrong values are reported and left at their defaults.
fn faults(raw: RawFaults, path: &YamlPath, p: &mut Problems<'_>) -> FaultSpec {
    let defaults = FaultSpec::default();
    let codes = raw
        .codes
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter_map(|(k, code)| fault_code(code, &path.key("codes").index(k), p))
        .collect();
    FaultSpec {
        error_rate: rate(raw.error_rate, &path.key("error_rate"), p),
        codes,
        latency_ms: duration_ms(raw.latency.as_deref(), &path.key("latency"), p).unwrap_or(0),
        timeout_rate: rate(raw.timeout_rate, &path.key("timeout_rate"), p),
        timeout_after_ms: duration_ms(raw.timeout_after.as_deref(), &path.key("timeout_after"), p)
            .unwrap_or(defaults.timeout_after_ms),
        lost_response_rate: rate(raw.lost_response_rate, &path.key("lost_response_rate"), p),
        seed: raw.seed,
    }
}

/// A probability: 0 when absent, reported unless within 0..=1.
fn rate(value: Option<f64>, path: &YamlPath, p: &mut Problems<'_>) -> f64 {
    match value {
        None => 0.0,
        Some(r) if (0.0..=1.0).contains(&r) => r,
        Some(r) => {
            p.value(path, format!("a rate must be between 0 and 1, got `{r}`"))
                .help("write a share of calls, e.g. `0.2` for one call in five");
            0.0
        }
    }
}

fn fault_code(code: RawFaultCode, path: &YamlPath, p: &mut Problems<'_>) -> Option<String> {
    match code {
        RawFaultCode::Number(n) => Some(n.to_string()),
        RawFaultCode::Text(t) if t.trim().is_empty() || t.contains(char::is_whitespace) => {
            p.value(path, format!("invalid fault code `{t}`")).help(
                "write a WeChat errcode like `45011` or an Alipay sub_code like `isp.unknow-error`",
            );
            None
        }
        RawFaultCode::Text(t) => Some(t),
    }
}

pub(super) fn duration_ms(
    text: Option<&str>,
    path: &YamlPath,
    p: &mut Problems<'_>,
) -> Option<u64> {
    let text = text?;
    match humantime::parse_duration(text) {
        Ok(d) => millis(d).or_else(|| {
            p.value(path, format!("duration `{text}` is too long"));
            None
        }),
        Err(e) => {
            p.value(path, format!("invalid duration `{text}`: {e}"))
                .help("write a duration like `2s`, `500ms` or `1m 30s`");
            None
        }
    }
}

fn millis(d: Duration) -> Option<u64> {
    u64::try_from(d.as_millis()).ok()
}

fn reject_rule(raw: RawRejectRule, path: &YamlPath, p: &mut Problems<'_>) -> Option<RejectRule> {
    let when_ext = match raw.when_ext {
        None => {
            p.missing(&path.key("when_ext"));
            None
        }
        Some(m) if m.is_empty() => {
            p.value(&path.key("when_ext"), "`when_ext` must not be empty")
                .help("list the ext key/values that make the sandbox reject an audit");
            None
        }
        Some(m) => Some(m.into_iter().collect()),
    };
    let reason = match raw.reason {
        None => {
            p.missing(&path.key("reason"));
            None
        }
        Some(r) if r.trim().is_empty() => {
            p.value(&path.key("reason"), "`reason` must not be empty");
            None
        }
        Some(r) => Some(r),
    };
    Some(RejectRule {
        when_ext: when_ext?,
        reason: reason?,
    })
}
