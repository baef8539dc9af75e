//! The web status page (issue 17), on the daemon's listener beside the API: `/` the fleet table,
//! `/apps/{app}` one app, `/apps/{app}/qr` its experience QR code, `/login` to sign in with the
//! API's read (or admin) token, kept in an HttpOnly, SameSite=Strict cookie. Without tokens, like
//! the API, it answers loopback only. The HTML is [`crate::view::html`]'s; nothing secret is on it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use super::api::{self, Api, Need};
use super::rows;
use crate::engine::now_ms;
use crate::view::html::{self, FleetQuery};

/// The page's routes.
pub fn router(api: Arc<Api>) -> Router {
    let pages = Router::new()
        .route("/", get(fleet))
        .route("/apps/{app}", get(app))
        .route("/apps/{app}/qr", get(qr))
        .route_layer(axum::middleware::from_fn_with_state(api.clone(), guard));
    let login = Router::new().route("/login", get(login_form).post(sign_in));
    pages.merge(login).with_state(api)
}

/// Lets a person through who may read; sends one who has not signed in to `/login`.
async fn guard(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match api::authorize(&api, request.headers(), peer, Need::Read) {
        Ok(()) => next.run(request).await,
        Err(_) if api.tokens.configured() => Redirect::to("/login").into_response(),
        Err(refused) => refused,
    }
}

/// `GET /`: the fleet table.
async fn fleet(State(api): State<Arc<Api>>, Query(query): Query<FleetQuery>) -> Response {
    let apps = api.apps();
    let labels: Vec<String> = apps.iter().map(|a| a.labels.words()).collect();
    let store = api.engine.store().clone();
    let rows =
        tokio::task::spawn_blocking(move || rows::status_rows(&store, &apps, now_ms())).await;
    let rollout = api
        .engine
        .rollout_now()
        .map(|view| crate::view::plan::rollout_lines(&view))
        .unwrap_or_default();
    let quotas: Vec<String> = api
        .engine
        .audit_quotas()
        .iter()
        .map(html::quota_line)
        .collect();
    let sections = [("rollout", rollout), ("audit quota", quotas)];
    match rows {
        Ok(Ok(rows)) => Html(html::fleet_page(&rows, &labels, &query, &sections)).into_response(),
        Ok(Err(err)) => failed(&err.to_string()),
        Err(_) => failed("the page could not be made"),
    }
}

/// `GET /apps/{app}`: one app.
async fn app(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Response {
    let Some(app) = api.apps().into_iter().find(|a| a.name == name) else {
        return no_app(&name);
    };
    match api::app_details(&api, &app, 50) {
        Ok((row, plan, history)) => {
            let plan = plan.map(|p| {
                let whole = crate::plan::Plan {
                    apps: vec![p],
                    ..crate::plan::Plan::default()
                };
                crate::view::plan::text(&whole, false)
            });
            let lines: Vec<String> = history.iter().map(crate::view::history::line).collect();
            Html(html::app_page(&row, plan.as_deref(), &lines)).into_response()
        }
        Err(err) => failed(&err.to_string()),
    }
}

/// `GET /apps/{app}/qr`: the experience QR code, as the image or a redirect to the platform's.
async fn qr(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Response {
    let Some(app) = api.apps().into_iter().find(|a| a.name == name) else {
        return no_app(&name);
    };
    match api.engine.experience_qr(&app, None).await {
        Ok(Some(crate::platform::QrCode::Image {
            content_type,
            bytes,
        })) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Ok(Some(crate::platform::QrCode::Url(url))) => Redirect::to(&url).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no experience QR code").into_response(),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

/// `GET /login`.
async fn login_form() -> Html<String> {
    Html(html::login_page(false))
}

/// The sign-in form.
#[derive(serde::Deserialize)]
struct SignIn {
    token: String,
}

/// `POST /login`: a token of this daemon's becomes the page's cookie.
async fn sign_in(State(api): State<Arc<Api>>, Form(form): Form<SignIn>) -> Response {
    let token = form.token.trim();
    if token.is_empty() || api::token_of(&api, token).is_none() {
        return (StatusCode::UNAUTHORIZED, Html(html::login_page(true))).into_response();
    }
    let cookie = format!("{}={token}; HttpOnly; SameSite=Strict; Path=/", api::COOKIE);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

fn no_app(name: &str) -> Response {
    let body = html::page(
        "no such app",
        html::Live::Still,
        &format!(
            "<p><a href=\"/\">← fleet</a></p><p>No app named <code>{}</code> in the daemon's fleet.</p>",
            html::escape(name)
        ),
    );
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}

fn failed(why: &str) -> Response {
    let body = html::page(
        "error",
        html::Live::Still,
        &format!("<p>{}</p>", html::escape(why)),
    );
    (StatusCode::INTERNAL_SERVER_ERROR, Html(body)).into_response()
}
