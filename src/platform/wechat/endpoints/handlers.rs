//! The endpoint handlers: each push is opened by the guard, then its content is stored (and
//! flushed) before `success` is answered; the onboarding callback answers a small HTML page.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::Callbacks;
use super::guard::{self, Rejection};
use crate::platform::platforms::Notice;
use crate::platform::relay::{self, Pushed};
use crate::platform::wechat::Authorization;
use crate::platform::wechat::push::{self, ComponentPush};
use crate::platform::{ErrorClass, PlatformError};

/// What a processed push answers.
const SUCCESS: &str = "success";
/// WeChat's errcode for an authorization code that is invalid, expired or used
/// (`api_query_auth`, spec/wechat.md §7).
const INVALID_AUTH_CODE: &str = "61010";
/// What a merchant's admin does when a code cannot be used.
const FRESH_LINK: &str = "Get a fresh authorization link with \
    <code>minifleet auth wechat link --redirect-uri URL</code> (URL: this page's address without \
    its query) and open it again.";
/// Remembered exchanged codes at most (the push and the redirect carry the same code).
const MAX_EXCHANGED: usize = 1000;

use crate::platform::now_secs;

fn rejected(endpoint: &str, rejection: Rejection) -> Response {
    tracing::warn!(endpoint, status = %rejection.status, reason = %rejection.reason, "push rejected");
    rejection.into_response()
}

fn failed(endpoint: &str, err: &PlatformError) -> Response {
    tracing::error!(endpoint, call = %err.call, code = %err.code, error = %err, "push not processed");
    (StatusCode::INTERNAL_SERVER_ERROR, "not processed").into_response()
}

/// `POST /wechat/auth`: verify ticket, authorized / updateauthorized, unauthorized. On a shard, a
/// kept ticket is relayed to the other shards, and an authorization event of another shard's app
/// is relayed to that shard.
pub async fn auth_event(
    State(cb): State<Arc<Callbacks>>,
    Query(query): Query<BTreeMap<String, String>>,
    request: Pushed,
) -> Response {
    const ENDPOINT: &str = "wechat/auth";
    let parsed = guard::open(&cb.crypt, &cb.replay, &query, &request.body, now_secs())
        .and_then(|xml| push::parse_component_push(&xml).map_err(Rejection::from));
    let pushed = match parsed {
        Ok(p) => p,
        Err(rejection) => return rejected(ENDPOINT, rejection),
    };
    if let Some(appid) = pushed.authorizer_appid() {
        if let Some(answer) = relay::to_owner(cb.relay.as_deref(), &request, appid).await {
            return answer;
        }
    }
    let ticket = matches!(pushed, ComponentPush::VerifyTicket { .. });
    match handle_component_push(&cb, pushed).await {
        Ok(()) => {
            if ticket {
                relay::to_others(cb.relay.as_ref(), &request);
            }
            SUCCESS.into_response()
        }
        Err(err) => failed(ENDPOINT, &err),
    }
}

async fn handle_component_push(
    cb: &Arc<Callbacks>,
    pushed: ComponentPush,
) -> Result<(), PlatformError> {
    match pushed {
        ComponentPush::VerifyTicket {
            component_appid,
            ticket,
        } => {
            if component_appid != cb.client.component_appid() {
                tracing::warn!(component = %component_appid, "verify ticket for another component ignored");
                return Ok(());
            }
            cb.client.store_ticket(&ticket)?;
            tracing::info!(component = %component_appid, "verify ticket stored");
        }
        ComponentPush::Authorized {
            authorizer_appid,
            code,
            update,
        } => {
            tracing::info!(appid = %authorizer_appid, update, "authorization pushed; exchanging the code");
            let cb = Arc::clone(cb);
            tokio::spawn(async move {
                if let Err(err) = exchange(&cb, &code).await {
                    tracing::warn!(appid = %authorizer_appid, code = %err.code, error = %err, "authorization exchange failed");
                }
            });
        }
        ComponentPush::Unauthorized { authorizer_appid } => {
            cb.client.mark_unauthorized(
                &authorizer_appid,
                "the merchant revoked the authorization (unauthorized push)",
            )?;
            tracing::warn!(appid = %authorizer_appid, "app unauthorized the component");
        }
        ComponentPush::Other { info_type } => {
            tracing::debug!(info_type = %info_type, "push ignored");
        }
    }
    Ok(())
}

/// Exchanges an authorization code once: the `authorized` push and the redirect carry the same
/// single-use code, so the second arrival reuses the first one's result.
async fn exchange(cb: &Callbacks, code: &str) -> Result<Authorization, PlatformError> {
    let mut done = cb.exchanged.lock().await;
    if let Some(appid) = done.get(code) {
        return Ok(Authorization {
            appid: appid.clone(),
            permission_sets: Vec::new(),
        });
    }
    let auth = cb.client.exchange_code(code).await?;
    if done.len() >= MAX_EXCHANGED {
        done.clear();
    }
    done.insert(code.to_string(), auth.appid.clone());
    Ok(auth)
}

/// Whether a path segment can be an appid.
fn plausible_appid(appid: &str) -> bool {
    (1..=64).contains(&appid.len()) && appid.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `POST /wechat/events/{appid}`: audit results of one app; on a shard, another shard's app's are
/// relayed to it unopened (the path names the app; that shard checks the push).
pub async fn app_event(
    State(cb): State<Arc<Callbacks>>,
    Path(appid): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    request: Pushed,
) -> Response {
    const ENDPOINT: &str = "wechat/events";
    if !plausible_appid(&appid) {
        return rejected(ENDPOINT, Rejection::from(push::PushError::Missing("appid")));
    }
    if let Some(answer) = relay::to_owner(cb.relay.as_deref(), &request, &appid).await {
        return answer;
    }
    let parsed = guard::open(&cb.crypt, &cb.replay, &query, &request.body, now_secs())
        .and_then(|xml| push::parse_audit_event(&xml).map_err(Rejection::from));
    let event = match parsed {
        Ok(e) => e,
        Err(rejection) => return rejected(ENDPOINT, rejection),
    };
    tracing::info!(appid = %appid, event = event.name(), "audit event pushed");
    let _ = cb.notices.send(Notice {
        appid,
        event: event.name().to_string(),
    });
    SUCCESS.into_response()
}

/// `GET /auth/wechat/callback?auth_code=…`: where the authorization page redirects to. On a
/// shard it only acknowledges: the pushed code is exchanged by the app's shard.
pub async fn callback(
    State(cb): State<Arc<Callbacks>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(code) = query.get("auth_code").filter(|c| !c.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            &format!("The link carries no <code>auth_code</code>. {FRESH_LINK}"),
        );
    };
    if cb.relay.is_some() {
        // A shard cannot tell whose app this is before the code is used, and the code is used
        // once: WeChat's `authorized` push, relayed to the app's shard, exchanges it there.
        return page(
            StatusCode::OK,
            "Authorization received",
            "WeChat tells minifleet of the authorization by a push, and the minifleet process \
             that manages this mini program completes it from there. You may close this page.",
        );
    }
    match exchange(&cb, code).await {
        Ok(auth) => page(
            StatusCode::OK,
            "Authorized",
            &format!(
                "Mini program <code>{}</code> authorized the platform. minifleet can manage it now; you may close this page.",
                html_escape(&auth.appid)
            ),
        ),
        Err(err) => {
            let (status, what_to_do) = exchange_failure(&err);
            tracing::warn!(call = %err.call, code = %err.code, status = status.as_u16(), error = %err, "authorization callback failed");
            page(
                status,
                "Authorization failed",
                &format!("{}<br>{what_to_do}", html_escape(&err.to_string())),
            )
        }
    }
}

/// How a failed code exchange is answered: a code WeChat refuses is the caller's mistake (400,
/// with how to get a fresh one); 502 only when WeChat could not be reached or answered oddly.
fn exchange_failure(err: &PlatformError) -> (StatusCode, String) {
    match err.code.as_str() {
        INVALID_AUTH_CODE => (
            StatusCode::BAD_REQUEST,
            format!("The authorization code is invalid, expired or was already used. {FRESH_LINK}"),
        ),
        "permission_missing" => (StatusCode::FORBIDDEN, html_escape(&err.hint)),
        "store" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "minifleet could not store the authorization: {}. {FRESH_LINK}",
                html_escape(&err.hint)
            ),
        ),
        code if err.class == ErrorClass::Transient || code.starts_with("http_") => (
            StatusCode::BAD_GATEWAY,
            format!(
                "WeChat could not be reached or answered oddly; open this page again in a \
                 minute. If it fails again: {FRESH_LINK}"
            ),
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, html_escape(&err.hint)),
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>minifleet: {title}</title></head>\
         <body><h1>{title}</h1><p>{body}</p></body></html>"
    );
    (status, Html(html)).into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
