//! The one reconcile loop, after kube-runtime's scheduler: one slot per app, never two passes of
//! one app at once, at most `concurrency` apps worked on at once; every pass ends in an
//! [`Outcome`] of the one [`policy`](super::policy) that says when to look again. A fleet change
//! or an audit push makes an app due at once.
//!
//! Due apps are passed in *rounds*: every app due at a moment goes into one round, which observes
//! and plans them all, shares the audit quota among them in fleet order, then applies — so the
//! daemon budgets audits like `reconcile` does. Rounds may overlap (different apps); the
//! concurrency bound is one semaphore they share.
//!
//! `watch` runs it until a stop signal ([`Until::Stopped`]); `reconcile --wait` until every app
//! has settled or the deadline passes ([`Until::Settled`]); `reconcile` alone runs one round
//! ([`Until::OneRound`]).
//!
//! The daemon ([`Until::Stopped`]) never hands a round more apps than there are free slots of the
//! concurrency bound, and picks the due apps by urgency — a push or an edit of the fleet first,
//! then the start-up and requeued passes, resyncs last — so an audit verdict pushed while the whole
//! fleet resyncs waits for one pass to end, not for the fleet. `reconcile` hands every due app to
//! its round at once (its first round's plan is the plan it prints).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::diff::FleetDiff;
use super::policy::{Outcome, Timing, outcome};
use super::{AppReport, now_ms};
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
    /// The last pass left the app settled; this one looks again for drift.
    Resync,
    /// Someone asked for a pass through the daemon's API (`POST /api/v1/passes`).
    Api,
}

impl Trigger {
    /// How soon a due pass should start: lower first (see the module doc).
    fn urgency(self) -> u8 {
        match self {
            Trigger::Push | Trigger::Reload | Trigger::Api => 0,
            Trigger::Start | Trigger::Requeue => 1,
            Trigger::Resync => 2,
        }
    }

    /// The trigger's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Reload => "reload",
            Trigger::Push => "push",
            Trigger::Requeue => "requeue",
            Trigger::Resync => "resync",
            Trigger::Api => "api",
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
    /// Pass these apps (by name) now, as asked through the API.
    Pass {
        /// The apps' names.
        names: Vec<String>,
    },
    /// Pass these apps (by name) now: the rollout has a place for them (a wave opened, or an app
    /// of theirs went through).
    Wake {
        /// The apps' names.
        names: Vec<String>,
    },
}

/// An app due for a pass, and why.
#[derive(Debug, Clone)]
pub struct Due {
    /// The app.
    pub app: Desired,
    /// Why it is due.
    pub trigger: Trigger,
}

/// What a round hands back for each of its apps.
#[derive(Debug, Clone)]
pub enum Done {
    /// The app's pass finished.
    Passed(Box<AppReport>),
    /// The app's pass never started: the loop is stopping (by name).
    Skipped(String),
}

/// Runs one round over the due apps (in fleet order): each app works only while it holds a permit
/// of the shared semaphore (a closed semaphore: skip it), and hands back a [`Done`] per app.
pub type RoundFn = Arc<
    dyn Fn(Vec<Due>, Arc<Semaphore>, mpsc::UnboundedSender<Done>) -> BoxFuture<'static, ()>
        + Send
        + Sync,
>;

/// When the loop ends.
pub enum Until {
    /// After one round over the apps given at the start.
    OneRound,
    /// When every app has settled, or none can before `deadline` (then the passes in flight are
    /// cancelled; the journal settles them on the next run).
    Settled {
        /// When to give up.
        deadline: Instant,
    },
    /// When the future completes; passes in flight then get `grace` to finish.
    Stopped {
        /// The stop signal.
        stop: BoxFuture<'static, ()>,
        /// How long passes in flight get after it.
        grace: Duration,
    },
}

/// What the loop tells its caller while it runs (progress for people, nothing it depends on).
pub trait Watcher: Send {
    /// Every app's pass finished with `outcome`.
    fn finished(&mut self, _report: &AppReport, _outcome: &Outcome, _trigger: Trigger) {}
    /// Nothing runs; `pending` apps have not settled and the next pass is `next_in` away.
    fn idle(&mut self, _pending: &[&AppReport], _next_in: Duration) {}
}

/// A watcher that watches nothing.
pub struct Quiet;
impl Watcher for Quiet {}

/// How the loop ended.
#[derive(Debug, Default)]
pub struct Ended {
    /// The last report of every app that passed, by name.
    pub last: BTreeMap<String, AppReport>,
    /// The last outcome of every app that passed, by name.
    pub outcomes: BTreeMap<String, Outcome>,
    /// Rounds started.
    pub rounds: u32,
    /// `Until::Settled`: the deadline passed while apps could still move.
    pub timed_out: bool,
    /// `Until::Stopped`: passes that finished after the stop.
    pub finished: usize,
    /// Passes still running when the grace period (or the deadline) ran out, cancelled.
    pub abandoned: usize,
}

struct Slot {
    app: Desired,
    /// Place in the fleet file: rounds take due apps in this order.
    order: usize,
    due: Option<(Instant, Trigger)>,
    /// The trigger of the pass in flight.
    running: Option<Trigger>,
    polls: u32,
    outcome: Option<Outcome>,
}

/// The loop's state.
pub struct Scheduler {
    round: RoundFn,
    timing: Timing,
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Rounds take at most the free slots, most urgent first (the daemon).
    by_urgency: bool,
    slots: BTreeMap<String, Slot>,
    rounds: JoinSet<()>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    ended: Ended,
}

impl Scheduler {
    /// A scheduler with no apps yet, passing at most `concurrency` apps at once.
    pub fn new(round: RoundFn, timing: Timing, concurrency: usize) -> Scheduler {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Scheduler {
            round,
            timing,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            by_urgency: false,
            slots: BTreeMap::new(),
            rounds: JoinSet::new(),
            done_tx,
            done_rx,
            ended: Ended::default(),
        }
    }

    /// Runs until `until` says so, taking `commands` as they come (with every sender gone it
    /// goes on with the apps it has), telling `watcher` how it goes.
    pub async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        until: Until,
        watcher: &mut dyn Watcher,
    ) -> Ended {
        // Commands already sent (the start-up fleet) count before the first round.
        while let Ok(command) = commands.try_recv() {
            self.command(command);
        }
        self.by_urgency = matches!(until, Until::Stopped { .. });
        let (mut stop, grace, deadline, one_round) = match until {
            Until::OneRound => (None, Duration::ZERO, None, true),
            Until::Settled { deadline } => (None, Duration::ZERO, Some(deadline), false),
            Until::Stopped { stop, grace } => (Some(stop), grace, None, false),
        };
        let mut open = true;
        let mut told: Option<Instant> = None;
        loop {
            if !one_round || self.ended.rounds == 0 {
                self.start_round(Instant::now());
            }
            if one_round && self.idle() {
                break;
            }
            if let Some(deadline) = deadline {
                if self.idle() && self.settled_by(deadline) {
                    break;
                }
                if Instant::now() >= deadline {
                    self.ended.timed_out = !self.idle() || !self.settled_by(deadline);
                    self.abandon().await;
                    break;
                }
            }
            let next = if one_round { None } else { self.next_due() };
            if self.idle() && next.is_some() && next != told {
                told = next;
                let pending: Vec<&AppReport> = self.pending().collect();
                if let (Some(at), false) = (next, pending.is_empty()) {
                    watcher.idle(&pending, at.saturating_duration_since(Instant::now()));
                }
            }
            let wake = match (next, deadline) {
                (Some(at), Some(d)) => Some(at.min(d)),
                (at, d) => at.or(d),
            };
            tokio::select! {
                biased;
                () = async { stop.as_mut().expect("guarded").await }, if stop.is_some() => break,
                // Commands (pushes, edits) before finished passes: under full load a pass ends
                // every few milliseconds, and a push waiting behind them would wait for ever.
                command = commands.recv(), if open => match command {
                    Some(command) => self.command(command),
                    None => open = false,
                },
                Some(done) = self.done_rx.recv() => self.done(done, watcher),
                Some(joined) = self.rounds.join_next(), if !self.rounds.is_empty() => {
                    self.round_ended(joined, watcher);
                }
                () = sleep_until(wake), if wake.is_some() => {}
            }
        }
        if stop.is_some() {
            self.drain(grace, watcher).await;
        }
        self.ended
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Fleet { diff, trigger } => {
                for name in &diff.removed {
                    self.slots.remove(name);
                }
                for app in diff.touched() {
                    let running = self.slots.get(&app.name).and_then(|s| s.running);
                    let slot = Slot {
                        app: app.clone(),
                        order: 0,
                        due: Some((now, trigger)),
                        running,
                        polls: 0,
                        outcome: None,
                    };
                    self.slots.insert(app.name.clone(), slot);
                }
                for (order, name) in diff.order.iter().enumerate() {
                    if let Some(slot) = self.slots.get_mut(name) {
                        slot.order = order;
                    }
                }
            }
            Command::Push { appid } => {
                let mut found = false;
                for slot in self.slots.values_mut().filter(|s| s.app.appid == appid) {
                    slot.due = Some((now, Trigger::Push));
                    slot.polls = 0;
                    found = true;
                }
                if !found {
                    tracing::debug!(appid = %appid, "audit push for an app not in the fleet");
                }
            }
            Command::Pass { names } => self.due_now(names, Trigger::Api, now),
            Command::Wake { names } => self.due_now(names, Trigger::Requeue, now),
        }
    }

    /// The apps named `names` are due now, for `trigger`.
    fn due_now(&mut self, names: Vec<String>, trigger: Trigger, now: Instant) {
        for name in names {
            if let Some(slot) = self.slots.get_mut(&name) {
                slot.due = Some((now, trigger));
                slot.polls = 0;
            }
        }
    }

    /// Whether no pass is in flight.
    fn idle(&self) -> bool {
        self.slots.values().all(|s| s.running.is_none())
    }

    /// Starts one round with the due apps that are not running, in fleet order: every one, or
    /// (by urgency) the most urgent that fit in the free slots.
    fn start_round(&mut self, now: Instant) {
        let mut due: Vec<(u8, usize, String)> = self
            .slots
            .iter()
            .filter_map(|(name, s)| match (s.running, s.due) {
                (None, Some((at, trigger))) if at <= now => {
                    let urgency = if self.by_urgency {
                        trigger.urgency()
                    } else {
                        0
                    };
                    Some((urgency, s.order, name.clone()))
                }
                _ => None,
            })
            .collect();
        if due.is_empty() {
            return;
        }
        due.sort();
        if self.by_urgency {
            let running = self.slots.values().filter(|s| s.running.is_some()).count();
            due.truncate(self.concurrency.saturating_sub(running));
            if due.is_empty() {
                return;
            }
            // A round still runs its apps in fleet order (the audit quota is shared that way).
            due.sort_by_key(|(_, order, _)| *order);
        }
        let mut apps = Vec::with_capacity(due.len());
        for (_, _, name) in due {
            let Some(slot) = self.slots.get_mut(&name) else {
                continue;
            };
            let trigger = slot.due.take().map_or(Trigger::Requeue, |(_, t)| t);
            slot.running = Some(trigger);
            apps.push(Due {
                app: slot.app.clone(),
                trigger,
            });
        }
        self.ended.rounds += 1;
        let round = (self.round)(apps, self.permits.clone(), self.done_tx.clone());
        self.rounds.spawn(round);
    }

    /// When the next idle slot is due; `None` while rounds take apps by urgency and every slot
    /// of the bound is taken (a pass ending wakes the loop).
    fn next_due(&self) -> Option<Instant> {
        let running = self.slots.values().filter(|s| s.running.is_some()).count();
        if self.by_urgency && running >= self.concurrency {
            return None;
        }
        self.slots
            .values()
            .filter(|s| s.running.is_none())
            .filter_map(|s| s.due.map(|(at, _)| at))
            .min()
    }

    /// Whether every app has settled, or those that have not cannot move before `deadline`
    /// (held past it, or polled next after it).
    fn settled_by(&self, deadline: Instant) -> bool {
        self.slots.values().all(|s| {
            let settled = s.outcome.is_some_and(|o| o.settled);
            settled || s.due.is_none_or(|(at, _)| at > deadline)
        })
    }

    /// The last reports of the apps that have not settled.
    fn pending(&self) -> impl Iterator<Item = &AppReport> {
        self.slots
            .iter()
            .filter(|(_, s)| s.outcome.is_some_and(|o| !o.settled))
            .filter_map(|(name, _)| self.ended.last.get(name))
    }

    fn done(&mut self, done: Done, watcher: &mut dyn Watcher) {
        let report = match done {
            Done::Passed(report) => *report,
            Done::Skipped(name) => {
                if let Some(slot) = self.slots.get_mut(&name) {
                    slot.running = None;
                }
                return;
            }
        };
        let Some(slot) = self.slots.get_mut(&report.app) else {
            return; // removed from the fleet while it ran
        };
        let trigger = slot.running.take().unwrap_or(Trigger::Requeue);
        let next = outcome(
            &report,
            &mut slot.polls,
            &self.timing,
            fastrand::f64(),
            now_ms(),
        );
        let at = Instant::now() + next.after;
        // A trigger that came while the pass ran wins when it is earlier.
        if slot.due.is_none_or(|(due, _)| due > at) {
            let again = if next.settled {
                Trigger::Resync
            } else {
                Trigger::Requeue
            };
            slot.due = Some((at, again));
        }
        slot.outcome = Some(next);
        let state = report.plan.as_ref().map_or("error", |p| p.state.name());
        tracing::info!(
            app = %report.app,
            trigger = trigger.as_str(),
            state,
            requeue = next.why,
            next_in = %humantime::format_duration(whole_ms(next.after)),
            "pass finished"
        );
        watcher.finished(&report, &next, trigger);
        self.ended.outcomes.insert(report.app.clone(), next);
        self.ended.last.insert(report.app.clone(), report);
    }

    /// A round ended; when it died (a bug), its apps that never reported count as crashed passes.
    fn round_ended(
        &mut self,
        joined: Result<(), tokio::task::JoinError>,
        watcher: &mut dyn Watcher,
    ) {
        let Err(err) = joined else {
            return;
        };
        tracing::error!(error = %err, "a round's task died");
        if !self.rounds.is_empty() {
            return; // other rounds still run: their apps report themselves
        }
        while let Ok(done) = self.done_rx.try_recv() {
            self.done(done, watcher);
        }
        let orphans: Vec<AppReport> = self
            .slots
            .values()
            .filter(|s| s.running.is_some())
            .map(|s| AppReport::crashed(&s.app))
            .collect();
        for report in orphans {
            self.done(Done::Passed(Box::new(report)), watcher);
        }
    }

    /// Passes in flight at a stop get `grace` to finish; nothing new starts.
    async fn drain(&mut self, grace: Duration, watcher: &mut dyn Watcher) {
        self.permits.close();
        let in_flight = self.in_flight();
        if !in_flight.is_empty() {
            tracing::info!(
                in_flight = in_flight.len(),
                grace = %humantime::format_duration(grace),
                "stopping: letting passes in flight finish"
            );
        }
        let deadline = Instant::now() + grace;
        while !self.idle() {
            let started = self.in_flight();
            tokio::select! {
                Some(done) = self.done_rx.recv() => {
                    let passed = matches!(done, Done::Passed(_));
                    self.done(done, watcher);
                    if passed {
                        self.ended.finished += 1;
                    }
                }
                Some(_) = self.rounds.join_next(), if !self.rounds.is_empty() => {}
                () = tokio::time::sleep_until(deadline) => {
                    self.ended.abandoned = started.len();
                    tracing::warn!(abandoned = started.len(), "grace period over: cancelling passes in flight");
                    self.rounds.shutdown().await;
                    break;
                }
            }
            if self.rounds.is_empty() && self.done_rx.is_empty() {
                break;
            }
        }
    }

    /// Cancels the passes in flight (the deadline of `--wait` passed).
    async fn abandon(&mut self) {
        self.permits.close();
        self.ended.abandoned = self.in_flight().len();
        self.rounds.shutdown().await;
        while let Ok(done) = self.done_rx.try_recv() {
            if let Done::Passed(report) = done {
                self.ended.last.insert(report.app.clone(), *report);
            }
        }
    }

    /// The apps whose pass is in flight: holding a permit, or about to.
    fn in_flight(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(_, s)| s.running.is_some())
            .map(|(name, _)| name.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

/// Completes on `future` — a stop signal for [`Until::Stopped`].
pub fn stop_on(future: impl Future<Output = ()> + Send + 'static) -> BoxFuture<'static, ()> {
    Box::pin(future)
}

#[cfg(test)]
mod tests;
