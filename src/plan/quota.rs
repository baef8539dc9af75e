//! The per-app audit withdrawal budget, counted in Beijing days and months (UTC+8), as the platform
//! counts it; the counters themselves are [`Withdrawals`], kept by the engine.

use crate::model::Withdrawals;

use super::rules::Rules;

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

#[cfg(test)]
mod tests {
    use super::super::rules::{ALIPAY, WECHAT};
    use super::*;
    use crate::model::{beijing_day, beijing_month};

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
}
