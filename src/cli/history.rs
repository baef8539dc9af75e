//! `minifleet history [APP]`: what minifleet did, oldest first, from the store (while
//! `minifleet watch` holds it, or with `--server`: the daemon's, through its API).

use clap::Args;

use crate::store::Event;
use crate::ui::Ui;

use super::remote::{Remote, query_value};
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
pub async fn run(cli: &Cli, ui: &Ui, args: &HistoryArgs) -> Result<i32, CliError> {
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
        Source::Daemon(remote) => {
            ui.status(&status::from_daemon(&remote));
            let path = match &wanted {
                Some((name, _)) => format!("/api/v1/apps/{}/history", query_value(name)),
                None => "/api/v1/history".to_string(),
            };
            daemon_history(&remote, &path, args.limit)
                .await?
                .into_iter()
                .filter(|e| picks(e))
                .collect()
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

/// The events at `path` of the daemon's API, oldest first: the newest `limit`, or every one
/// (page by page).
async fn daemon_history(
    remote: &Remote,
    path: &str,
    limit: Option<usize>,
) -> Result<Vec<Event>, CliError> {
    let mut events: Vec<Event> = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let want = limit.map_or(1000, |l| l.saturating_sub(events.len()).clamp(1, 1000));
        let mut query = format!("{path}?limit={want}");
        if let Some(before) = before {
            query.push_str(&format!("&before={before}"));
        }
        let doc = remote.get(&query).await?;
        let page: Vec<Event> = serde_json::from_value(doc["events"].clone()).map_err(|err| {
            CliError::new(format!(
                "the daemon sent events this minifleet cannot read: {err}"
            ))
            .help("run the same minifleet version as the daemon")
        })?;
        events.extend(page);
        before = doc["next_before"].as_u64();
        if before.is_none() || limit.is_some_and(|l| events.len() >= l) {
            break;
        }
    }
    events.reverse();
    Ok(events)
}
