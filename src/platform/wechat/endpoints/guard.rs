//! The checks every push passes before anything is stored: timestamp window, envelope, signature
//! (constant time, before decrypting), replayed nonces, decryption for the component appid.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::platform::wechat::crypto::{CryptoError, MsgCrypt};
use crate::platform::wechat::push::{self, PushError};

/// How far a push's `timestamp` may be from now, and how long nonces are remembered (5 minutes).
pub const MAX_SKEW_SECS: u64 = 300;
/// Remembered nonces at most (older ones are pruned first; beyond this, the oldest go).
const MAX_NONCES: usize = 100_000;

/// Why a push was refused: an HTTP status and a short reason (never the body or a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The 4xx status answered.
    pub status: StatusCode,
    /// The reason, in words.
    pub reason: String,
}

impl Rejection {
    fn new(status: StatusCode, reason: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason: reason.into(),
        }
    }

    fn bad(reason: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status, self.reason).into_response()
    }
}

impl From<PushError> for Rejection {
    fn from(err: PushError) -> Rejection {
        Rejection::bad(err.to_string())
    }
}

impl From<CryptoError> for Rejection {
    fn from(err: CryptoError) -> Rejection {
        let status = match err {
            CryptoError::BadSignature | CryptoError::AppidMismatch => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        Rejection::new(status, err.to_string())
    }
}

/// Nonces seen within the window, with their timestamps.
#[derive(Default)]
pub struct Replay {
    seen: Mutex<HashMap<String, u64>>,
}

impl Replay {
    /// Records `nonce` at `timestamp`; false when it was already seen within the window.
    fn first_time(&self, nonce: &str, timestamp: u64, now: u64) -> bool {
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

fn param<'a>(query: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, Rejection> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Rejection::bad(format!("missing query parameter `{name}`")))
}

/// Checks a push and returns its decrypted XML; `now` is unix seconds.
pub fn open(
    crypt: &MsgCrypt,
    replay: &Replay,
    query: &BTreeMap<String, String>,
    body: &[u8],
    now: u64,
) -> Result<String, Rejection> {
    let timestamp = param(query, "timestamp")?;
    let nonce = param(query, "nonce")?;
    let msg_signature = param(query, "msg_signature")?;
    let ts: u64 = timestamp
        .parse()
        .map_err(|_| Rejection::bad("`timestamp` is not a number"))?;
    if ts.abs_diff(now) > MAX_SKEW_SECS {
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "`timestamp` is more than 5 minutes off",
        ));
    }
    let xml = std::str::from_utf8(body).map_err(|_| Rejection::bad("body is not UTF-8"))?;
    let envelope = push::parse_envelope(xml)?;
    crypt.verify_msg_signature(msg_signature, timestamp, nonce, &envelope.encrypt)?;
    if !replay.first_time(nonce, ts, now) {
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "`nonce` was already used (replay)",
        ));
    }
    Ok(crypt.decrypt(&envelope.encrypt)?)
}
