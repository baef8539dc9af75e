//! Plan rendering: Terraform-like human text (symbols, reasons, `similar` diffs of ext, a summary
//! line) and stable JSON with `format_version`.

use serde_json::{Map, Value, json};
use similar::TextDiff;

use crate::model::{Action, AppPlan, AppState, ExtChange, Step, fingerprint_tag};

use super::Plan;

/// The version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 1;

/// Indentation of step lines.
const STEP: &str = "    ";

/// Indentation of reasons and other details under a step.
const DETAIL: &str = "        ";

/// Indentation of diff lines under `ext:`.
const DIFF: &str = "          ";

/// The plan as human text. `color` adds ANSI colours (only on a terminal).
///
/// Apps in sync are only counted; every other app gets a block; one summary line ends the text.
pub fn text(plan: &Plan, color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    for app in plan.apps.iter().filter(|a| a.state != AppState::InSync) {
        app_block(app, paint, &mut out);
        out.push('\n');
    }
    let summary = plan.summary();
    out.push_str(&summary.line());
    out.push('\n');
    if let Some(incomplete) = summary.incomplete_line() {
        out.push_str(&incomplete);
        out.push('\n');
    }
    if let Some(budget) = &plan.audit_budget {
        out.push_str(&format!("WeChat audit quota: {}\n", budget.line()));
    }
    out
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
    doc
}

/// One app's block: header, state reason, steps with reasons and ext diff, notes.
fn app_block(app: &AppPlan, paint: Paint, out: &mut String) {
    let symbol = match app.state {
        AppState::InSync => " ",
        AppState::Changes => "~",
        AppState::WaitingOnAudit => "…",
        AppState::Failed { .. } | AppState::NotAuthorized { .. } => "!",
    };
    let header = format!(
        "{symbol} {} ({} {}) {} {}",
        app.name,
        app.platform,
        app.appid,
        app.version,
        fingerprint_tag(&app.fingerprint)
    );
    line(out, "", &paint.symbol(symbol, &header));
    match &app.state {
        AppState::Failed { reason } => line(out, STEP, &paint.red(&format!("failed: {reason}"))),
        AppState::NotAuthorized { reason } => {
            line(out, STEP, &paint.red(&format!("not authorized: {reason}")));
        }
        _ => {}
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
    let symbol = step.action.symbol();
    let mut title = format!("{symbol} {}", title(&step.action));
    if after_wait {
        title.push_str("   (after approval)");
    }
    line(out, STEP, &paint.symbol(symbol, &title));
    line(out, DETAIL, &step.reason);
    if let (Action::Commit { .. }, Some(change)) = (&step.action, ext) {
        ext_lines(change, paint, out);
    }
}

/// What a step does, in a few words.
fn title(action: &Action) -> String {
    match action {
        Action::Commit {
            version,
            fingerprint,
        } => format!("commit {version} {}", fingerprint_tag(fingerprint)),
        Action::WithdrawAudit {
            audit_id,
            fingerprint,
        } => match fingerprint {
            Some(fp) => format!("withdraw audit {audit_id} {}", fingerprint_tag(fp)),
            None => format!("withdraw audit {audit_id}"),
        },
        Action::DeleteBuild { version } => format!("delete build {version}"),
        Action::SubmitAudit { fingerprint } => {
            format!("submit audit {}", fingerprint_tag(fingerprint))
        }
        Action::WaitForAudit { audit_id } if audit_id.is_empty() => "wait for audit".to_owned(),
        Action::WaitForAudit { audit_id } => format!("wait for audit {audit_id}"),
        Action::Release { fingerprint } => {
            format!("release {} to 100%", fingerprint_tag(fingerprint))
        }
        Action::Gray {
            fingerprint,
            from,
            to,
        } => match from {
            Some(from) => format!("gray {from}% → {to}% {}", fingerprint_tag(fingerprint)),
            None => format!("gray → {to}% {}", fingerprint_tag(fingerprint)),
        },
        Action::RevertGray => "revert gray release".to_owned(),
        Action::Rollback { fingerprint } => {
            format!("roll back to {}", fingerprint_tag(fingerprint))
        }
        Action::BindTester { tester } => format!("bind tester `{tester}`"),
        Action::UnbindTester {
            tester: Some(tester),
            ..
        } => format!("unbind tester `{tester}`"),
        Action::UnbindTester { member, .. } => format!("unbind member `{member}`"),
    }
}

/// The ext change as a unified diff of pretty-printed JSON with sorted keys.
fn ext_lines(change: &ExtChange, paint: Paint, out: &mut String) {
    let before = change.before.as_ref().map(pretty).unwrap_or_default();
    let after = pretty(&change.after);
    if before == after {
        line(out, DETAIL, "ext: unchanged");
        return;
    }
    line(out, DETAIL, "ext:");
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
fn line(out: &mut String, indent: &str, text: &str) {
    out.push_str(indent);
    out.push_str(text);
    out.push('\n');
}

/// ANSI colouring, or none.
#[derive(Debug, Clone, Copy)]
struct Paint {
    /// Whether to colour at all.
    color: bool,
}

impl Paint {
    /// `text` in the colour of a plan symbol: green `+`, yellow `~`, red `-`/`!`, cyan `<`.
    fn symbol(self, symbol: &str, text: &str) -> String {
        match symbol {
            "+" => self.wrap("32", text),
            "~" => self.wrap("33", text),
            "-" | "!" => self.wrap("31", text),
            "<" => self.wrap("36", text),
            _ => text.to_owned(),
        }
    }

    /// `text` in red.
    fn red(self, text: &str) -> String {
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
