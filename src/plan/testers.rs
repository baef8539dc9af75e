//! Tester planning: bind every wanted tester, unbind members minifleet knows are no longer wanted,
//! and unbind unknown members only once every wanted tester is known to be bound.

use std::collections::BTreeSet;

use crate::model::{Action, Desired, Observed, Record, Step};

/// Tester steps (unbinds first, to free slots, then binds; each sorted) and notes.
#[derive(Debug, Default)]
pub(super) struct TesterPlan {
    /// The steps, in execution order.
    pub steps: Vec<Step>,
    /// Explanations of members left alone for now.
    pub notes: Vec<String>,
}

/// Plans the tester changes of one app.
pub(super) fn plan_testers(desired: &Desired, observed: &Observed, record: &Record) -> TesterPlan {
    let members: BTreeSet<&str> = observed.members.iter().map(String::as_str).collect();
    let binds = bind_steps(desired, record, &members);
    let all_bound = binds.is_empty();
    let wanted: BTreeSet<&str> = desired
        .testers
        .iter()
        .filter_map(|t| record.testers.get(t).map(String::as_str))
        .collect();
    let mut plan = TesterPlan::default();
    for member in members.difference(&wanted) {
        unbind_or_note(member, record, all_bound, &mut plan);
    }
    plan.steps.extend(binds);
    plan
}

/// A bind for every wanted tester that is not known to be bound, sorted by tester.
fn bind_steps(desired: &Desired, record: &Record, members: &BTreeSet<&str>) -> Vec<Step> {
    let wanted: BTreeSet<&String> = desired.testers.iter().collect();
    wanted
        .into_iter()
        .filter_map(|tester| {
            let reason = match record.testers.get(tester) {
                Some(member) if members.contains(member.as_str()) => return None,
                Some(_) => format!("tester `{tester}` was unbound outside minifleet"),
                None => format!("tester `{tester}` is not bound"),
            };
            let action = Action::BindTester {
                tester: tester.clone(),
            };
            Some(Step { action, reason })
        })
        .collect()
}

/// Unbinds a member that is not wanted, or notes why it stays for now.
fn unbind_or_note(member: &str, record: &Record, all_bound: bool, plan: &mut TesterPlan) {
    let known = record
        .testers
        .iter()
        .find(|(_, userstr)| userstr.as_str() == member)
        .map(|(tester, _)| tester.clone());
    let reason = match &known {
        Some(tester) => format!("tester `{tester}` is no longer in the fleet file"),
        None if all_bound => format!("member `{member}` was bound outside minifleet"),
        None => {
            plan.notes.push(format!(
                "member `{member}` is not a wanted tester; it will be removed once every wanted \
                 tester is bound"
            ));
            return;
        }
    };
    let action = Action::UnbindTester {
        tester: known,
        member: member.to_owned(),
    };
    plan.steps.push(Step { action, reason });
}
