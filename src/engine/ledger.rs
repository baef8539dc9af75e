//! The fleet's ledger of each platform's shared monthly audit quota, in `reconcile` and the
//! daemon alike: the platform says how many submissions are left (`queryquota`); submissions
//! granted to passes still in flight are not the platform's to count yet, so they are kept here
//! until their pass is through; the apps that wait are kept in line across rounds (a daemon's
//! round plans only the apps that are due), so a later round never gives their slot to an app
//! behind them. The line itself is [`crate::plan::quota::share`]'s: by priority, then fleet order,
//! with slots kept for new merchants.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::fleet::Fleet;
use crate::model::{Desired, PlatformKind};
use crate::plan::quota::{AuditBudget, Claim, Terms, Turn, share};

/// An app waiting in line since an earlier round.
#[derive(Debug, Clone)]
struct Waiting {
    name: String,
    claim: Claim,
}

/// What a round of one platform gets from the ledger.
pub(super) struct Shared {
    /// The budget, for the plan.
    pub budget: AuditBudget,
    /// The turn of each claim of the round, in its order.
    pub turns: Vec<Turn>,
    /// Apps of earlier rounds whose turn has come: to be woken.
    pub wake: Vec<String>,
}

/// The ledger; one per engine, behind a lock.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// Submissions granted to passes still in flight, by platform (appids).
    reserved: BTreeMap<PlatformKind, BTreeSet<String>>,
    /// Apps that wait for the quota, by platform (appid → who and their claim).
    waiting: BTreeMap<PlatformKind, BTreeMap<String, Waiting>>,
    /// The fleet's order of apps (appid → index), for ties of priority.
    order: HashMap<String, usize>,
    /// Slots kept for new merchants (`quota.reserve`).
    reserve: u32,
    /// What each platform said was left, and when it resets, at its last applying round.
    told: BTreeMap<PlatformKind, (u32, Option<u64>)>,
}

/// Where one platform's audit quota stands, for people (the web page).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerView {
    /// The platform.
    pub platform: PlatformKind,
    /// Submissions left this month, as the platform said at the last round that asked.
    pub left: u32,
    /// Unix seconds when it resets, where known.
    pub resets_at: Option<u64>,
    /// Submissions granted to passes still in flight.
    pub reserved: usize,
    /// Slots kept for new merchants.
    pub reserve: u32,
    /// The apps waiting for the quota, in fleet order.
    pub waiting: Vec<String>,
}

impl Ledger {
    /// Follows a (re)loaded fleet: its reserve and order; apps no longer in it leave the line.
    pub fn set_fleet(&mut self, fleet: &Fleet) {
        self.reserve = fleet.quota.reserve;
        self.order = fleet
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| (a.appid.clone(), i))
            .collect();
        let order = &self.order;
        for line in self.waiting.values_mut() {
            line.retain(|appid, _| order.contains_key(appid));
        }
    }

    /// The claim of `app` (at `position` in a fleet that is not the running one).
    pub fn claim(&self, app: &Desired, unreleased: bool, position: usize) -> Claim {
        Claim {
            priority: app.priority.unwrap_or(0),
            unreleased,
            order: self.order.get(&app.appid).copied().unwrap_or(position),
        }
    }

    /// Shares what the platform `kind` has `left` (resetting at `resets_at`) among `round` —
    /// every app of the round with `Some` claim wants to submit — and the apps still waiting from
    /// earlier rounds. With `apply`, the line is kept (this round's waiting apps join it, the
    /// others leave it) and grants are reserved until [`Ledger::release`]; otherwise nothing
    /// changes.
    pub fn share(
        &mut self,
        kind: PlatformKind,
        round: &[(&Desired, Claim)],
        left: u32,
        resets_at: Option<u64>,
        apply: bool,
    ) -> Shared {
        let here: BTreeSet<&str> = round.iter().map(|(a, _)| a.appid.as_str()).collect();
        let in_flight = self.reserved.get(&kind).map_or(0, |apps| {
            apps.iter().filter(|a| !here.contains(a.as_str())).count()
        });
        let left = left.saturating_sub(u32::try_from(in_flight).unwrap_or(u32::MAX));
        let earlier: Vec<(&String, &Waiting)> = self
            .waiting
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(|(appid, _)| !here.contains(appid.as_str()))
            .collect();
        let claims: Vec<Claim> = round
            .iter()
            .map(|(_, c)| *c)
            .chain(earlier.iter().map(|(_, w)| w.claim))
            .collect();
        let terms = Terms {
            left,
            reserve: self.reserve,
            resets_at,
        };
        let (budget, mut turns) = share(&claims, &terms);
        let theirs = turns.split_off(round.len());
        let granted_earlier: Vec<(String, String)> = earlier
            .iter()
            .zip(&theirs)
            .filter(|(_, t)| **t == Turn::Granted)
            .map(|((appid, w), _)| ((*appid).clone(), w.name.clone()))
            .collect();
        if !apply {
            return Shared {
                budget,
                turns,
                wake: Vec::new(),
            };
        }
        self.told.insert(kind, (left, resets_at));
        let line = self.waiting.entry(kind).or_default();
        for ((app, claim), turn) in round.iter().zip(&turns) {
            match turn {
                Turn::Waits { .. } => {
                    let waiting = Waiting {
                        name: app.name.clone(),
                        claim: *claim,
                    };
                    line.insert(app.appid.clone(), waiting);
                }
                Turn::Granted => {
                    line.remove(&app.appid);
                }
            }
        }
        // An app of an earlier round whose turn came keeps its slot until it comes for it.
        let reserved = self.reserved.entry(kind).or_default();
        reserved.extend(
            round
                .iter()
                .zip(&turns)
                .filter(|(_, t)| **t == Turn::Granted)
                .map(|((app, _), _)| app.appid.clone()),
        );
        let mut wake = Vec::new();
        for (appid, name) in granted_earlier {
            line.remove(&appid);
            reserved.insert(appid);
            wake.push(name);
        }
        Shared {
            budget,
            turns,
            wake,
        }
    }

    /// `appid`'s round planned no submission: it leaves the line of `kind`.
    pub fn leave(&mut self, kind: PlatformKind, appid: &str) {
        if let Some(line) = self.waiting.get_mut(&kind) {
            line.remove(appid);
        }
    }

    /// The pass of `appid` is through: its granted submission, if any, reached the platform (or
    /// never will).
    pub fn release(&mut self, appid: &str) {
        for apps in self.reserved.values_mut() {
            apps.remove(appid);
        }
    }

    /// Where each platform's quota stands, for the platforms a round has asked.
    pub fn view(&self) -> Vec<LedgerView> {
        self.told
            .iter()
            .map(|(kind, (left, resets_at))| {
                let mut waiting: Vec<(usize, String)> = self
                    .waiting
                    .get(kind)
                    .into_iter()
                    .flatten()
                    .map(|(appid, w)| {
                        let at = self.order.get(appid).copied().unwrap_or(usize::MAX);
                        (at, w.name.clone())
                    })
                    .collect();
                waiting.sort();
                LedgerView {
                    platform: *kind,
                    left: *left,
                    resets_at: *resets_at,
                    reserved: self.reserved.get(kind).map_or(0, BTreeSet::len),
                    reserve: self.reserve,
                    waiting: waiting.into_iter().map(|(_, name)| name).collect(),
                }
            })
            .collect()
    }

    /// Whether any submission is reserved (for tests).
    #[cfg(test)]
    pub fn is_clear(&self) -> bool {
        self.reserved.values().all(BTreeSet::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::desired_named;

    const WECHAT: PlatformKind = crate::platform::wechat::spec::KIND;

    fn app(i: usize, priority: i32) -> Desired {
        let mut d = desired_named(&format!("shop-{i}"), &format!("wx{i:016}"));
        d.priority = Some(priority);
        d
    }

    /// A round of `apps`, each at its number's place in the fleet.
    fn round<'a>(ledger: &Ledger, apps: &'a [Desired]) -> Vec<(&'a Desired, Claim)> {
        apps.iter()
            .map(|a| (a, ledger.claim(a, false, a.appid[2..].parse().unwrap())))
            .collect()
    }

    #[test]
    fn an_app_waiting_from_an_earlier_round_keeps_its_place_and_is_woken_for_its_slot() {
        let mut ledger = Ledger::default();
        let apps: Vec<Desired> = (0..3).map(|i| app(i, 0)).collect();
        // Round 1 (the daemon's): shop-2 alone, high priority app shop-0 is not due yet.
        let urgent = app(0, 10);
        let first = ledger.share(
            WECHAT,
            &round(&ledger, std::slice::from_ref(&urgent)),
            0,
            None,
            true,
        );
        assert_eq!(first.turns, [Turn::Waits { place: 1 }]);
        // Round 2: shop-1 is due and one slot is left: it goes to shop-0, first in line.
        let later = ledger.share(WECHAT, &round(&ledger, &apps[1..2]), 1, None, true);
        assert_eq!(later.turns, [Turn::Waits { place: 1 }]);
        assert_eq!(later.wake, ["shop-0"]);
        assert_eq!(later.budget.planned, 2);
        // Round 3: shop-0 comes, its slot kept for it though the platform still says 1 left.
        let mine = ledger.share(
            WECHAT,
            &round(&ledger, std::slice::from_ref(&urgent)),
            1,
            None,
            true,
        );
        assert_eq!(mine.turns, [Turn::Granted]);
        // Another app meanwhile finds the slot taken (reserved for shop-0's pass in flight).
        let other = ledger.share(WECHAT, &round(&ledger, &apps[2..3]), 1, None, true);
        assert_eq!(
            other.turns,
            [Turn::Waits { place: 2 }],
            "shop-1 is ahead of it"
        );
        ledger.release(&urgent.appid);
        assert!(ledger.is_clear());
    }

    #[test]
    fn a_dry_round_changes_nothing_and_a_reload_drops_apps_that_left() {
        let mut ledger = Ledger::default();
        let apps: Vec<Desired> = (0..2).map(|i| app(i, 0)).collect();
        let dry = ledger.share(WECHAT, &round(&ledger, &apps), 1, None, false);
        assert_eq!(dry.turns, [Turn::Granted, Turn::Waits { place: 1 }]);
        assert!(ledger.is_clear() && ledger.waiting.is_empty());
        ledger.share(WECHAT, &round(&ledger, &apps), 0, None, true);
        assert_eq!(ledger.waiting[&WECHAT].len(), 2);
        ledger.leave(WECHAT, &apps[0].appid);
        assert_eq!(ledger.waiting[&WECHAT].len(), 1);
        let fleet = crate::engine::fixtures::fleet_of("");
        ledger.set_fleet(&fleet);
        assert!(
            ledger.waiting[&WECHAT].is_empty(),
            "apps no longer in the fleet leave"
        );
    }
}
