//! Tester planning. Platforms list testers by member id (WeChat: an opaque `userstr`), and the
//! store maps tester ids to member ids as minifleet binds them. Bind every wanted tester that is
//! not bound, unbind members that are not wanted — and where the map cannot tell (a fresh or lost
//! store), say so with a [`Action::VerifyTester`] instead of inventing binds and unbinds.

use std::collections::{BTreeMap, BTreeSet};

use super::plural;
use crate::model::{Action, Desired, Observed, Record, Step};

use crate::model::Rules;

/// Tester steps (unbinds first, to free slots, then binds and verifications; each sorted) and
/// notes.
#[derive(Debug, Default)]
pub(super) struct TesterPlan {
    /// The steps, in execution order.
    pub steps: Vec<Step>,
    /// Explanations of members left alone for now, and of what cannot be told.
    pub notes: Vec<String>,
}

/// What the store and the platform say about an app's testers.
struct Facts<'a> {
    /// Wanted tester ids.
    wanted: BTreeSet<&'a str>,
    /// Member ids the platform lists.
    members: BTreeSet<&'a str>,
    /// Tester id → member id, as the store remembers them.
    map: &'a BTreeMap<String, String>,
    /// Listed members the map does not name, sorted.
    unknown: Vec<&'a str>,
    /// Testers known to be bound without a member id (none of them in the map).
    unpaired: BTreeSet<&'a str>,
    /// Whether the unpaired testers still fit among the unknown members: if fewer members are
    /// unknown than testers are unpaired, some of those were unbound since, nobody knows which.
    unpaired_hold: bool,
}

impl<'a> Facts<'a> {
    fn new(desired: &'a Desired, observed: &'a Observed, record: &'a Record) -> Facts<'a> {
        let map = &record.testers;
        let named: BTreeSet<&str> = map.values().map(String::as_str).collect();
        let members: BTreeSet<&str> = observed.members.iter().map(String::as_str).collect();
        let unknown: Vec<&str> = members.difference(&named).copied().collect();
        let unpaired: BTreeSet<&str> = record
            .unpaired_testers
            .iter()
            .map(String::as_str)
            .filter(|t| !map.contains_key(*t))
            .collect();
        Facts {
            wanted: desired.testers.iter().map(String::as_str).collect(),
            unpaired_hold: unpaired.len() <= unknown.len(),
            members,
            map,
            unknown,
            unpaired,
        }
    }

    /// Whether `tester` is known to be bound: by its member id, or as an unpaired tester whose
    /// count still fits.
    fn bound(&self, tester: &str) -> bool {
        match self.map.get(tester) {
            Some(member) => self.members.contains(member.as_str()),
            None => self.unpaired_hold && self.unpaired.contains(tester),
        }
    }

    /// Unknown members that no unpaired tester accounts for.
    fn free(&self) -> usize {
        let claimed = if self.unpaired_hold {
            self.unpaired.len()
        } else {
            0
        };
        self.unknown.len() - claimed
    }

    /// Wanted unpaired testers that count as bound.
    fn wanted_unpaired(&self) -> Vec<&'a str> {
        if !self.unpaired_hold {
            return Vec::new();
        }
        self.unpaired.intersection(&self.wanted).copied().collect()
    }
}

/// Plans the tester changes of one app.
pub(super) fn plan_testers(
    desired: &Desired,
    observed: &Observed,
    record: &Record,
    rules: &Rules,
) -> TesterPlan {
    let facts = Facts::new(desired, observed, record);
    let mut plan = TesterPlan::default();
    let mut binds = Vec::new();
    let mut unmapped = Vec::new();
    for &tester in &facts.wanted {
        match facts.map.get(tester) {
            _ if facts.bound(tester) => {}
            Some(_) => binds.push(bind(
                tester,
                format!("tester `{tester}` was unbound outside minifleet"),
            )),
            None => unmapped.push(tester),
        }
    }
    unbind_known(&facts, &mut plan);
    let all_bound = binds.is_empty();
    binds.extend(plan_unmapped(&unmapped, &facts, rules, &mut plan.notes));
    plan_unknown(
        &facts,
        !unmapped.is_empty(),
        all_bound,
        &mut plan,
        &mut binds,
    );
    binds.sort_by(|a, b| tester_of(&a.action).cmp(tester_of(&b.action)));
    plan.steps.extend(binds);
    plan
}

/// Unbinds the testers minifleet bound that left the fleet file: by member id where it is
/// known, else by tester id.
fn unbind_known(facts: &Facts, plan: &mut TesterPlan) {
    let by_member: BTreeMap<&str, &str> = facts
        .map
        .iter()
        .filter(|(tester, _)| !facts.wanted.contains(tester.as_str()))
        .map(|(tester, member)| (member.as_str(), tester.as_str()))
        .collect();
    for (&member, &tester) in by_member.iter().filter(|(m, _)| facts.members.contains(*m)) {
        plan.steps
            .push(unbind(Some(tester), Some(member), gone(tester)));
    }
    for &tester in facts.unpaired.difference(&facts.wanted) {
        plan.steps.push(unbind(Some(tester), None, gone(tester)));
    }
}

/// Binds or verifies the wanted testers the store has no member id for. With no unknown member
/// left they are surely not bound; with enough unknown members they may be any of them, so they
/// are verified; with too few, some are surely not bound, so all are bound.
fn plan_unmapped(
    unmapped: &[&str],
    facts: &Facts,
    rules: &Rules,
    notes: &mut Vec<String>,
) -> Vec<Step> {
    let (n, free) = (unmapped.len(), facts.free());
    if n == 0 {
        return Vec::new();
    }
    if free == 0 {
        let reason = |t: &str| format!("tester `{t}` is not bound");
        return unmapped.iter().map(|t| bind(t, reason(t))).collect();
    }
    let unknown = format!("{free} unknown member{}", plural(free));
    if n <= free {
        notes.push(unverified_note(n, rules));
        let which = match free {
            1 => "the unknown member".to_owned(),
            _ => format!("one of the {unknown}"),
        };
        let reason =
            |t: &str| format!("the tester map has no entry for `{t}`: it may be bound as {which}");
        return unmapped
            .iter()
            .map(|t| Step {
                action: Action::VerifyTester {
                    tester: (*t).to_owned(),
                },
                reason: reason(t),
            })
            .collect();
    }
    notes.push(format!(
        "{n} testers have no entry in the tester map here ({}) and only {unknown} {} listed: at \
         least {} of them {} not bound",
        rules.member_ids,
        if free == 1 { "is" } else { "are" },
        n - free,
        if n - free == 1 { "is" } else { "are" },
    ));
    let reason = |t: &str| {
        format!(
            "the tester map has no entry for `{t}`, and the {unknown} cannot all be the {n} testers without one"
        )
    };
    unmapped.iter().map(|t| bind(t, reason(t))).collect()
}

/// `unverified: 2 testers, no tester map here (…); …`.
fn unverified_note(n: usize, rules: &Rules) -> String {
    let (them, they) = if n == 1 {
        ("it", "it is")
    } else {
        ("them", "they are")
    };
    format!(
        "unverified: {n} tester{}, no tester map here ({}); `reconcile` binds {them}, which is \
         harmless if {they} bound already",
        plural(n),
        rules.member_ids
    )
}

/// Members the map does not name and no unpaired tester accounts for. Left alone while wanted
/// testers without a member id may be them (`unmapped`); told apart first, by unbinding and
/// binding the unpaired testers to learn their ids, when those could be them; else unbound once
/// every wanted tester is known bound (`all_bound`).
fn plan_unknown(
    facts: &Facts,
    unmapped: bool,
    all_bound: bool,
    plan: &mut TesterPlan,
    binds: &mut Vec<Step>,
) {
    let free = facts.free();
    if free == 0 || unmapped {
        return;
    }
    let outside = format!("{free} member{} bound outside minifleet", plural(free));
    let repair = facts.wanted_unpaired();
    if !repair.is_empty() {
        for tester in repair {
            let reason = format!(
                "the member id of `{tester}` is unknown here, and {outside} cannot be told apart \
                 from it: unbind it and bind it again to learn the id"
            );
            plan.steps.push(unbind(Some(tester), None, reason));
            let again = format!("bind `{tester}` again to learn its member id");
            binds.push(bind(tester, again));
        }
        return;
    }
    if facts.unpaired.difference(&facts.wanted).next().is_some() {
        plan.notes.push(format!(
            "{outside} will be removed once the testers that left the fleet file are unbound"
        ));
        return;
    }
    for &member in &facts.unknown {
        if all_bound {
            let reason = format!("member `{member}` was bound outside minifleet");
            plan.steps.push(unbind(None, Some(member), reason));
        } else {
            plan.notes.push(format!(
                "member `{member}` is not a wanted tester; it will be removed once every wanted \
                 tester is bound"
            ));
        }
    }
}

/// The reason for unbinding a tester that left the fleet file.
fn gone(tester: &str) -> String {
    format!("tester `{tester}` is no longer in the fleet file")
}

/// A bind step.
fn bind(tester: &str, reason: String) -> Step {
    let action = Action::BindTester {
        tester: tester.to_owned(),
    };
    Step { action, reason }
}

/// An unbind step.
fn unbind(tester: Option<&str>, member: Option<&str>, reason: String) -> Step {
    let action = Action::UnbindTester {
        tester: tester.map(str::to_owned),
        member: member.map(str::to_owned),
    };
    Step { action, reason }
}

/// The tester a bind or verification is for (binds are sorted by it).
fn tester_of(action: &Action) -> &str {
    match action {
        Action::BindTester { tester } | Action::VerifyTester { tester } => tester,
        _ => "",
    }
}
