//! `minifleet status`: wanted vs live state of every app, planned from the store's last
//! observations (the same `plan_app` as `reconcile`); `--refresh` observes every app first.
//! With `--server`, or while `minifleet watch` holds the store, the rows come from the daemon's API.

use std::collections::HashMap;

use clap::Args;

use crate::daemon::rows::{self, StatusRow};
use crate::engine::{PassOptions, now_ms};
use crate::fleet::Fleet;
use crate::model::Desired;
use crate::store::{Store, StoreError};
use crate::ui::Ui;
use crate::view::report::Report;
use crate::view::status::Wanted;

use super::common::{self, Selection};
use super::remote::Remote;
use super::{Cli, CliError, EXIT_OK};

/// Arguments of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Observe every app on its platform first (otherwise the store's last observation is used).
    #[arg(long)]
    pub refresh: bool,

    /// Which apps to show.
    #[command(flatten)]
    pub selection: Selection,
}

/// Runs `status`.
pub async fn run(cli: &Cli, ui: &Ui, args: &StatusArgs) -> Result<i32, CliError> {
    // A store that exists is opened first, so each app is planned while the rest of the fleet
    // file is still being read; a new one is made only once the file validated.
    let early = if args.refresh || !common::store_dir(cli).exists() {
        None
    } else {
        Some(open(cli)?)
    };
    let rows = match early {
        Some(Source::Store(store)) => planned_while_loading(cli, ui, args, &store)?,
        early => {
            let fleet = common::load_owned_fleet(cli, ui)?;
            let apps = args.selection.apps(&fleet)?;
            match early.map_or_else(|| open(cli), Ok)? {
                Source::Store(store) => {
                    if args.refresh {
                        refresh(cli, &fleet, &store, &apps, ui).await?;
                    }
                    rows::status_rows(&store, &apps, now_ms()).map_err(CliError::from)?
                }
                Source::Daemon(remote) => {
                    if args.refresh {
                        return Err(CliError::new("cannot `--refresh` through the daemon")
                            .help("the daemon observes every app on its own; drop `--refresh`"));
                    }
                    ui.status(&from_daemon(&remote));
                    daemon_rows(&remote, &apps).await?
                }
            }
        }
    };
    if ui.json_mode() {
        ui.json(&crate::view::status::JsonStatus::of(&rows));
    } else {
        ui.data(&crate::view::status::table(&rows, now_ms()));
    }
    Ok(EXIT_OK)
}

/// The rows of the chosen apps, each planned from `store` on a second thread as soon as the
/// fleet file's reader has resolved it.
fn planned_while_loading(
    cli: &Cli,
    ui: &Ui,
    args: &StatusArgs,
    store: &Store,
) -> Result<Vec<StatusRow>, CliError> {
    let now = now_ms();
    let (fleet, rows) = common::load_fleet_with(cli, ui, &|app| rows::status_row(store, app, now))?;
    let chosen = common::chooser(&fleet, &args.selection.only, &args.selection.selector)?;
    let (apps, rows): (Vec<&crate::model::Desired>, Vec<_>) = fleet
        .apps
        .iter()
        .zip(rows)
        .filter(|(app, _)| chosen(app))
        .unzip();
    let mut rows: Vec<StatusRow> = rows
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(CliError::from)?;
    if rows.is_empty() && !args.selection.selector.is_empty() {
        return Err(common::nothing_selected(&fleet, &args.selection.selector));
    }
    rows::mark_halts(store, apps.into_iter().zip(rows.iter_mut())).map_err(CliError::from)?;
    Ok(rows)
}

/// Where `status` and `history` read from.
pub(super) enum Source {
    /// The store, when no other process holds it.
    Store(Store),
    /// The daemon's API: named by `--server`, or found beside the store the daemon holds.
    Daemon(Remote),
}

/// The daemon named by `--server`; else the store, or when a daemon holds it, that daemon (at
/// the address it recorded beside the store).
pub(super) fn open(cli: &Cli) -> Result<Source, CliError> {
    if let Some(remote) = Remote::named(cli)? {
        return Ok(Source::Daemon(remote));
    }
    let dir = common::store_dir(cli);
    match Store::open(&dir) {
        Ok(store) => Ok(Source::Store(store)),
        Err(StoreError::Locked { .. }) => match Remote::beside(cli, &dir)? {
            Some(remote) => Ok(Source::Daemon(remote)),
            // No daemon (another command holds the store): say so as `open_store` does.
            None => common::open_store(cli).map(Source::Store),
        },
        Err(_) => common::open_store(cli).map(Source::Store),
    }
}

/// The status line saying the data comes from the daemon.
pub(super) fn from_daemon(remote: &Remote) -> String {
    if remote.discovered {
        format!(
            "`minifleet watch` holds the store: asking it at {}",
            remote.base()
        )
    } else {
        format!("asking the daemon at {}", remote.base())
    }
}

/// The daemon's rows of `apps`, in their order; apps the daemon does not run (yet) show as
/// `unobserved`. Rows are found by name through an index (a search per app is quadratic).
async fn daemon_rows(remote: &Remote, apps: &[Desired]) -> Result<Vec<StatusRow>, CliError> {
    let doc = remote.get("/api/v1/apps").await?;
    let rows: Vec<StatusRow> = serde_json::from_value(doc["apps"].clone()).map_err(|err| {
        CliError::new(format!(
            "the daemon at {} sent rows this minifleet cannot read: {err}",
            remote.base()
        ))
        .help("run the same minifleet version as the daemon")
    })?;
    let by_name: HashMap<&str, &StatusRow> = rows.iter().map(|r| (r.name.as_str(), r)).collect();
    Ok(apps
        .iter()
        .map(|app| {
            by_name
                .get(app.name.as_str())
                .copied()
                .cloned()
                .unwrap_or_else(|| StatusRow {
                    name: app.name.clone(),
                    appid: app.appid.clone(),
                    platform: app.platform.to_string(),
                    wanted: Wanted::of(app),
                    state: "unobserved".into(),
                    ..StatusRow::default()
                })
        })
        .collect())
}

async fn refresh(
    cli: &Cli,
    fleet: &Fleet,
    store: &Store,
    apps: &[Desired],
    ui: &Ui,
) -> Result<(), CliError> {
    let engine = common::connect(cli, fleet, store.clone()).await?;
    let opts = PassOptions {
        apply: false,
        concurrency: 8,
    };
    let reports = engine.pass(apps, opts).await;
    for report in reports.iter().filter(|r| r.error.is_some()) {
        if let Some(err) = &report.error {
            let said = Report::from(err);
            let said = Report {
                message: format!("cannot observe: {}", said.message),
                ..said
            };
            // `warning: app `a`: cannot observe: …`, then the error's `help:` line.
            ui.warn(&said.for_app(&report.app).to_string());
        }
    }
    Ok(())
}
