//! The embedded sled store behind a small typed API (DESIGN §5): per-app records, the history of
//! events, the write-ahead journal, tokens, the WeChat tester map and the sandbox's own state.
//!
//! Values are JSON objects carrying a `schema_version`, so later versions can migrate them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{Action, Observed, Record};
use crate::scrub::scrub_cow;
use crate::secret::Secret;

use self::versioned::Versioned;

pub mod lock;
mod versioned;

pub use lock::LockHolder;

/// The version written into every stored value.
pub const SCHEMA_VERSION: u32 = 1;

/// sled's page cache, in bytes (sled's default is 1 GiB). Every command reads each app's values
/// about once per run, so a large cache buys nothing and only grows the process: planning 100k
/// apps from the store kept ~75 MB of pages with the default (and paid for the fresh memory).
/// Evicted pages are read back from the log when needed.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A store failure, with the directory it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory could not be created or opened.
    #[error("cannot open the store at `{dir}`: {source}")]
    Open {
        /// The store directory.
        dir: PathBuf,
        /// What sled or the OS said.
        source: sled::Error,
    },
    /// sled found the store's files damaged (corrupt data, e.g. after a disk fault).
    #[error("the store at `{dir}` is damaged: {}", damage(.source))]
    Damaged {
        /// The store directory.
        dir: PathBuf,
        /// What sled said.
        source: sled::Error,
    },
    /// Another process has the store open.
    #[error("the store at `{dir}` is in use by {}", held_by(.holder.as_ref()))]
    Locked {
        /// The store directory.
        dir: PathBuf,
        /// The holder, from the lock record (`LOCK.json`), when it could be read.
        holder: Option<LockHolder>,
    },
    /// The lock record could not be written.
    #[error("cannot write the lock record `{}`: {source}", .dir.join(lock::LOCK_FILE).display())]
    LockRecord {
        /// The store directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The directory could not be created.
    #[error("cannot create the store directory `{dir}`: {source}")]
    Create {
        /// The store directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A read or write failed.
    #[error("store {op} failed in tree `{tree}`: {source}")]
    Io {
        /// `read`, `write` or `flush`.
        op: &'static str,
        /// The tree.
        tree: &'static str,
        /// What sled said.
        source: sled::Error,
    },
    /// A stored value could not be decoded.
    #[error("store value `{key}` in tree `{tree}` is corrupt: {source}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// The key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// sled's corruption report in words (`Read corrupted data at file offset None backtrace ()`).
fn damage(err: &sled::Error) -> String {
    match err {
        sled::Error::Corruption { at: Some(at), .. } => {
            format!("its files hold corrupted data (at {at:?})")
        }
        sled::Error::Corruption { at: None, .. } => "its files hold corrupted data".to_string(),
        other => format!("sled: {other}"),
    }
}

/// The error of a failed sled open: a damaged store, or the OS refusing.
fn open_error(dir: &Path, source: sled::Error) -> StoreError {
    let dir = dir.to_path_buf();
    match source {
        sled::Error::Corruption { .. } => StoreError::Damaged { dir, source },
        source => StoreError::Open { dir, source },
    }
}

impl StoreError {
    /// Whether the store's files are damaged (deleting the store is the fix).
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            StoreError::Damaged { .. }
                | StoreError::Corrupt { .. }
                | StoreError::Io {
                    source: sled::Error::Corruption { .. },
                    ..
                }
        )
    }

    /// What to do about it: wait for or stop the holder, delete a damaged store (and what that
    /// costs), check the permissions.
    pub fn help(&self) -> Option<String> {
        let dir = match self {
            StoreError::Open { dir, .. }
            | StoreError::Damaged { dir, .. }
            | StoreError::Locked { dir, .. }
            | StoreError::LockRecord { dir, .. }
            | StoreError::Create { dir, .. } => format!("`{}`", dir.display()),
            StoreError::Io { .. } | StoreError::Corrupt { .. } => "the store directory".to_owned(),
        };
        let help = match self {
            StoreError::Locked {
                holder: Some(holder),
                dir,
            } if holder.host != lock::host_name() => format!(
                "the store is locked from host `{}`; if minifleet no longer runs there, delete `{}`",
                holder.host,
                dir.join(lock::LOCK_FILE).display()
            ),
            StoreError::Locked { .. } => "one minifleet process (reconcile, watch or status) uses a store at a time; wait for it to finish, stop it, or pass a different `--store`".to_owned(),
            err if err.is_damage() => format!(
                "deleting {dir} is safe: it costs one full observation of every app and the WeChat tester map, and loses no desired or live state (the fleet file and the platforms hold them; with `api_base: sandbox` the simulated platforms start over)"
            ),
            err if err.is_permission() => {
                format!("check the permissions of {dir}, or pass a different `--store`")
            }
            _ => return None,
        };
        Some(help)
    }

    /// Whether the OS refused access to the store's directory or files.
    pub fn is_permission(&self) -> bool {
        let io = match self {
            StoreError::Open {
                source: sled::Error::Io(io),
                ..
            } => io,
            StoreError::Create { source, .. } | StoreError::LockRecord { source, .. } => source,
            _ => return false,
        };
        io.kind() == std::io::ErrorKind::PermissionDenied
    }
}

fn held_by(holder: Option<&LockHolder>) -> String {
    match holder {
        Some(h) => format!("another minifleet process: {}", h.describe()),
        None => "another minifleet process".to_string(),
    }
}

/// Replaces `text` with its scrubbed form when it holds a secret.
fn scrub_in_place(text: &mut String) {
    if let std::borrow::Cow::Owned(clean) = scrub_cow(text) {
        *text = clean;
    }
}

/// One event in an app's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// The app's name.
    pub app: String,
    /// The app's id.
    pub appid: String,
    /// What happened: an action kind (`commit`, `release`…) or `observe`, `state`.
    pub what: String,
    /// `ok`, `error` or a state name.
    pub result: String,
    /// The platform code, on errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Details in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The fleet revision (git commit, or the file's digest) the wanted state came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// What a mutating call is about to do, journalled before the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The app's name.
    pub app: String,
    /// The app's id.
    pub appid: String,
    /// The action kind, e.g. `commit`.
    pub action: String,
    /// The fingerprint the action is for.
    pub fingerprint: String,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// The action itself, to settle an unknown outcome by observing (absent in old entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Action>,
    /// The fleet revision (git commit, or the file's digest) the action came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The store's own id (see [`Store::id`]).
#[derive(Serialize, Deserialize)]
struct StoreId {
    id: String,
}

/// When a saved plan was applied (see [`Store::claim_plan`]).
#[derive(Serialize, Deserialize)]
struct AppliedPlan {
    at_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct JournalEntry {
    intent: Intent,
    outcome: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredObservation {
    observed: Observed,
    at_ms: u64,
}

fn journal_key(id: u64) -> String {
    format!("{id:020}")
}

/// The key of an open journal entry in the index: `appid/id`.
fn open_key(appid: &str, id: u64) -> String {
    format!("{appid}/{}", journal_key(id))
}

/// The index tree's marker: present once the index covers the whole journal.
const OPEN_INDEXED: &[u8] = b"\0indexed";

#[derive(Serialize, Deserialize)]
struct StoredBuild {
    fingerprint: String,
}

fn build_key(appid: &str, version: &str) -> String {
    format!("build/{appid}/{version}")
}

fn observation_key(appid: &str) -> String {
    format!("observed/{appid}")
}

/// A cached credential with its expiry.
#[derive(Clone, Serialize, Deserialize)]
pub struct Token {
    /// The secret value.
    pub value: Secret,
    /// Unix seconds after which the token must not be used; `None` = no stated expiry.
    pub expires_at: Option<u64>,
    /// Unix seconds when the token was obtained.
    pub obtained_at: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &self.value)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Token {
    /// Whether the token is still good at `now` with `margin` seconds to spare.
    pub fn fresh(&self, now: u64, margin: u64) -> bool {
        self.expires_at.is_none_or(|exp| now + margin < exp)
    }
}

/// The open store. Cheap to clone; all clones share one sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    apps: sled::Tree,
    history: sled::Tree,
    journal: sled::Tree,
    /// Index of the journal entries without an outcome, keyed `appid/id` (see [`open_key`]), so
    /// settling one app does not read the whole journal.
    open: sled::Tree,
    tokens: sled::Tree,
    testers: sled::Tree,
    sandbox: sled::Tree,
    /// The fleet's rollout: converged waves, opened gates, halts (one value).
    rollout: sled::Tree,
    /// What the notifier told each sink, by `sink/appid/fingerprint/notice` (unix ms): each is
    /// told once, across restarts.
    notified: sled::Tree,
    /// The store's own id (`id`), and the saved plans applied (`plan/<id>`, unix ms): a saved
    /// plan is applied against the store it was made on, at most once.
    plans: sled::Tree,
    /// The store's lock (released when the last clone is dropped) and the stale record it
    /// replaced, if any.
    lock: std::sync::Arc<(lock::LockGuard, Option<lock::Takeover>)>,
}

impl Store {
    /// Opens (creating with mode 0700 if needed) the store in `dir`: takes the store's lock
    /// (see [`lock`]), then opens sled.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        create_private_dir(dir)?;
        let locked = |holder| StoreError::Locked {
            dir: dir.to_path_buf(),
            holder,
        };
        let (guard, taken_over) = match lock::claim(dir) {
            Ok(lock::Claim::Claimed { guard, taken_over }) => (guard, taken_over),
            Ok(lock::Claim::Held(holder)) => return Err(locked(holder)),
            Ok(lock::Claim::OtherHost(holder)) => return Err(locked(Some(holder))),
            Err(source) => {
                return Err(StoreError::LockRecord {
                    dir: dir.to_path_buf(),
                    source,
                });
            }
        };
        let db = match open_sled(dir) {
            Ok(db) => db,
            Err(source) if is_lock_error(&source) => {
                // sled's lock is held without ours: an older minifleet that kept no OS lock.
                let holder = taken_over.map(|t| t.holder);
                guard.restore();
                return Err(locked(holder));
            }
            Err(source) => return Err(open_error(dir, source)),
        };
        if let Some(old) = &taken_over {
            // The commands say so where people look (`open_store_warning`, the daemon's log).
            tracing::info!(holder = %old.holder.describe(), "{}", old.describe());
        }
        let tree = |name: &'static str| {
            db.open_tree(name).map_err(|source| match source {
                sled::Error::Corruption { .. } => open_error(dir, source),
                source => StoreError::Io {
                    op: "open",
                    tree: name,
                    source,
                },
            })
        };
        let store = Store {
            lock: std::sync::Arc::new((guard, taken_over)),
            apps: tree("apps")?,
            history: tree("history")?,
            journal: tree("journal")?,
            open: tree("journal_open")?,
            tokens: tree("tokens")?,
            testers: tree("testers")?,
            sandbox: tree("sandbox")?,
            rollout: tree("rollout")?,
            notified: tree("notified")?,
            plans: tree("plans")?,
            dir: dir.to_path_buf(),
            db,
        };
        store.index_open_entries()?;
        Ok(store)
    }

    /// Builds the index of open journal entries once, for a store written before it existed.
    fn index_open_entries(&self) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            op: "write",
            tree: "journal_open",
            source,
        };
        if self.open.contains_key(OPEN_INDEXED).map_err(io)? {
            return Ok(());
        }
        for (id, intent) in self.scan_unsettled()? {
            let key = open_key(&intent.appid, id);
            self.open.insert(key.as_bytes(), &[]).map_err(io)?;
        }
        self.open.insert(OPEN_INDEXED, &[]).map_err(io)?;
        Ok(())
    }

    /// The lock record this store replaced when it opened (a process that died holding it, or a
    /// reused pid), and why it was stale.
    pub fn taken_over(&self) -> Option<&lock::Takeover> {
        self.lock.1.as_ref()
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's id: 16 random hex digits, made the first time it is asked for.
    pub fn id(&self) -> Result<String, StoreError> {
        if let Some(stored) = get::<StoreId>(&self.plans, "plans", "id")? {
            return Ok(stored.id);
        }
        let id = format!("{:016x}", fastrand::u64(..));
        let io = |source| StoreError::Io {
            op: "write",
            tree: "plans",
            source,
        };
        let value = encode(&StoreId { id: id.clone() });
        // Two callers at once keep the first id written.
        match self
            .plans
            .compare_and_swap("id", None as Option<&[u8]>, Some(value))
            .map_err(io)?
        {
            Ok(()) => Ok(id),
            Err(_) => Ok(get::<StoreId>(&self.plans, "plans", "id")?.map_or(id, |s| s.id)),
        }
    }

    /// When the saved plan `id` was applied (unix ms), if it was.
    pub fn plan_applied(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let applied: Option<AppliedPlan> = get(&self.plans, "plans", &format!("plan/{id}"))?;
        Ok(applied.map(|a| a.at_ms))
    }

    /// Records that the saved plan `id` is being applied, flushed before any of its steps, so
    /// even a crash part way leaves it applied once; `false` when it already was.
    pub async fn claim_plan(&self, id: &str, at_ms: u64) -> Result<bool, StoreError> {
        let io = |source| StoreError::Io {
            op: "write",
            tree: "plans",
            source,
        };
        let value = encode(&AppliedPlan { at_ms });
        let claimed = self
            .plans
            .compare_and_swap(format!("plan/{id}"), None as Option<&[u8]>, Some(value))
            .map_err(io)?
            .is_ok();
        self.flush_async().await?;
        Ok(claimed)
    }

    /// Whether the store holds the app's record (it was reconciled here before).
    pub fn has_record(&self, appid: &str) -> Result<bool, StoreError> {
        self.apps
            .contains_key(appid.as_bytes())
            .map_err(|source| StoreError::Io {
                op: "read",
                tree: "apps",
                source,
            })
    }

    /// The app's record (empty if the app was never seen), with its tester map. The platform
    /// text it keeps (a failure's message, a quota's reason) is scrubbed of secrets, in case an
    /// older version stored it unscrubbed.
    pub fn record(&self, appid: &str) -> Result<Record, StoreError> {
        let mut record: Record = get(&self.apps, "apps", appid)?.unwrap_or_default();
        record.testers = self.testers(appid)?;
        if let Some(failure) = &mut record.failure {
            scrub_in_place(&mut failure.message);
        }
        if let Some(parked) = &mut record.parked {
            scrub_in_place(&mut parked.reason);
        }
        Ok(record)
    }

    /// Saves the app's record (the tester map is kept in its own tree, see [`Store::put_tester`]).
    pub fn put_record(&self, appid: &str, record: &Record) -> Result<(), StoreError> {
        let mut stored = record.clone();
        stored.testers.clear();
        put(&self.apps, "apps", appid, &stored)
    }

    /// The WeChat wechatid → userstr map of an app.
    pub fn testers(&self, appid: &str) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(get(&self.testers, "testers", appid)?.unwrap_or_default())
    }

    /// Remembers (or, with `member = None`, forgets) the member id of a tester.
    pub fn put_tester(
        &self,
        appid: &str,
        tester: &str,
        member: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut map = self.testers(appid)?;
        match member {
            Some(m) => map.insert(tester.to_string(), m.to_string()),
            None => map.remove(tester),
        };
        put(&self.testers, "testers", appid, &map)
    }

    /// Appends an event to the app's history (its detail scrubbed of secrets).
    pub fn append_history(&self, event: &Event) -> Result<(), StoreError> {
        let id = self.db.generate_id().map_err(|source| StoreError::Io {
            op: "write",
            tree: "history",
            source,
        })?;
        let key = format!("{}/{:020}/{:020}", event.appid, event.at_ms, id);
        if let std::borrow::Cow::Owned(detail) = scrub_cow(&event.detail) {
            let event = Event {
                detail,
                ..event.clone()
            };
            return put(&self.history, "history", &key, &event);
        }
        put(&self.history, "history", &key, event)
    }

    /// The history of one app (by appid) or of every app, oldest first. Details are scrubbed of
    /// secrets as they are read: events written by older versions may quote a platform message
    /// with a token in it.
    pub fn history(&self, appid: Option<&str>) -> Result<Vec<Event>, StoreError> {
        let prefix = appid.map(|a| format!("{a}/")).unwrap_or_default();
        let mut events = Vec::new();
        for item in self.history.scan_prefix(prefix.as_bytes()) {
            let (key, value) = item.map_err(|source| StoreError::Io {
                op: "read",
                tree: "history",
                source,
            })?;
            let mut event = decode::<Event>("history", &key, &value)?;
            scrub_in_place(&mut event.detail);
            events.push(event);
        }
        events.sort_by_key(|e| e.at_ms);
        Ok(events)
    }

    /// A cached credential.
    pub fn token(&self, key: &str) -> Result<Option<Token>, StoreError> {
        get(&self.tokens, "tokens", key)
    }

    /// Caches a credential and flushes it to disk.
    pub fn put_token(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        put(&self.tokens, "tokens", key, token)?;
        self.flush()
    }

    /// Drops a cached credential.
    pub fn remove_token(&self, key: &str) -> Result<(), StoreError> {
        self.tokens
            .remove(key.as_bytes())
            .map(drop)
            .map_err(|source| StoreError::Io {
                op: "write",
                tree: "tokens",
                source,
            })
    }

    /// Raw bytes in the sandbox's tree.
    pub fn sandbox_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.sandbox
            .get(key.as_bytes())
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|source| StoreError::Io {
                op: "read",
                tree: "sandbox",
                source,
            })
    }

    /// Writes raw bytes into the sandbox's tree.
    pub fn sandbox_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.sandbox
            .insert(key.as_bytes(), value)
            .map(drop)
            .map_err(|source| StoreError::Io {
                op: "write",
                tree: "sandbox",
                source,
            })
    }

    /// Writes the intent of a mutating call and flushes it to disk, before the call is made.
    /// Returns the entry's id, for [`Store::journal_outcome`].
    pub async fn journal_intent(&self, intent: &Intent) -> Result<u64, StoreError> {
        let id = self.db.generate_id().map_err(|source| StoreError::Io {
            op: "write",
            tree: "journal",
            source,
        })?;
        let entry = JournalEntry {
            intent: intent.clone(),
            outcome: None,
        };
        put(&self.journal, "journal", &journal_key(id), &entry)?;
        self.open
            .insert(open_key(&intent.appid, id).as_bytes(), &[])
            .map_err(|source| StoreError::Io {
                op: "write",
                tree: "journal_open",
                source,
            })?;
        self.flush_async().await?;
        Ok(id)
    }

    /// Records the outcome of the call journalled as `id`.
    pub fn journal_outcome(&self, id: u64, outcome: &str) -> Result<(), StoreError> {
        let key = journal_key(id);
        let Some(mut entry) = get::<JournalEntry>(&self.journal, "journal", &key)? else {
            return Ok(());
        };
        entry.outcome = Some(outcome.to_string());
        put(&self.journal, "journal", &key, &entry)?;
        self.open
            .remove(open_key(&entry.intent.appid, id).as_bytes())
            .map(drop)
            .map_err(|source| StoreError::Io {
                op: "write",
                tree: "journal_open",
                source,
            })
    }

    /// Journal entries of one app whose outcome is unknown, oldest first.
    /// Reads only that app's entries, through the index of open entries.
    pub fn unsettled_for(&self, appid: &str) -> Result<Vec<(u64, Intent)>, StoreError> {
        let io = |source| StoreError::Io {
            op: "read",
            tree: "journal_open",
            source,
        };
        let prefix = format!("{appid}/");
        let mut open = Vec::new();
        for item in self.open.scan_prefix(prefix.as_bytes()) {
            let (key, _) = item.map_err(io)?;
            let id = std::str::from_utf8(&key[prefix.len()..])
                .ok()
                .and_then(|k| k.parse().ok())
                .unwrap_or_default();
            let entry: Option<JournalEntry> = get(&self.journal, "journal", &journal_key(id))?;
            if let Some(entry) = entry.filter(|e| e.outcome.is_none() && e.intent.appid == appid) {
                open.push((id, entry.intent));
            }
        }
        Ok(open)
    }

    /// Journal entries whose outcome was never recorded (the process died during the call, or
    /// the response was lost and observing could not tell yet), oldest first.
    pub fn unsettled_intents(&self) -> Result<Vec<(u64, Intent)>, StoreError> {
        self.scan_unsettled()
    }

    /// Reads the whole journal for entries without an outcome.
    fn scan_unsettled(&self) -> Result<Vec<(u64, Intent)>, StoreError> {
        let mut open = Vec::new();
        for item in self.journal.iter() {
            let (key, value) = item.map_err(|source| StoreError::Io {
                op: "read",
                tree: "journal",
                source,
            })?;
            let entry: JournalEntry = decode("journal", &key, &value)?;
            if entry.outcome.is_none() {
                let id = std::str::from_utf8(&key)
                    .ok()
                    .and_then(|k| k.parse().ok())
                    .unwrap_or_default();
                open.push((id, entry.intent));
            }
        }
        Ok(open)
    }

    /// The fingerprint of a build minifleet made (Alipay: one build per app_version).
    pub fn build_fingerprint(
        &self,
        appid: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        let stored: Option<StoredBuild> = get(&self.apps, "apps", &build_key(appid, version))?;
        Ok(stored.map(|b| b.fingerprint))
    }

    /// Remembers the fingerprint of a build minifleet is about to make, and flushes it to disk
    /// before returning: it is written before the upload, so that a process killed right after
    /// the upload still knows the build is its own (Alipay shows no build's ext, and the
    /// fingerprint reaches the platform only with the audit's `version_desc`).
    pub async fn put_build_fingerprint(
        &self,
        appid: &str,
        version: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        let stored = StoredBuild {
            fingerprint: fingerprint.to_string(),
        };
        put(&self.apps, "apps", &build_key(appid, version), &stored)?;
        self.flush_async().await
    }

    /// The last observation of an app and when it was made (unix ms).
    pub fn observation(&self, appid: &str) -> Result<Option<(Observed, u64)>, StoreError> {
        let stored: Option<StoredObservation> = get(&self.apps, "apps", &observation_key(appid))?;
        Ok(stored.map(|s| (s.observed, s.at_ms)))
    }

    /// Caches the latest observation of an app.
    pub fn put_observation(
        &self,
        appid: &str,
        observed: &Observed,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let stored = StoredObservation {
            observed: observed.clone(),
            at_ms,
        };
        put(&self.apps, "apps", &observation_key(appid), &stored)
    }

    /// What is remembered of the fleet's rollout (empty when nothing is).
    pub fn rollout_state(&self) -> Result<crate::model::RolloutState, StoreError> {
        Ok(get(&self.rollout, "rollout", "state")?.unwrap_or_default())
    }

    /// Saves what is remembered of the fleet's rollout (flush after: a halt or an opened gate
    /// must outlive a crash).
    pub fn put_rollout_state(&self, state: &crate::model::RolloutState) -> Result<(), StoreError> {
        put(&self.rollout, "rollout", "state", state)
    }

    /// Whether `key` (`sink/appid/fingerprint/notice`) was told already.
    pub fn was_notified(&self, key: &str) -> Result<bool, StoreError> {
        self.notified
            .contains_key(key.as_bytes())
            .map_err(|source| StoreError::Io {
                op: "read",
                tree: "notified",
                source,
            })
    }

    /// Records that `key` was told at `at_ms`.
    pub fn mark_notified(&self, key: &str, at_ms: u64) -> Result<(), StoreError> {
        self.notified
            .insert(key.as_bytes(), &at_ms.to_be_bytes())
            .map(drop)
            .map_err(|source| StoreError::Io {
                op: "write",
                tree: "notified",
                source,
            })
    }

    /// A JSON value (with `schema_version`) in the sandbox's tree.
    pub fn sandbox_value<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        get(&self.sandbox, "sandbox", key)
    }

    /// Writes a JSON value (with `schema_version`) into the sandbox's tree.
    pub fn put_sandbox_value<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        put(&self.sandbox, "sandbox", key, value)
    }

    /// Flushes every tree to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(|source| StoreError::Io {
            op: "flush",
            tree: "*",
            source,
        })
    }

    /// Flushes every tree to disk without blocking the runtime.
    ///
    /// sled 0.34's own `flush_async` loses wake-ups when several flushes are awaited at once and
    /// hangs forever (spacejam/sled#1241, #1308; fixed only on sled's unreleased main branch), which
    /// a pass over many apps does all the time. So the blocking `flush` runs on tokio's blocking pool.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        let flushed = tokio::task::spawn_blocking(move || db.flush()).await;
        match flushed {
            Ok(result) => result.map(drop).map_err(|source| StoreError::Io {
                op: "flush",
                tree: "*",
                source,
            }),
            Err(join) => Err(StoreError::Io {
                op: "flush",
                tree: "*",
                source: sled::Error::ReportableBug(format!("the flush task died: {join}")),
            }),
        }
    }
}

/// Opens sled in `dir` (the store's lock is held). sled's own file lock can outlive the previous
/// holder's store lock by a moment while its threads wind down, so a lock error is retried
/// briefly before it counts.
fn open_sled(dir: &Path) -> Result<sled::Db, sled::Error> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
    let config = sled::Config::new().path(dir).cache_capacity(CACHE_BYTES);
    let started = std::time::Instant::now();
    loop {
        match config.open() {
            Err(err) if is_lock_error(&err) && started.elapsed() < PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| StoreError::Create {
        dir: dir.to_path_buf(),
        source,
    })
}

fn is_lock_error(err: &sled::Error) -> bool {
    match err {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("lock")
                || io.raw_os_error() == Some(11)
        }
        _ => false,
    }
}

fn get<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let bytes = tree.get(key.as_bytes()).map_err(|source| StoreError::Io {
        op: "read",
        tree: name,
        source,
    })?;
    bytes.map(|b| decode(name, key.as_bytes(), &b)).transpose()
}

fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice::<Versioned<T>>(bytes)
        .map(|v| v.value)
        .map_err(|source| StoreError::Corrupt {
            tree,
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        })
}

/// `value` as the store writes it (with its schema version).
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(&Versioned {
        schema_version: SCHEMA_VERSION,
        value,
    })
    .unwrap_or_default()
}

fn put<T: Serialize>(
    tree: &sled::Tree,
    name: &'static str,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(&Versioned {
        schema_version: SCHEMA_VERSION,
        value,
    })
    .map_err(|source| StoreError::Corrupt {
        tree: name,
        key: key.to_string(),
        source,
    })?;
    tree.insert(key.as_bytes(), bytes)
        .map(drop)
        .map_err(|source| StoreError::Io {
            op: "write",
            tree: name,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_with_testers_in_their_own_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut record = Record {
            last_fingerprint: Some("1a2b3c4d".into()),
            ..Record::default()
        };
        store.put_tester("wx1", "ops-li", Some("u-1")).unwrap();
        record.testers.insert("ignored".into(), "x".into());
        store.put_record("wx1", &record).unwrap();
        let back = store.record("wx1").unwrap();
        assert_eq!(back.last_fingerprint.as_deref(), Some("1a2b3c4d"));
        assert_eq!(back.testers.len(), 1);
        assert_eq!(back.testers["ops-li"], "u-1");
        store.put_tester("wx1", "ops-li", None).unwrap();
        assert!(store.record("wx1").unwrap().testers.is_empty());
    }

    #[test]
    fn history_and_failures_stored_by_older_versions_are_read_without_their_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let leaked = "alipay.open.mini.version.upload failed with isv.invalid-signature: \
            验签字符串为：app_auth_token=SENTINEL-old-token&app_id=2021000000000000";
        let event = Event {
            at_ms: 1,
            app: "rice-bowl".into(),
            appid: "2021000000000001".into(),
            what: "commit".into(),
            result: "error".into(),
            code: Some("isv.invalid-signature".into()),
            detail: leaked.into(),
            revision: None,
        };
        // As an older version wrote it: straight into the tree, unscrubbed.
        put(&store.history, "history", "2021000000000001/1/1", &event).unwrap();
        let record = Record {
            failure: Some(crate::model::Failure {
                fingerprint: "1a2b3c4d".into(),
                call: "alipay.open.mini.version.upload".into(),
                code: "isv.invalid-signature".into(),
                message: leaked.into(),
                audit: None,
            }),
            ..Record::default()
        };
        put(&store.apps, "apps", "2021000000000001", &record).unwrap();
        let read = store.history(None).unwrap();
        assert_eq!(read.len(), 1);
        assert!(!read[0].detail.contains("SENTINEL"), "{}", read[0].detail);
        assert!(
            read[0].detail.contains("app_auth_token=***&app_id="),
            "{}",
            read[0].detail
        );
        let failure = store.record("2021000000000001").unwrap().failure.unwrap();
        assert!(!failure.message.contains("SENTINEL"), "{}", failure.message);
        store.append_history(&Event { at_ms: 2, ..event }).unwrap();
        let raw: Vec<u8> = store
            .history
            .iter()
            .values()
            .flat_map(|v| v.unwrap().to_vec())
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&raw).matches("SENTINEL").count(),
            1,
            "only the old event holds it on disk; a new one is scrubbed before it is written"
        );
    }

    #[test]
    fn history_is_per_app_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (appid, at) in [("wx2", 30), ("wx1", 20), ("wx1", 10)] {
            store
                .append_history(&Event {
                    at_ms: at,
                    app: appid.into(),
                    appid: appid.into(),
                    what: "commit".into(),
                    result: "ok".into(),
                    code: None,
                    detail: String::new(),
                    revision: None,
                })
                .unwrap();
        }
        let wx1: Vec<u64> = store
            .history(Some("wx1"))
            .unwrap()
            .iter()
            .map(|e| e.at_ms)
            .collect();
        assert_eq!(wx1, [10, 20]);
        assert_eq!(store.history(None).unwrap().len(), 3);
    }

    #[test]
    fn concurrent_flushes_do_not_hang_as_sleds_flush_async_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..200u64 {
                let store = store.clone();
                tasks.spawn(async move {
                    let intent = Intent {
                        app: format!("app-{i}"),
                        appid: format!("wx{i:016x}"),
                        action: "commit".into(),
                        fingerprint: "1a2b3c4d".into(),
                        at_ms: i,
                        step: None,
                        revision: None,
                    };
                    store.journal_intent(&intent).await
                });
            }
            let all = async {
                while let Some(joined) = tasks.join_next().await {
                    joined.unwrap().unwrap();
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(60), all)
                .await
                .expect("200 concurrent journal writes with flushes finish");
        });
        assert_eq!(store.unsettled_intents().unwrap().len(), 200);
    }

    #[test]
    fn a_second_open_fails_fast_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.taken_over(), None);
        let Err(err) = Store::open(dir.path()) else {
            panic!("the store is held");
        };
        let StoreError::Locked { holder, .. } = &err else {
            panic!("not a lock error: {err}");
        };
        assert_eq!(holder.as_ref().unwrap().pid, std::process::id());
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains(&lock::host_name()), "{text}");
        drop(store);
        assert!(
            lock::holder(dir.path()).is_none(),
            "closing removes the record"
        );
        Store::open(dir.path()).unwrap();
    }

    /// A commit intent of `appid` at `step`.
    fn intent(appid: &str, step: Option<Action>) -> Intent {
        Intent {
            app: "a".into(),
            appid: appid.into(),
            action: "commit".into(),
            fingerprint: "1a2b3c4d".into(),
            at_ms: 1,
            step,
            revision: None,
        }
    }

    /// Journals `intents` in order (each flushed, within 30 s), returning their ids.
    fn journal_all(store: &Store, intents: &[Intent]) -> Vec<u64> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let run = async {
            let mut ids = Vec::new();
            for intent in intents {
                ids.push(store.journal_intent(intent).await.unwrap());
            }
            ids
        };
        runtime
            .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(30), run).await })
            .unwrap()
    }

    #[test]
    fn journal_outcomes_settle_intents_per_app() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let step = Some(Action::SubmitAudit {
            fingerprint: "1a2b3c4d".into(),
        });
        let ids = journal_all(
            &store,
            &[intent("wx1", step.clone()), intent("wx2", step.clone())],
        );
        let open = store.unsettled_for("wx1").unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].1.step, step);
        store.journal_outcome(ids[0], "settled: applied").unwrap();
        assert!(store.unsettled_for("wx1").unwrap().is_empty());
        assert_eq!(store.unsettled_intents().unwrap().len(), 1);
        assert_eq!(store.unsettled_for("wx2").unwrap().len(), 1);
        assert!(
            store.unsettled_for("wx").unwrap().is_empty(),
            "ids are not prefixes"
        );
    }

    #[test]
    fn a_store_without_the_open_entry_index_gets_it_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let ids = journal_all(&store, &[intent("wx1", None), intent("wx2", None)]);
            store.journal_outcome(ids[0], "settled: applied").unwrap();
            store.db.drop_tree("journal_open").unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.unsettled_for("wx1").unwrap().is_empty());
        let open = store.unsettled_for("wx2").unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].1.appid, "wx2");
    }

    #[tokio::test]
    async fn build_fingerprints_are_kept_per_app_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            store.put_build_fingerprint("2021", "1.0.0", "1a2b3c4d"),
        )
        .await
        .expect("the flush finishes")
        .unwrap();
        assert_eq!(
            store.build_fingerprint("2021", "1.0.0").unwrap().as_deref(),
            Some("1a2b3c4d")
        );
        assert_eq!(store.build_fingerprint("2021", "1.0.1").unwrap(), None);
        assert_eq!(store.build_fingerprint("2022", "1.0.0").unwrap(), None);
    }

    #[test]
    fn tokens_keep_their_secret_out_of_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let token = Token {
            value: Secret::new("s3cr3t"),
            expires_at: Some(100),
            obtained_at: 0,
        };
        store.put_token("k", &token).unwrap();
        let back = store.token("k").unwrap().unwrap();
        assert_eq!(back.value.expose(), "s3cr3t");
        assert!(!format!("{back:?}").contains("s3cr3t"));
        assert!(back.fresh(50, 10));
        assert!(!back.fresh(95, 10));
    }
}
