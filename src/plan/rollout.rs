//! Fleet-wide progressive delivery, pure: which apps may start on their wanted build now.
//!
//! The fleet's `rollout` orders the apps into waves. [`gate`] looks at every app's
//! [`Progress`] (worked out by [`progress`] from its plan) and the remembered [`RolloutState`],
//! and says for each app of the round whether its code steps may run:
//!
//! * a **halt**: when a wave's rejections of one release reach the [`HaltRule`], that release stops
//!   everywhere (no commit, submission or release of it); it lifts by itself when no app wants a
//!   rejected build any more (a fix), or with `minifleet resume`;
//! * **waves** go in order: a wave starts only once every wave before it is fully on its wanted
//!   builds and has baked for its `bake`; inside a wave at most `max_update` apps are on their way at
//!   once; `max_update: 0` waits for `minifleet promote`.
//!
//! An app that already started goes on (only a halt stops it); tester changes are never held.
//! Nothing here does I/O or reads a clock: the caller passes `now`, stores the state and tells the
//! events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::rollout::{Converged, Halt, Rollout, RolloutState};
use crate::model::{Action, AppPlan, AppState, AuditStatus, Desired, Observed};

/// Where an app stands in the rollout of the build it wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// Its wanted build is live (up to its stage): no code step is left.
    Done,
    /// On its way: the wanted build is committed (or further), or the app is stuck failing.
    InFlight,
    /// The platform rejected the audit of its wanted build.
    Rejected,
    /// Its wanted build is not started yet.
    Pending,
    /// Outside the rollout: not authorized, or suspended.
    Excluded,
    /// Not observed yet (in this process): neither done nor on its way, as far as anyone knows.
    Unknown,
}

impl Progress {
    /// Whether the app holds one of its wave's `max_update` places.
    fn in_flight(self) -> bool {
        matches!(self, Progress::InFlight | Progress::Rejected)
    }

    /// Whether the app does not keep its wave from being converged.
    fn settled(self) -> bool {
        matches!(self, Progress::Done | Progress::Excluded)
    }
}

/// Whether `action` belongs to the code pipeline (testers are not part of a rollout).
fn is_code(action: &Action) -> bool {
    !matches!(
        action,
        Action::BindTester { .. } | Action::UnbindTester { .. } | Action::VerifyTester { .. }
    )
}

/// The app's progress towards `desired`, from what was observed and planned.
pub fn progress(desired: &Desired, observed: &Observed, plan: &AppPlan) -> Progress {
    match &plan.state {
        AppState::NotAuthorized { .. } | AppState::Suspended => Progress::Excluded,
        // Its build is out, to part of the users: on its way until the walk ends.
        AppState::Graying => Progress::InFlight,
        AppState::Failed { .. } => {
            let rejected = observed.audit.as_ref().is_some_and(|a| {
                a.status == AuditStatus::Rejected
                    && a.build.fingerprint.as_deref() == Some(desired.fingerprint.as_str())
            });
            if rejected {
                Progress::Rejected
            } else {
                Progress::InFlight
            }
        }
        _ if !plan.steps.iter().any(|s| is_code(&s.action)) => Progress::Done,
        _ if plan
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Commit { .. })) =>
        {
            Progress::Pending
        }
        _ => Progress::InFlight,
    }
}

/// The release an app wants: its template and version, `shop@1.5.0` — what a halt stops.
pub fn release(desired: &Desired) -> String {
    format!("{}@{}", desired.template, desired.version)
}

/// One app as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The app's name.
    pub name: String,
    /// The release it wants ([`release`]).
    pub release: String,
    /// The fingerprint of the build it wants.
    pub fingerprint: String,
    /// Its wave (an index into the rollout's waves).
    pub wave: usize,
    /// Where it stands.
    pub progress: Progress,
    /// Whether it is in the round being planned (only those are given places in their wave).
    pub here: bool,
}

impl Member {
    /// The member of `app` in `rollout`, at `progress`.
    pub fn of(rollout: &Rollout, app: &Desired, progress: Progress, here: bool) -> Member {
        Member {
            name: app.name.clone(),
            release: release(app),
            fingerprint: app.fingerprint.clone(),
            wave: wave_of(rollout, app),
            progress,
            here,
        }
    }
}

/// The index of the wave `app` belongs to: the first that matches its labels, else the last.
pub fn wave_of(rollout: &Rollout, app: &Desired) -> usize {
    let last = rollout.waves.len().saturating_sub(1);
    rollout
        .waves
        .iter()
        .position(|w| !w.labels.is_empty() && w.matches(&app.labels))
        .or_else(|| rollout.waves.iter().position(|w| w.labels.is_empty()))
        .unwrap_or(last)
}

/// What holds an app back in the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// A person must act (a halt, a manual gate), or time will tell (a wave before, a place, a
    /// bake).
    pub needs_person: bool,
    /// Why, and what ends it.
    pub reason: String,
    /// Unix seconds when it ends (a bake), where known.
    pub until: Option<u64>,
}

/// What happened to the rollout in a round (for the event stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Rejections halted a release.
    Halted {
        /// The release (`shop@1.5.0`).
        release: String,
        /// The wave whose rejections did it.
        wave: String,
        /// The rejected apps.
        rejected: Vec<String>,
        /// What to do.
        help: String,
    },
    /// A halt lifted: no app wants a rejected build any more.
    Lifted {
        /// The release.
        release: String,
    },
    /// A person resumed a halted release (`minifleet resume`).
    Resumed {
        /// The release.
        release: String,
    },
    /// A person opened a wave's manual gate (`minifleet promote`).
    Promoted {
        /// The wave.
        wave: String,
    },
    /// Every app of a wave is on its wanted build.
    WaveConverged {
        /// The wave.
        wave: String,
    },
}

/// A wave's state, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WaveState {
    /// Every app is on its wanted build (and any bake is over).
    Converged,
    /// Converged; the next wave waits until the bake is over.
    Baking {
        /// Unix seconds.
        until: u64,
    },
    /// Apps are on their way.
    Open,
    /// Waits for `minifleet promote`.
    Gate,
    /// Waits for a wave before it.
    Waiting {
        /// That wave.
        on: String,
    },
}

/// One wave's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveView {
    /// The wave's name.
    pub name: String,
    /// Its state.
    #[serde(flatten)]
    pub state: WaveState,
    /// Its `max_update` as written (`3`, `25%`, `0` for a gate).
    pub max_update: String,
    /// Apps in the wave.
    pub apps: usize,
    /// Apps on their wanted build.
    pub done: usize,
    /// Apps on their way (rejected ones included).
    pub in_flight: usize,
    /// Apps rejected.
    pub rejected: usize,
    /// Apps not started.
    pub pending: usize,
}

/// A halted release, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltView {
    /// The release.
    pub release: String,
    /// The wave whose rejections halted it.
    pub wave: String,
    /// The rejected apps.
    pub rejected: Vec<String>,
    /// When (unix seconds).
    pub at: u64,
    /// What to do.
    pub help: String,
}

/// The rollout's progress, for plans and status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RolloutView {
    /// Every wave, in order.
    pub waves: Vec<WaveView>,
    /// Halted releases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub halts: Vec<HaltView>,
}

/// What the gate decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gated {
    /// Per member (same order): `None` to go on, or what holds it.
    pub holds: Vec<Option<Hold>>,
    /// Members (by index) given a place in their wave this round: they are on their way now.
    pub started: Vec<usize>,
    /// What changed, to tell.
    pub changes: Vec<Change>,
    /// Whether the state changed (to save).
    pub changed: bool,
    /// The rollout's progress.
    pub view: RolloutView,
}

/// How to resume a halted release.
fn resume_help(release: &str) -> String {
    format!(
        "fix the rejected build (a new version, or the ext that was rejected) and the halt lifts by itself; or `minifleet resume {release}` to go on as it is"
    )
}

/// Decides, for the members of a round (`here`), whether their code steps may run now; updates
/// `state` (halts, lifted halts, converged waves) and reports what changed. Pure and
/// deterministic.
pub fn gate(rollout: &Rollout, members: &[Member], state: &mut RolloutState, now: u64) -> Gated {
    let mut changes = Vec::new();
    let before = state.clone();
    lift_halts(members, state, &mut changes);
    find_halts(rollout, members, state, now, &mut changes);
    let mut holds: Vec<Option<Hold>> = members
        .iter()
        .map(|m| halt_hold(m, state.halts.get(&m.release)))
        .collect();
    let mut started = Vec::new();
    let mut waves = Vec::with_capacity(rollout.waves.len());
    // Why the waves from here on may not start, if one before them is not through.
    let mut closed: Option<(String, Option<u64>, String)> = None;
    for (w, wave) in rollout.waves.iter().enumerate() {
        let in_wave = in_wave(members, w);
        let count =
            |f: fn(Progress) -> bool| in_wave.iter().filter(|&&i| f(members[i].progress)).count();
        let in_flight = count(Progress::in_flight);
        let rejected = count(|p| p == Progress::Rejected);
        let done = count(Progress::settled);
        let pending: Vec<usize> = in_wave
            .iter()
            .copied()
            .filter(|&i| members[i].progress == Progress::Pending)
            .collect();
        let generation = generation(members, &in_wave);
        let gate_closed = wave.max_update.is_gate()
            && !pending.is_empty()
            && state.promoted.get(&wave.name) != Some(&generation);
        let mut wave_state = WaveState::Open;
        if let Some((reason, until, on)) = &closed {
            wave_state = WaveState::Waiting { on: on.clone() };
            hold_all(&pending, members, &mut holds, reason, *until, false);
        } else if gate_closed {
            wave_state = WaveState::Gate;
            let reason = format!(
                "waits at wave `{}`'s manual gate: `minifleet promote {}` starts it",
                wave.name, wave.name
            );
            hold_all(&pending, members, &mut holds, &reason, None, true);
        } else {
            let places = wave
                .max_update
                .limit(in_wave.len())
                .saturating_sub(in_flight);
            let mut given = 0;
            for &i in pending.iter().filter(|&&i| members[i].here) {
                if holds[i].is_some() {
                    continue; // halted
                }
                if given < places {
                    given += 1;
                    started.push(i);
                } else {
                    holds[i] = Some(Hold {
                        needs_person: false,
                        reason: format!(
                            "waits its turn in wave `{}`: {} of {} on their way (max_update {})",
                            wave.name,
                            in_flight + given,
                            in_wave.len(),
                            wave.max_update
                        ),
                        until: None,
                    });
                }
            }
        }
        let through = done == in_wave.len();
        if through && closed.is_some() {
            wave_state = WaveState::Converged;
        } else if through {
            let at = converged_at(&wave.name, generation, state, now, &in_wave, &mut changes);
            let until = at.saturating_add(wave.bake_secs);
            if now < until && !in_wave.is_empty() {
                wave_state = WaveState::Baking { until };
                closed = Some((
                    format!(
                        "waits for wave `{}` to bake until {}",
                        wave.name,
                        crate::model::calendar::utc(until.saturating_mul(1000))
                    ),
                    Some(until),
                    wave.name.clone(),
                ));
            } else {
                wave_state = WaveState::Converged;
            }
        } else if closed.is_none() {
            closed = Some((
                format!(
                    "waits for wave `{}` to be released: {done} of {} apps on their wanted build",
                    wave.name,
                    in_wave.len()
                ),
                None,
                wave.name.clone(),
            ));
        }
        waves.push(WaveView {
            name: wave.name.clone(),
            state: wave_state,
            max_update: wave.max_update.to_string(),
            apps: in_wave.len(),
            done,
            in_flight: in_flight + started.iter().filter(|&&i| members[i].wave == w).count(),
            rejected,
            pending: pending.len(),
        });
    }
    let halts = state
        .halts
        .iter()
        .map(|(release, halt)| HaltView {
            release: release.clone(),
            wave: halt.wave.clone(),
            rejected: halt.rejected.keys().cloned().collect(),
            at: halt.at,
            help: resume_help(release),
        })
        .collect();
    Gated {
        holds,
        started,
        changed: *state != before,
        changes,
        view: RolloutView { waves, halts },
    }
}

/// Holds every member of `pending` that is not held already.
fn hold_all(
    pending: &[usize],
    members: &[Member],
    holds: &mut [Option<Hold>],
    reason: &str,
    until: Option<u64>,
    needs_person: bool,
) {
    for &i in pending {
        if members[i].here && holds[i].is_none() {
            holds[i] = Some(Hold {
                needs_person,
                reason: reason.to_owned(),
                until,
            });
        }
    }
}

/// The hold of a member whose release is halted (unless it is through already).
fn halt_hold(member: &Member, halt: Option<&Halt>) -> Option<Hold> {
    let halt = halt.filter(|_| member.here && !member.progress.settled())?;
    Some(Hold {
        needs_person: true,
        reason: halted(&member.release, halt),
        until: None,
    })
}

/// Why an app of `release` waits: `release` is halted by `halt`, and what to do.
pub fn halted(release: &str, halt: &Halt) -> String {
    let n = halt.rejected.len();
    format!(
        "the rollout of {release} is halted: {n} app{} of wave `{}` rejected ({}); {}",
        super::plural(n),
        halt.wave,
        halt.rejected.keys().cloned().collect::<Vec<_>>().join(", "),
        resume_help(release)
    )
}

/// Drops the halts no app holds up any more: none of the rejected apps wants its rejected build.
fn lift_halts(members: &[Member], state: &mut RolloutState, changes: &mut Vec<Change>) {
    if state.halts.is_empty() && state.forgiven.is_empty() {
        return;
    }
    let wanted: BTreeMap<&str, &str> = members
        .iter()
        .map(|m| (m.name.as_str(), m.fingerprint.as_str()))
        .collect();
    state.halts.retain(|release, halt| {
        let held = halt
            .rejected
            .iter()
            .any(|(app, fp)| wanted.get(app.as_str()) == Some(&fp.as_str()));
        if !held {
            changes.push(Change::Lifted {
                release: release.clone(),
            });
        }
        held
    });
    // A forgiven rejection whose app moved on to another build is history.
    state
        .forgiven
        .retain(|app, fp| wanted.get(app.as_str()) == Some(&fp.as_str()));
}

/// A release in a wave: the apps wanting it, and the rejected ones with their builds.
type Tally = (usize, BTreeMap<String, String>);

/// Halts each release whose rejections in one wave reach the rule.
fn find_halts(
    rollout: &Rollout,
    members: &[Member],
    state: &mut RolloutState,
    now: u64,
    changes: &mut Vec<Change>,
) {
    let mut tally: BTreeMap<(usize, &str), Tally> = BTreeMap::new();
    for m in members.iter().filter(|m| m.progress != Progress::Excluded) {
        let entry = tally.entry((m.wave, m.release.as_str())).or_default();
        entry.0 += 1;
        let forgiven = state.forgiven.get(&m.name) == Some(&m.fingerprint);
        if m.progress == Progress::Rejected && !forgiven {
            entry.1.insert(m.name.clone(), m.fingerprint.clone());
        }
    }
    for ((w, release), (wanting, rejected)) in &tally {
        if state.halts.contains_key(*release) || !rollout.halt.halts(rejected.len(), *wanting) {
            continue;
        }
        let wave = rollout.waves[*w].name.clone();
        changes.push(Change::Halted {
            release: (*release).to_owned(),
            wave: wave.clone(),
            rejected: rejected.keys().cloned().collect(),
            help: resume_help(release),
        });
        state.halts.insert(
            (*release).to_owned(),
            Halt {
                wave,
                at: now,
                rejected: rejected.clone(),
                wanting: *wanting,
            },
        );
    }
    // Rejections of a halted release elsewhere, or after the halt, belong to it too: its fix
    // must cover them.
    for ((_, release), (_, rejected)) in tally {
        let Some(halt) = state.halts.get_mut(release) else {
            continue;
        };
        halt.rejected.extend(rejected);
    }
}

/// When the wave converged on `generation`: remembered, or now (remembered from now on).
fn converged_at(
    wave: &str,
    generation: String,
    state: &mut RolloutState,
    now: u64,
    in_wave: &[usize],
    changes: &mut Vec<Change>,
) -> u64 {
    match state.converged.get(wave) {
        Some(c) if c.generation == generation => c.at,
        _ => {
            if !in_wave.is_empty() {
                changes.push(Change::WaveConverged {
                    wave: wave.to_owned(),
                });
            }
            state.converged.insert(
                wave.to_owned(),
                Converged {
                    generation,
                    at: now,
                },
            );
            now
        }
    }
}

/// The members (by index) of wave `w`.
fn in_wave(members: &[Member], w: usize) -> Vec<usize> {
    (0..members.len())
        .filter(|&i| members[i].wave == w)
        .collect()
}

/// The digest of the builds a wave's apps want (a new one is a new rollout of the wave).
pub fn generation(members: &[Member], in_wave: &[usize]) -> String {
    let mut text = String::with_capacity(in_wave.len() * 10);
    for &i in in_wave {
        text.push_str(&members[i].fingerprint);
        text.push(',');
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    hex::encode(&digest.as_ref()[..8])
}

/// Takes an app's held code steps out of its plan, with a note saying why: tester steps stay, and
/// so does the wait for an audit already under review (not one foreseen after a held step).
pub fn withhold(plan: &mut AppPlan, hold: &Hold) {
    let mut held_before = false;
    plan.steps.retain(|s| match s.action {
        _ if !is_code(&s.action) => true,
        Action::WaitForAudit { .. } => !held_before,
        _ => {
            held_before = true;
            false
        }
    });
    if !plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Commit { .. }))
    {
        plan.ext_change = None;
    }
    plan.notes.push(hold.reason.clone());
}

/// Opens the manual gate of wave `name` (or, without a name, the first gate not opened for the
/// builds its apps want now) for those builds: a new rollout of the wave closes it again. Returns
/// the wave's name, or why there is none to open.
pub fn promote(
    rollout: &Rollout,
    members: &[Member],
    state: &mut RolloutState,
    name: Option<&str>,
) -> Result<String, String> {
    let generation_of = |w: usize| generation(members, &in_wave(members, w));
    let w = match name {
        Some(name) => rollout
            .waves
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = rollout.waves.iter().map(|w| w.name.as_str()).collect();
                format!(
                    "the rollout has no wave `{name}`; its waves: {}",
                    names.join(", ")
                )
            })?,
        None => (0..rollout.waves.len())
            .find(|&w| {
                let wave = &rollout.waves[w];
                wave.max_update.is_gate()
                    && state.promoted.get(&wave.name) != Some(&generation_of(w))
            })
            .ok_or_else(|| "no manual gate is closed: every wave with `max_update: 0` is open for the builds its apps want".to_owned())?,
    };
    let wave = &rollout.waves[w];
    state.promoted.insert(wave.name.clone(), generation_of(w));
    Ok(wave.name.clone())
}

/// Lifts the halt of `release` (or, without one, of the only halted release) and forgives its
/// rejections, so they do not halt it again. Returns the release, or why there is none.
pub fn resume(state: &mut RolloutState, release: Option<&str>) -> Result<String, String> {
    let release = match release {
        Some(r) => r.to_owned(),
        None => match state.halts.keys().collect::<Vec<_>>().as_slice() {
            [one] => (*one).clone(),
            [] => return Err("no release is halted".to_owned()),
            many => {
                let names: Vec<&str> = many.iter().map(|r| r.as_str()).collect();
                return Err(format!(
                    "several releases are halted ({}); name the one to resume",
                    names.join(", ")
                ));
            }
        },
    };
    let Some(halt) = state.halts.remove(&release) else {
        let halted: Vec<&str> = state.halts.keys().map(String::as_str).collect();
        return Err(if halted.is_empty() {
            format!("release `{release}` is not halted; no release is")
        } else {
            format!(
                "release `{release}` is not halted; halted: {}",
                halted.join(", ")
            )
        });
    };
    state.forgiven.extend(halt.rejected);
    Ok(release)
}
