//! Telling people (issue 17): the engine's events, turned into notices, go to the fleet's `notify`
//! sinks — WeCom, DingTalk and Feishu / Lark robots, Slack, and signed webhooks.
//!
//! The [`Notifier`] is one more subscriber of the event stream. On an event it only decides, in
//! memory and with one read of the store per interested sink, whether the notice is new, and hands
//! it to that sink's queue: a sink never slows or blocks reconciling (a full queue drops the
//! notice and counts it). Each sink's worker gathers what arrives within `notify.batch` into one
//! message (a burst becomes a digest), signs it as the sink wants ([`sign`]), and sends it with
//! retries and backoff. A notice is recorded as told (`sink/appid/fingerprint/notice`) once its
//! sink answered, so each is told once, across restarts; a notice whose sink failed is told again
//! when the event comes again.

pub mod message;
pub mod sign;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::engine::events::{Event, Subscriber};
use crate::fleet::Fleet;
use crate::fleet::notify_spec::{NoticeKind, NotifySpec, Sink, SinkKind};
use crate::store::Store;

/// Notices a sink's queue holds before new ones are dropped (and counted).
const QUEUE: usize = 10_000;

/// Tries of one message: the first and three more, 1 s, 2 s and 4 s apart.
const TRIES: u32 = 4;

/// How long one send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One thing to tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The app's name (none for the fleet's rollout).
    pub app: Option<String>,
    /// The app's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// Its platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The build it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// More in words: the platform's reason, the code and what to do, the wave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The rollout wave the app is in, when the fleet has waves: a burst's digest names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    /// When it happened (unix ms).
    pub at_ms: u64,
    /// What it is told once for: `appid/fingerprint/notice` (or the release's, for a rollout).
    #[serde(skip)]
    pub key: String,
}

/// The notice `event` makes, if it makes one; a platform's audit quota makes one when at most
/// `quota_low` is left.
pub fn notice_of(event: &Event, at_ms: u64, quota_low: u32) -> Option<Notice> {
    let (kind, app, fingerprint, detail) = match event {
        Event::AuditQuota {
            platform,
            left,
            limit,
            resets_at,
        } if *left <= quota_low => {
            let until = resets_at
                .map(|at| format!(" (resets {})", crate::model::calendar::utc(at * 1000)))
                .unwrap_or_default();
            // Once a month: the reset names the month.
            let month = resets_at.map_or_else(|| "now".to_owned(), |at| at.to_string());
            return Some(Notice {
                kind: NoticeKind::QuotaLow,
                app: None,
                appid: None,
                platform: Some(platform.to_string()),
                fingerprint: None,
                wave: None,
                detail: Some(format!(
                    "{platform}: {left} of {limit} audit submissions left this month{until}"
                )),
                at_ms,
                key: format!("quota/{platform}/{month}/{}", NoticeKind::QuotaLow.as_str()),
            });
        }
        Event::AuditApproved { app, build, .. } => {
            (NoticeKind::AuditApproved, app, build.clone(), None)
        }
        Event::AuditRejected {
            app, build, reason, ..
        } => (
            NoticeKind::AuditRejected,
            app,
            build.clone(),
            reason.clone(),
        ),
        Event::StateChanged {
            app, to, reason, ..
        } if to == "failed" => (NoticeKind::AppFailed, app, None, reason.clone()),
        Event::StateChanged { app, from, to, .. }
            if to == "in_sync" && from.as_deref().is_some_and(|f| f != "in_sync") =>
        {
            (NoticeKind::Converged, app, None, None)
        }
        Event::Held {
            app, kind, reason, ..
        } if *kind == "gate" => (NoticeKind::GateWaiting, app, None, Some(reason.clone())),
        Event::Held {
            app, kind, reason, ..
        } if *kind == "audit_quota" => {
            (NoticeKind::QuotaExhausted, app, None, Some(reason.clone()))
        }
        Event::Rollout {
            change:
                crate::plan::rollout::Change::Halted {
                    release,
                    wave,
                    rejected,
                    help,
                },
        } => {
            return Some(Notice {
                kind: NoticeKind::RolloutHalted,
                app: None,
                appid: None,
                platform: None,
                fingerprint: None,
                wave: Some(wave.clone()),
                detail: Some(format!(
                    "{release} in wave {wave} after rejections of {}; {help}",
                    rejected.join(", ")
                )),
                at_ms,
                key: format!("rollout/{release}/{}", NoticeKind::RolloutHalted.as_str()),
            });
        }
        _ => return None,
    };
    let fingerprint = fingerprint.unwrap_or_else(|| app.fingerprint.clone());
    Some(Notice {
        kind,
        key: format!("{}/{fingerprint}/{}", app.appid, kind.as_str()),
        app: Some(app.name.clone()),
        appid: Some(app.appid.clone()),
        platform: Some(app.platform.to_string()),
        fingerprint: Some(fingerprint),
        detail,
        wave: None,
        at_ms,
    })
}

/// What a sink did, for `/metrics`.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Notices told.
    pub sent: AtomicU64,
    /// Messages that failed after every try.
    pub failed: AtomicU64,
    /// Notices dropped because its queue was full.
    pub dropped: AtomicU64,
}

/// One sink at work: its settings, its queue, what it did.
struct Running {
    sink: Sink,
    queue: mpsc::Sender<Notice>,
    stats: Arc<SinkStats>,
    worker: tokio::task::JoinHandle<()>,
}

/// What the notifier knows of an app of the fleet.
struct Whom {
    labels: BTreeMap<String, String>,
    /// Its rollout wave's name, when the fleet has waves.
    wave: Option<String>,
}

/// The notifier: subscribe it to the engine's events (see the module doc).
pub struct Notifier {
    store: Store,
    http: reqwest::Client,
    running: RwLock<Vec<Running>>,
    /// The apps' labels and rollout wave, by name: for the sinks' selectors and the digests.
    apps: RwLock<HashMap<String, Whom>>,
    /// Keys queued and not yet told: an event that comes again meanwhile is not queued twice.
    pending: Arc<Mutex<HashSet<String>>>,
    spec: RwLock<Option<NotifySpec>>,
}

impl Notifier {
    /// A notifier for `fleet`'s `notify` section (none: it tells nothing), recording what it told
    /// in `store`. Its workers run on the current tokio runtime.
    pub fn new(fleet: &Fleet, store: Store) -> Arc<Notifier> {
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            .unwrap_or_default();
        let notifier = Arc::new(Notifier {
            store,
            http,
            running: RwLock::default(),
            apps: RwLock::default(),
            pending: Arc::default(),
            spec: RwLock::default(),
        });
        notifier.follow_fleet(fleet);
        notifier
    }

    /// Follows a new fleet: the apps' labels and waves, and the sinks when they changed (the old
    /// workers finish what they hold).
    pub fn follow_fleet(&self, fleet: &Fleet) {
        let apps = fleet
            .apps
            .iter()
            .map(|a| {
                let labels = a.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned()));
                let wave = fleet.rollout.as_ref().and_then(|rollout| {
                    let w = crate::plan::rollout::wave_of(rollout, a);
                    rollout.waves.get(w).map(|w| w.name.clone())
                });
                let whom = Whom {
                    labels: labels.collect(),
                    wave,
                };
                (a.name.clone(), whom)
            })
            .collect();
        *write(&self.apps) = apps;
        if *read(&self.spec) == fleet.notify {
            return;
        }
        *write(&self.spec) = fleet.notify.clone();
        let Some(spec) = &fleet.notify else {
            write(&self.running).clear();
            return;
        };
        let running = spec
            .sinks
            .iter()
            .map(|sink| self.start(sink.clone(), spec))
            .collect();
        *write(&self.running) = running;
    }

    fn start(&self, sink: Sink, spec: &NotifySpec) -> Running {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let stats = Arc::new(SinkStats::default());
        let worker = Worker {
            sink: sink.clone(),
            link: spec.link.clone(),
            batch: spec.batch,
            http: self.http.clone(),
            store: self.store.clone(),
            stats: Arc::clone(&stats),
            pending: Arc::clone(&self.pending),
        };
        Running {
            sink,
            queue,
            stats,
            worker: tokio::spawn(worker.run(receiver)),
        }
    }

    /// Each sink's name, kind and counts, for `/metrics`.
    pub fn stats(&self) -> Vec<(String, SinkKind, Arc<SinkStats>)> {
        read(&self.running)
            .iter()
            .map(|r| (r.sink.name.clone(), r.sink.kind, Arc::clone(&r.stats)))
            .collect()
    }

    /// Stops taking notices and waits (at most `within`) for the sinks to tell what they hold:
    /// the end of a `reconcile` run.
    pub async fn finish(&self, within: Duration) {
        let running = std::mem::take(&mut *write(&self.running));
        let workers: Vec<_> = running.into_iter().map(|r| r.worker).collect();
        let all = futures_util::future::join_all(workers);
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!(?within, "some notifications were not sent before the end");
        }
    }

    /// Whether `sink` wants `notice`.
    fn wants(&self, sink: &Sink, notice: &Notice) -> bool {
        if !sink.events.contains(&notice.kind) {
            return false;
        }
        if sink.selector.is_empty() {
            return true;
        }
        let apps = read(&self.apps);
        let Some(app) = notice.app.as_ref().and_then(|a| apps.get(a)) else {
            // A fleet-wide notice (a halted release) goes to every sink that wants its kind.
            return notice.app.is_none();
        };
        sink.selector
            .iter()
            .all(|(k, v)| app.labels.get(k) == Some(v))
    }
}

impl Subscriber for Notifier {
    fn on(&self, event: &Event) {
        let quota_low = read(&self.spec).as_ref().map_or(0, |s| s.quota_low);
        let Some(mut notice) = notice_of(event, crate::engine::now_ms(), quota_low) else {
            return;
        };
        if let Some(app) = &notice.app {
            notice.wave = read(&self.apps).get(app).and_then(|a| a.wave.clone());
        }
        for running in read(&self.running).iter() {
            if !self.wants(&running.sink, &notice) {
                continue;
            }
            let key = format!("{}/{}", running.sink.name, notice.key);
            if self.store.was_notified(&key).unwrap_or(false) {
                continue;
            }
            if !lock(&self.pending).insert(key.clone()) {
                continue;
            }
            let mut queued = notice.clone();
            queued.key = key;
            if let Err(err) = running.queue.try_send(queued) {
                running.stats.dropped.fetch_add(1, Ordering::Relaxed);
                let dropped = match err {
                    mpsc::error::TrySendError::Full(n) | mpsc::error::TrySendError::Closed(n) => n,
                };
                lock(&self.pending).remove(&dropped.key);
            }
        }
    }
}

/// A sink's worker: batches, signs, sends, retries, records.
struct Worker {
    sink: Sink,
    link: Option<String>,
    batch: Duration,
    http: reqwest::Client,
    store: Store,
    stats: Arc<SinkStats>,
    pending: Arc<Mutex<HashSet<String>>>,
}

impl Worker {
    async fn run(self, mut queue: mpsc::Receiver<Notice>) {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + self.batch;
            while let Ok(Some(more)) = tokio::time::timeout_at(deadline, queue.recv()).await {
                batch.push(more);
            }
            self.tell(&batch).await;
        }
    }

    /// Sends one message for `batch`, trying again with backoff; records what was told.
    async fn tell(&self, batch: &[Notice]) {
        let mut pause = Duration::from_secs(1);
        let mut last = String::new();
        for attempt in 1..=TRIES {
            match self.send(batch).await {
                Ok(()) => {
                    let now = crate::engine::now_ms();
                    for notice in batch {
                        if let Err(err) = self.store.mark_notified(&notice.key, now) {
                            tracing::warn!(sink = %self.sink.name, error = %err, "cannot record a notification as sent");
                        }
                    }
                    self.stats
                        .sent
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.forget(batch);
                    return;
                }
                Err(err) => last = err,
            }
            if attempt < TRIES {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(sink = %self.sink.name, error = %last, notices = batch.len(), "a notification could not be sent");
        self.forget(batch);
    }

    fn forget(&self, batch: &[Notice]) {
        let mut pending = lock(&self.pending);
        for notice in batch {
            pending.remove(&notice.key);
        }
    }

    /// One message to the sink; the error in words (never with the URL, which is a credential).
    async fn send(&self, batch: &[Notice]) -> Result<(), String> {
        let sink = &self.sink;
        let mut body = message::body(sink.kind, batch, sink.language, self.link.as_deref());
        let mut url = sink.url.expose().to_owned();
        let now = crate::engine::now_ms();
        let secret = sink.secret.as_ref().map(|s| s.expose().to_owned());
        match (sink.kind, &secret) {
            (SinkKind::Dingtalk, Some(secret)) => {
                let sign = sign::dingtalk(secret, now);
                let sep = if url.contains('?') { '&' } else { '?' };
                url.push_str(&format!(
                    "{sep}timestamp={now}&sign={}",
                    crate::platform::http::query_value(&sign)
                ));
            }
            (SinkKind::Feishu, Some(secret)) => {
                let seconds = now / 1000;
                body["timestamp"] = serde_json::json!(seconds.to_string());
                body["sign"] = serde_json::json!(sign::feishu(secret, seconds));
            }
            _ => {}
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let (SinkKind::Webhook, Some(secret)) = (sink.kind, &secret) {
            let seconds = now / 1000;
            request = request
                .header("X-Minifleet-Timestamp", seconds.to_string())
                .header(
                    "X-Minifleet-Signature",
                    sign::webhook(secret, seconds, &bytes),
                );
        }
        let response = request
            .body(bytes)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        // The robots answer 200 with their own error codes.
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let code = answer
            .get("errcode")
            .or_else(|| answer.get("code"))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if code != 0 {
            let msg = answer
                .get("errmsg")
                .or_else(|| answer.get("msg"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            return Err(crate::scrub::scrub(&format!(
                "{} answered {code}: {msg}",
                sink.kind.as_str()
            )));
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::AppRef;

    fn app() -> AppRef {
        crate::engine::fixtures::app_ref()
    }

    #[test]
    fn events_make_the_notices_a_sink_can_want_and_nothing_else() {
        let kind = |e: &Event| notice_of(e, 0, 10).map(|n| n.kind);
        let rejected = Event::AuditRejected {
            app: app(),
            audit_id: "7".into(),
            build: Some("99aabbcc".into()),
            reason: Some("logo".into()),
        };
        let n = notice_of(&rejected, 5, 10).unwrap();
        assert_eq!(n.kind, NoticeKind::AuditRejected);
        assert_eq!(n.detail.as_deref(), Some("logo"));
        assert_eq!(
            n.key, "wx1111111111111111/99aabbcc/audit_rejected",
            "the rejected build's"
        );
        let state = |from: Option<&str>, to: &str| Event::StateChanged {
            app: app(),
            from: from.map(str::to_owned),
            to: to.into(),
            reason: Some("wxa/commit failed with 85013".into()),
        };
        assert_eq!(
            kind(&state(Some("changes"), "failed")),
            Some(NoticeKind::AppFailed)
        );
        assert_eq!(
            kind(&state(Some("waiting_on_audit"), "in_sync")),
            Some(NoticeKind::Converged)
        );
        assert_eq!(
            kind(&state(None, "in_sync")),
            None,
            "known in sync already: no news"
        );
        assert_eq!(kind(&state(Some("in_sync"), "changes")), None);
        let held = |k: &'static str| Event::Held {
            app: app(),
            kind: k,
            until_ms: None,
            reason: "why".into(),
        };
        assert_eq!(kind(&held("gate")), Some(NoticeKind::GateWaiting));
        assert_eq!(kind(&held("audit_quota")), Some(NoticeKind::QuotaExhausted));
        assert_eq!(kind(&held("backoff")), None);
        let halted = Event::Rollout {
            change: crate::plan::rollout::Change::Halted {
                release: "shop@1.5.0".into(),
                wave: "east".into(),
                rejected: vec!["tea-house".into(), "rice-shop".into()],
                help: "fix the build, or `minifleet resume shop@1.5.0`".into(),
            },
        };
        let n = notice_of(&halted, 0, 10).unwrap();
        assert_eq!(n.kind, NoticeKind::RolloutHalted);
        assert_eq!(n.app, None);
        assert!(
            n.detail
                .unwrap()
                .contains("wave east after rejections of tea-house, rice-shop")
        );
        assert_eq!(n.key, "rollout/shop@1.5.0/rollout_halted");
        assert_eq!(kind(&Event::Observed { app: app() }), None);
        let quota = |left| Event::AuditQuota {
            platform: crate::platform::wechat::spec::KIND,
            left,
            limit: 20,
            resets_at: Some(1_798_732_800),
        };
        assert_eq!(kind(&quota(11)), None, "above the threshold");
        let n = notice_of(&quota(10), 0, 10).unwrap();
        assert_eq!(n.kind, NoticeKind::QuotaLow);
        assert!(
            n.detail
                .as_deref()
                .unwrap()
                .contains("10 of 20 audit submissions left")
        );
        assert_eq!(n.key, "quota/wechat/1798732800/quota_low", "once a month");
    }
}
