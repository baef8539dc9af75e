//! What `status` and `history` read while the daemon holds the store (sled admits one process):
//! after its passes the daemon writes the status rows and the recent history as one JSON file in
//! the store directory, atomically (write a temporary file, then rename), and removes it when it
//! stops. The rows are made by [`status_rows`], which `status` also uses on the store itself.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Desired;
use crate::store::{Event, Store, StoreError};
use crate::view;
pub use crate::view::status::{StatusRow, Wanted};

/// The snapshot's file name, inside the store directory.
pub const SNAPSHOT_FILE: &str = "daemon-snapshot.json";
/// History events kept in a snapshot (the newest).
pub const SNAPSHOT_HISTORY: usize = 2000;
/// The snapshot's format version.
pub const SNAPSHOT_VERSION: u32 = 2;
/// Apps per thread below which [`status_rows`] plans on the calling thread alone.
const MIN_APPS_PER_THREAD: usize = 1000;

/// What the daemon publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`].
    pub format_version: u32,
    /// When it was written (unix ms).
    pub written_at_ms: u64,
    /// The daemon's process id.
    pub pid: u32,
    /// One row per app of the daemon's (last good) fleet, in fleet order.
    pub apps: Vec<StatusRow>,
    /// The newest [`SNAPSHOT_HISTORY`] history events, oldest first.
    pub history: Vec<Event>,
}

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("cannot {op} the daemon snapshot `{path}`: {source}")]
    Io {
        /// `read`, `write` or `remove`.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a snapshot of this version.
    #[error("the daemon snapshot `{path}` is unreadable: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The store failed while the snapshot was taken.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The snapshot file of the store in `store_dir`.
pub fn path(store_dir: &Path) -> PathBuf {
    store_dir.join(SNAPSHOT_FILE)
}

/// The status rows of `apps`, in their order, each planned from the store's last observation at
/// `now_ms` (as [`status_row`] does one): what `status` prints and the daemon's snapshot holds.
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
    rows_on_threads(
        store,
        apps,
        now_ms,
        cores.min(apps.len() / MIN_APPS_PER_THREAD),
    )
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
    let held = crate::engine::held(&record, app, now_ms, true).map(|h| h.reason);
    Ok(view::status::row(
        app,
        &record,
        observation.as_ref(),
        held,
        now_ms,
    ))
}

/// Takes a snapshot of `apps` from the store at `now_ms`.
pub fn take(store: &Store, apps: &[Desired], now_ms: u64) -> Result<Snapshot, StoreError> {
    let rows = status_rows(store, apps, now_ms)?;
    let mut history = store.history(None)?;
    let skip = history.len().saturating_sub(SNAPSHOT_HISTORY);
    history.drain(..skip);
    Ok(Snapshot {
        format_version: SNAPSHOT_VERSION,
        written_at_ms: now_ms,
        pid: std::process::id(),
        apps: rows,
        history,
    })
}

/// Writes `snapshot` into `store_dir` atomically: a temporary file renamed over the old one.
pub fn write(store_dir: &Path, snapshot: &Snapshot) -> Result<(), SnapshotError> {
    let target = path(store_dir);
    let temp = store_dir.join(format!("{SNAPSHOT_FILE}.{}.tmp", std::process::id()));
    let io = |op, source| SnapshotError::Io {
        op,
        path: target.clone(),
        source,
    };
    let text = serde_json::to_vec(snapshot).map_err(|e| io("write", e.into()))?;
    std::fs::write(&temp, text).map_err(|e| io("write", e))?;
    std::fs::rename(&temp, &target).map_err(|e| io("write", e))
}

/// Reads the snapshot in `store_dir`; `None` when there is none.
pub fn read(store_dir: &Path) -> Result<Option<Snapshot>, SnapshotError> {
    let file = path(store_dir);
    let text = match std::fs::read(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                op: "read",
                path: file,
                source,
            });
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| SnapshotError::Decode { path: file, source })
}

/// Whether the process that wrote `snapshot` still runs (always true where that cannot be told):
/// a daemon killed with SIGKILL leaves its snapshot behind, which must not pass for live data.
pub fn writer_alive(snapshot: &Snapshot) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(snapshot.pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes the snapshot in `store_dir` (when the daemon stops and the store is free again).
pub fn remove(store_dir: &Path) -> Result<(), SnapshotError> {
    let file = path(store_dir);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SnapshotError::Io {
            op: "remove",
            path: file,
            source: e,
        }),
        _ => Ok(()),
    }
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

    #[test]
    fn a_snapshot_round_trips_and_is_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let fleet = apps(ONE);
        let event = Event {
            at_ms: 5,
            app: "a".into(),
            appid: "wx1111111111111111".into(),
            what: "commit".into(),
            result: "ok".into(),
            code: None,
            detail: String::new(),
        };
        store.append_history(&event).unwrap();
        let first = take(&store, &fleet, 1_000).unwrap();
        assert_eq!(first.apps.len(), 1);
        assert_eq!(first.apps[0].state, "unobserved");
        assert!(first.apps[0].wanted.text().starts_with("1.0.0 [mf:"));
        assert_eq!(first.history, [event]);
        assert_eq!(read(store.dir()).unwrap(), None);
        write(store.dir(), &first).unwrap();
        let second = Snapshot {
            written_at_ms: 2_000,
            ..first.clone()
        };
        write(store.dir(), &second).unwrap();
        assert_eq!(read(store.dir()).unwrap(), Some(second));
        let leftovers: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        assert!(writer_alive(&first), "this process wrote it");
        let dead = Snapshot {
            pid: u32::MAX,
            ..first.clone()
        };
        assert!(!writer_alive(&dead) || !cfg!(target_os = "linux"));
        remove(store.dir()).unwrap();
        assert_eq!(read(store.dir()).unwrap(), None);
        remove(store.dir()).unwrap();
    }

    #[test]
    fn a_garbled_snapshot_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "{").unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(err.contains(SNAPSHOT_FILE), "{err}");
    }
}
