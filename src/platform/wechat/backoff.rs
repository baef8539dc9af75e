//! Failed token mints are single-flight too: the one attempt's error is handed to every caller
//! that waited on it (so 120 apps waiting on a rejected verify ticket make one
//! `api_component_token` call, not 120). A failure that retrying soon cannot fix (a rejected or
//! stale ticket, a bad secret, a quota) is then [`Pace::Held`] for a backoff that grows with each
//! failure in a row, bounded, and every caller meanwhile gets it without a call. A passing one
//! (WeChat busy, the network) is only [`Pace::Shared`]: callers that come after it try again, as
//! the reads' own retries expect, so a flaky platform does not fail every app's pass.
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

/// How a failure is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// A failure that passes on its own (busy, network): shared with the callers that waited on
    /// the attempt; later callers try again.
    Shared,
    /// A failure only a new ticket, the operator or time fixes: shared, then held for
    /// [`backoff`] (10 s doubling to 5 minutes).
    Held,
}

/// The backoff after the first held failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// The backoff never grows past this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How long callers fail fast after the `streak`-th held failure in a row (1-based): 10 s
/// doubling to at most 5 minutes.
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
    /// When the attempt failed: callers waiting since before get its error.
    at: Instant,
    /// Until when every caller gets it (`at` for a [`Pace::Shared`] failure).
    until: Instant,
    /// Held failures in a row.
    streak: u32,
}

/// The remembered failures of one token cache, by token key (one per component and per app, so
/// bounded by the fleet).
#[derive(Default)]
pub struct Failures {
    by_key: Mutex<HashMap<String, Failed>>,
}

impl Failures {
    /// The error of `key`'s last attempt with `input`, if it failed while the caller was waiting
    /// (since `waiting_since`) or its backoff still holds.
    pub fn recent(
        &self,
        key: &str,
        input: Option<&Secret>,
        waiting_since: Instant,
    ) -> Option<PlatformError> {
        let map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        let failed = map.get(key).filter(|f| f.input.as_ref() == input)?;
        (failed.at >= waiting_since || Instant::now() < failed.until).then(|| failed.error.clone())
    }

    /// Remembers that `key`'s attempt with `input` failed with `error`, shared at `pace`;
    /// returns how long it is held.
    pub fn record(
        &self,
        key: &str,
        input: Option<&Secret>,
        error: &PlatformError,
        pace: Pace,
    ) -> Duration {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // A failure long after the last one's backoff starts a new streak.
        let streak = map
            .get(key)
            .filter(|f| now < f.until + MAX_BACKOFF)
            .map_or(0, |f| f.streak);
        let (streak, hold) = match pace {
            Pace::Shared => (streak, Duration::ZERO),
            Pace::Held => {
                let streak = streak.saturating_add(1);
                (streak, backoff(streak))
            }
        };
        map.insert(
            key.to_string(),
            Failed {
                error: error.clone(),
                input: input.cloned(),
                at: now,
                until: now + hold,
                streak,
            },
        );
        hold
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

    use crate::platform::ErrorClass;

    fn err(code: &str) -> PlatformError {
        PlatformError::local(
            crate::platform::wechat::spec::KIND,
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
    async fn a_held_failure_is_handed_out_until_its_backoff_passes_and_grows_in_a_row() {
        let failures = Failures::default();
        let ticket = Some(Secret::new("ticket-1"));
        let since = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(failures.recent("k", ticket.as_ref(), since).is_none());
        let held = failures.record("k", ticket.as_ref(), &err("61006"), Pace::Held);
        assert_eq!(held, FIRST_BACKOFF);
        tokio::time::advance(Duration::from_millis(1)).await;
        let later = Instant::now();
        let remembered = failures.recent("k", ticket.as_ref(), later).unwrap();
        assert_eq!(remembered.code, "61006");
        assert!(failures.recent("other", ticket.as_ref(), since).is_none());
        tokio::time::advance(FIRST_BACKOFF).await;
        let after = Instant::now();
        assert!(
            failures.recent("k", ticket.as_ref(), after).is_none(),
            "passed"
        );
        let second = failures.record("k", ticket.as_ref(), &err("61006"), Pace::Held);
        assert_eq!(second, FIRST_BACKOFF * 2, "a second failure in a row");
        tokio::time::advance(second + MAX_BACKOFF).await;
        assert_eq!(
            failures.record("k", ticket.as_ref(), &err("61006"), Pace::Held),
            FIRST_BACKOFF,
            "a failure long after starts over"
        );
        failures.clear("k");
        assert!(failures.recent("k", ticket.as_ref(), since).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_failure_reaches_the_callers_that_waited_and_no_later_one() {
        let failures = Failures::default();
        let waited_since = Instant::now();
        tokio::time::advance(Duration::from_millis(5)).await;
        let held = failures.record("k", None, &err("-1"), Pace::Shared);
        assert_eq!(held, Duration::ZERO);
        assert_eq!(failures.recent("k", None, waited_since).unwrap().code, "-1");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(failures.recent("k", None, Instant::now()).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_input_is_tried_at_once() {
        let failures = Failures::default();
        let since = Instant::now();
        failures.record("k", Some(&Secret::new("old")), &err("61006"), Pace::Held);
        let now = Instant::now();
        assert!(
            failures
                .recent("k", Some(&Secret::new("new")), since)
                .is_none()
        );
        assert!(failures.recent("k", None, since).is_none());
        assert!(
            failures
                .recent("k", Some(&Secret::new("old")), now)
                .is_some()
        );
    }
}
