//! The platforms' rations: the per-app audit withdrawal budget, counted in Beijing days and months
//! (UTC+8) as the platform counts it (the counters themselves are [`Withdrawals`], kept by the
//! engine); and the monthly audit budget shared by a fleet's apps.

use serde::Serialize;

use super::plural;
use crate::model::calendar::utc;
use crate::model::{Action, AppPlan, AppState, Rules, Withdrawals};

/// An app's withdrawal budget at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Withdrawals allowed a day.
    pub per_day: u32,
    /// Withdrawals allowed a month.
    pub per_month: u32,
    /// Withdrawals already made today.
    pub used_today: u32,
    /// Withdrawals already made this month.
    pub used_this_month: u32,
}

impl Budget {
    /// The budget under `rules` at `now`; `None` when the platform does not limit withdrawals.
    pub fn at(rules: &Rules, counts: &Withdrawals, now: u64) -> Option<Budget> {
        let (used_today, used_this_month) = counts.used(now);
        Some(Budget {
            per_day: rules.withdrawals_per_day?,
            per_month: rules.withdrawals_per_month?,
            used_today,
            used_this_month,
        })
    }

    /// Withdrawals still allowed today.
    pub fn left_today(&self) -> u32 {
        self.per_day.saturating_sub(self.used_today)
    }

    /// Withdrawals still allowed this month.
    pub fn left_this_month(&self) -> u32 {
        self.per_month.saturating_sub(self.used_this_month)
    }

    /// Whether no withdrawal is allowed now.
    pub fn exhausted(&self) -> bool {
        self.left_today() == 0 || self.left_this_month() == 0
    }
}

/// How a pass shared the monthly audit quota among its apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct AuditBudget {
    /// Audit submissions the apps' plans asked for (in the fleet's line, this round's and the
    /// ones still waiting from earlier rounds).
    pub planned: usize,
    /// Submissions left this month, as the platform said before planning (less those granted to
    /// passes still in flight).
    pub left: u32,
    /// Apps that wait for the quota to reset (their submission was taken out of the plan).
    pub waiting: usize,
    /// Slots of `left` kept for new merchants (apps with nothing released yet): `quota.reserve`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserve: u32,
    /// Unix seconds when the quota resets, where the platform's calendar says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<u64>,
    /// The name of the platform whose quota it is, as users know it (its [`Rules::name`]); empty
    /// when several platforms' budgets were added up. Read back from JSON as empty: a reader
    /// that renders it looks the name up among the platforms it knows.
    #[serde(skip_deserializing, skip_serializing_if = "no_name")]
    pub platform: &'static str,
}

fn no_name(name: &&'static str) -> bool {
    name.is_empty()
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl AuditBudget {
    /// `WeChat audit quota: ` (or `Audit quota: ` for several platforms), what [`Self::line`]
    /// follows in a plan.
    pub fn label(&self) -> String {
        if self.platform.is_empty() {
            "Audit quota: ".to_owned()
        } else {
            format!("{} audit quota: ", self.platform)
        }
    }

    /// `5 audits planned, 3 left this month (1 kept for new merchants); 2 apps wait for the
    /// quota to reset on 2024-02-29T16:00:00Z`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} audit{} planned, {} left this month",
            self.planned,
            plural(self.planned),
            self.left
        );
        if self.reserve > 0 {
            line.push_str(&format!(
                " ({} kept for new merchants)",
                self.reserve.min(self.left)
            ));
        }
        if self.waiting > 0 {
            line.push_str(&format!(
                "; {} app{} wait{} for the quota to reset",
                self.waiting,
                plural(self.waiting),
                if self.waiting == 1 { "s" } else { "" }
            ));
            if let Some(at) = self.resets_at {
                line.push_str(&format!(" on {}", utc(at.saturating_mul(1000))));
            }
        }
        line
    }
}

/// Whether the plan submits an audit before its first wait.
pub fn submits_audit(plan: &AppPlan) -> bool {
    plan.steps_now()
        .any(|s| matches!(s.action, Action::SubmitAudit { .. }))
}

/// One app's claim on its platform's audit quota: its plan submits an audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Its `priority` (higher goes first; 0 by default).
    pub priority: i32,
    /// Nothing of it is released yet: a new merchant, who may use the reserved slots.
    pub unreleased: bool,
    /// Its place in the fleet file (ties of priority go in fleet order).
    pub order: usize,
}

/// The terms of one platform's quota for a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Terms {
    /// Submissions left to give.
    pub left: u32,
    /// Of those, how many only new merchants may have.
    pub reserve: u32,
    /// Unix seconds when the quota resets, if known.
    pub resets_at: Option<u64>,
}

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Its submission is paid for.
    Granted,
    /// It waits: `place` in the line of those waiting (1 is next).
    Waits {
        /// 1-based.
        place: usize,
    },
}

/// Shares `terms.left` submissions among `claims`: the line goes by priority (higher first), then
/// fleet order; a new merchant draws on the reserved slots first, then on the rest like
/// everyone; the others only on what is left beyond the reserve. Never grants more than
/// `terms.left`. Returns the budget and each claim's turn, in the order of `claims`. Pure.
pub fn share(claims: &[Claim], terms: &Terms) -> (AuditBudget, Vec<Turn>) {
    let mut line: Vec<usize> = (0..claims.len()).collect();
    line.sort_by_key(|&i| (std::cmp::Reverse(claims[i].priority), claims[i].order, i));
    let mut kept = terms.left.min(terms.reserve);
    let mut open = terms.left - kept;
    let mut turns = vec![Turn::Granted; claims.len()];
    let mut waiting = 0;
    for i in line {
        if claims[i].unreleased && kept > 0 {
            kept -= 1;
        } else if open > 0 {
            open -= 1;
        } else {
            waiting += 1;
            turns[i] = Turn::Waits { place: waiting };
        }
    }
    let budget = AuditBudget {
        planned: claims.len(),
        left: terms.left,
        waiting,
        reserve: terms.reserve,
        resets_at: terms.resets_at,
        platform: "",
    };
    (budget, turns)
}

/// Shares `left` submissions among `plans` in their (fleet) order, without priorities or a
/// reserve: the first `left` plans that submit keep their steps; every later one stops before
/// its submission, with a note, and waits. Returns the budget and the positions in `plans` of
/// those that wait.
pub fn budget_audits(plans: &mut [&mut AppPlan], left: u32) -> (AuditBudget, Vec<usize>) {
    let submitting: Vec<usize> = (0..plans.len())
        .filter(|&i| submits_audit(plans[i]))
        .collect();
    let claims: Vec<Claim> = submitting
        .iter()
        .map(|&order| Claim {
            priority: 0,
            unreleased: false,
            order,
        })
        .collect();
    let terms = Terms {
        left,
        ..Terms::default()
    };
    let (budget, turns) = share(&claims, &terms);
    let mut waiting = Vec::new();
    for (&at, turn) in submitting.iter().zip(turns) {
        if let Turn::Waits { place } = turn {
            hold_submission(plans[at], &budget, place, 0);
            waiting.push(at);
        }
    }
    (budget, waiting)
}

/// Cuts `plan` before its audit submission and says why: the budget, its place in line and its
/// priority. Returns the note.
pub fn hold_submission(
    plan: &mut AppPlan,
    budget: &AuditBudget,
    place: usize,
    priority: i32,
) -> String {
    let at = plan
        .steps
        .iter()
        .position(|s| s.action.is_submission())
        .unwrap_or(plan.steps.len());
    plan.steps.truncate(at);
    let note = waiting_note(budget, place, priority);
    plan.notes.push(note.clone());
    if !plan.has_changes() && !matches!(plan.state, AppState::Failed { .. }) {
        plan.state = AppState::WaitingOnAudit;
    }
    note
}

/// Why an app waits for the quota, and where it stands in line.
pub fn waiting_note(budget: &AuditBudget, place: usize, priority: i32) -> String {
    let by = if priority == 0 {
        "by priority, then fleet order".to_owned()
    } else {
        format!("priority {priority}, then fleet order")
    };
    format!(
        "waits for the monthly audit quota: {}; this app is number {place} in line ({by})",
        budget.line()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{beijing_day, beijing_month};
    use crate::platform::alipay::spec::RULES as ALIPAY;
    use crate::platform::wechat::spec::RULES as WECHAT;

    /// Seconds in a day.
    const DAY: u64 = 86_400;

    fn count_withdrawal(counts: &Withdrawals, now: u64) -> Withdrawals {
        let mut next = *counts;
        next.count_one(now);
        next
    }

    /// 2024-02-01 00:00:00 Beijing time = 2024-01-31 16:00:00 UTC.
    const FEB_1_BEIJING: u64 = 1_706_716_800;

    #[test]
    fn days_and_months_turn_at_beijing_midnight() {
        assert_eq!(beijing_day(FEB_1_BEIJING), 19_754);
        assert_eq!(beijing_day(FEB_1_BEIJING - 1), 19_753);
        assert_eq!(beijing_month(FEB_1_BEIJING), 2024 * 12 + 1);
        assert_eq!(beijing_month(FEB_1_BEIJING - 1), 2024 * 12);
        assert_eq!(beijing_month(0), 1970 * 12);
    }

    #[test]
    fn months_are_right_around_leap_days_and_new_year() {
        // 2024-02-29 12:00 UTC and 2024-03-01 00:00 Beijing (2024-02-29 16:00 UTC).
        assert_eq!(beijing_month(1_709_208_000), 2024 * 12 + 1);
        assert_eq!(beijing_month(1_709_222_400), 2024 * 12 + 2);
        // 2023-12-31 16:00 UTC is already 2024-01-01 in Beijing.
        assert_eq!(beijing_month(1_704_038_400), 2024 * 12);
        assert_eq!(beijing_month(1_704_038_399), 2023 * 12 + 11);
    }

    #[test]
    fn old_counters_count_as_zero() {
        let counts = Withdrawals {
            day: beijing_day(FEB_1_BEIJING - 1),
            today: 5,
            month: beijing_month(FEB_1_BEIJING - 1),
            this_month: 10,
        };
        let budget = Budget::at(&WECHAT, &counts, FEB_1_BEIJING).unwrap();
        assert_eq!((budget.left_today(), budget.left_this_month()), (5, 10));
        assert!(!budget.exhausted());
        let yesterday = Budget::at(&WECHAT, &counts, FEB_1_BEIJING - 1).unwrap();
        assert!(yesterday.exhausted());
    }

    #[test]
    fn a_full_month_exhausts_the_budget_on_a_fresh_day() {
        let now = FEB_1_BEIJING + 10 * DAY;
        let counts = Withdrawals {
            day: beijing_day(now) - 1,
            today: 2,
            month: beijing_month(now),
            this_month: 10,
        };
        let budget = Budget::at(&WECHAT, &counts, now).unwrap();
        assert_eq!(budget.left_today(), 5);
        assert!(budget.exhausted());
    }

    #[test]
    fn counting_restarts_on_a_new_day_and_month() {
        let first = count_withdrawal(&Withdrawals::default(), FEB_1_BEIJING);
        assert_eq!(
            first,
            Withdrawals {
                day: 19_754,
                today: 1,
                month: 2024 * 12 + 1,
                this_month: 1
            }
        );
        let second = count_withdrawal(&first, FEB_1_BEIJING + 60);
        assert_eq!((second.today, second.this_month), (2, 2));
        let next_day = count_withdrawal(&second, FEB_1_BEIJING + DAY);
        assert_eq!((next_day.today, next_day.this_month), (1, 3));
    }

    #[test]
    fn unlimited_platforms_have_no_budget() {
        assert_eq!(
            Budget::at(&ALIPAY, &Withdrawals::default(), FEB_1_BEIJING),
            None
        );
    }

    fn app(name: &str, kinds: &[Action]) -> AppPlan {
        AppPlan {
            name: name.into(),
            appid: format!("wx-{name}"),
            platform: crate::platform::wechat::spec::KIND,
            version: "1.0.0".into(),
            fingerprint: "1a2b3c4d".into(),
            state: AppState::Changes,
            steps: kinds
                .iter()
                .map(|a| crate::model::Step {
                    action: a.clone(),
                    reason: "r".into(),
                })
                .collect(),
            notes: Vec::new(),
            ext_change: None,
            walk: None,
        }
    }

    fn commit() -> Action {
        Action::Commit {
            version: "1.0.0".into(),
            fingerprint: "1a2b3c4d".into(),
        }
    }

    fn submit() -> Action {
        Action::SubmitAudit {
            fingerprint: "1a2b3c4d".into(),
        }
    }

    fn wait() -> Action {
        Action::WaitForAudit {
            audit_id: String::new(),
        }
    }

    #[test]
    fn audits_beyond_the_quota_wait_in_fleet_order() {
        let mut plans = [
            app("a", &[commit(), submit(), wait()]),
            app("b", &[submit(), wait()]),
            app("c", &[commit()]),
            app("d", &[commit(), submit(), wait()]),
            app("e", &[submit(), wait()]),
        ];
        let mut refs: Vec<&mut AppPlan> = plans.iter_mut().collect();
        let (budget, waiting) = budget_audits(&mut refs, 2);
        assert_eq!(waiting, [3, 4]);
        assert_eq!(
            budget,
            AuditBudget {
                planned: 4,
                left: 2,
                waiting: 2,
                reserve: 0,
                resets_at: None,
                platform: ""
            }
        );
        assert_eq!(
            budget.line(),
            "4 audits planned, 2 left this month; 2 apps wait for the quota to reset"
        );
        assert_eq!(budget.label(), "Audit quota: ");
        let wechat = AuditBudget {
            platform: WECHAT.name,
            ..budget
        };
        assert_eq!(wechat.label(), "WeChat audit quota: ");
        assert!(submits_audit(&plans[0]) && submits_audit(&plans[1]));
        assert_eq!(plans[2].steps.len(), 1, "no submission, untouched");
        assert_eq!(
            plans[3].steps.len(),
            1,
            "d keeps its commit, not its submission"
        );
        assert_eq!(plans[3].state, AppState::Changes);
        assert!(plans[3].notes[0].contains("number 1 in line"));
        assert!(plans[4].steps.is_empty());
        assert_eq!(plans[4].state, AppState::WaitingOnAudit);
        assert!(plans[4].notes[0].contains("4 audits planned, 2 left this month"));
    }

    fn claim(priority: i32, unreleased: bool, order: usize) -> Claim {
        Claim {
            priority,
            unreleased,
            order,
        }
    }

    fn terms(left: u32, reserve: u32) -> Terms {
        Terms {
            left,
            reserve,
            resets_at: Some(1_709_222_400),
        }
    }

    #[test]
    fn the_line_goes_by_priority_then_fleet_order() {
        let claims = [
            claim(0, false, 0),
            claim(10, false, 1),
            claim(0, false, 2),
            claim(5, false, 3),
        ];
        let (budget, turns) = share(&claims, &terms(2, 0));
        assert_eq!(
            turns,
            [
                Turn::Waits { place: 1 },
                Turn::Granted,
                Turn::Waits { place: 2 },
                Turn::Granted
            ]
        );
        assert_eq!((budget.planned, budget.waiting), (4, 2));
        assert_eq!(
            budget.line(),
            "4 audits planned, 2 left this month; 2 apps wait for the quota to reset on \
             2024-02-29T16:00:00Z"
        );
    }

    #[test]
    fn reserved_slots_go_only_to_new_merchants() {
        // 3 left, 1 kept: two released apps of high priority get the 2 open slots, the third
        // waits although a slot is left, which the new merchant at the back of the line takes.
        let claims = [
            claim(9, false, 0),
            claim(9, false, 1),
            claim(9, false, 2),
            claim(0, true, 3),
        ];
        let (budget, turns) = share(&claims, &terms(3, 1));
        assert_eq!(
            turns,
            [
                Turn::Granted,
                Turn::Granted,
                Turn::Waits { place: 1 },
                Turn::Granted
            ]
        );
        assert!(
            budget
                .line()
                .contains("3 left this month (1 kept for new merchants)")
        );
        // With nobody new asking, the kept slot stays kept.
        let (_, turns) = share(&claims[..3], &terms(3, 1));
        assert_eq!(turns[2], Turn::Waits { place: 1 });
        // New merchants use the open slots too once the kept ones are gone.
        let new = [claim(0, true, 0), claim(0, true, 1), claim(0, true, 2)];
        let (_, turns) = share(&new, &terms(2, 1));
        assert_eq!(
            turns,
            [Turn::Granted, Turn::Granted, Turn::Waits { place: 1 }]
        );
    }

    #[test]
    fn a_reserve_larger_than_what_is_left_keeps_it_all() {
        let claims = [claim(0, false, 0), claim(0, true, 1)];
        let (_, turns) = share(&claims, &terms(1, 5));
        assert_eq!(turns, [Turn::Waits { place: 1 }, Turn::Granted]);
    }

    proptest::proptest! {
        /// Never more grants than submissions left; released apps never get a kept slot; a
        /// waiting app never has a granted one of the same kind (new or not) behind it.
        #[test]
        fn the_ledger_never_overspends_and_keeps_the_line(
            raw in proptest::collection::vec((-2i32..=2, proptest::bool::ANY), 0..40),
            left in 0u32..20,
            reserve in 0u32..6,
        ) {
            let claims: Vec<Claim> = raw
                .iter()
                .enumerate()
                .map(|(order, &(priority, unreleased))| claim(priority, unreleased, order))
                .collect();
            let (budget, turns) = share(&claims, &terms(left, reserve));
            let granted = |new: Option<bool>| {
                claims.iter().zip(&turns)
                    .filter(|(c, t)| **t == Turn::Granted && new.is_none_or(|n| c.unreleased == n))
                    .count() as u32
            };
            proptest::prop_assert!(granted(None) <= left);
            proptest::prop_assert!(granted(Some(false)) <= left.saturating_sub(reserve));
            proptest::prop_assert_eq!(budget.waiting as u32 + granted(None), claims.len() as u32);
            let key = |c: &Claim| (std::cmp::Reverse(c.priority), c.order);
            for (a, ta) in claims.iter().zip(&turns) {
                for (b, tb) in claims.iter().zip(&turns) {
                    let same_kind = a.unreleased == b.unreleased;
                    if same_kind && key(a) < key(b) && *tb == Turn::Granted {
                        proptest::prop_assert_eq!(*ta, Turn::Granted, "{:?} waits behind {:?}", a, b);
                    }
                }
            }
            let mut places: Vec<usize> = turns.iter().filter_map(|t| match t {
                Turn::Waits { place } => Some(*place),
                Turn::Granted => None,
            }).collect();
            places.sort_unstable();
            proptest::prop_assert_eq!(places, (1..=budget.waiting).collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_ample_quota_changes_nothing() {
        let mut plans = [app("a", &[submit(), wait()])];
        let before = plans.clone();
        let mut refs: Vec<&mut AppPlan> = plans.iter_mut().collect();
        let (budget, waiting) = budget_audits(&mut refs, 10);
        assert!(waiting.is_empty());
        assert_eq!(budget.waiting, 0);
        assert_eq!(budget.line(), "1 audit planned, 10 left this month");
        assert_eq!(plans, before);
    }
}
