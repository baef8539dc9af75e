//! Grouped plan text, for plans too long to review app by app. Apps whose steps have the same
//! shape — the same actions with the same versions and gray percentages, whatever their
//! fingerprints, audit ids and tester names — are told once, with a count, a few names and what
//! differs between them (which ext keys); failed and unauthorized apps group by the shape of
//! their reason. The apps that stand alone follow as usual, then the summary lines of
//! [`super::plan::text`]. Pure: no I/O.

mod ext;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{Action, AppPlan, AppState, PlatformKind, Step};
use crate::plan::Plan;

use super::action;
use super::plan::{DETAIL, Paint, STEP, app_block, footer, line, shown, state_symbol};

/// Apps named in a group.
const EXAMPLES: usize = 3;

/// Notes of only some of a group's apps that are shown, most common first.
const NOTES: usize = 3;

/// Groups and lone apps stop being listed once the text reaches this many bytes (a pull request
/// comment holds 65,536 characters); a line says how many apps were left out.
const BUDGET: usize = 60_000;

/// What the apps of one group share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Shape {
    /// The platform.
    platform: PlatformKind,
    /// The state's name.
    state: &'static str,
    /// A failed or unauthorized app's reason, shaped; else empty.
    reason: String,
    /// Each step's shape, and whether it comes after a wait.
    steps: Vec<(String, bool)>,
}

/// Apps of one shape, in fleet order.
struct Group<'a> {
    /// The shape.
    shape: Shape,
    /// The first app's place in the fleet.
    first: usize,
    /// The apps.
    apps: Vec<&'a AppPlan>,
}

/// The plan as grouped human text: groups of two or more apps (largest first), then the apps
/// that stand alone (in fleet order, as in [`super::plan::text`]), then the summary lines.
pub fn text(plan: &Plan, color: bool) -> String {
    let paint = Paint { color };
    let groups = group(plan);
    let (many, alone): (Vec<&Group>, Vec<&Group>) = groups.iter().partition(|g| g.apps.len() > 1);
    let mut alone: Vec<&Group> = alone;
    alone.sort_by_key(|g| g.first);
    let mut out = String::new();
    let mut left_out = 0;
    for group in many {
        let mut block = String::new();
        group_block(group, paint, &mut block);
        left_out += append(&mut out, &block, left_out, group.apps.len());
    }
    for app in alone.iter().map(|g| g.apps[0]) {
        let mut block = String::new();
        app_block(app, paint, &mut block);
        block.push('\n');
        left_out += append(&mut out, &block, left_out, 1);
    }
    if left_out > 0 {
        out.push_str(&format!(
            "… {} more app{} not shown, to keep this short: `--no-group` or `-o json` lists every \
             app\n\n",
            thousands(left_out),
            super::plural(left_out)
        ));
    }
    footer(plan, &mut out);
    out
}

/// Appends `block` (of `apps` apps) unless the text would pass [`BUDGET`] or apps were left out
/// already; returns how many apps were left out.
fn append(out: &mut String, block: &str, left_out: usize, apps: usize) -> usize {
    if left_out > 0 || out.len() + block.len() > BUDGET {
        return apps;
    }
    out.push_str(block);
    0
}

/// The apps with a block, grouped by shape: largest group first, ties in fleet order.
fn group(plan: &Plan) -> Vec<Group<'_>> {
    let mut index: HashMap<Shape, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for (at, app) in plan.apps.iter().enumerate().filter(|(_, a)| shown(a)) {
        let shape = shape_of(app);
        match index.get(&shape) {
            Some(&i) => groups[i].apps.push(app),
            None => {
                index.insert(shape.clone(), groups.len());
                groups.push(Group {
                    shape,
                    first: at,
                    apps: vec![app],
                });
            }
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.apps.len()));
    groups
}

/// An app's shape.
fn shape_of(app: &AppPlan) -> Shape {
    let reason = match &app.state {
        AppState::Failed { reason, .. } | AppState::NotAuthorized { reason } => {
            reason_shape(reason)
        }
        _ => String::new(),
    };
    let mut after_wait = false;
    let steps = app
        .steps
        .iter()
        .map(|step| {
            let shaped = (step_shape(&step.action), after_wait);
            after_wait |= matches!(step.action, Action::WaitForAudit { .. });
            shaped
        })
        .collect();
    Shape {
        platform: app.platform,
        state: app.state.name(),
        reason,
        steps,
    }
}

/// A step without what differs from app to app (fingerprints, audit ids, testers and members);
/// versions and gray percentages stay.
fn step_shape(action: &Action) -> String {
    match action {
        Action::Commit { version, .. } => format!("commit {version}"),
        Action::WithdrawAudit { .. } => "withdraw an audit".to_owned(),
        Action::SubmitAudit { .. } => "submit audit".to_owned(),
        Action::WaitForAudit { .. } => "wait for audit".to_owned(),
        Action::Release { .. } => "release to 100%".to_owned(),
        Action::Gray {
            from: Some(f), to, ..
        } => format!("gray {f}% → {to}%"),
        Action::Gray { from: None, to, .. } => format!("gray → {to}%"),
        Action::RevertGray => "revert gray release".to_owned(),
        Action::Rollback { .. } => "roll back".to_owned(),
        Action::DeleteBuild { version } => format!("delete build {version}"),
        Action::BindTester { .. } => "bind a tester".to_owned(),
        Action::VerifyTester { .. } => "verify a tester".to_owned(),
        Action::UnbindTester { .. } => "unbind a tester".to_owned(),
        Action::SetDomains { .. } | Action::SetPrivacy { .. } => {
            crate::view::action::describe(action)
        }
        Action::AddJumpRule { edit: false, .. } => "add a jump rule".to_owned(),
        Action::AddJumpRule { edit: true, .. } => "edit a jump rule".to_owned(),
        Action::PublishJumpRule { .. } => "publish a jump rule".to_owned(),
        Action::DeleteJumpRule { .. } => "delete a jump rule".to_owned(),
    }
}

/// A failed or unauthorized app's reason without what differs from app to app: the part before
/// the first `: ` (what happened, not the platform's words), without fingerprints and audit ids.
fn reason_shape(reason: &str) -> String {
    let head = reason.split(": ").next().unwrap_or(reason);
    generic(head)
}

/// `text` without fingerprint tags (`[mf:1a2b3c4d]`) and audit ids (`audit 103` → `audit`).
pub(crate) fn generic(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("[mf:") {
        let tail = &rest[at + 4..];
        match tail.find(']') {
            Some(end) if end <= 8 => {
                out.push_str(rest[..at].trim_end_matches(' '));
                rest = &tail[end + 1..];
            }
            _ => {
                out.push_str(&rest[..at + 4]);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    without_audit_ids(&out)
}

/// `audit 103 of …` → `audit of …`.
fn without_audit_ids(text: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    for word in text.split(' ') {
        let id = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
        if id && words.last().is_some_and(|w| w.ends_with("audit")) {
            continue;
        }
        words.push(word);
    }
    words.join(" ")
}

/// One group: a header with the count and the steps in a line, a few names, then each step with
/// what its apps share (the reason where it is the same, the ext keys), the shared notes.
fn group_block(group: &Group, paint: Paint, out: &mut String) {
    let first = group.apps[0];
    let symbol = state_symbol(first);
    let n = group.apps.len();
    let labels: Vec<String> = (0..group.shape.steps.len())
        .map(|i| step_label(group, i))
        .collect();
    let header = format!("{symbol} {}", header(&group.shape, n, &labels));
    line(out, "", &paint.symbol(symbol, &header));
    line(out, STEP, &examples(group));
    match &first.state {
        AppState::Failed { .. } => failures(group, paint, out),
        AppState::NotAuthorized { reason } => line(
            out,
            STEP,
            &paint.red(&format!("not authorized ({}): {reason}", first.name)),
        ),
        _ => {}
    }
    for (i, label) in labels.iter().enumerate() {
        group_step(group, i, label, paint, out);
    }
    group_notes(group, out);
    out.push('\n');
}

/// A failed group's reasons in the platform's words: the most common first, each with how many
/// apps have it and one of them.
fn failures(group: &Group, paint: Paint, out: &mut String) {
    let mut reasons: Vec<(String, &AppPlan, usize)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for app in &group.apps {
        let AppState::Failed { reason, .. } = &app.state else {
            continue;
        };
        let key = generic(reason);
        match index.get(&key) {
            Some(&i) => reasons[i].2 += 1,
            None => {
                index.insert(key.clone(), reasons.len());
                reasons.push((key, app, 1));
            }
        }
    }
    reasons.sort_by_key(|(_, _, n)| std::cmp::Reverse(*n));
    for (_, app, n) in reasons.iter().take(NOTES) {
        let AppState::Failed { reason, .. } = &app.state else {
            continue;
        };
        let who = match n {
            1 => app.name.clone(),
            _ => format!("{} apps, e.g. {}", thousands(*n), app.name),
        };
        line(out, STEP, &paint.red(&format!("failed ({who}): {reason}")));
    }
    if reasons.len() > NOTES {
        let rest = reasons.len() - NOTES;
        let text = format!(
            "… {} other reason{} (`--no-group` shows them)",
            thousands(rest),
            super::plural(rest)
        );
        line(out, STEP, &text);
    }
}

/// `1,240 apps on wechat: commit 1.5.0 → submit audit → wait for audit → release to 100%`.
fn header(shape: &Shape, n: usize, labels: &[String]) -> String {
    let what = match shape.state {
        "failed" => format!(" failed: {}", shape.reason),
        "not_authorized" => format!(" are not authorized: {}", shape.reason),
        "in_sync" => " in sync".to_owned(),
        "suspended" => " suspended".to_owned(),
        _ => String::new(),
    };
    let mut header = format!("{} apps on {}{what}", thousands(n), shape.platform);
    if !labels.is_empty() {
        header.push_str(if what.is_empty() { ": " } else { "; " });
        header.push_str(&labels.join(" → "));
    }
    header
}

/// `tea-house, noodle-bar, bakery and 1,237 more`.
fn examples(group: &Group) -> String {
    let names: Vec<&str> = group
        .apps
        .iter()
        .take(EXAMPLES)
        .map(|a| a.name.as_str())
        .collect();
    let more = group.apps.len().saturating_sub(EXAMPLES);
    match more {
        0 => names.join(", "),
        _ => format!("{} and {} more", names.join(", "), thousands(more)),
    }
}

/// Step `i` in words: its full description where every app's is the same (fingerprints and
/// audit ids aside), else its shape and that it differs.
fn step_label(group: &Group, i: usize) -> String {
    let described = |app: &AppPlan| generic(&action::describe(&app.steps[i].action));
    let first = described(group.apps[0]);
    if group.apps.iter().all(|a| described(a) == first) {
        first
    } else {
        format!("{} (which differs per app)", group.shape.steps[i].0)
    }
}

/// Step `i` of a group: symbol and label, the reason where it is the same in every app (else
/// the first app's), and what the commit's ext changes.
fn group_step(group: &Group, i: usize, label: &str, paint: Paint, out: &mut String) {
    let steps: Vec<&Step> = group.apps.iter().map(|a| &a.steps[i]).collect();
    let symbol = action::symbol(&steps[0].action);
    let mut title = format!("{symbol} {label}");
    if group.shape.steps[i].1 {
        title.push_str("   (after approval)");
    }
    line(out, STEP, &paint.symbol(symbol, &title));
    let reasons: BTreeSet<String> = steps.iter().map(|s| generic(&s.reason)).collect();
    let first = generic(&steps[0].reason);
    match reasons.len() - 1 {
        0 => line(out, DETAIL, &first),
        others => line(
            out,
            DETAIL,
            &format!(
                "e.g. {first} (and {} other reason{})",
                thousands(others),
                super::plural(others)
            ),
        ),
    }
    if matches!(steps[0].action, Action::Commit { .. }) {
        for ext_line in ext::summary(&group.apps) {
            line(out, DETAIL, &ext_line);
        }
    }
}

/// Notes every app of the group has, then the most common of the others with their counts.
fn group_notes(group: &Group, out: &mut String) {
    let n = group.apps.len();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for app in &group.apps {
        for note in &app.notes {
            *counts.entry(note.as_str()).or_default() += 1;
        }
    }
    let first = group.apps[0];
    for note in first
        .notes
        .iter()
        .filter(|n2| counts.get(n2.as_str()) == Some(&n))
    {
        line(out, STEP, &format!("note: {note}"));
    }
    let mut some: Vec<(&str, usize)> = counts.into_iter().filter(|(_, c)| *c < n).collect();
    some.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
    for (note, count) in some.iter().take(NOTES) {
        let of = format!("{} of {}", thousands(*count), thousands(n));
        line(out, STEP, &format!("note ({of} apps): {note}"));
    }
    if some.len() > NOTES {
        let rest = some.len() - NOTES;
        line(
            out,
            STEP,
            &format!(
                "… {} other note{} (`--no-group` shows them)",
                thousands(rest),
                super::plural(rest)
            ),
        );
    }
}

/// `1240` → `1,240`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
