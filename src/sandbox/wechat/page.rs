//! The simulated authorization page (`/cgi-bin/componentloginpage` and the mobile
//! `/wxaopen/safe/bindcomponent`): the merchant "consents" at once, the page redirects to
//! `redirect_uri?auth_code=…&expires_in=600`, and an `authorized` push goes out.
//!
//! The mini program authorizing is `biz_appid` when the link pins one, else the sandbox-only
//! `appid` parameter, else a new random appid.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::Sim;
use super::state::now_ms;
use super::tokens::take_preauth_code;

fn refuse(message: &str) -> Response {
    let html = format!(
        "<!doctype html><html><body><h1>Authorization refused</h1><p>{message}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(html)).into_response()
}

fn random_appid() -> String {
    let hex: String = std::iter::repeat_with(|| fastrand::digit(16))
        .take(16)
        .collect();
    format!("wx{hex}")
}

/// `GET /cgi-bin/componentloginpage` (and the mobile page).
pub async fn authorize(
    State(sim): State<Sim>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let get = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    let (Some(pre_auth_code), Some(redirect_uri)) = (get("pre_auth_code"), get("redirect_uri"))
    else {
        return refuse("the link needs `pre_auth_code` and `redirect_uri`");
    };
    if get("component_appid").is_none() {
        return refuse("the link needs `component_appid`");
    }
    let appid = get("biz_appid")
        .or_else(|| get("appid"))
        .unwrap_or_else(random_appid);
    let code = sim.mutate(|world| {
        let now = now_ms();
        take_preauth_code(world, &pre_auth_code, now).then(|| world.authorization_code(&appid, now))
    });
    let Some(code) = code else {
        return refuse("`pre_auth_code` is invalid, used or expired: create a new link");
    };
    sim.spawn_authorized_push(&appid, &code);
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{separator}auth_code={code}&expires_in=600");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
