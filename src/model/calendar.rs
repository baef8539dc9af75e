//! The one calendar of the platforms: Beijing time (UTC+8). Their days (withdrawal counts, daily
//! API quotas) and months (audit quotas) turn at Beijing midnight.

/// Seconds Beijing time (UTC+8) is ahead of UTC.
const BEIJING_OFFSET: u64 = 8 * 3600;

/// Unix time `ms` (milliseconds) as people read it in logs and plans: `2024-02-01T02:00:00Z`.
pub fn utc(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

/// The Beijing-time day number (days since the Unix epoch) of unix time `now` (seconds).
pub fn beijing_day(now: u64) -> u64 {
    (now + BEIJING_OFFSET) / 86_400
}

/// The Beijing-time month number (`year * 12 + month - 1`) of unix time `now` (seconds).
pub fn beijing_month(now: u64) -> u64 {
    let (year, month, _) = civil_from_days(beijing_day(now) as i64);
    (year * 12 + month - 1) as u64
}

/// Unix seconds of the next 00:00 Beijing time after `now`.
pub fn next_beijing_day(now: u64) -> u64 {
    (beijing_day(now) + 1) * 86_400 - BEIJING_OFFSET
}

/// Unix seconds of 00:00 Beijing time on the 1st of the month after `now`'s.
pub fn next_beijing_month(now: u64) -> u64 {
    let next = beijing_month(now) + 1;
    let (year, month) = ((next / 12) as i64, (next % 12) as i64 + 1);
    (days_from_civil(year, month, 1) as u64) * 86_400 - BEIJING_OFFSET
}

/// The civil date (year, month 1–12, day 1–31) of a day number (days since 1970-01-01), by
/// Howard Hinnant's algorithm.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-01 00:00:00 Beijing time = 2024-01-31 16:00:00 UTC.
    const FEB_1_BEIJING: u64 = 1_706_716_800;

    #[test]
    fn beijing_calendar_rolls_over_at_beijing_midnight() {
        // 2026-11-30T15:59:59Z is 23:59:59 in Beijing; one second later it is December 1st there.
        let before = 1_796_054_399;
        assert_eq!(beijing_month(before), 2026 * 12 + 10);
        assert_eq!(beijing_month(before + 1), 2026 * 12 + 11);
        assert_eq!(beijing_day(before) + 1, beijing_day(before + 1));
    }

    #[test]
    fn the_next_day_and_month_start_at_beijing_midnight() {
        assert_eq!(next_beijing_day(FEB_1_BEIJING), FEB_1_BEIJING + 86_400);
        assert_eq!(next_beijing_day(FEB_1_BEIJING - 1), FEB_1_BEIJING);
        // 2024-03-01 00:00 Beijing = 2024-02-29 16:00 UTC (a leap year).
        assert_eq!(
            next_beijing_month(FEB_1_BEIJING + 10 * 86_400),
            1_709_222_400
        );
        assert_eq!(next_beijing_month(FEB_1_BEIJING - 1), FEB_1_BEIJING);
        // December rolls over into January of the next year.
        assert_eq!(next_beijing_month(1_704_038_399), 1_704_038_400);
    }
}
