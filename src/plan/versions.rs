//! Version numbering rules of platforms that build each version once (Alipay): a version already
//! built with other content, or not above the app's highest version, stops the app; a development
//! build of the wanted version whose content is unknown (the store that knew it was lost) is
//! deleted and built again; and the cap on development builds, which a commit makes room under by
//! deleting the oldest stale ones.

use std::cmp::Ordering;

use crate::model::{Action, AuditStatus, Build, fingerprint_tag};

use super::pipeline::Planner;

/// `x.y.z` as numbers, for ordering; `None` when `v` is not three numbers.
pub(super) fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
    let parsed = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(parsed)
}

/// Compares two versions numerically; unparsable versions compare as unknown (`None`).
pub(super) fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    Some(parse_version(a)?.cmp(&parse_version(b)?))
}

impl Planner<'_> {
    /// Why the wanted version cannot be built where versions are built once and must increase.
    pub(super) fn version_conflict(&self) -> Option<String> {
        if !self.rules.versions_increase || self.fp_of(self.o.previous.as_ref()) {
            return None;
        }
        let version = self.d.version.as_str();
        let same: Vec<&Build> = self
            .o
            .builds
            .iter()
            .filter(|b| b.version == version)
            .collect();
        if same.iter().any(|b| self.fp_of(Some(b))) {
            return None;
        }
        if let Some(other) = same.first() {
            return (self.unknown_dev_build().is_none()).then(|| self.built_elsewhere(other));
        }
        let highest = self.highest_build()?;
        (compare_versions(&highest.version, version) == Some(Ordering::Greater)).then(|| {
            format!(
                "version {version} is not higher than {}, the highest version this app has; {} \
                 versions must increase: bump `version`",
                highest.version, self.rules.name
            )
        })
    }

    /// The wanted version's development build when nothing tells what it was built from (no
    /// fingerprint in the store, none in its description: the store was lost before it went to
    /// audit) and it can be built again: it is still in development (only those can be deleted,
    /// spec/alipay.md §2.5) and above every other version (so a new upload of its number is
    /// accepted once it is gone). Such a build is deleted and rebuilt, not a failure: a platform
    /// that cannot show a build's ext leaves no other way to verify it.
    pub(super) fn unknown_dev_build(&self) -> Option<&Build> {
        let version = self.d.version.as_str();
        if !self.rules.versions_increase || self.o.builds.iter().any(|b| self.fp_of(Some(b))) {
            return None;
        }
        let build = self
            .o
            .dev_builds
            .iter()
            .find(|b| b.version == version && b.fingerprint.is_none())?;
        let others_below = self
            .o
            .builds
            .iter()
            .filter(|b| b.version != version)
            .all(|b| compare_versions(&b.version, version) == Some(Ordering::Less));
        let same = self.o.builds.iter().filter(|b| b.version == version);
        (others_below && same.clone().all(|b| b.fingerprint.is_none())).then_some(build)
    }

    /// The app's highest parsable version, if any.
    fn highest_build(&self) -> Option<&Build> {
        self.o
            .builds
            .iter()
            .filter_map(|b| Some((parse_version(&b.version)?, b)))
            .max_by_key(|(v, _)| *v)
            .map(|(_, b)| b)
    }

    /// The failure for a version already built with other content.
    fn built_elsewhere(&self, other: &Build) -> String {
        let what = match &other.fingerprint {
            Some(fp) => fingerprint_tag(fp),
            None => "an unknown build".to_owned(),
        };
        format!(
            "version {} was already built with another fingerprint ({what}); {} builds each \
             version once: bump `version` in the fleet file",
            self.d.version, self.rules.name
        )
    }

    /// Before a commit: deletes an unknown development build of the wanted version (see
    /// [`Planner::unknown_dev_build`]), and the oldest stale development builds so the upload fits
    /// the cap.
    pub(super) fn make_room_for_commit(&mut self) {
        let rebuilt = self.unknown_dev_build().map(|b| b.version.clone());
        if let Some(version) = &rebuilt {
            let reason = format!(
                "version {version} exists but its fingerprint is unknown (the store was lost?); \
                 {} cannot show a build's ext, so it is deleted and built again",
                self.rules.name
            );
            let action = Action::DeleteBuild {
                version: version.clone(),
            };
            self.step(action, reason);
        }
        let Some(cap) = self.rules.dev_build_cap else {
            return;
        };
        let used = self.o.dev_builds.len() - usize::from(rebuilt.is_some());
        let excess = (used + 1).saturating_sub(cap);
        if excess == 0 {
            return;
        }
        let stale: Vec<String> = self
            .o
            .dev_builds
            .iter()
            .filter(|b| !self.keeps(b))
            .take(excess)
            .map(|b| b.version.clone())
            .collect();
        if stale.len() < excess {
            self.out.notes.push(format!(
                "{used} of {cap} development versions are used and only {} can be deleted: the \
                 upload may be refused until one is released or deleted",
                stale.len()
            ));
        }
        for version in stale {
            let reason = format!(
                "{used} of {cap} development versions are used: delete stale build {version} so \
                 the upload fits"
            );
            self.step(Action::DeleteBuild { version }, reason);
        }
    }

    /// Whether a development build must be kept: the experience build, the wanted version, and
    /// the build in the review slot.
    fn keeps(&self, build: &Build) -> bool {
        let version = build.version.as_str();
        let experience = self.o.experience.as_ref().map(|b| b.version.as_str());
        let in_review = self
            .o
            .audit
            .as_ref()
            .filter(|a| a.status != AuditStatus::Withdrawn)
            .map(|a| a.build.version.as_str());
        version == self.d.version || Some(version) == experience || Some(version) == in_review
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(parse_version("1.10.0"), Some((1, 10, 0)));
        assert_eq!(compare_versions("1.10.0", "1.9.9"), Some(Ordering::Greater));
        assert_eq!(compare_versions("1.2.0", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare_versions("0.9.0", "1.0.0"), Some(Ordering::Less));
        for bad in ["1.2", "1.2.3.4", "1.x.0", ""] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
        assert_eq!(compare_versions("1.2", "1.0.0"), None);
    }
}
