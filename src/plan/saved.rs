//! Saved plans (`plan --out FILE`, `apply FILE`): a plan reviewed in a pull request is what gets
//! applied, or nothing is.
//!
//! A saved plan holds, per app with changes, the steps planned, the digest of the live state they
//! were planned from ([`live_digest`]) with that state itself (to say what moved), and the digest
//! of the app's fleet entry; and for the whole plan an id, the fleet revision, the store it was
//! planned against and whether that store knew the app ([`SavedApp::known`]), and the audit quota
//! left then. `apply` re-observes each app and applies exactly its saved steps where the live
//! state and the fleet entry are unchanged; an app whose state moved is refused with what moved
//! ([`moved`]), the others go on. Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::model::{AppPlan, Observed, Step};

/// The file format's name and version.
pub const FORMAT: &str = "minifleet-plan/1";

/// A plan saved to be applied later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// [`FORMAT`].
    pub format: String,
    /// The plan's id (random): a plan is applied at most once.
    pub id: String,
    /// When it was made (unix ms).
    pub created_at_ms: u64,
    /// The fleet revision it was made from (git commit, or `sha256:` of the file).
    pub revision: String,
    /// The id of the store it was made against: it is applied against that store only.
    pub store: String,
    /// The monthly audit quota left per platform when it was made.
    #[serde(default)]
    pub quota: Vec<QuotaSnapshot>,
    /// The apps with changes, in the fleet's order.
    pub apps: Vec<SavedApp>,
}

/// A platform's audit quota when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaSnapshot {
    /// The platform.
    pub platform: String,
    /// Submissions left this month.
    pub left: u32,
}

/// One app of a saved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedApp {
    /// The app's name.
    pub app: String,
    /// Its id.
    pub appid: String,
    /// The digest of its fleet entry ([`crate::model::Desired::entry_digest`]).
    pub entry: String,
    /// Whether the store held the app's record when planned: a plan made without it (an empty
    /// store, a new app) cannot know the tester map, the failures or the journal, and is refused.
    pub known: bool,
    /// The digest of the live state the steps were planned from ([`live_digest`]).
    pub live: String,
    /// That live state, to say what moved.
    pub observed: Observed,
    /// The plan, with the steps `apply` makes (up to the first wait).
    pub plan: AppPlan,
}

impl SavedApp {
    /// The steps `apply` makes: those before the first wait.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.plan.steps_now()
    }
}

/// The digest of an observation as a saved plan compares it: SHA-256 of its JSON without what a
/// read adds beside the state (the probe's digest, the version it was read for), 16 hex digits.
pub fn live_digest(observed: &Observed) -> String {
    let mut state = observed.clone();
    state.probe = None;
    state.wanted = None;
    let text = serde_json::to_vec(&state).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
    hex::encode(&digest.as_ref()[..8])
}

/// What moved between the state a plan was made from and `now`, in words (empty: nothing that
/// the digest covers).
pub fn moved(then: &Observed, now: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let build = |b: Option<&crate::model::Build>| b.map_or_else(|| "none".to_owned(), |b| b.text());
    if then.authorized != now.authorized {
        out.push(format!(
            "authorized: {} → {}",
            then.authorized, now.authorized
        ));
    }
    if then.experience != now.experience {
        out.push(format!(
            "experience: {} → {}",
            build(then.experience.as_ref()),
            build(now.experience.as_ref())
        ));
    }
    if then.audit != now.audit {
        let audit = |a: Option<&crate::model::Audit>| {
            a.map_or_else(
                || "none".to_owned(),
                |a| format!("{} {}", a.status.as_str(), a.build.text()),
            )
        };
        out.push(format!(
            "audit: {} → {}",
            audit(then.audit.as_ref()),
            audit(now.audit.as_ref())
        ));
    }
    if then.live != now.live {
        let live =
            |l: Option<&crate::model::Live>| l.map_or_else(|| "none".to_owned(), |l| l.text());
        out.push(format!(
            "live: {} → {}",
            live(then.live.as_ref()),
            live(now.live.as_ref())
        ));
    }
    if then.members != now.members {
        out.push(format!(
            "members: {} → {}",
            then.members.len(),
            now.members.len()
        ));
    }
    if out.is_empty() && live_digest(then) != live_digest(now) {
        out.push("the platform's other settings (builds, domains, jump rules)".to_owned());
    }
    out
}

/// How many audit submissions the saved `apps` make, by platform.
pub fn submissions(apps: &[&SavedApp]) -> std::collections::BTreeMap<String, u32> {
    let mut out = std::collections::BTreeMap::new();
    for app in apps {
        let submits = app
            .steps()
            .filter(|s| matches!(s.action, crate::model::Action::SubmitAudit { .. }))
            .count() as u32;
        if submits > 0 {
            *out.entry(app.plan.platform.to_string()).or_default() += submits;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Audit, AuditStatus, Build};

    fn build(version: &str) -> Build {
        Build {
            version: version.into(),
            fingerprint: Some("1a2b3c4d".into()),
            description: format!("v{version} [mf:1a2b3c4d]"),
        }
    }

    #[test]
    fn the_digest_covers_the_state_not_how_it_was_read() {
        let then = Observed {
            authorized: true,
            experience: Some(build("1.0.0")),
            ..Observed::default()
        };
        let read_again = Observed {
            probe: Some("0011".into()),
            wanted: Some("1.0.0".into()),
            ..then.clone()
        };
        assert_eq!(live_digest(&then), live_digest(&read_again));
        assert!(moved(&then, &read_again).is_empty());
        let audited = Observed {
            audit: Some(Audit {
                id: "7".into(),
                build: build("1.0.0"),
                status: AuditStatus::Auditing,
                reason: None,
            }),
            ..then.clone()
        };
        assert_ne!(live_digest(&then), live_digest(&audited));
        assert_eq!(
            moved(&then, &audited),
            ["audit: none → auditing 1.0.0 [mf:1a2b3c4d]"]
        );
    }
}
