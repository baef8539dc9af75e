//! `minifleet validate`: parse and validate the fleet file, print every problem.

use crate::ui::Ui;

use super::{Cli, CliError, EXIT_OK, common};

/// Runs `validate`.
pub fn run(cli: &Cli, ui: &Ui) -> Result<i32, CliError> {
    let fleet = common::load_fleet(cli, ui)?;
    if ui.json_mode() {
        ui.json(&serde_json::json!({
            "format_version": 1,
            "file": fleet.path.display().to_string(),
            "valid": true,
            "apps": fleet.apps.len(),
            "errors": [],
        }));
    } else {
        ui.data(&format!(
            "{} is valid: {} app{}",
            fleet.path.display(),
            fleet.apps.len(),
            if fleet.apps.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(EXIT_OK)
}
