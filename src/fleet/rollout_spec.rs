//! The top-level `rollout` section, resolved into a [`Rollout`].

use std::collections::BTreeSet;

use serde_json::Value;

use super::path::YamlPath;
use super::problems::Problems;
use super::raw::{RawCount, RawHalt, RawRollout, RawWave};
use super::{partial, sandbox_spec::duration_ms};
use crate::model::rollout::{HaltRule, MaxUpdate, Rollout, Wave};

/// Reads and checks `rollout`; `None` when the file has none (or it has problems, reported).
pub(crate) fn read(value: &mut Value, p: &mut Problems<'_>) -> Option<Rollout> {
    if value.is_null() {
        return None;
    }
    let path = YamlPath::top("rollout");
    let before = p.count();
    let raw: RawRollout = partial::read(value, &path, p);
    let waves_path = path.key("waves");
    let waves = match raw.waves {
        None => {
            if let Some(e) = p.missing(&waves_path) {
                e.help("list the waves in order, e.g. `waves: [{ name: canary, match: { tier: canary }, max_update: 1 }, { name: rest }]`");
            }
            Vec::new()
        }
        Some(waves) if waves.is_empty() => {
            p.value(&waves_path, "`waves` must list at least one wave")
                .help(
                    "e.g. `- { name: canary, match: { tier: canary }, max_update: 1, bake: 1h }`",
                );
            Vec::new()
        }
        Some(waves) => waves,
    };
    let mut names = BTreeSet::new();
    let waves: Vec<Wave> = waves
        .into_iter()
        .enumerate()
        .filter_map(|(i, raw)| wave(raw, &waves_path.index(i), &mut names, p))
        .collect();
    let halt = halt(raw.halt, &path.key("halt"), p);
    (p.count() == before).then_some(Rollout { waves, halt })
}

fn wave(
    raw: RawWave,
    path: &YamlPath,
    names: &mut BTreeSet<String>,
    p: &mut Problems<'_>,
) -> Option<Wave> {
    let name = match raw.name {
        None => {
            p.missing(&path.key("name"));
            None
        }
        Some(name) if !super::rules::is_app_name(&name) => {
            p.value(&path.key("name"), format!("invalid wave name `{name}`"))
                .help("use letters, digits, `.`, `_` and `-`, starting with a letter or digit");
            None
        }
        Some(name) if !names.insert(name.clone()) => {
            p.value(&path.key("name"), format!("duplicate wave name `{name}`"))
                .help("each wave needs its own name: `minifleet promote` takes it");
            None
        }
        Some(name) => Some(name),
    };
    let max_update = match raw.max_update {
        None => Some(MaxUpdate::Percent(100)),
        Some(RawCount::Count(n)) => Some(MaxUpdate::Count(n)),
        Some(RawCount::Share(text)) => {
            share(&text, &path.key("max_update"), p).map(|pct| match pct {
                0 => MaxUpdate::Count(0),
                pct => MaxUpdate::Percent(pct),
            })
        }
    };
    let bake_ms = duration_ms(raw.bake.as_deref(), &path.key("bake"), p).unwrap_or(0);
    Some(Wave {
        name: name?,
        labels: raw.labels.unwrap_or_default().into_iter().collect(),
        max_update: max_update?,
        bake_secs: bake_ms.div_ceil(1000),
    })
}

/// `N%` with N in 0..=100.
fn share(text: &str, path: &YamlPath, p: &mut Problems<'_>) -> Option<u8> {
    let pct = text
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<u8>().ok())
        .filter(|n| *n <= 100);
    if pct.is_none() {
        p.value(path, format!("invalid share `{text}`"))
            .help("write a count like `3`, or a share of the wave's apps from `0%` to `100%`");
    }
    pct
}

fn halt(raw: Option<RawHalt>, path: &YamlPath, p: &mut Problems<'_>) -> HaltRule {
    let default = HaltRule::default();
    let Some(raw) = raw else {
        return default;
    };
    let rate_percent = match raw.rate {
        None => default.rate_percent,
        Some(text) => share(&text, &path.key("rate"), p).unwrap_or(default.rate_percent),
    };
    let rule = HaltRule {
        rejections: raw.rejections.unwrap_or(default.rejections),
        rate_percent,
    };
    if rule.rejections == 0 && rule.rate_percent == 0 {
        p.value(
            path,
            "this halt rule never halts: `rejections: 0` and `rate: 0%`",
        )
        .help("leave `halt` out for the default (2 apps or 20 %), or set one of the two");
    }
    rule
}
