//! The scheduler under tokio's paused clock, with a fake pass that records when it ran.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::*;
use crate::engine::fixtures::{apps, report};
use crate::model::AppState;

const THREE: &str = "  - { name: a, platform: wechat, appid: \"wx1111111111111111\", version: 1.0.0, stage: experience }\n  \
                     - { name: b, platform: wechat, appid: \"wx2222222222222222\", version: 1.0.0, stage: experience }\n  \
                     - { name: c, platform: wechat, appid: \"wx3333333333333333\", version: 1.0.0, stage: experience }\n";

/// What the fake pass saw.
#[derive(Default)]
struct Log {
    /// (app, version, trigger, started at).
    runs: Vec<(String, String, Trigger, Instant)>,
    in_flight: HashMap<String, usize>,
    max_per_app: usize,
    max_total: usize,
}

/// One fake pass of `app`: logged, `took` long, reporting the state set for it.
async fn pass(
    log: &Mutex<Log>,
    states: &Mutex<HashMap<String, AppState>>,
    app: Desired,
    trigger: Trigger,
    took: Duration,
    done: &mpsc::UnboundedSender<Done>,
) {
    {
        let mut l = log.lock().unwrap();
        l.runs.push((
            app.name.clone(),
            app.version.clone(),
            trigger,
            Instant::now(),
        ));
        let n = l.in_flight.entry(app.name.clone()).or_default();
        *n += 1;
        let n = *n;
        let total: usize = l.in_flight.values().sum();
        l.max_per_app = l.max_per_app.max(n);
        l.max_total = l.max_total.max(total);
    }
    tokio::time::sleep(took).await;
    *log.lock().unwrap().in_flight.get_mut(&app.name).unwrap() -= 1;
    let state = states
        .lock()
        .unwrap()
        .get(&app.name)
        .cloned()
        .unwrap_or(AppState::InSync);
    let mut r = report(state, Vec::new());
    r.app = app.name.clone();
    r.appid = app.appid.clone();
    let _ = done.send(Done::Passed(Box::new(r)));
}

struct Fake {
    log: Arc<Mutex<Log>>,
    /// The state every pass of an app reports (default in sync).
    states: Arc<Mutex<HashMap<String, AppState>>>,
    took: Duration,
}

impl Fake {
    fn new(took: Duration) -> Fake {
        Fake {
            log: Arc::default(),
            states: Arc::default(),
            took,
        }
    }

    /// A round that passes each app in its own task while it holds a permit, as the engine does.
    fn round_fn(&self) -> RoundFn {
        let (log, states, took) = (self.log.clone(), self.states.clone(), self.took);
        Arc::new(move |due: Vec<Due>, permits: Arc<Semaphore>, done| {
            let (log, states) = (log.clone(), states.clone());
            Box::pin(async move {
                let mut tasks = JoinSet::new();
                for Due { app, trigger } in due {
                    let (log, states, permits, done) =
                        (log.clone(), states.clone(), permits.clone(), done.clone());
                    tasks.spawn(async move {
                        let Ok(_permit) = permits.acquire_owned().await else {
                            let _ = done.send(Done::Skipped(app.name.clone()));
                            return;
                        };
                        pass(&log, &states, app, trigger, took, &done).await;
                    });
                }
                while tasks.join_next().await.is_some() {}
            })
        })
    }

    fn runs_of(&self, name: &str) -> Vec<(Trigger, Instant, String)> {
        self.log
            .lock()
            .unwrap()
            .runs
            .iter()
            .filter(|r| r.0 == name)
            .map(|r| (r.2, r.3, r.1.clone()))
            .collect()
    }
}

fn timing() -> Timing {
    Timing::new(Duration::from_secs(600), Duration::from_secs(60), true)
}

struct Running {
    commands: mpsc::UnboundedSender<Command>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Ended>,
}

fn start(fake: &Fake, concurrency: usize, grace: Duration) -> Running {
    let (commands, rx) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let scheduler = Scheduler::new(fake.round_fn(), timing(), concurrency);
    let until = Until::Stopped {
        stop: Box::pin(async {
            let _ = stopped.await;
        }),
        grace,
    };
    let task = tokio::spawn(async move { scheduler.run(rx, until, &mut Quiet).await });
    Running {
        commands,
        stop,
        task,
    }
}

fn load(running: &Running, old: &[Desired], new: &[Desired], trigger: Trigger) {
    let diff = FleetDiff::between(old, new);
    running
        .commands
        .send(Command::Fleet { diff, trigger })
        .unwrap();
}

async fn stop(running: Running) -> Ended {
    running.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), running.task)
        .await
        .expect("the scheduler stops")
        .expect("the scheduler task")
}

#[tokio::test(start_paused = true)]
async fn never_two_passes_of_one_app_and_never_more_than_the_bound() {
    let fake = Fake::new(Duration::from_millis(100));
    for name in ["a", "b", "c"] {
        fake.states
            .lock()
            .unwrap()
            .insert(name.into(), AppState::Changes);
    }
    let running = start(&fake, 2, Duration::from_secs(5));
    load(&running, &[], &apps(THREE), Trigger::Start);
    // Pushes hammer app `a` while its passes run.
    for _ in 0..40 {
        running
            .commands
            .send(Command::Push {
                appid: "wx1111111111111111".into(),
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop(running).await;
    let log = fake.log.lock().unwrap();
    assert_eq!(log.max_per_app, 1, "two passes of one app overlapped");
    assert_eq!(log.max_total, 2, "the concurrency bound is 2");
    for name in ["a", "b", "c"] {
        let n = log.runs.iter().filter(|r| r.0 == name).count();
        assert!(n >= 2, "app {name} ran {n} times in 1 s");
    }
}

#[tokio::test(start_paused = true)]
async fn an_audit_push_starts_the_app_at_once() {
    let fake = Fake::new(Duration::from_millis(10));
    fake.states
        .lock()
        .unwrap()
        .insert("b".into(), AppState::WaitingOnAudit);
    let running = start(&fake, 4, Duration::from_secs(5));
    let begun = Instant::now();
    load(&running, &[], &apps(THREE), Trigger::Start);
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Waiting on audit polls after 60 s; nothing ran again in 5 s.
    assert_eq!(fake.runs_of("b").len(), 1);
    let pushed = Instant::now();
    running
        .commands
        .send(Command::Push {
            appid: "wx2222222222222222".into(),
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop(running).await;
    let runs = fake.runs_of("b");
    assert_eq!(runs.len(), 2, "{:?}", runs);
    assert_eq!(runs[0].0, Trigger::Start);
    assert!(runs[0].1 - begun < Duration::from_millis(5));
    assert_eq!(runs[1].0, Trigger::Push);
    assert!(runs[1].1 - pushed < Duration::from_millis(5));
    // The other apps are untouched by the push.
    assert_eq!(fake.runs_of("a").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn waiting_on_audit_is_polled_with_growing_intervals() {
    let fake = Fake::new(Duration::ZERO);
    fake.states
        .lock()
        .unwrap()
        .insert("a".into(), AppState::WaitingOnAudit);
    let running = start(&fake, 4, Duration::from_secs(5));
    let begun = Instant::now();
    let one = apps(THREE)[..1].to_vec();
    load(&running, &[], &one, Trigger::Start);
    tokio::time::sleep(Duration::from_secs(500)).await;
    stop(running).await;
    let offsets: Vec<u64> = fake
        .runs_of("a")
        .iter()
        .map(|(_, at, _)| (*at - begun).as_secs())
        .collect();
    // 60, 120, 240 s after each other.
    assert_eq!(offsets, [0, 60, 180, 420]);
}

#[tokio::test(start_paused = true)]
async fn a_reload_replans_only_touched_apps_and_forgets_removed_ones() {
    let fake = Fake::new(Duration::from_millis(10));
    let running = start(&fake, 4, Duration::from_secs(5));
    let old = apps(THREE);
    load(&running, &[], &old, Trigger::Start);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let new = apps(
        &THREE
            .replacen("version: 1.0.0", "version: 2.0.0", 1)
            .replace("  - { name: c, platform: wechat, appid: \"wx3333333333333333\", version: 1.0.0, stage: experience }\n", ""),
    );
    assert_eq!(new.len(), 2);
    load(&running, &old, &new, Trigger::Reload);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop(running).await;
    let a = fake.runs_of("a");
    assert_eq!(a.len(), 2);
    assert_eq!((a[1].0, a[1].2.as_str()), (Trigger::Reload, "2.0.0"));
    assert_eq!(fake.runs_of("b").len(), 1, "b did not change");
    assert_eq!(fake.runs_of("c").len(), 1, "c was removed");
}

#[tokio::test(start_paused = true)]
async fn stopping_lets_passes_in_flight_finish_within_the_grace() {
    let fake = Fake::new(Duration::from_secs(2));
    let running = start(&fake, 4, Duration::from_secs(30));
    load(&running, &[], &apps(THREE), Trigger::Start);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drained = stop(running).await;
    assert_eq!((drained.finished, drained.abandoned), (3, 0));
    assert!(fake.log.lock().unwrap().in_flight.values().all(|n| *n == 0));
}

#[tokio::test(start_paused = true)]
async fn stopping_cancels_what_outlasts_the_grace() {
    let fake = Fake::new(Duration::from_secs(600));
    let running = start(&fake, 1, Duration::from_secs(1));
    load(&running, &[], &apps(THREE), Trigger::Start);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drained = stop(running).await;
    assert_eq!((drained.finished, drained.abandoned), (0, 1));
    // Only one pass had started: the bound was 1 and nothing new starts after the stop.
    assert_eq!(fake.log.lock().unwrap().runs.len(), 1);
}

/// Runs the scheduler over `THREE` until `until`, with the states set on `fake`.
async fn run_until(fake: &Fake, until: Until) -> Ended {
    let (commands, rx) = mpsc::unbounded_channel();
    let diff = FleetDiff::between(&[], &apps(THREE));
    commands
        .send(Command::Fleet {
            diff,
            trigger: Trigger::Start,
        })
        .unwrap();
    drop(commands);
    let scheduler = Scheduler::new(fake.round_fn(), timing(), 2);
    tokio::time::timeout(
        Duration::from_secs(3600),
        scheduler.run(rx, until, &mut Quiet),
    )
    .await
    .expect("the loop ends by itself")
}

#[tokio::test(start_paused = true)]
async fn until_settled_ends_once_every_app_settled() {
    let fake = Fake::new(Duration::from_millis(10));
    fake.states.lock().unwrap().insert(
        "b".into(),
        AppState::Failed {
            reason: "x".into(),
            help: String::new(),
        },
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let ended = run_until(&fake, Until::Settled { deadline }).await;
    assert_eq!(ended.rounds, 1);
    assert!(!ended.timed_out);
    assert_eq!(ended.last.len(), 3);
    assert!(ended.outcomes.values().all(|o| o.settled));
    assert!(Instant::now() < deadline);
}

#[tokio::test(start_paused = true)]
async fn until_settled_times_out_while_an_app_still_moves() {
    let fake = Fake::new(Duration::from_millis(10));
    fake.states
        .lock()
        .unwrap()
        .insert("a".into(), AppState::WaitingOnAudit);
    let begun = Instant::now();
    let deadline = begun + Duration::from_secs(300);
    let ended = run_until(&fake, Until::Settled { deadline }).await;
    // Polls after 60, 120 s (then 240 s would pass the deadline): the loop gives up at once.
    assert_eq!(fake.runs_of("a").len(), 3, "{:?}", fake.runs_of("a"));
    assert_eq!(fake.runs_of("b").len(), 1);
    assert!(!ended.outcomes["a"].settled);
    assert_eq!(ended.outcomes["a"].held_until_ms, None);
    assert!(Instant::now() - begun < Duration::from_secs(300));
}

#[tokio::test(start_paused = true)]
async fn one_round_passes_every_app_once_in_fleet_order() {
    let fake = Fake::new(Duration::from_millis(10));
    for name in ["a", "b", "c"] {
        fake.states
            .lock()
            .unwrap()
            .insert(name.into(), AppState::Changes);
    }
    let ended = run_until(&fake, Until::OneRound).await;
    assert_eq!(ended.rounds, 1);
    let log = fake.log.lock().unwrap();
    let names: Vec<&str> = log.runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"], "fleet order, each once");
}

#[tokio::test(start_paused = true)]
async fn an_audit_push_waits_for_one_pass_not_for_the_whole_fleet_to_resync() {
    // One slot; each pass takes 1 s; three apps due at once at start-up.
    let fake = Fake::new(Duration::from_secs(1));
    let running = start(&fake, 1, Duration::from_secs(5));
    load(&running, &[], &apps(THREE), Trigger::Start);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pushed = Instant::now();
    running
        .commands
        .send(Command::Push {
            appid: "wx3333333333333333".into(),
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop(running).await;
    // `a` was running; `c`, pushed, goes next, before `b`, due longer but less urgent.
    let c = fake.runs_of("c");
    assert_eq!(c[0].0, Trigger::Push, "{c:?}");
    assert!(c[0].1 - pushed < Duration::from_secs(1), "{c:?}");
    let b = fake.runs_of("b");
    assert!(b[0].1 > c[0].1, "b {b:?}, c {c:?}");
    let log = fake.log.lock().unwrap();
    assert_eq!(log.max_total, 1, "never more than the bound");
}
