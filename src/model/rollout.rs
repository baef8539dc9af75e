//! Fleet-wide progressive delivery as plain data: the fleet file's `rollout` section (waves, their
//! gates, the halt rule) and what minifleet remembers of a rollout between passes (when a wave
//! converged, which manual gates were opened, which releases are halted). The rules that read
//! them are the planner's ([`crate::plan::rollout`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Labels;

/// The `rollout` section: the fleet in waves, and when to stop a bad build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// The waves, in the order they go; an app belongs to the first whose labels it has, or to
    /// the last when it has none of them.
    pub waves: Vec<Wave>,
    /// When audit rejections halt a release fleet-wide.
    pub halt: HaltRule,
}

/// One wave of a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    /// The wave's name (unique in the rollout), for `promote` and for people.
    pub name: String,
    /// The labels an app must all have to be in this wave (sorted by key); empty: every app no
    /// earlier wave took.
    pub labels: Vec<(String, String)>,
    /// How many of the wave's apps may be on their way to a new build at once.
    pub max_update: MaxUpdate,
    /// Seconds to wait after the wave is fully released before the next wave starts.
    pub bake_secs: u64,
}

impl Wave {
    /// Whether an app with `labels` is matched by the wave's labels.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v.as_str()))
    }
}

/// A wave's `max_update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUpdate {
    /// At most this many apps at once; `0` is a manual gate (`minifleet promote`).
    Count(u32),
    /// At most this share of the wave's apps at once (rounded up, at least one).
    Percent(u8),
}

impl MaxUpdate {
    /// Whether the wave waits for `minifleet promote` before any app starts.
    pub fn is_gate(self) -> bool {
        self == MaxUpdate::Count(0)
    }

    /// How many of a wave of `size` apps may be in flight at once (`usize::MAX` for a gate once
    /// promoted: every app).
    pub fn limit(self, size: usize) -> usize {
        match self {
            MaxUpdate::Count(0) => usize::MAX,
            MaxUpdate::Count(n) => n as usize,
            MaxUpdate::Percent(p) => (size * usize::from(p)).div_ceil(100).max(1),
        }
    }
}

impl std::fmt::Display for MaxUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxUpdate::Count(n) => write!(f, "{n}"),
            MaxUpdate::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// When audit rejections of one release in one wave halt that release everywhere: at
/// `rejections` apps or at `rate_percent` of the wave's apps wanting it, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaltRule {
    /// Rejected apps that halt the release (`0`: the count never does).
    pub rejections: u32,
    /// Share of the wave's apps, in percent, whose rejection halts the release (`0`: the share
    /// never does).
    pub rate_percent: u8,
}

impl Default for HaltRule {
    /// Two rejections, or one in five apps of a wave.
    fn default() -> HaltRule {
        HaltRule {
            rejections: 2,
            rate_percent: 20,
        }
    }
}

impl HaltRule {
    /// Whether `rejected` of a wave's `wanting` apps halt the release.
    pub fn halts(&self, rejected: usize, wanting: usize) -> bool {
        if rejected == 0 {
            return false;
        }
        let by_count = self.rejections > 0 && rejected >= self.rejections as usize;
        let by_rate =
            self.rate_percent > 0 && rejected * 100 >= wanting * usize::from(self.rate_percent);
        by_count || by_rate
    }
}

/// What minifleet remembers of the rollout between passes (kept in the store).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RolloutState {
    /// By wave name: the generation (digest of its apps' wanted builds) it converged on, and when.
    #[serde(default)]
    pub converged: BTreeMap<String, Converged>,
    /// By wave name: the generation whose manual gate `promote` opened.
    #[serde(default)]
    pub promoted: BTreeMap<String, String>,
    /// Halted releases, by release (`template@version`).
    #[serde(default)]
    pub halts: BTreeMap<String, Halt>,
    /// Rejections `resume` forgave, so they do not halt again: app name → rejected fingerprint.
    #[serde(default)]
    pub forgiven: BTreeMap<String, String>,
}

/// A wave that converged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Converged {
    /// The digest of the wave's wanted builds when it converged.
    pub generation: String,
    /// When (unix seconds).
    pub at: u64,
}

/// A release halted by rejections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// The wave whose rejections halted it.
    pub wave: String,
    /// When (unix seconds).
    pub at: u64,
    /// The rejected apps: name → the fingerprint rejected. The halt lifts by itself once no app
    /// wants its rejected fingerprint any more (a fix), or with `minifleet resume`.
    pub rejected: BTreeMap<String, String>,
    /// How many apps of the wave wanted the release when it halted.
    pub wanting: usize,
}
