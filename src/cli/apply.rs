//! `minifleet apply FILE`: applies a plan saved by `plan --out FILE` ([`crate::plan::saved`]),
//! exactly, where nothing moved, at most once; and the saving side of `plan --out`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::common;
use super::{Cli, CliError, EXIT_ERROR, EXIT_OK};
use crate::engine::saved::SavedOutcome;
use crate::engine::{Engine, now_ms};
use crate::model::Desired;
use crate::plan::Plan;
use crate::plan::saved::{FORMAT, QuotaSnapshot, SavedApp, SavedPlan, live_digest, submissions};
use crate::ui::Ui;

/// A saved plan larger than this is refused unread (10,000 apps take a few MiB).
const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

/// Arguments of `apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The plan file written by `minifleet plan --out FILE`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Work on at most this many apps at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
}

/// The saved form of `plan`, made right after a dry run of `apps` (whose observations the
/// store now holds).
pub fn save(engine: &Engine, apps: &[Desired], plan: &Plan) -> Result<SavedPlan, CliError> {
    let store = engine.store();
    let failed =
        |err: crate::store::StoreError| CliError::new(format!("cannot save the plan: {err}"));
    let by_name: BTreeMap<&str, &Desired> = apps.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut saved = Vec::new();
    for planned in plan.apps.iter().filter(|p| p.has_changes()) {
        let Some(app) = by_name.get(planned.name.as_str()) else {
            continue;
        };
        let Some((observed, _)) = store.observation(&app.appid).map_err(failed)? else {
            continue;
        };
        saved.push(SavedApp {
            app: app.name.clone(),
            appid: app.appid.clone(),
            entry: app.entry_digest(),
            known: store.has_record(&app.appid).map_err(failed)?,
            live: live_digest(&observed),
            observed,
            plan: planned.clone(),
        });
    }
    let quota = engine
        .audit_quotas()
        .into_iter()
        .map(|q| QuotaSnapshot {
            platform: q.platform.to_string(),
            left: q.left,
        })
        .collect();
    Ok(SavedPlan {
        format: FORMAT.to_owned(),
        id: format!("{:016x}", fastrand::u64(..)),
        created_at_ms: now_ms(),
        revision: apps
            .first()
            .map(|a| a.revision.as_str().to_owned())
            .unwrap_or_default(),
        store: store.id().map_err(failed)?,
        quota,
        apps: saved,
    })
}

/// Writes `plan` to `file` (whole or not at all: a temporary file renamed over it).
pub fn write(file: &Path, plan: &SavedPlan) -> Result<(), CliError> {
    let text = serde_json::to_vec_pretty(plan)
        .map_err(|e| CliError::new(format!("cannot encode the plan: {e}")))?;
    let temp = file.with_extension("partial");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, file))
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", file.display())))
}

/// Reads a saved plan, bounded.
fn read(file: &Path) -> Result<SavedPlan, CliError> {
    let cannot = |e: std::io::Error| CliError::new(format!("cannot read {}: {e}", file.display()));
    let handle = std::fs::File::open(file).map_err(cannot)?;
    let mut bytes = Vec::new();
    handle
        .take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(CliError::new(format!(
            "{} is larger than {} MiB: not a plan minifleet wrote",
            file.display(),
            MAX_PLAN_BYTES / 1024 / 1024
        )));
    }
    let plan: SavedPlan = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::new(format!("{} is not a saved plan: {e}", file.display()))
            .help("write one with `minifleet plan --out FILE`")
    })?;
    if plan.format != FORMAT {
        return Err(CliError::new(format!(
            "{} is a `{}` plan; this minifleet applies `{FORMAT}`",
            file.display(),
            plan.format
        ))
        .help("plan again with this version"));
    }
    Ok(plan)
}

/// Runs `apply`.
pub async fn run(cli: &Cli, ui: &Ui, args: &ApplyArgs) -> Result<i32, CliError> {
    let plan = read(&args.file)?;
    let fleet = common::load_owned_fleet(cli, ui)?;
    common::rates(&cli.rate)?;
    let store = common::open_store_warning(cli, ui)?;
    let here = store
        .id()
        .map_err(|e| CliError::new(format!("cannot read the store's id: {e}")))?;
    if here != plan.store {
        return Err(CliError::new(format!(
            "plan {} was made against another store ({}), not this one ({here})",
            plan.id, plan.store
        ))
        .help("plan again where it is applied: `minifleet plan --out FILE` with this store"));
    }
    if let Some(at) = store
        .plan_applied(&plan.id)
        .map_err(|e| CliError::new(format!("cannot read the store: {e}")))?
    {
        return Err(CliError::new(format!(
            "plan {} was applied already, at {}: a saved plan is applied once",
            plan.id,
            crate::model::calendar::utc(at)
        ))
        .help("plan again (`minifleet plan --out FILE`) to see what is left"));
    }
    let engine = common::connect(cli, &fleet, store.clone()).await?;
    let by_name: BTreeMap<&str, &Desired> =
        fleet.apps.iter().map(|a| (a.name.as_str(), a)).collect();
    let quota_refusals = quota_moved(&engine, &plan, &by_name).await;
    if !store
        .claim_plan(&plan.id, now_ms())
        .await
        .map_err(|e| CliError::new(format!("cannot record the plan as applied: {e}")))?
    {
        return Err(CliError::new(format!(
            "plan {} was applied already (just now, by another process)",
            plan.id
        )));
    }
    ui.status(&format!(
        "Applying plan {} ({} apps, fleet {})",
        plan.id,
        plan.apps.len(),
        crate::model::short_revision(&plan.revision)
    ));
    let permits = Arc::new(tokio::sync::Semaphore::new(usize::from(args.concurrency)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, saved) in plan.apps.iter().cloned().enumerate() {
        let app = by_name.get(saved.app.as_str()).map(|a| (*a).clone());
        let refused = quota_refusals.get(&saved.app).cloned();
        let (engine, permits) = (engine.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let outcome = match (app, refused) {
                (None, _) => SavedOutcome::Refused("no longer in the fleet file".to_owned()),
                (Some(_), Some(why)) => SavedOutcome::Refused(why),
                (Some(app), None) => engine.apply_saved(&app, &saved).await,
            };
            (index, saved.app, outcome)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(done) = done {
            outcomes.push(done);
        }
    }
    outcomes.sort_by_key(|(index, _, _)| *index);
    Ok(report(ui, &outcomes))
}

/// Apps whose saved submissions the audit quota no longer covers: the platform's quota now
/// (asked once per platform) against what the plan submits, the apps past it refused.
async fn quota_moved(
    engine: &Engine,
    plan: &SavedPlan,
    by_name: &BTreeMap<&str, &Desired>,
) -> BTreeMap<String, String> {
    let mut refused = BTreeMap::new();
    let apps: Vec<&SavedApp> = plan.apps.iter().collect();
    for (platform, wanted) in submissions(&apps) {
        let submitting: Vec<&SavedApp> = apps
            .iter()
            .copied()
            .filter(|a| a.plan.platform.to_string() == platform)
            .filter(|a| a.plan.steps_now().any(|s| s.action.is_submission()))
            .collect();
        let Some(via) = submitting.iter().find_map(|a| by_name.get(a.app.as_str())) else {
            continue;
        };
        let Some(client) = engine.platforms().client(via.platform) else {
            continue;
        };
        let Ok(Some(now)) = client.audit_quota(via).await else {
            continue;
        };
        if now.rest >= wanted {
            continue;
        }
        let then = plan
            .quota
            .iter()
            .find(|q| q.platform == platform)
            .map_or_else(|| "unknown".to_owned(), |q| q.left.to_string());
        for app in submitting.iter().skip(now.rest as usize) {
            refused.insert(
                app.app.clone(),
                format!(
                    "stale: the {platform} audit quota moved: {then} left when planned, {} now, for {wanted} submissions",
                    now.rest
                ),
            );
        }
    }
    refused
}

/// Prints what became of each app (a line each, or one JSON document with `-o json`); the exit
/// code.
fn report(ui: &Ui, outcomes: &[(usize, String, SavedOutcome)]) -> i32 {
    let (mut applied, mut refused, mut failed) = (0, 0, 0);
    let mut rows = Vec::new();
    for (_, app, outcome) in outcomes {
        let (line, row) = match outcome {
            SavedOutcome::Applied(report) => {
                let steps: Vec<String> = report
                    .applied
                    .iter()
                    .map(|a| match &a.result {
                        Ok(()) => crate::view::action::describe(&a.step.action),
                        Err(err) => format!("{} failed: {err}", a.step.action.kind()),
                    })
                    .collect();
                let ok = report.error.is_none() && report.applied.iter().all(|a| a.result.is_ok());
                if ok {
                    applied += 1;
                } else {
                    failed += 1;
                }
                let error = report.error.as_ref().map(ToString::to_string);
                let status = if ok { "applied" } else { "failed" };
                let tail = error
                    .as_deref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default();
                (
                    format!("{app}: {status}: {}{tail}", steps.join(", ")),
                    serde_json::json!({ "app": app, "result": status, "steps": steps, "error": error }),
                )
            }
            SavedOutcome::Refused(why) => {
                refused += 1;
                (
                    format!("{app}: refused: {why}"),
                    serde_json::json!({ "app": app, "result": "refused", "reason": why }),
                )
            }
        };
        if !ui.json_mode() {
            ui.data(&line);
        }
        rows.push(row);
    }
    if ui.json_mode() {
        ui.json(&serde_json::json!({ "apps": rows, "applied": applied, "refused": refused, "failed": failed }));
    }
    ui.status(&format!(
        "Applied: {applied} · refused: {refused} · failed: {failed}"
    ));
    if refused + failed > 0 {
        EXIT_ERROR
    } else {
        EXIT_OK
    }
}
