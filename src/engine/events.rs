//! The engine's one event stream: typed domain events (an app observed, an action started,
//! applied or failed, an unknown outcome settled, an audit verdict, a state change, a hold, a pass
//! finished), each naming the app, its platform and the fingerprint it is after.
//!
//! Everything that reports subscribes: terminal progress (`cli`), history (the store, see
//! [`super::history`]), metrics and the daemon's status (`daemon`); an HTTP API and notifications
//! will be the next ones. Subscribers are called in order, synchronously, as the event happens
//! (so a line of progress is printed before the next call is made); they must be quick and
//! must not fail the pass. A broadcast channel carries the same events to async readers.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{Action, Desired, PlatformKind};
use crate::platform::PlatformError;

/// The app an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppRef {
    /// The app's name.
    pub name: String,
    /// The app's id.
    pub appid: String,
    /// Its platform.
    pub platform: PlatformKind,
    /// The fingerprint the fleet wants.
    pub fingerprint: String,
    /// The fleet revision (git commit, or the file's digest) the wanted state came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

impl AppRef {
    /// The reference of `app`.
    pub fn of(app: &Desired) -> AppRef {
        AppRef {
            name: app.name.clone(),
            appid: app.appid.clone(),
            platform: app.platform,
            fingerprint: app.fingerprint.clone(),
            revision: app.revision.known().map(str::to_owned),
        }
    }
}

/// Something that happened to an app.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The app's live state was read.
    Observed {
        /// The app.
        app: AppRef,
    },
    /// A mutating call is about to be made (its intent is journalled).
    ActionStarted {
        /// The app.
        app: AppRef,
        /// What is done.
        action: Action,
    },
    /// A mutating call took effect.
    ActionApplied {
        /// The app.
        app: AppRef,
        /// What was done.
        action: Action,
        /// More in words (e.g. the id of a submitted audit), if any.
        detail: Option<String>,
    },
    /// A mutating call failed.
    ActionFailed {
        /// The app.
        app: AppRef,
        /// What was tried.
        action: Action,
        /// Why (classified, with its hint).
        error: PlatformError,
    },
    /// A call whose outcome was unknown (a crash, a lost answer) was settled by observing.
    Settled {
        /// The app.
        app: AppRef,
        /// The action kind of the journalled intent.
        action: String,
        /// The fingerprint of the intent.
        fingerprint: String,
        /// When the intent was journalled (unix ms).
        intended_at_ms: u64,
        /// How it was settled, in words (`settled: applied`…).
        outcome: String,
    },
    /// The platform approved an audit.
    AuditApproved {
        /// The app.
        app: AppRef,
        /// The audit's id.
        audit_id: String,
        /// The fingerprint of the approved build, where known.
        build: Option<String>,
    },
    /// The platform rejected an audit.
    AuditRejected {
        /// The app.
        app: AppRef,
        /// The audit's id.
        audit_id: String,
        /// The fingerprint of the rejected build, where known.
        build: Option<String>,
        /// The platform's reason.
        reason: Option<String>,
    },
    /// The app's state changed (`in_sync`, `changes`, `waiting_on_audit`, `failed`,
    /// `not_authorized`).
    StateChanged {
        /// The app.
        app: AppRef,
        /// The state before, if known.
        from: Option<String>,
        /// The state now.
        to: String,
        /// Why, for a failed or unauthorized app.
        reason: Option<String>,
    },
    /// A pass is held back: a quota, a backoff or the audit budget.
    Held {
        /// The app.
        app: AppRef,
        /// `parked`, `backoff` or `audit_quota`.
        kind: &'static str,
        /// Unix ms when the hold ends, where known.
        until_ms: Option<u64>,
        /// Why, in words.
        reason: String,
    },
    /// The pass ended early: observing failed, the store failed, the pass crashed.
    PassFailed {
        /// The app.
        app: AppRef,
        /// Why, in words.
        error: String,
        /// The platform error, when a platform call failed.
        platform_error: Option<PlatformError>,
    },
    /// The fleet's rollout changed: a release halted or resumed, a wave converged. Not about
    /// one app.
    Rollout {
        /// What changed.
        change: crate::plan::rollout::Change,
    },
    /// A platform said how much of its monthly audit quota is left (a round that submits asked).
    /// Not about one app.
    AuditQuota {
        /// The platform.
        platform: PlatformKind,
        /// Submissions left this month.
        left: u32,
        /// The month's allowance.
        limit: u32,
        /// Unix seconds when it resets, where known.
        resets_at: Option<u64>,
    },
    /// The app's pass is through.
    PassFinished {
        /// The app.
        app: AppRef,
        /// Why it ran (`start`, `reload`, `push`, `requeue`).
        trigger: &'static str,
        /// The state it planned, or `error`.
        state: String,
        /// How long it took, in milliseconds.
        took_ms: u64,
        /// The actions it applied: kind and whether each took.
        actions: Vec<(String, bool)>,
    },
}

impl Event {
    /// The app the event is about (`None` for the fleet's rollout).
    pub fn app(&self) -> Option<&AppRef> {
        Some(match self {
            Event::Observed { app }
            | Event::ActionStarted { app, .. }
            | Event::ActionApplied { app, .. }
            | Event::ActionFailed { app, .. }
            | Event::Settled { app, .. }
            | Event::AuditApproved { app, .. }
            | Event::AuditRejected { app, .. }
            | Event::StateChanged { app, .. }
            | Event::Held { app, .. }
            | Event::PassFailed { app, .. }
            | Event::PassFinished { app, .. } => app,
            Event::Rollout { .. } | Event::AuditQuota { .. } => return None,
        })
    }
}

/// Something that wants the events.
pub trait Subscriber: Send + Sync {
    /// One event, as it happens. Must be quick; must not panic.
    fn on(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> Subscriber for F {
    fn on(&self, event: &Event) {
        self(event);
    }
}

/// The stream: subscribers in order, and a broadcast channel for async readers.
#[derive(Clone)]
pub struct Events {
    subscribers: Arc<RwLock<Vec<Arc<dyn Subscriber>>>>,
    channel: broadcast::Sender<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        let (channel, _) = broadcast::channel(4096);
        Events {
            subscribers: Arc::default(),
            channel,
        }
    }
}

impl Events {
    /// Adds a subscriber; it sees every event from now on.
    pub fn subscribe(&self, subscriber: Arc<dyn Subscriber>) {
        self.subscribers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(subscriber);
    }

    /// The events from now on, for an async reader (a slow one misses events: it is told how
    /// many by the channel).
    pub fn stream(&self) -> broadcast::Receiver<Arc<Event>> {
        self.channel.subscribe()
    }

    /// Hands `event` to every subscriber, then to the channel.
    pub fn emit(&self, event: Event) {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for subscriber in &subscribers {
            subscriber.on(&event);
        }
        if self.channel.receiver_count() > 0 {
            let _ = self.channel.send(Arc::new(event));
        }
    }
}

/// The action kinds a pass applied, and whether each took.
pub fn actions_of(report: &super::AppReport) -> Vec<(String, bool)> {
    report
        .applied
        .iter()
        .map(|a| (a.step.action.kind().to_string(), a.result.is_ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn app() -> AppRef {
        crate::engine::fixtures::app_ref()
    }

    #[tokio::test]
    async fn subscribers_see_every_event_in_order_and_the_channel_gets_them_too() {
        let events = Events::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        events.subscribe(Arc::new(move |e: &Event| {
            sink.lock().unwrap().push(e.clone());
        }));
        let mut stream = events.stream();
        events.emit(Event::Observed { app: app() });
        events.emit(Event::AuditApproved {
            app: app(),
            audit_id: "7".into(),
            build: Some("1a2b3c4d".into()),
        });
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert!(matches!(seen[1], Event::AuditApproved { .. }));
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*first, seen[0]);
        let json = serde_json::to_value(&seen[1]).unwrap();
        assert_eq!(json["event"], "audit_approved");
        assert_eq!(json["app"]["name"], "tea-house");
    }
}
