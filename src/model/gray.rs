//! Gray walks: an app's release raised step by step over time (`gray: { steps, hold }`), what
//! minifleet remembers of the step an app is on, and how a plan shows where the walk stands.

use serde::{Deserialize, Serialize};

/// `gray: { steps: [5, 20, 50, 100], hold: 24h }`: release the wanted build to `steps[0]` % of
/// users, then raise it to each next step once the one before has held for `hold_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrayWalk {
    /// Percentages, strictly increasing, each one the platform accepts; 100 is a full release.
    pub steps: Box<[u8]>,
    /// How long each step holds before the next, in seconds.
    pub hold_secs: u64,
}

impl GrayWalk {
    /// The first step above `percent`, if the walk goes further.
    pub fn after(&self, percent: u8) -> Option<u8> {
        self.steps.iter().copied().find(|&s| s > percent)
    }

    /// The walk's last step: where it ends.
    pub fn last(&self) -> u8 {
        self.steps.last().copied().unwrap_or(100)
    }
}

/// The step of a walk an app was last seen on, and since when (kept in the app's record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrayMark {
    /// The build being walked.
    pub fingerprint: String,
    /// The gray percentage it was seen on (100: full).
    pub percent: u8,
    /// Unix seconds since when: when minifleet raised it, or first saw it there.
    pub since: u64,
}

/// Where an app's walk stands, for the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkView {
    /// The gray percentage live now.
    pub percent: u8,
    /// The next step, if the walk goes further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u8>,
    /// Unix seconds when the next step is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<u64>,
}

impl WalkView {
    /// Where the walk stands, in words: `gray walk at 5%: the 20% step is due
    /// 2026-12-05T03:00:00Z`.
    pub fn words(&self) -> String {
        match (self.next, self.due) {
            (Some(next), Some(due)) => format!(
                "gray walk at {}%: the {next}% step is due {}",
                self.percent,
                super::calendar::utc(due.saturating_mul(1000))
            ),
            _ => format!("gray walk at {}%, its last step", self.percent),
        }
    }
}
