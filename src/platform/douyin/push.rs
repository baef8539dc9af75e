//! Douyin's push endpoints (spec/douyin.md §1.2–1.4), served by `serve` and `watch`: the
//! authorization-event URL (`POST /douyin/auth`: component tickets, `AUTHORIZED`,
//! `UPDATE_AUTHORIZED`, `UNAUTHORIZED`) and the message-and-event URL (`POST /douyin/events`:
//! `PACKAGE_AUDIT` verdicts).
//!
//! Every push is checked before anything else: size ≤ 64 KiB, a JSON envelope, its `TimeStamp`
//! within 5 minutes, `MsgSignature` in constant time, its nonce not seen in the window, sealed
//! for this third-party application. It is answered `success` only after what it carries is
//! stored and flushed. An audit verdict or an authorization change makes its app due at once.
//! Pushes are hints: the reconciler reads `versions` anyway (push retries are unconfirmed).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::DouyinClient;
use super::crypto::{CryptoError, Envelope, PushCrypt};
use crate::platform::platforms::{Notice, Notices};
use crate::platform::relay::{self, Pushed, Relay};
use crate::platform::replay::{Replay, fresh};

/// Largest push body accepted (64 KiB); larger ones get HTTP 413.
pub const MAX_PUSH_BODY: usize = 64 * 1024;
/// Path of the authorization-event URL.
pub const AUTH_EVENTS_PATH: &str = "/douyin/auth";
/// Path of the message-and-event URL.
pub const APP_EVENTS_PATH: &str = "/douyin/events";

/// What the endpoints need: the client (token store, code exchange), the push crypto, the replay
/// window, and where due apps are told.
pub struct Endpoints {
    client: Arc<DouyinClient>,
    crypt: PushCrypt,
    component_appid: String,
    replay: Replay,
    notices: Notices,
    relay: Option<Arc<Relay>>,
}

/// A decrypted push: the fields minifleet reads (the rest is ignored).
#[derive(Debug, Default, Deserialize)]
struct Message {
    #[serde(rename = "MsgType", default)]
    msg_type: String,
    #[serde(rename = "Ticket", default)]
    ticket: String,
    #[serde(rename = "Event", default)]
    event: String,
    #[serde(rename = "AppId", default)]
    app_id: String,
    #[serde(rename = "TpAppId", default)]
    tp_app_id: String,
    #[serde(rename = "AuthorizationCode", default)]
    authorization_code: String,
}

/// Why a push was refused: a 4xx status and a short reason (never the body or a secret).
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl From<CryptoError> for Refused {
    fn from(err: CryptoError) -> Refused {
        let status = match err {
            CryptoError::BadSignature | CryptoError::AppidMismatch => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        Refused(status, err.to_string())
    }
}

impl Endpoints {
    /// Endpoints for `client`'s application `component_appid`, opening pushes with `crypt`; with
    /// a `relay` (a shard), relaying tickets to the other shards and their apps' events to them.
    pub fn new(
        client: Arc<DouyinClient>,
        crypt: PushCrypt,
        component_appid: &str,
        notices: Notices,
        relay: Option<Arc<Relay>>,
    ) -> Arc<Endpoints> {
        Arc::new(Endpoints {
            client,
            crypt,
            component_appid: component_appid.to_owned(),
            replay: Replay::default(),
            notices,
            relay,
        })
    }

    /// Checks a push and opens it (see the module doc); `now` is unix seconds.
    fn open(&self, body: &[u8], now: u64) -> Result<Message, Refused> {
        let bad = |why: &str| Refused(StatusCode::BAD_REQUEST, why.to_owned());
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|_| bad("the body is not a Douyin push envelope"))?;
        let ts: u64 = envelope
            .timestamp
            .trim()
            .parse()
            .map_err(|_| bad("`TimeStamp` is not a number"))?;
        if !fresh(ts, now) {
            return Err(Refused(
                StatusCode::FORBIDDEN,
                "`TimeStamp` is more than 5 minutes off".into(),
            ));
        }
        let text = self.crypt.open(&envelope)?;
        if !self.replay.first_time(&envelope.nonce, ts, now) {
            return Err(Refused(
                StatusCode::FORBIDDEN,
                "`Nonce` was already used (replay)".into(),
            ));
        }
        let message: Message =
            serde_json::from_str(&text).map_err(|_| bad("the decrypted push is not JSON"))?;
        if !message.tp_app_id.is_empty() && message.tp_app_id != self.component_appid {
            return Err(Refused(
                StatusCode::FORBIDDEN,
                "the push names another third-party application".into(),
            ));
        }
        Ok(message)
    }

    fn tell(&self, appid: &str, event: &str) {
        // Nobody listening (a one-shot command) is fine.
        let _ = self.notices.send(Notice {
            appid: appid.to_owned(),
            event: event.to_owned(),
        });
    }

    /// Acts on an authorization-event push; `Err` holds a failed store as a 503.
    async fn on_auth(&self, message: Message) -> Result<(), Refused> {
        let unavailable = |e: crate::platform::PlatformError| {
            tracing::warn!(call = %e.call, code = %e.code, "a Douyin push could not be kept");
            Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "not stored; push again".into(),
            )
        };
        if message.msg_type == "Ticket" || !message.ticket.is_empty() {
            self.client
                .store_ticket(&message.ticket)
                .map_err(unavailable)?;
            tracing::info!(component = %self.component_appid, "Douyin component ticket stored");
            return Ok(());
        }
        match message.event.as_str() {
            "AUTHORIZED" | "UPDATE_AUTHORIZED" if !message.authorization_code.is_empty() => {
                match self.client.exchange_code(&message.authorization_code).await {
                    Ok(appid) => {
                        tracing::info!(%appid, event = %message.event, "Douyin app authorized");
                        self.tell(&appid, "authorized");
                    }
                    // The code may have been exchanged already (by `auth douyin`): not fatal.
                    Err(err) => {
                        tracing::warn!(appid = %message.app_id, code = %err.code, "the pushed authorization code could not be exchanged")
                    }
                }
            }
            "UNAUTHORIZED" if !message.app_id.is_empty() => {
                self.client
                    .mark_unauthorized(
                        &message.app_id,
                        "the merchant revoked the authorization (UNAUTHORIZED push)",
                    )
                    .map_err(unavailable)?;
                tracing::warn!(appid = %message.app_id, "Douyin app unauthorized");
                self.tell(&message.app_id, "unauthorized");
            }
            other => tracing::debug!(event = other, "Douyin authorization event ignored"),
        }
        Ok(())
    }
}

async fn auth_event(State(endpoints): State<Arc<Endpoints>>, request: Pushed) -> Response {
    let now = crate::platform::now_secs();
    let message = match endpoints.open(&request.body, now) {
        Ok(message) => message,
        Err(refused) => return reply(Err(refused)),
    };
    let ticket = message.msg_type == "Ticket" || !message.ticket.is_empty();
    if !ticket && !message.app_id.is_empty() {
        let relayed = relay::to_owner(endpoints.relay.as_deref(), &request, &message.app_id);
        if let Some(answer) = relayed.await {
            return answer;
        }
    }
    let handled = endpoints.on_auth(message).await;
    if ticket && handled.is_ok() {
        relay::to_others(endpoints.relay.as_ref(), &request);
    }
    reply(handled)
}

async fn app_event(State(endpoints): State<Arc<Endpoints>>, request: Pushed) -> Response {
    let now = crate::platform::now_secs();
    let message = match endpoints.open(&request.body, now) {
        Ok(message) => message,
        Err(refused) => return reply(Err(refused)),
    };
    if message.event == "PACKAGE_AUDIT" && !message.app_id.is_empty() {
        let relayed = relay::to_owner(endpoints.relay.as_deref(), &request, &message.app_id);
        if let Some(answer) = relayed.await {
            return answer;
        }
        tracing::info!(appid = %message.app_id, "Douyin audit verdict pushed");
        endpoints.tell(&message.app_id, "audit");
    }
    reply(Ok(()))
}

fn reply(handled: Result<(), Refused>) -> Response {
    match handled {
        Ok(()) => "success".into_response(),
        Err(refused) => {
            tracing::warn!(status = %refused.0, reason = %refused.1, "a Douyin push was refused");
            refused.into_response()
        }
    }
}

/// The routes, with the 64 KiB body limit.
pub fn router(endpoints: Arc<Endpoints>) -> Router {
    Router::new()
        .route(AUTH_EVENTS_PATH, post(auth_event))
        .route(APP_EVENTS_PATH, post(app_event))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BODY))
        .with_state(endpoints)
}
