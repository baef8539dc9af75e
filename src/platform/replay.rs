//! The replay window every push endpoint keeps: a push's timestamp must be within 5 minutes of
//! now, and a nonce is taken once within that window (bounded memory).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How far a push's timestamp may be from now, and how long nonces are remembered (5 minutes).
pub const MAX_SKEW_SECS: u64 = 300;
/// Remembered nonces at most (older ones are pruned first; beyond this, the oldest go).
const MAX_NONCES: usize = 100_000;

/// Nonces seen within the window, with their timestamps.
#[derive(Default)]
pub struct Replay {
    seen: Mutex<HashMap<String, u64>>,
}

impl Replay {
    /// Records `nonce` at `timestamp`; false when it was already seen within the window.
    pub fn first_time(&self, nonce: &str, timestamp: u64, now: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_NONCES / 2 {
            seen.retain(|_, ts| ts.abs_diff(now) <= MAX_SKEW_SECS);
        }
        if seen.len() >= MAX_NONCES {
            seen.clear();
        }
        if seen
            .get(nonce)
            .is_some_and(|ts| ts.abs_diff(now) <= MAX_SKEW_SECS)
        {
            return false;
        }
        seen.insert(nonce.to_string(), timestamp);
        true
    }
}

/// Whether a push stamped `timestamp` (unix seconds) is within the window of `now`.
pub fn fresh(timestamp: u64, now: u64) -> bool {
    timestamp.abs_diff(now) <= MAX_SKEW_SECS
}
