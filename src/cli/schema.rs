//! `minifleet schema`: print the fleet file's JSON Schema.

use crate::ui::Ui;

use super::{CliError, EXIT_OK};

/// Runs `schema`.
pub fn run(ui: &Ui) -> Result<i32, CliError> {
    ui.json(&crate::fleet::json_schema(crate::platform::registry::SPECS));
    Ok(EXIT_OK)
}
