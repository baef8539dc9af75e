//! The fleet as a diff (after vector's config reload): which apps a new fleet adds, changes or
//! removes, by name. Start-up is the diff from the empty fleet, so both take the same path.

use std::collections::BTreeMap;

use crate::model::Desired;

/// What changed between two fleets' apps, matched by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetDiff {
    /// Apps only in the new fleet, in its order.
    pub added: Vec<Desired>,
    /// Apps in both whose wanted state differs (the new version), in the new fleet's order.
    pub changed: Vec<Desired>,
    /// Names of apps only in the old fleet.
    pub removed: Vec<String>,
    /// How many apps are the same in both.
    pub unchanged: usize,
    /// Every app's name in the new fleet's order (the order audits are budgeted in).
    pub order: Vec<String>,
}

impl FleetDiff {
    /// The diff from `old` to `new`.
    pub fn between(old: &[Desired], new: &[Desired]) -> FleetDiff {
        let before: BTreeMap<&str, &Desired> = old.iter().map(|a| (a.name.as_str(), a)).collect();
        let mut diff = FleetDiff {
            order: new.iter().map(|a| a.name.clone()).collect(),
            ..FleetDiff::default()
        };
        for app in new {
            match before.get(app.name.as_str()) {
                None => diff.added.push(app.clone()),
                Some(prev) if *prev != app => diff.changed.push(app.clone()),
                Some(_) => diff.unchanged += 1,
            }
        }
        let after: BTreeMap<&str, &Desired> = new.iter().map(|a| (a.name.as_str(), a)).collect();
        diff.removed = old
            .iter()
            .filter(|a| !after.contains_key(a.name.as_str()))
            .map(|a| a.name.clone())
            .collect();
        diff
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// The apps to plan again: added and changed ones.
    pub fn touched(&self) -> impl Iterator<Item = &Desired> {
        self.added.iter().chain(&self.changed)
    }

    /// A one-line summary, e.g. `1 added, 2 changed, 0 removed, 5 unchanged`.
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} changed, {} removed, {} unchanged",
            self.added.len(),
            self.changed.len(),
            self.removed.len(),
            self.unchanged
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fixtures::apps;

    const TWO: &str = "  - { name: a, platform: wechat, appid: \"wx1111111111111111\", version: 1.0.0, stage: experience }\n  \
                       - { name: b, platform: wechat, appid: \"wx2222222222222222\", version: 1.0.0, stage: experience }\n";

    #[test]
    fn start_up_is_the_diff_from_nothing() {
        let new = apps(TWO);
        let diff = FleetDiff::between(&[], &new);
        assert_eq!(diff.added, new);
        assert!(diff.changed.is_empty() && diff.removed.is_empty());
        assert_eq!(diff.touched().count(), 2);
    }

    #[test]
    fn the_same_fleet_is_an_empty_diff() {
        let diff = FleetDiff::between(&apps(TWO), &apps(TWO));
        assert!(diff.is_empty());
        assert_eq!(diff.unchanged, 2);
        assert_eq!(diff.summary(), "0 added, 0 changed, 0 removed, 2 unchanged");
    }

    #[test]
    fn a_version_bump_touches_only_that_app() {
        let bumped = TWO.replacen("version: 1.0.0", "version: 1.0.1", 1);
        let diff = FleetDiff::between(&apps(TWO), &apps(&bumped));
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.changed[0].name, "a");
        assert_eq!(diff.changed[0].version, "1.0.1");
        assert_eq!(diff.unchanged, 1);
        assert!(diff.added.is_empty() && diff.removed.is_empty());
    }

    #[test]
    fn a_rename_is_a_removal_and_an_addition() {
        let renamed = TWO.replace("name: b", "name: c");
        let diff = FleetDiff::between(&apps(TWO), &apps(&renamed));
        assert_eq!(diff.removed, ["b"]);
        assert_eq!(diff.added.len(), 1);
        assert_eq!(diff.added[0].name, "c");
        assert_eq!(diff.unchanged, 1);
    }
}
