//! The per-app audit withdrawal quota, counted in Beijing days and months (UTC+8), as the platform
//! counts it. The engine uses [`count_withdrawal`] to keep [`Withdrawals`] with the same numbering.

use crate::model::Withdrawals;

use super::rules::Rules;

/// Beijing time's offset from UTC, in seconds.
const BEIJING_OFFSET: u64 = 8 * 3600;

/// Seconds in a day.
const DAY: u64 = 86_400;

/// The day number (days since the Unix epoch) of Unix time `now`, in Beijing time.
pub fn beijing_day(now: u64) -> u64 {
    (now + BEIJING_OFFSET) / DAY
}

/// The month number (`year * 12 + month0`) of Unix time `now`, in Beijing time.
pub fn beijing_month(now: u64) -> u64 {
    let (year, month0) = year_month(beijing_day(now));
    year * 12 + month0
}

/// The civil year and 0-based month of a day number (Howard Hinnant's `civil_from_days`,
/// restricted to days on or after the epoch).
fn year_month(day: u64) -> (u64, u64) {
    let z = day + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month1 = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month1 <= 2);
    (year, month1 - 1)
}

/// The counters after one more withdrawal at `now`; counters of an older day or month restart.
pub fn count_withdrawal(counts: &Withdrawals, now: u64) -> Withdrawals {
    let (today, this_month) = used(counts, now);
    Withdrawals {
        day: beijing_day(now),
        today: today + 1,
        month: beijing_month(now),
        this_month: this_month + 1,
    }
}

/// Withdrawals used today and this month at `now`; counters of an older day or month count as 0.
fn used(counts: &Withdrawals, now: u64) -> (u32, u32) {
    let today = if counts.day == beijing_day(now) {
        counts.today
    } else {
        0
    };
    let month = if counts.month == beijing_month(now) {
        counts.this_month
    } else {
        0
    };
    (today, month)
}

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
        let (used_today, used_this_month) = used(counts, now);
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
