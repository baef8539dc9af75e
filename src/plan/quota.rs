//! The platforms' rations: the per-app audit withdrawal budget, counted in Beijing days and months
//! (UTC+8) as the platform counts it (the counters themselves are [`Withdrawals`], kept by the
//! engine); and the monthly audit budget shared by a fleet's apps.

use serde::Serialize;

use super::plural;
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
    /// Audit submissions the apps' plans asked for.
    pub planned: usize,
    /// Submissions left this month, as the platform said before planning.
    pub left: u32,
    /// Apps that wait for the quota to reset (their submission was taken out of the plan).
    pub waiting: usize,
    /// The name of the platform whose quota it is, as users know it (its [`Rules::name`]); empty
    /// when several platforms' budgets were added up. Read back from JSON as empty: a reader
    /// that renders it looks the name up among the platforms it knows.
    #[serde(skip_deserializing, skip_serializing_if = "no_name")]
    pub platform: &'static str,
}

fn no_name(name: &&'static str) -> bool {
    name.is_empty()
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

    /// `5 audits planned, 3 left this month; 2 apps wait for the quota`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} audit{} planned, {} left this month",
            self.planned,
            plural(self.planned),
            self.left
        );
        if self.waiting > 0 {
            line.push_str(&format!(
                "; {} app{} wait{} for the quota to reset",
                self.waiting,
                plural(self.waiting),
                if self.waiting == 1 { "s" } else { "" }
            ));
        }
        line
    }
}

/// Whether the plan submits an audit before its first wait.
pub fn submits_audit(plan: &AppPlan) -> bool {
    plan.steps
        .iter()
        .take_while(|s| !matches!(s.action, Action::WaitForAudit { .. }))
        .any(|s| matches!(s.action, Action::SubmitAudit { .. }))
}

/// Shares `left` audit submissions among `plans` in their (fleet) order: the first `left` plans
/// that submit keep their steps; every later one stops before its submission, with a note, and
/// waits. Returns the budget and the positions in `plans` of those that wait. Pure and
/// deterministic.
pub fn budget_audits(plans: &mut [&mut AppPlan], left: u32) -> (AuditBudget, Vec<usize>) {
    let mut budget = AuditBudget {
        left,
        ..AuditBudget::default()
    };
    let planned = plans.iter().filter(|p| submits_audit(p)).count();
    budget.planned = planned;
    let mut granted = 0u32;
    let mut waiting = Vec::new();
    for (at, plan) in plans.iter_mut().enumerate() {
        if !submits_audit(plan) {
            continue;
        }
        if granted < left {
            granted += 1;
            continue;
        }
        budget.waiting += 1;
        waiting.push(at);
        hold_submission(plan, planned, left, budget.waiting);
    }
    (budget, waiting)
}

/// Cuts `plan` before its audit submission and says why.
fn hold_submission(plan: &mut AppPlan, planned: usize, left: u32, place: usize) {
    let at = plan
        .steps
        .iter()
        .position(|s| matches!(s.action, Action::SubmitAudit { .. }))
        .unwrap_or(plan.steps.len());
    plan.steps.truncate(at);
    plan.notes.push(format!(
        "waits for the monthly audit quota: {planned} audits planned, {left} left this month; \
         this app is number {place} in line (fleet order) once the quota resets"
    ));
    if !plan.has_changes() && !matches!(plan.state, AppState::Failed { .. }) {
        plan.state = AppState::WaitingOnAudit;
    }
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
