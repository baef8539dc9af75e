//! The fleet file's problems as JSON: what `validate -o json` prints and the daemon's API answers
//! to a proposed fleet file that does not validate.

use crate::fleet::FleetErrors;

/// The fleet's problems as JSON, for `--output json`.
pub fn errors_json(errors: &FleetErrors) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = errors
        .errors
        .iter()
        .map(|e| {
            serde_json::json!({
                "path": e.yaml_path,
                "app": e.app,
                "line": e.line_col.map(|(l, _)| l),
                "column": e.line_col.map(|(_, c)| c),
                "message": e.message,
                "help": e.help,
            })
        })
        .collect();
    serde_json::json!({
        "format_version": 1,
        "file": errors.file.display().to_string(),
        "valid": false,
        "errors": problems,
    })
}
