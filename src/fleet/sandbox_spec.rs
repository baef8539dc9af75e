//! The top-level `sandbox` section, resolved into a [`SandboxSpec`].

use std::time::Duration;

use serde_yaml::Value;

use super::path::YamlPath;
use super::problems::Problems;
use super::raw::{RawRejectRule, RawSandbox};
use super::{RejectRule, SandboxSpec, partial};

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
    SandboxSpec {
        audit_delay_ms: audit_delay_ms.unwrap_or(defaults.audit_delay_ms),
        privacy_scan_ms: privacy_scan_ms.unwrap_or(defaults.privacy_scan_ms),
        audit_quota: raw.audit_quota.unwrap_or(defaults.audit_quota),
        reject,
    }
}

fn duration_ms(text: Option<&str>, path: &YamlPath, p: &mut Problems<'_>) -> Option<u64> {
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
