//! Plan rendering: Terraform-like human text (symbols, reasons, `similar` diffs of ext, a summary
//! line) and stable JSON with `format_version`.

use serde_json::Value;

use super::Plan;

/// The version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 1;

/// The plan as human text. `color` adds ANSI colours (only on a terminal).
pub fn text(plan: &Plan, color: bool) -> String {
    todo!()
}

/// The plan as JSON.
pub fn json(plan: &Plan) -> Value {
    todo!()
}
