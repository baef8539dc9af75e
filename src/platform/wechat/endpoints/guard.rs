//! The checks every push passes before anything is stored: timestamp window, envelope, signature
//! (constant time, before decrypting), replayed nonces, decryption for the component appid.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::platform::wechat::crypto::{CryptoError, MsgCrypt};
use crate::platform::wechat::push::{self, PushError};

pub use crate::platform::replay::{MAX_SKEW_SECS, Replay};

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
    if !crate::platform::replay::fresh(ts, now) {
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
