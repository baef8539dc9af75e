//! `minifleet status`: wanted vs live state of every app, planned from the store's last
//! observations (the same `plan_app` as `reconcile`); `--refresh` observes every app first.

use std::sync::Arc;

use clap::Args;
use serde::Serialize;

use crate::engine::{Engine, PassOptions, now_ms};
use crate::model::{AppState, Build, Desired, Observed};
use crate::plan::{Context, plan_app};
use crate::store::Store;
use crate::ui::Ui;

use super::common::{self, Selection};
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

/// One app's row.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    appid: String,
    platform: String,
    wanted: String,
    experience: Option<String>,
    audit: Option<String>,
    live: Option<String>,
    state: String,
    reason: Option<String>,
    observed_at_ms: Option<u64>,
}

/// Runs `status`.
pub async fn run(cli: &Cli, ui: &Ui, args: &StatusArgs) -> Result<i32, CliError> {
    let fleet = common::load_fleet(cli, ui)?;
    let apps = args.selection.apps(&fleet)?;
    let store = common::open_store(cli)?;
    if args.refresh {
        let engine = Engine::connect(&fleet, store.clone())
            .await
            .map(Arc::new)
            .map_err(|e| CliError::new(e.to_string()))?;
        let opts = PassOptions {
            apply: false,
            concurrency: 8,
        };
        let reports = engine.pass(&apps, opts, Arc::new(|_| {})).await;
        for report in reports.iter().filter(|r| r.error.is_some()) {
            if let Some(err) = &report.error {
                ui.warn(&format!("app `{}`: cannot observe: {err}", report.app));
            }
        }
    }
    let rows = apps
        .iter()
        .map(|app| row(&store, app))
        .collect::<Result<Vec<_>, _>>()?;
    if ui.json_mode() {
        ui.json(&serde_json::json!({ "format_version": 1, "apps": rows }));
    } else {
        ui.data(&table(&rows));
    }
    Ok(EXIT_OK)
}

fn row(store: &Store, app: &Desired) -> Result<Row, CliError> {
    let err = |e: crate::store::StoreError| CliError::new(e.to_string());
    let record = store.record(&app.appid).map_err(err)?;
    let observation = store.observation(&app.appid).map_err(err)?;
    let (state, reason, observed) = match &observation {
        None => ("unobserved".to_string(), None, None),
        Some((observed, at)) => {
            let plan = plan_app(
                app,
                observed,
                &record,
                &Context {
                    now: now_ms() / 1000,
                },
            );
            let reason = match &plan.state {
                AppState::Failed { reason } | AppState::NotAuthorized { reason } => {
                    Some(reason.clone())
                }
                _ => None,
            };
            (plan.state.name().to_string(), reason, Some((observed, *at)))
        }
    };
    let build = |b: &Build| {
        format!(
            "{} [mf:{}]",
            b.version,
            b.fingerprint.as_deref().unwrap_or("--------")
        )
    };
    let live = |o: &Observed| {
        o.live.as_ref().map(|l| match l.gray {
            Some(p) => format!("{} gray {p}%", build(&l.build)),
            None => build(&l.build),
        })
    };
    Ok(Row {
        name: app.name.clone(),
        appid: app.appid.clone(),
        platform: app.platform.to_string(),
        wanted: format!(
            "{} [mf:{}] gray {}%",
            app.version, app.fingerprint, app.gray
        ),
        experience: observed.and_then(|(o, _)| o.experience.as_ref().map(build)),
        audit: observed.and_then(|(o, _)| {
            o.audit
                .as_ref()
                .map(|a| format!("{} {:?}", build(&a.build), a.status).to_lowercase())
        }),
        live: observed.and_then(|(o, _)| live(o)),
        state,
        reason,
        observed_at_ms: observed.map(|(_, at)| at),
    })
}

fn table(rows: &[Row]) -> String {
    let header = ["APP", "PLATFORM", "WANTED", "LIVE", "STATE", "OBSERVED"];
    let now = now_ms();
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.platform.clone(),
                r.wanted.clone(),
                r.live.clone().unwrap_or_else(|| "-".into()),
                r.state.replace('_', " "),
                r.observed_at_ms
                    .map(|at| format!("{} ago", humantime::format_duration(secs(now, at))))
                    .unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cols: &[String]| {
        let padded: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(&header.map(String::from))];
    out.extend(cells.iter().map(|c| line(c)));
    for r in rows.iter().filter(|r| r.reason.is_some()) {
        out.push(format!(
            "{}: {}",
            r.name,
            r.reason.as_deref().unwrap_or_default()
        ));
    }
    out.join("\n")
}

fn secs(now_ms: u64, at_ms: u64) -> std::time::Duration {
    std::time::Duration::from_secs(now_ms.saturating_sub(at_ms) / 1000)
}
