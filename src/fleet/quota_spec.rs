//! The top-level `quota` section: slots of the audit quota kept for new merchants, and the
//! priorities apps take by their labels.

use std::collections::BTreeMap;

use serde_json::Value;

use super::partial;
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};
use super::raw::RawQuota;
use crate::model::{Desired, QuotaPolicy};

/// The most slots `reserve` may keep (a platform's monthly quota is tens to hundreds).
const MAX_RESERVE: u32 = 100_000;

/// Reads and checks `quota` and gives each app without a `priority` of its own the first rule
/// its labels match; the policy (default: nothing kept) when there are problems, reported.
pub(crate) fn read(value: &mut Value, apps: &mut [Desired], p: &mut Problems<'_>) -> QuotaPolicy {
    let path = YamlPath::top("quota");
    let raw: RawQuota = partial::read(value, &path, p);
    let reserve = raw.reserve.unwrap_or(0);
    if reserve > MAX_RESERVE {
        p.value(
            &path.key("reserve"),
            format!("reserve must be at most {MAX_RESERVE}, got {reserve}"),
        )
        .help("keep a few slots of the month's audit quota for new merchants, e.g. `reserve: 5`");
    }
    let mut rules: Vec<(BTreeMap<String, String>, i32)> = Vec::new();
    for (i, rule) in raw.priority.unwrap_or_default().into_iter().enumerate() {
        let at = path.key("priority").index(i);
        let labels = match rule.labels {
            Some(labels) if !labels.is_empty() => Some(labels),
            Some(_) => {
                p.value(&at.key("match"), "`match` must name at least one label")
                    .help("e.g. `- { match: { tier: gold }, priority: 10 }`");
                None
            }
            None => {
                p.missing(&at.key("match"))
                    .help("e.g. `- { match: { tier: gold }, priority: 10 }`");
                None
            }
        };
        let priority = rule.priority.or_else(|| {
            p.missing(&at.key("priority"))
                .help("higher goes first; the default is 0");
            None
        });
        if let (Some(labels), Some(priority)) = (labels, priority) {
            rules.push((labels, priority));
        }
    }
    for app in apps.iter_mut().filter(|a| a.priority.is_none()) {
        let matches = |labels: &BTreeMap<String, String>| {
            labels
                .iter()
                .all(|(k, v)| app.labels.get(k) == Some(v.as_str()))
        };
        app.priority = rules.iter().find(|(l, _)| matches(l)).map(|(_, n)| *n);
    }
    QuotaPolicy {
        reserve: reserve.min(MAX_RESERVE),
    }
}
