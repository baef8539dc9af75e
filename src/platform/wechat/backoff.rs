//! Failed token mints, remembered for a while: the one attempt's error is handed to every caller
//! that asks in the meantime (so 120 apps waiting on a rejected verify ticket make one
//! `api_component_token` call, not 120), and the while grows with each failure in a row, bounded.
//!
//! A failure is remembered with what the attempt used (the verify ticket, the refresh token): once
//! that changes — a new ticket is pushed, the merchant authorizes again — the next caller tries at
//! once. A success forgets the failures of its key.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::platform::PlatformError;
use crate::secret::Secret;

/// The backoff after the first failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// The backoff never grows past this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How long callers fail fast after the `streak`-th failure in a row (1-based): 10 s doubling to
/// at most 5 minutes.
pub fn backoff(streak: u32) -> Duration {
    let doublings = streak.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF)
}

/// One remembered failure.
struct Failed {
    error: PlatformError,
    input: Option<Secret>,
    until: Instant,
    streak: u32,
}

/// The remembered failures of one token cache, by token key (one per component and per app, so
/// bounded by the fleet).
#[derive(Default)]
pub struct Failures {
    by_key: Mutex<HashMap<String, Failed>>,
}

impl Failures {
    /// The error of `key`'s last attempt while its backoff lasts, if that attempt used `input`.
    pub fn recent(&self, key: &str, input: Option<&Secret>) -> Option<PlatformError> {
        let map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        let failed = map.get(key)?;
        (Instant::now() < failed.until && failed.input.as_ref() == input)
            .then(|| failed.error.clone())
    }

    /// Remembers that `key`'s attempt with `input` failed with `error`; returns the backoff.
    pub fn record(&self, key: &str, input: Option<&Secret>, error: &PlatformError) -> Duration {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // A failure long after the last one's backoff starts a new streak.
        let streak = map
            .get(key)
            .filter(|f| now < f.until + MAX_BACKOFF)
            .map_or(1, |f| f.streak.saturating_add(1));
        let wait = backoff(streak);
        map.insert(
            key.to_string(),
            Failed {
                error: error.clone(),
                input: input.cloned(),
                until: now + wait,
                streak,
            },
        );
        wait
    }

    /// Forgets `key`'s failures (after a success).
    pub fn clear(&self, key: &str) {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PlatformKind;
    use crate::platform::ErrorClass;

    fn err(code: &str) -> PlatformError {
        PlatformError::local(
            PlatformKind::Wechat,
            "c",
            code,
            ErrorClass::Transient,
            "x",
            "y",
        )
    }

    #[test]
    fn the_backoff_doubles_from_ten_seconds_up_to_five_minutes() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), FIRST_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_handed_out_until_its_backoff_passes_and_grows_in_a_row() {
        let failures = Failures::default();
        let ticket = Secret::new("ticket-1");
        assert!(failures.recent("k", Some(&ticket)).is_none());
        assert_eq!(
            failures.record("k", Some(&ticket), &err("61006")),
            FIRST_BACKOFF
        );
        let remembered = failures.recent("k", Some(&ticket)).unwrap();
        assert_eq!(remembered.code, "61006");
        assert!(failures.recent("other", Some(&ticket)).is_none());
        tokio::time::advance(FIRST_BACKOFF).await;
        assert!(failures.recent("k", Some(&ticket)).is_none(), "passed");
        let second = failures.record("k", Some(&ticket), &err("61006"));
        assert_eq!(second, FIRST_BACKOFF * 2, "a second failure in a row");
        tokio::time::advance(second + MAX_BACKOFF).await;
        assert_eq!(
            failures.record("k", Some(&ticket), &err("61006")),
            FIRST_BACKOFF,
            "a failure long after starts over"
        );
        failures.clear("k");
        assert!(failures.recent("k", Some(&ticket)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_input_is_tried_at_once() {
        let failures = Failures::default();
        failures.record("k", Some(&Secret::new("old")), &err("61006"));
        assert!(failures.recent("k", Some(&Secret::new("new"))).is_none());
        assert!(failures.recent("k", None).is_none());
        assert!(failures.recent("k", Some(&Secret::new("old"))).is_some());
    }
}
