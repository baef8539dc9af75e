//! A platform's tokens in the store: read, kept with their expiry, served while fresh enough, and
//! minted single-flight (one async mutex per token key, so concurrent apps wait for one mint).
//! What a token is and how it is minted is the platform module's; this is the shared cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Mutex as AsyncMutex;

use crate::model::PlatformKind;
use crate::platform::{PlatformError, now_secs};
use crate::secret::Secret;
use crate::store::{Store, Token};

/// Tokens are refreshed this long before they expire (at most half their lifetime).
const REFRESH_AHEAD_SECS: u64 = 600;

/// Whether a cached access token can still be used at `now`.
fn usable(token: &Token, now: u64) -> bool {
    let lifetime = token
        .expires_at
        .map_or(0, |exp| exp.saturating_sub(token.obtained_at));
    token.fresh(now, REFRESH_AHEAD_SECS.min(lifetime / 2))
}

/// One platform's token cache over the store.
pub struct TokenCache {
    store: Store,
    platform: PlatformKind,
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

impl TokenCache {
    /// `platform`'s tokens in `store`.
    pub fn new(store: Store, platform: PlatformKind) -> TokenCache {
        TokenCache {
            store,
            platform,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The store the tokens live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The mutex that makes minting `key` single-flight.
    pub fn lock_for(&self, key: &str) -> Arc<AsyncMutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(key.to_owned()).or_default().clone()
    }

    /// The stored token under `key`, if any; a store failure is an error of `call`.
    pub fn stored(&self, key: &str, call: &str) -> Result<Option<Token>, PlatformError> {
        self.store
            .token(key)
            .map_err(|e| PlatformError::store(self.platform, call, e))
    }

    /// Keeps `value` under `key`, obtained now and expiring in `expires_in` seconds (never, when
    /// `None`).
    pub fn save(
        &self,
        key: &str,
        value: &str,
        expires_in: Option<u64>,
        call: &str,
    ) -> Result<(), PlatformError> {
        let now = now_secs();
        let token = Token {
            value: Secret::new(value),
            expires_at: expires_in.map(|s| now + s),
            obtained_at: now,
        };
        self.store
            .put_token(key, &token)
            .map_err(|e| PlatformError::store(self.platform, call, e))
    }

    /// The token under `key` while it is fresh enough to use (not within the refresh margin).
    pub fn cached(&self, key: &str, call: &str) -> Result<Option<Secret>, PlatformError> {
        let token = self.stored(key, call)?;
        Ok(token.filter(|t| usable(t, now_secs())).map(|t| t.value))
    }

    /// Drops the token under `key` if it is still `used` (the one the platform refused), so the
    /// next caller mints a new one; a token minted meanwhile is kept.
    pub async fn drop_if_same(&self, key: &str, used: &Secret) {
        let lock = self.lock_for(key);
        let _guard = lock.lock().await;
        let current = self.store.token(key).ok().flatten();
        if current.is_some_and(|t| t.value == *used) {
            if let Err(err) = self.store.remove_token(key) {
                tracing::warn!(error = %err, "cannot drop a refused token from the store");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_ten_minutes_ahead_or_at_half_life() {
        let token = |obtained_at, expires_at| Token {
            value: Secret::new("t"),
            expires_at: Some(expires_at),
            obtained_at,
        };
        assert!(usable(&token(0, 7200), 6500));
        assert!(!usable(&token(0, 7200), 6600));
        assert!(usable(&token(0, 100), 40));
        assert!(!usable(&token(0, 100), 50));
        assert!(!usable(&token(0, 0), 0));
    }
}
