//! The per-app scheduler, after kube-runtime's: one slot per app, never two passes of one app at
//! once, at most `concurrency` passes in all; every pass is requeued (see [`super::requeue`]), a
//! fleet change or an audit push makes an app due at once. On stop it starts nothing new and lets
//! the passes in flight finish, for at most a grace period.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use super::diff::FleetDiff;
use super::requeue::{Counters, Timing, requeue};
use crate::engine::AppReport;
use crate::model::Desired;
use crate::platform::BoxFuture;

/// Why a pass runs (a metric label: a small fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The fleet was loaded at start-up.
    Start,
    /// The app was added or changed in the fleet file.
    Reload,
    /// An audit result was pushed for the app.
    Push,
    /// The last pass asked for another one later.
    Requeue,
}

impl Trigger {
    /// The trigger's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Reload => "reload",
            Trigger::Push => "push",
            Trigger::Requeue => "requeue",
        }
    }
}

/// What the scheduler is told.
#[derive(Debug, Clone)]
pub enum Command {
    /// The fleet changed: plan the touched apps now, forget the removed ones.
    Fleet {
        /// What changed.
        diff: FleetDiff,
        /// `Start` for the first load, else `Reload`.
        trigger: Trigger,
    },
    /// An audit result was pushed for this appid: pass it now.
    Push {
        /// The app's id.
        appid: String,
    },
}

/// Runs one pass of one app.
pub type RunFn = Arc<dyn Fn(Desired, Trigger) -> BoxFuture<'static, AppReport> + Send + Sync>;

/// How the scheduler stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Passes that finished after the stop.
    pub finished: usize,
    /// Passes still running when the grace period ran out (cancelled; the journal settles them).
    pub abandoned: usize,
}

struct Slot {
    app: Desired,
    due: Option<(Instant, Trigger)>,
    counters: Counters,
}

/// The scheduler's state.
pub struct Scheduler {
    run: RunFn,
    timing: Timing,
    concurrency: usize,
    slots: BTreeMap<String, Slot>,
    running: HashMap<Id, String>,
    tasks: JoinSet<AppReport>,
}

impl Scheduler {
    /// A scheduler with no apps yet.
    pub fn new(run: RunFn, timing: Timing, concurrency: usize) -> Scheduler {
        Scheduler {
            run,
            timing,
            concurrency: concurrency.max(1),
            slots: BTreeMap::new(),
            running: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Runs until `stop` completes (with every command sender gone it goes on with the apps it
    /// has), then drains for at most `grace`.
    pub async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        stop: impl Future<Output = ()>,
        grace: Duration,
    ) -> Drained {
        tokio::pin!(stop);
        let mut open = true;
        loop {
            self.start_due(Instant::now());
            let next = self.next_due();
            tokio::select! {
                biased;
                () = &mut stop => break,
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.finished(joined);
                }
                command = commands.recv(), if open => match command {
                    Some(command) => self.command(command),
                    None => open = false,
                },
                () = sleep_until(next), if next.is_some() => {}
            }
        }
        self.drain(grace).await
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Fleet { diff, trigger } => {
                for name in &diff.removed {
                    self.slots.remove(name);
                }
                for app in diff.touched() {
                    let slot = Slot {
                        app: app.clone(),
                        due: Some((now, trigger)),
                        counters: Counters::default(),
                    };
                    self.slots.insert(app.name.clone(), slot);
                }
            }
            Command::Push { appid } => {
                let mut found = false;
                for slot in self.slots.values_mut().filter(|s| s.app.appid == appid) {
                    slot.due = Some((now, Trigger::Push));
                    slot.counters.polls = 0;
                    found = true;
                }
                if !found {
                    tracing::debug!(appid = %appid, "audit push for an app not in the fleet");
                }
            }
        }
    }

    fn is_running(&self, name: &str) -> bool {
        self.running.values().any(|n| n == name)
    }

    /// Starts the due passes, earliest first, while the concurrency bound allows.
    fn start_due(&mut self, now: Instant) {
        let mut due: Vec<(Instant, String)> = self
            .slots
            .iter()
            .filter_map(|(name, s)| s.due.map(|(at, _)| (at, name.clone())))
            .filter(|(at, name)| *at <= now && !self.is_running(name))
            .collect();
        due.sort();
        for (_, name) in due {
            if self.tasks.len() >= self.concurrency {
                break;
            }
            let Some(slot) = self.slots.get_mut(&name) else {
                continue;
            };
            let trigger = slot.due.take().map_or(Trigger::Requeue, |(_, t)| t);
            let pass = (self.run)(slot.app.clone(), trigger);
            let handle = self.tasks.spawn(pass);
            self.running.insert(handle.id(), name);
        }
    }

    /// When the next idle slot is due (`None` while the bound is reached: a finish wakes us).
    fn next_due(&self) -> Option<Instant> {
        if self.tasks.len() >= self.concurrency {
            return None;
        }
        self.slots
            .iter()
            .filter(|(name, _)| !self.is_running(name))
            .filter_map(|(_, s)| s.due.map(|(at, _)| at))
            .min()
    }

    fn finished(&mut self, joined: Result<(Id, AppReport), tokio::task::JoinError>) {
        let (id, report) = match joined {
            Ok((id, report)) => (id, Some(report)),
            Err(err) => {
                tracing::error!(error = %err, "an app's pass task died");
                (err.id(), None)
            }
        };
        let Some(name) = self.running.remove(&id) else {
            return;
        };
        let Some(slot) = self.slots.get_mut(&name) else {
            return; // removed from the fleet while it ran
        };
        let report = report.unwrap_or_else(|| AppReport::crashed(&slot.app));
        let mut next = requeue(&report, &mut slot.counters, &self.timing, fastrand::f64());
        // The store's own hold (quota parking, failure backoff) outlasts the state's requeue.
        if let Some(until) = report.held.as_ref().and_then(|h| h.until_ms) {
            let left = Duration::from_millis(until.saturating_sub(crate::engine::now_ms()));
            if left > next.after {
                next.after = left;
                next.why = "held";
            }
        }
        let at = Instant::now() + next.after;
        // A trigger that came while the pass ran wins when it is earlier.
        if slot.due.is_none_or(|(due, _)| due > at) {
            slot.due = Some((at, Trigger::Requeue));
        }
        let state = report.plan.as_ref().map_or("error", |p| p.state.name());
        tracing::info!(
            app = %name,
            state,
            requeue = next.why,
            next_in = %humantime::format_duration(round_ms(next.after)),
            "pass finished"
        );
    }

    async fn drain(mut self, grace: Duration) -> Drained {
        let mut drained = Drained::default();
        if !self.tasks.is_empty() {
            tracing::info!(
                in_flight = self.tasks.len(),
                grace = %humantime::format_duration(grace),
                "stopping: letting passes in flight finish"
            );
        }
        let deadline = Instant::now() + grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(joined)) => {
                    self.finished(joined);
                    drained.finished += 1;
                }
                Ok(None) => break,
                Err(_) => {
                    drained.abandoned = self.tasks.len();
                    tracing::warn!(
                        abandoned = drained.abandoned,
                        "grace period over: cancelling passes in flight"
                    );
                    self.tasks.shutdown().await;
                    break;
                }
            }
        }
        drained
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

#[cfg(test)]
mod tests;
