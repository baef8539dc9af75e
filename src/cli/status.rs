//! `minifleet status`: wanted vs live state of every app, planned from the store's last
//! observations (the same `plan_app` as `reconcile`); `--refresh` observes every app first.
//! While `minifleet watch` holds the store, the rows come from the snapshot it keeps there.

use std::collections::HashMap;

use clap::Args;

use crate::daemon::snapshot::{self, Snapshot, StatusRow};
use crate::engine::{PassOptions, now_ms};
use crate::fleet::Fleet;
use crate::model::Desired;
use crate::store::{Store, StoreError};
use crate::ui::Ui;
use crate::view::report::Report;

use super::common::{self, Selection};
use super::{Cli, CliError, EXIT_OK};

/// The version of `status -o json`: 2 since `wanted`, `experience`, `audit` and `live` are
/// objects (version 1 had them as formatted text).
pub const STATUS_FORMAT_VERSION: u32 = 2;

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
                    snapshot::status_rows(&store, &apps, now_ms()).map_err(CliError::from)?
                }
                Source::Snapshot(snap) => {
                    if args.refresh {
                        return Err(CliError::new(
                            "cannot `--refresh` while `minifleet watch` holds the store",
                        )
                        .help("the daemon observes every app on its own; drop `--refresh`"));
                    }
                    ui.status(&from_daemon(&snap));
                    rows_of(&snap, &apps)
                }
            }
        }
    };
    if ui.json_mode() {
        ui.json(&serde_json::json!({ "format_version": STATUS_FORMAT_VERSION, "apps": rows }));
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
    let (fleet, rows) =
        common::load_fleet_with(cli, ui, &|app| snapshot::status_row(store, app, now))?;
    let chosen = common::chooser(&fleet, &args.selection.only, &args.selection.selector)?;
    let rows: Vec<StatusRow> = fleet
        .apps
        .iter()
        .zip(rows)
        .filter(|(app, _)| chosen(app))
        .map(|(_, row)| row)
        .collect::<Result<_, _>>()
        .map_err(CliError::from)?;
    if rows.is_empty() && !args.selection.selector.is_empty() {
        return Err(common::nothing_selected(&fleet, &args.selection.selector));
    }
    Ok(rows)
}

/// Where `status` and `history` read from.
pub(super) enum Source {
    /// The store, when no other process holds it.
    Store(Store),
    /// The running daemon's snapshot, when the daemon holds the store.
    Snapshot(Box<Snapshot>),
}

/// Opens the store, or when another process holds it, reads the daemon's snapshot (the daemon
/// writes one into the store directory after its passes).
pub(super) fn open(cli: &Cli) -> Result<Source, CliError> {
    let dir = common::store_dir(cli);
    match Store::open(&dir) {
        Ok(store) => Ok(Source::Store(store)),
        Err(StoreError::Locked { .. }) => match snapshot::read(&dir) {
            Ok(Some(snap)) if snapshot::writer_alive(&snap) => Ok(Source::Snapshot(Box::new(snap))),
            // No daemon (another command holds the store): say so as `open_store` does.
            Ok(_) => common::open_store(cli).map(Source::Store),
            Err(err) => Err(CliError::new(err.to_string())
                .help("the daemon rewrites it after its next pass; try again in a moment")),
        },
        Err(_) => common::open_store(cli).map(Source::Store),
    }
}

/// The status line saying the data comes from the daemon.
pub(super) fn from_daemon(snap: &Snapshot) -> String {
    let age = crate::view::status::age(now_ms(), snap.written_at_ms);
    format!(
        "`minifleet watch` (pid {}) holds the store: showing its snapshot from {} ago",
        snap.pid,
        humantime::format_duration(age)
    )
}

/// The snapshot's rows of `apps`, in their order; apps the daemon does not run (yet) show as
/// `unobserved`. Rows are found by name through an index (a search per app is quadratic).
fn rows_of(snap: &Snapshot, apps: &[Desired]) -> Vec<StatusRow> {
    let by_name: HashMap<&str, &StatusRow> =
        snap.apps.iter().map(|r| (r.name.as_str(), r)).collect();
    apps.iter()
        .map(|app| {
            by_name
                .get(app.name.as_str())
                .copied()
                .cloned()
                .unwrap_or_else(|| StatusRow {
                    name: app.name.clone(),
                    appid: app.appid.clone(),
                    platform: app.platform.to_string(),
                    wanted: snapshot::Wanted::of(app),
                    state: "unobserved".into(),
                    ..StatusRow::default()
                })
        })
        .collect()
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
