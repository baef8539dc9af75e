//! `minifleet history [APP]`: what minifleet did, oldest first, from the store (while
//! `minifleet watch` holds it: the newest events of the daemon's snapshot).

use clap::Args;

use crate::store::Event;
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
    // An app named on the command line: by its fleet entry, or (removed from the fleet since)
    // by the name its events were recorded under.
    let wanted = args.app.as_deref().map(|name| {
        let appid = fleet
            .apps
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.appid.clone());
        (name, appid)
    });
    let picks = |e: &Event| match &wanted {
        None => true,
        Some((_, Some(appid))) => &e.appid == appid,
        Some((name, None)) => e.app == *name,
    };
    let mut events: Vec<Event> = match status::open(cli)? {
        Source::Store(store) => store
            .history(wanted.as_ref().and_then(|(_, appid)| appid.as_deref()))
            .map_err(CliError::from)?
            .into_iter()
            .filter(|e| picks(e))
            .collect(),
        Source::Snapshot(snap) => {
            ui.status(&status::from_daemon(&snap));
            snap.history.into_iter().filter(|e| picks(e)).collect()
        }
    };
    if let Some((name, None)) = &wanted {
        if events.is_empty() {
            return Err(CliError::new(format!(
                "no app named `{name}` in `{}`, and no history of one",
                fleet.path.display()
            ))
            .help("`minifleet history` lists every app's events; `minifleet status` lists the fleet's apps"));
        }
        ui.status(&format!(
            "`{name}` is no longer in `{}`: showing its recorded events",
            fleet.path.display()
        ));
    }
    let total = events.len();
    if let Some(limit) = args.limit {
        let skip = events.len().saturating_sub(limit);
        events.drain(..skip);
    }
    if ui.json_mode() {
        ui.json(&serde_json::json!({ "format_version": 1, "events": events }));
        return Ok(EXIT_OK);
    }
    if total == 0 {
        ui.status("no history yet: run `minifleet reconcile`");
        return Ok(EXIT_OK);
    }
    if events.len() < total {
        ui.status(&format!(
            "showing the last {} of {total} events (`--limit`)",
            events.len()
        ));
    }
    if events.is_empty() {
        return Ok(EXIT_OK);
    }
    let lines: Vec<String> = events.iter().map(crate::view::history::line).collect();
    ui.data(&lines.join("\n"));
    Ok(EXIT_OK)
}
