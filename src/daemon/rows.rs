//! The status rows of the daemon's fleet (and of `status` on the store): each app planned from
//! the store's last observation, on one thread per core for large fleets.

use crate::model::Desired;
use crate::store::{Store, StoreError};
use crate::view;
pub use crate::view::status::StatusRow;

/// Apps per thread below which [`status_rows`] plans on the calling thread alone.
const MIN_APPS_PER_THREAD: usize = 1000;

/// The status rows of `apps`, in their order, each planned from the store's last observation at
/// `now_ms` (as [`status_row`] does one): what `status` prints and the daemon's API serves.
///
/// Planning is pure and the store takes concurrent reads, so a large fleet is split into one
/// contiguous chunk per core, each planned on its own scoped thread straight into its part of the
/// result (no per-thread vectors to grow and copy: at 100k apps, fresh memory is what costs most).
/// The first failing app in fleet order decides the error.
pub fn status_rows(
    store: &Store,
    apps: &[Desired],
    now_ms: u64,
) -> Result<Vec<StatusRow>, StoreError> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut rows = rows_on_threads(
        store,
        apps,
        now_ms,
        cores.min(apps.len() / MIN_APPS_PER_THREAD),
    )?;
    mark_halts(store, apps.iter().zip(rows.iter_mut()))?;
    Ok(rows)
}

/// Rows (with their apps) of apps whose release the rollout halted, not through yet, are held,
/// with why.
pub fn mark_halts<'a>(
    store: &Store,
    rows: impl Iterator<Item = (&'a Desired, &'a mut StatusRow)>,
) -> Result<(), StoreError> {
    let state = store.rollout_state()?;
    if state.halts.is_empty() {
        return Ok(());
    }
    for (app, row) in rows {
        if !matches!(
            row.state.as_str(),
            "changes" | "waiting_on_audit" | "graying"
        ) {
            continue;
        }
        let release = crate::plan::rollout::release(app);
        if let Some(halt) = state.halts.get(&release) {
            row.state = "held".to_owned();
            row.reason = Some(crate::plan::rollout::halted(&release, halt));
        }
    }
    Ok(())
}

/// [`status_rows`] on `threads` threads (on the calling thread alone below 2).
fn rows_on_threads(
    store: &Store,
    apps: &[Desired],
    now_ms: u64,
    threads: usize,
) -> Result<Vec<StatusRow>, StoreError> {
    let mut rows = vec![StatusRow::default(); apps.len()];
    if threads < 2 || apps.is_empty() {
        fill_rows(store, apps, &mut rows, now_ms)?;
        return Ok(rows);
    }
    let chunk = apps.len().div_ceil(threads);
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = apps
            .chunks(chunk)
            .zip(rows.chunks_mut(chunk))
            .map(|(part, out)| scope.spawn(move || fill_rows(store, part, out, now_ms)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
    });
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(rows)
}

/// Writes the row of each of `apps` into the matching slot of `out`, one after another.
fn fill_rows(
    store: &Store,
    apps: &[Desired],
    out: &mut [StatusRow],
    now_ms: u64,
) -> Result<(), StoreError> {
    for (app, slot) in apps.iter().zip(out) {
        *slot = status_row(store, app, now_ms)?;
    }
    Ok(())
}

/// The status row of `app`, planned from the store's last observation at `now_ms`.
pub fn status_row(store: &Store, app: &Desired, now_ms: u64) -> Result<StatusRow, StoreError> {
    let record = store.record(&app.appid)?;
    let observation = store.observation(&app.appid)?;
    let held = crate::engine::held(&record, app, now_ms, true)
        .map(|h| h.reason)
        .or_else(|| record.round_hold.clone());
    Ok(view::status::row(
        app,
        &record,
        observation.as_ref(),
        held,
        now_ms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fixtures::apps;
    use crate::model::{Build, Observed};

    const ONE: &str = "  - { name: a, platform: wechat, appid: \"wx1111111111111111\", version: 1.0.0, stage: experience }\n";

    /// The record of an app parked on WeChat's audit quota until 100 s after the epoch.
    fn quota_parked() -> crate::model::Record {
        crate::model::Record {
            parked: Some(crate::model::Parked {
                until: 100,
                call: "wxa/submit_audit".into(),
                code: "85085".into(),
                reason: "monthly audit quota exhausted".into(),
            }),
            ..Default::default()
        }
    }

    /// `n` WeChat apps in a store where every fourth app is unobserved, in sync, not authorized
    /// or behind, and app 7 (behind) is parked on a quota.
    fn mixed_fleet(n: usize) -> (tempfile::TempDir, Store, Vec<Desired>) {
        let yaml: String = (0..n)
            .map(|i| {
                format!(
                    "  - {{ name: app-{i:03}, platform: wechat, appid: \"wx{i:016x}\", version: 1.0.{i}, stage: experience }}\n"
                )
            })
            .collect();
        let fleet = apps(&yaml);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        for (i, app) in fleet.iter().enumerate() {
            let observed = match i % 4 {
                0 => continue,
                1 => in_sync(app),
                2 => Observed::default(),
                _ => Observed {
                    authorized: true,
                    ..Observed::default()
                },
            };
            store
                .put_observation(&app.appid, &observed, 1_000 + i as u64)
                .unwrap();
        }
        let parked = quota_parked();
        store.put_record(&fleet[7].appid, &parked).unwrap();
        (dir, store, fleet)
    }

    /// What the platform shows for an app that runs its wanted build.
    fn in_sync(app: &Desired) -> Observed {
        let build = Build {
            version: app.version.clone(),
            fingerprint: Some(app.fingerprint.clone()),
            description: format!("Test [mf:{}]", app.fingerprint),
        };
        Observed {
            authorized: true,
            experience: Some(build.clone()),
            audit: Some(crate::model::Audit {
                id: "1".into(),
                build: build.clone(),
                status: crate::model::AuditStatus::Approved,
                reason: None,
            }),
            live: Some(crate::model::Live { build, gray: None }),
            ..Observed::default()
        }
    }

    #[test]
    fn rows_planned_on_threads_are_the_one_by_one_rows_in_fleet_order() {
        let (_dir, store, fleet) = mixed_fleet(23);
        let one_by_one: Vec<StatusRow> = fleet
            .iter()
            .map(|app| status_row(&store, app, 50_000).unwrap())
            .collect();
        let names: Vec<&str> = one_by_one.iter().map(|r| r.name.as_str()).collect();
        let wanted: Vec<&str> = fleet.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, wanted);
        for threads in [0, 1, 2, 3, 7, 23, 40] {
            let rows = rows_on_threads(&store, &fleet, 50_000, threads).unwrap();
            assert_eq!(rows, one_by_one, "{threads} threads");
        }
        assert_eq!(status_rows(&store, &fleet, 50_000).unwrap(), one_by_one);
        let states: Vec<&str> = one_by_one.iter().map(|r| r.state.as_str()).collect();
        let mut expected = ["unobserved", "in_sync", "not_authorized", "changes"].repeat(2);
        expected[7] = "held";
        assert_eq!(states[..8], expected[..]);
    }

    #[test]
    fn unobserved_apps_get_rows_without_live_state() {
        let (_dir, store, fleet) = mixed_fleet(9);
        let rows = rows_on_threads(&store, &fleet, 50_000, 2).unwrap();
        for (i, row) in rows.iter().enumerate().filter(|(i, _)| i % 4 == 0) {
            assert_eq!(row.state, "unobserved", "app {i}");
            assert_eq!(row.appid, fleet[i].appid);
            assert_eq!(
                (row.observed_at_ms, &row.live, &row.audit),
                (None, &None, &None)
            );
            assert_eq!(row.wanted.fingerprint, fleet[i].fingerprint);
        }
        assert_eq!(rows[1].observed_at_ms, Some(1_001));
        assert_eq!(
            rows[1].live.as_ref().unwrap().build.fingerprint.as_deref(),
            Some(fleet[1].fingerprint.as_str())
        );
        assert!(status_rows(&store, &[], 50_000).unwrap().is_empty());
        assert!(rows_on_threads(&store, &[], 50_000, 4).unwrap().is_empty());
    }

    #[test]
    fn a_parked_app_shows_as_held_with_the_quota_and_its_reset() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let fleet = apps(ONE);
        let appid = &fleet[0].appid;
        store
            .put_observation(appid, &crate::model::Observed::default(), 1_000)
            .unwrap();
        let record = quota_parked();
        store.put_record(appid, &record).unwrap();
        let row = status_row(&store, &fleet[0], 50_000).unwrap();
        assert_eq!(row.state, "held");
        let reason = row.reason.unwrap();
        assert!(
            reason.contains("85085") && reason.contains("1970-01-01T00:01:40Z"),
            "{reason}"
        );
        let later = status_row(&store, &fleet[0], 200_000).unwrap();
        assert_ne!(later.state, "held", "the hold ends at the reset");
    }
}
