//! The rollout's engine side: a board of every app's [`Progress`] (kept across rounds, so a round
//! of a few apps is gated by the whole fleet), the planner's [`gate`] run on each round's plans,
//! the remembered [`RolloutState`] in the store, and the changes told as events.
//!
//! Apps given a place in their wave are marked on their way at once, under the board's lock, so
//! concurrent rounds never start more than a wave's `max_update`.

use std::collections::HashMap;

use crate::fleet::Fleet;
use crate::model::{AppPlan, Desired, Rollout, RolloutState};
use crate::plan::rollout::{Change, Member, Progress, RolloutView, WaveState, gate, withhold};

use super::events::Event;
use super::{AppReport, Engine, Held, HoldKind, Mode, now_ms};

/// Every app of a fleet with a rollout, and where it stands.
#[derive(Debug, Clone)]
pub struct Board {
    rollout: Rollout,
    members: Vec<Member>,
    /// Member index by appid.
    index: HashMap<String, usize>,
    /// Members held by their wave until a place frees (no time set): woken when one does.
    waiting: std::collections::BTreeSet<usize>,
    /// Per wave, the places free after the last round (0 while it may not start).
    free: Vec<usize>,
}

impl Board {
    /// The board of `apps` under `rollout`, nothing known of them yet.
    pub fn new(rollout: &Rollout, apps: &[Desired]) -> Board {
        let members: Vec<Member> = apps
            .iter()
            .map(|app| Member::of(rollout, app, Progress::Unknown, false))
            .collect();
        let index = apps
            .iter()
            .enumerate()
            .map(|(i, app)| (app.appid.clone(), i))
            .collect();
        Board {
            free: vec![0; rollout.waves.len()],
            rollout: rollout.clone(),
            members,
            index,
            waiting: Default::default(),
        }
    }

    /// After a round: the waiting members to pass now, as many per wave as it has places more
    /// than after the round before (a wave that opened, an app that went through); and every
    /// waiting member of a wave whose blocker started to bake (their next pass holds them until
    /// the bake's end, a time the scheduler keeps), that reached its manual gate, or whose
    /// release halted. A pass gates them again, so waking too many only costs a look.
    fn wake(&mut self, view: &RolloutView) -> Vec<String> {
        let baking = |on: &str| {
            view.waves
                .iter()
                .any(|w| w.name == on && matches!(w.state, WaveState::Baking { .. }))
        };
        // Waiting on a halted release is waiting on a person: their next pass says so, and a
        // `--wait` may stop for them.
        let halted: Vec<usize> = self
            .waiting
            .iter()
            .copied()
            .filter(|&i| {
                view.halts
                    .iter()
                    .any(|h| h.release == self.members[i].release)
            })
            .collect();
        let mut woken = Vec::new();
        for i in halted {
            self.waiting.remove(&i);
            woken.push(self.members[i].name.clone());
        }
        for (w, wave) in view.waves.iter().enumerate() {
            let limit = self.rollout.waves[w].max_update.limit(wave.apps);
            let free = match &wave.state {
                WaveState::Open | WaveState::Converged => limit.saturating_sub(wave.in_flight),
                // Held until a time or a person from now on: their next pass says which.
                WaveState::Gate => usize::MAX,
                WaveState::Waiting { on } if baking(on) => usize::MAX,
                _ => 0,
            };
            let more = free.saturating_sub(self.free[w]);
            self.free[w] = free;
            let chosen: Vec<usize> = self
                .waiting
                .iter()
                .copied()
                .filter(|&i| self.members[i].wave == w)
                .take(more)
                .collect();
            for i in chosen {
                self.waiting.remove(&i);
                woken.push(self.members[i].name.clone());
            }
        }
        woken
    }

    /// The board of a reloaded fleet: what is known of apps whose wanted build is the same is
    /// kept, and so is whether they wait for a place (the wake-ups start over from the next round).
    fn reloaded(&self, rollout: &Rollout, apps: &[Desired]) -> Board {
        let mut board = Board::new(rollout, apps);
        let known: HashMap<(&str, &str), usize> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| ((m.name.as_str(), m.fingerprint.as_str()), i))
            .collect();
        for (i, m) in board.members.iter_mut().enumerate() {
            if let Some(&old) = known.get(&(m.name.as_str(), m.fingerprint.as_str())) {
                m.progress = self.members[old].progress;
                if self.waiting.contains(&old) {
                    board.waiting.insert(i);
                }
            }
        }
        board
    }
}

impl Engine {
    /// From now on, apps the rollout held until a place frees are passed through `waker` when
    /// one does (the scheduler's command channel).
    pub fn set_waker(&self, waker: tokio::sync::mpsc::UnboundedSender<super::scheduler::Command>) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    pub(super) fn wake(&self, names: Vec<String>) {
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(waker) = waker.as_ref() {
            let _ = waker.send(super::scheduler::Command::Wake { names });
        }
    }

    /// Follows the fleet's policies from now on: its rounds are gated by its `rollout` section
    /// (none: no gating) and the audit quota is shared by its `quota` section; called when the
    /// fleet is loaded and reloaded.
    pub fn follow_fleet(&self, fleet: &Fleet) {
        self.ledger().set_fleet(fleet);
        let mut board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        *board = match (&fleet.rollout, board.as_ref()) {
            (None, _) => None,
            (Some(rollout), Some(old)) => Some(old.reloaded(rollout, &fleet.apps)),
            (Some(rollout), None) => Some(Board::new(rollout, &fleet.apps)),
        };
    }

    /// Where the running rollout stands now, from what the board learnt of each app's last plan;
    /// nothing is changed, stored or told (the web page's view). `None` without a rollout.
    pub fn rollout_now(&self) -> Option<RolloutView> {
        let guard = self.board.lock().unwrap_or_else(|e| e.into_inner());
        let board = guard.as_ref()?;
        let mut state = self.store.rollout_state().unwrap_or_default();
        Some(gate(&board.rollout, &board.members, &mut state, now_ms() / 1000).view)
    }

    /// Runs the rollout's gate on a round's plans: the board learns each planned app's progress,
    /// held apps lose their code steps (with a note and a [`Held`]), and what changed is stored
    /// (when applying) and told. A proposed fleet is gated on its own board (`proposal`) instead.
    pub(super) async fn gate_round(
        &self,
        apps: &[Desired],
        reports: &mut [Option<AppReport>],
        mode: Mode,
        proposal: Option<Board>,
    ) -> Option<RolloutView> {
        let (view, changes, held, saved) = {
            let mut own = proposal;
            // One round at a time reads, gates and writes the state.
            let mut guard = self.board.lock().unwrap_or_else(|e| e.into_inner());
            let board = match own.as_mut() {
                Some(board) => board,
                None => guard.as_mut()?,
            };
            let mut state = match self.store.rollout_state() {
                Ok(state) => state,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the rollout's state; gating as if nothing were remembered");
                    RolloutState::default()
                }
            };
            let now = now_ms() / 1000;
            // (member, position in the round) of the round's apps the board knows.
            let mut here = Vec::with_capacity(apps.len());
            for (at, (app, report)) in apps.iter().zip(reports.iter()).enumerate() {
                let Some(&i) = board.index.get(&app.appid) else {
                    continue;
                };
                let member = &mut board.members[i];
                if member.fingerprint != app.fingerprint {
                    continue; // planned from another fleet than the board's
                }
                if let Some(progress) = report.as_ref().and_then(|r| r.progress) {
                    member.progress = progress;
                }
                member.here = true;
                board.waiting.remove(&i);
                here.push((i, at));
            }
            let gated = gate(&board.rollout, &board.members, &mut state, now);
            for &i in &gated.started {
                board.members[i].progress = Progress::InFlight;
            }
            let mut held = Vec::new();
            for &(i, at) in &here {
                board.members[i].here = false;
                let (Some(hold), Some(report)) = (gated.holds[i].as_ref(), reports[at].as_mut())
                else {
                    continue;
                };
                if !hold.needs_person && hold.until.is_none() {
                    board.waiting.insert(i);
                }
                if let Some(plan) = report.plan.as_mut() {
                    withhold(plan, hold);
                }
                if report.held.as_ref().is_some_and(Held::blocks_apply) {
                    continue; // a quota or a backoff holds it anyway, and says so
                }
                let h = Held {
                    kind: if hold.needs_person {
                        HoldKind::Gate
                    } else {
                        HoldKind::Wave
                    },
                    until_ms: hold.until.map(|s| s.saturating_mul(1000)),
                    reason: hold.reason.clone(),
                };
                held.push(h.event(&apps[at]));
                report.held = Some(h);
            }
            let woken = if mode == Mode::Apply {
                board.wake(&gated.view)
            } else {
                Vec::new()
            };
            if !woken.is_empty() {
                self.wake(woken);
            }
            let changes = gated.changes;
            let saved = mode == Mode::Apply && gated.changed;
            if saved {
                if let Err(err) = self.store.put_rollout_state(&state) {
                    tracing::error!(error = %err, "cannot save the rollout's state");
                }
            }
            (gated.view, changes, held, saved)
        };
        if mode == Mode::Proposal {
            return Some(view);
        }
        for event in held {
            self.events.emit(event);
        }
        if saved {
            if let Err(err) = self.store.flush_async().await {
                tracing::error!(error = %err, "cannot save the rollout's state");
            }
        }
        if mode != Mode::Apply {
            return Some(view);
        }
        for change in changes {
            tracing::info!(?change, "rollout");
            self.events.emit(Event::Rollout { change });
        }
        Some(view)
    }
}

impl Engine {
    /// Gates plans made from the store's observations (`GET /api/v1/plan`; `planned` has one
    /// plan and progress per app of `apps`) on a copy of the running rollout's board, as the
    /// next round would: held apps lose their code steps, with the note saying why. Nothing is
    /// stored or told, and no app takes a place.
    pub async fn gate_stored(
        &self,
        apps: &[Desired],
        planned: Vec<(AppPlan, Progress)>,
    ) -> (Vec<AppPlan>, Option<RolloutView>) {
        let board = self.board.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut reports: Vec<Option<AppReport>> = apps
            .iter()
            .zip(planned)
            .map(|(app, (plan, progress))| {
                let mut report = AppReport::named(&app.name);
                report.plan = Some(plan);
                report.progress = Some(progress);
                Some(report)
            })
            .collect();
        let view = match board {
            Some(board) => {
                self.gate_round(apps, &mut reports, Mode::Proposal, Some(board))
                    .await
            }
            None => None,
        };
        let plans = reports
            .into_iter()
            .flatten()
            .filter_map(|r| r.plan)
            .collect();
        (plans, view)
    }
}

/// An operator's act on the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act<'a> {
    /// Open a wave's manual gate (the first closed one without a name).
    Promote(Option<&'a str>),
    /// Lift a halted release (the only halted one without a name).
    Resume(Option<&'a str>),
}

/// What an act did: the wave or release it was about, and the apps to look at again now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acted {
    /// The wave opened, or the release resumed.
    pub what: String,
    /// The apps (by name) it frees.
    pub apps: Vec<String>,
}

/// Carries out `act` on `board`'s rollout, saving the state in `store` (flushed); why it cannot
/// be, in words.
pub fn act(store: &crate::store::Store, board: &Board, act: Act<'_>) -> Result<Acted, String> {
    let mut state = store
        .rollout_state()
        .map_err(|e| format!("cannot read the rollout's state: {e}"))?;
    let (what, apps) = match act {
        Act::Promote(wave) => {
            let what =
                crate::plan::rollout::promote(&board.rollout, &board.members, &mut state, wave)?;
            let w = board.rollout.waves.iter().position(|w| w.name == what);
            let apps = board
                .members
                .iter()
                .filter(|m| Some(m.wave) == w)
                .map(|m| m.name.clone())
                .collect();
            (what, apps)
        }
        Act::Resume(release) => {
            let what = crate::plan::rollout::resume(&mut state, release)?;
            let apps = board
                .members
                .iter()
                .filter(|m| m.release == what)
                .map(|m| m.name.clone())
                .collect();
            (what, apps)
        }
    };
    store
        .put_rollout_state(&state)
        .and_then(|()| store.flush())
        .map_err(|e| format!("cannot save the rollout's state: {e}"))?;
    Ok(Acted { what, apps })
}

impl Engine {
    /// Carries out `act` on the running fleet's rollout (between rounds' gates).
    pub fn act_on_rollout(&self, what: Act<'_>) -> Result<Acted, String> {
        let guard = self.board.lock().unwrap_or_else(|e| e.into_inner());
        let board = guard
            .as_ref()
            .ok_or_else(|| "the fleet has no `rollout` section".to_owned())?;
        let acted = act(&self.store, board, what)?;
        let change = match what {
            Act::Promote(_) => Change::Promoted {
                wave: acted.what.clone(),
            },
            Act::Resume(_) => Change::Resumed {
                release: acted.what.clone(),
            },
        };
        tracing::info!(?change, "rollout");
        self.events.emit(Event::Rollout { change });
        Ok(acted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rollout::{HaltRule, MaxUpdate, Wave};
    use crate::plan::rollout::{HaltView, WaveView};

    fn fixture() -> Board {
        let wave = |name: &str, max_update| Wave {
            name: name.into(),
            labels: Vec::new(),
            max_update,
            bake_secs: 0,
        };
        let rollout = Rollout {
            waves: vec![
                wave("a", MaxUpdate::Count(1)),
                wave("b", MaxUpdate::Percent(100)),
            ],
            halt: HaltRule::default(),
        };
        let member = |name: &str, wave| Member {
            name: name.into(),
            release: "shop@1.0.0".into(),
            fingerprint: format!("fp-{name}"),
            wave,
            progress: Progress::Pending,
            here: false,
        };
        Board {
            free: vec![0; 2],
            members: vec![member("a0", 0), member("a1", 0), member("b0", 1)],
            index: HashMap::new(),
            waiting: [1, 2].into_iter().collect(),
            rollout,
        }
    }

    fn view(a: WaveState, a_in_flight: usize, b: WaveState) -> RolloutView {
        let wave = |name: &str, state, apps, in_flight| WaveView {
            name: name.into(),
            state,
            max_update: String::new(),
            apps,
            done: 0,
            in_flight,
            rejected: 0,
            pending: 0,
        };
        RolloutView {
            waves: vec![wave("a", a, 2, a_in_flight), wave("b", b, 1, 0)],
            halts: Vec::new(),
        }
    }

    #[test]
    fn waiting_apps_are_woken_as_places_free_and_waves_open() {
        let mut board = fixture();
        let waiting_on_a = || WaveState::Waiting { on: "a".into() };
        assert!(
            board
                .wake(&view(WaveState::Open, 1, waiting_on_a()))
                .is_empty()
        );
        assert_eq!(
            board.wake(&view(WaveState::Open, 0, waiting_on_a())),
            ["a1"],
            "a0 went through: a place in a"
        );
        assert!(
            board
                .wake(&view(WaveState::Open, 1, waiting_on_a()))
                .is_empty()
        );
        assert_eq!(
            board.wake(&view(WaveState::Converged, 0, WaveState::Open)),
            ["b0"],
            "b opened"
        );
        assert!(board.waiting.is_empty());
    }

    #[test]
    fn a_reload_keeps_the_progress_and_the_waiting_of_unchanged_apps() {
        let yaml = |b_version: &str| {
            format!(
                "  - {{ name: a, platform: wechat, appid: \"wx0000000000000001\", version: 1.0.0, stage: experience }}\n  - {{ name: b, platform: wechat, appid: \"wx0000000000000002\", version: {b_version}, stage: experience }}\n"
            )
        };
        let rollout = fixture().rollout;
        let mut old = Board::new(&rollout, &crate::engine::fixtures::apps(&yaml("1.0.0")));
        for m in &mut old.members {
            m.progress = Progress::Pending;
        }
        old.waiting.extend([0, 1]);
        // b now wants another build: nothing known of it carries over.
        let board = old.reloaded(&rollout, &crate::engine::fixtures::apps(&yaml("2.0.0")));
        assert_eq!(board.members[0].progress, Progress::Pending);
        assert!(board.waiting.contains(&0));
        assert_eq!(board.members[1].progress, Progress::Unknown);
        assert!(!board.waiting.contains(&1));
    }

    #[test]
    fn waiting_apps_are_woken_when_their_blocker_bakes_their_gate_closes_or_a_halt_comes() {
        let waiting_on_a = || WaveState::Waiting { on: "a".into() };
        let mut board = fixture();
        assert_eq!(
            board.wake(&view(WaveState::Baking { until: 9 }, 0, waiting_on_a())),
            ["b0"],
            "held until the bake's end from now on"
        );
        let mut board = fixture();
        assert_eq!(
            board.wake(&view(WaveState::Converged, 0, WaveState::Gate)),
            ["a1", "b0"]
        );
        let mut board = fixture();
        let mut halted = view(WaveState::Open, 1, waiting_on_a());
        halted.halts.push(HaltView {
            release: "shop@1.0.0".into(),
            wave: "a".into(),
            rejected: vec!["a0".into()],
            at: 0,
            help: String::new(),
        });
        assert_eq!(board.wake(&halted), ["a1", "b0"]);
    }
}
