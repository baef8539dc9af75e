//! `minifleet history [APP]`: what minifleet did, oldest first, from the store (while
//! `minifleet watch` holds it: the newest events of the daemon's snapshot).

use clap::Args;

use crate::ui::Ui;

use super::status::{self, Source};
use super::{Cli, CliError, EXIT_OK, common};

/// Arguments of `history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The app (by name); every app when omitted.
    pub app: Option<String>,

    /// Show only the last N events.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// Runs `history`.
pub fn run(cli: &Cli, ui: &Ui, args: &HistoryArgs) -> Result<i32, CliError> {
    let fleet = common::load_fleet(cli, ui)?;
    let appid = match &args.app {
        None => None,
        Some(name) => {
            let app = common::select(&fleet, std::slice::from_ref(name), &[])?;
            app.first().map(|a| a.appid.clone())
        }
    };
    let mut events = match status::open(cli)? {
        Source::Store(store) => store
            .history(appid.as_deref())
            .map_err(|e| CliError::new(e.to_string()))?,
        Source::Snapshot(snap) => {
            ui.status(&status::from_daemon(&snap));
            snap.history
                .into_iter()
                .filter(|e| appid.as_ref().is_none_or(|id| &e.appid == id))
                .collect()
        }
    };
    if let Some(limit) = args.limit {
        let skip = events.len().saturating_sub(limit);
        events.drain(..skip);
    }
    if ui.json_mode() {
        ui.json(&serde_json::json!({ "format_version": 1, "events": events }));
        return Ok(EXIT_OK);
    }
    if events.is_empty() {
        ui.status("no history yet: run `minifleet reconcile`");
        return Ok(EXIT_OK);
    }
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.at_ms);
            let code = e
                .code
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            format!(
                "{}  {:<16} {:<14} {}{}  {}",
                humantime::format_rfc3339_seconds(at),
                e.app,
                e.what,
                e.result,
                code,
                e.detail
            )
        })
        .collect();
    ui.data(&lines.join("\n"));
    Ok(EXIT_OK)
}
