//! Plan rendering: Terraform-like human text (symbols, reasons, `similar` diffs of ext, a summary
//! line) and stable JSON with `format_version`.

use serde_json::{Map, Value, json};
use similar::TextDiff;

use crate::model::{Action, AppPlan, AppState, ExtChange, Step};

use crate::model::calendar::utc;
use crate::plan::rollout::{RolloutView, WaveState};
use crate::plan::{Plan, Summary};

use super::action;
use super::counted;

/// The version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 1;

/// Indentation of step lines.
pub(super) const STEP: &str = "    ";

/// Indentation of reasons and other details under a step.
pub(super) const DETAIL: &str = "        ";

/// Indentation of diff lines under `ext:`.
const DIFF: &str = "          ";

/// The plan as human text. `color` adds ANSI colours (only on a terminal).
///
/// Apps in sync are only counted (unless they have testers to verify); every other app gets a
/// block; one summary line ends the text.
pub fn text(plan: &Plan, color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    for app in plan.apps.iter().filter(|a| shown(a)) {
        app_block(app, paint, &mut out);
        out.push('\n');
    }
    footer(plan, &mut out);
    out
}

/// How the text plan lays its apps out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Grouped when more than [`GROUP_OVER`] apps have a block, else one block per app.
    Auto,
    /// One block per app ([`text`]).
    PerApp,
    /// Apps with steps of the same shape together ([`super::group::text`]).
    Grouped,
}

/// More app blocks than this (about a screenful) are grouped by [`Layout::Auto`].
pub const GROUP_OVER: usize = 20;

/// The plan as human text, laid out by `layout`.
pub fn text_as(plan: &Plan, color: bool, layout: Layout) -> String {
    let grouped = match layout {
        Layout::Auto => plan.apps.iter().filter(|a| shown(a)).count() > GROUP_OVER,
        Layout::PerApp => false,
        Layout::Grouped => true,
    };
    if grouped {
        super::group::text(plan, color)
    } else {
        text(plan, color)
    }
}

/// The lines that end every text plan: the summary, why it is incomplete, the audit quota.
pub(super) fn footer(plan: &Plan, out: &mut String) {
    let summary = plan.summary();
    out.push_str(&summary_line(&summary));
    out.push('\n');
    if let Some(incomplete) = incomplete_line(&summary) {
        out.push_str(&incomplete);
        out.push('\n');
    }
    if let Some(budget) = &plan.audit_budget {
        out.push_str(&format!("{}{}\n", budget.label(), budget.line()));
    }
    if let Some(rollout) = &plan.rollout {
        for line in rollout_lines(rollout) {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

/// The rollout's lines: `Rollout: canary converged → east 3 of 10 on their way (max_update 25%)
/// → rest waits at its gate`, then one line per halted release with what to do.
pub fn rollout_lines(view: &RolloutView) -> Vec<String> {
    let waves: Vec<String> = view
        .waves
        .iter()
        .map(|w| {
            let what = match &w.state {
                WaveState::Converged => format!("converged ({} apps)", w.apps),
                WaveState::Baking { until } => {
                    format!("converged, bakes until {}", utc(until.saturating_mul(1000)))
                }
                WaveState::Open => format!(
                    "{} of {} done, {} on their way (max_update {})",
                    w.done, w.apps, w.in_flight, w.max_update
                ),
                WaveState::Gate => format!(
                    "{} apps wait at its gate (`minifleet promote {}`)",
                    w.pending, w.name
                ),
                WaveState::Waiting { on } => format!("{} apps wait for `{on}`", w.apps),
            };
            format!("{} {what}", w.name)
        })
        .collect();
    let mut lines = vec![format!("Rollout: {}", waves.join(" → "))];
    for halt in &view.halts {
        lines.push(format!(
            "Halted: {} since {}: {} app{} of wave `{}` rejected ({}); {}",
            halt.release,
            utc(halt.at.saturating_mul(1000)),
            halt.rejected.len(),
            super::plural(halt.rejected.len()),
            halt.wave,
            halt.rejected.join(", "),
            halt.help
        ));
    }
    lines
}

/// Whether an app gets a block of its own: it is not in sync, or it has steps (testers to verify).
pub(super) fn shown(app: &AppPlan) -> bool {
    app.state != AppState::InSync || !app.steps.is_empty()
}

/// The plan as JSON: `{"format_version": 1, "summary": {…}, "apps": [every app]}`.
pub fn json(plan: &Plan) -> Value {
    let mut doc = json!({
        "format_version": FORMAT_VERSION,
        "summary": plan.summary(),
        "incomplete": plan.is_incomplete(),
        "apps": plan.apps,
    });
    if !plan.unobserved.is_empty() {
        doc["unobserved"] = json!(plan.unobserved);
    }
    if let Some(budget) = &plan.audit_budget {
        doc["audit_budget"] = json!(budget);
    }
    if let Some(rollout) = &plan.rollout {
        doc["rollout"] = json!(rollout);
    }
    doc
}

/// The symbol of an app's (or a group's) header.
pub(super) fn state_symbol(app: &AppPlan) -> &'static str {
    match app.state {
        AppState::InSync if !app.steps.is_empty() => "?",
        AppState::InSync => " ",
        AppState::Changes => "~",
        AppState::WaitingOnAudit => "…",
        AppState::Failed { .. } | AppState::NotAuthorized { .. } => "!",
        AppState::Suspended => "=",
        AppState::Graying => "%",
    }
}

/// One app's block: header, state reason, steps with reasons and ext diff, notes.
pub(super) fn app_block(app: &AppPlan, paint: Paint, out: &mut String) {
    let symbol = state_symbol(app);
    let header = format!(
        "{symbol} {} ({} {}) {} {}",
        app.name,
        app.platform,
        app.appid,
        app.version,
        crate::model::fingerprint_tag(&app.fingerprint)
    );
    line(out, "", &paint.symbol(symbol, &header));
    match &app.state {
        AppState::Failed { reason, .. } => {
            line(out, STEP, &paint.red(&format!("failed: {reason}")));
        }
        AppState::NotAuthorized { reason } => {
            line(out, STEP, &paint.red(&format!("not authorized: {reason}")));
        }
        _ => {}
    }
    if let Some(walk) = &app.walk {
        line(out, STEP, &walk.words());
    }
    let mut after_wait = false;
    for step in &app.steps {
        step_lines(step, after_wait, app.ext_change.as_ref(), paint, out);
        after_wait |= matches!(step.action, Action::WaitForAudit { .. });
    }
    for note in &app.notes {
        line(out, STEP, &format!("note: {note}"));
    }
}

/// One step: symbol and title, its reason, and the ext diff under a commit.
fn step_lines(
    step: &Step,
    after_wait: bool,
    ext: Option<&ExtChange>,
    paint: Paint,
    out: &mut String,
) {
    let symbol = action::symbol(&step.action);
    let mut title = format!("{symbol} {}", action::describe(&step.action));
    if after_wait {
        title.push_str("   (after approval)");
    }
    line(out, STEP, &paint.symbol(symbol, &title));
    line(out, DETAIL, &step.reason);
    if let (Action::Commit { .. }, Some(change)) = (&step.action, ext) {
        ext_lines(change, paint, out);
    }
}

/// The ext change as a unified diff of pretty-printed JSON with sorted keys; then the change of
/// the other keys of ext.json, when there is one.
fn ext_lines(change: &ExtChange, paint: Paint, out: &mut String) {
    diff_lines(
        "ext",
        change.before.as_ref(),
        Some(&change.after),
        paint,
        out,
    );
    if change.others_before != change.others_after {
        let (before, after) = (change.others_before.as_ref(), change.others_after.as_ref());
        diff_lines("ext.json beside ext", before, after, paint, out);
    }
}

/// `what: unchanged`, or `what:` and the unified diff from `before` to `after`.
fn diff_lines(
    what: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    paint: Paint,
    out: &mut String,
) {
    let before = before.map(pretty).unwrap_or_default();
    let after = after.map(pretty).unwrap_or_default();
    if before == after {
        line(out, DETAIL, &format!("{what}: unchanged"));
        return;
    }
    line(out, DETAIL, &format!("{what}:"));
    let diff = TextDiff::from_lines(&before, &after)
        .unified_diff()
        .header("last applied", "fleet.yaml")
        .to_string();
    for diff_line in diff.lines() {
        line(out, DIFF, &paint.diff(diff_line));
    }
}

/// Pretty-printed JSON with sorted keys and a final newline.
fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}

/// `value` with every object's keys sorted.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let sorted: Map<String, Value> = keys
                .into_iter()
                .map(|k| (k.clone(), sorted(&map[k])))
                .collect();
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Appends `text` indented by `indent` as one line.
pub(super) fn line(out: &mut String, indent: &str, text: &str) {
    out.push_str(indent);
    out.push_str(text);
    out.push('\n');
}

/// ANSI colouring, or none.
#[derive(Debug, Clone, Copy)]
pub(super) struct Paint {
    /// Whether to colour at all.
    pub(super) color: bool,
}

impl Paint {
    /// `text` in the colour of a plan symbol: green `+`, yellow `~`, red `-`/`!`, cyan `<`.
    pub(super) fn symbol(self, symbol: &str, text: &str) -> String {
        match symbol {
            "+" => self.wrap("32", text),
            "~" => self.wrap("33", text),
            "-" | "!" => self.wrap("31", text),
            "<" => self.wrap("36", text),
            _ => text.to_owned(),
        }
    }

    /// `text` in red.
    pub(super) fn red(self, text: &str) -> String {
        self.wrap("31", text)
    }

    /// A unified diff line: additions green, removals red, hunk headers cyan.
    fn diff(self, text: &str) -> String {
        match text.as_bytes().first() {
            Some(b'+') => self.wrap("32", text),
            Some(b'-') => self.wrap("31", text),
            Some(b'@') => self.wrap("36", text),
            _ => text.to_owned(),
        }
    }

    /// `text` wrapped in the ANSI colour `code`, when colouring.
    fn wrap(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The summary line: `Plan: 3 commits, 2 audits, 1 release · 12 in sync · 1 waiting on audit`;
/// `Plan incomplete: …` when an app failed, is not authorized or could not be observed.
pub fn summary_line(summary: &Summary) -> String {
    let changes = [
        counted(summary.commits, "commit", "commits"),
        counted(summary.audits, "audit", "audits"),
        counted(summary.withdrawals, "withdrawal", "withdrawals"),
        counted(summary.deletions, "build deleted", "builds deleted"),
        counted(summary.releases, "release", "releases"),
        counted(summary.tester_changes, "tester change", "tester changes"),
        counted(summary.settings, "setting", "settings"),
    ];
    let changes: Vec<String> = changes.into_iter().flatten().collect();
    let mut parts = vec![if changes.is_empty() {
        "no changes".to_owned()
    } else {
        changes.join(", ")
    }];
    let states = [
        counted(summary.in_sync, "in sync", "in sync"),
        counted(
            summary.waiting_on_audit,
            "waiting on audit",
            "waiting on audit",
        ),
        counted(summary.graying, "graying", "graying"),
        counted(summary.failed, "failed", "failed"),
        counted(summary.not_authorized, "not authorized", "not authorized"),
        counted(summary.suspended, "suspended", "suspended"),
        counted(summary.not_observed, "not observed", "not observed"),
        counted(
            summary.unverified_testers,
            "tester unverified",
            "testers unverified",
        ),
    ];
    parts.extend(states.into_iter().flatten());
    let head = if summary.incomplete() > 0 {
        "Plan incomplete"
    } else {
        "Plan"
    };
    format!("{head}: {}", parts.join(" · "))
}

/// Why the plan is incomplete, when it is: `Incomplete: 3 of 9 apps are not planned through
/// (1 failed, 2 could not be observed); see the errors on stderr`.
pub fn incomplete_line(summary: &Summary) -> Option<String> {
    let n = summary.incomplete();
    if n == 0 {
        return None;
    }
    let total = summary.apps();
    let why = [
        counted(summary.failed, "failed", "failed"),
        counted(
            summary.not_authorized,
            "is not authorized",
            "are not authorized",
        ),
        counted(
            summary.not_observed,
            "could not be observed",
            "could not be observed",
        ),
    ];
    let why: Vec<String> = why.into_iter().flatten().collect();
    Some(format!(
        "Incomplete: {n} of {total} app{} {} not planned through ({}); see the errors on stderr",
        super::plural(total),
        if n == 1 { "is" } else { "are" },
        why.join(", ")
    ))
}
