//! The daemon's HTTP API (`/api/v1/…`): fleet status, history, the plan of the running fleet and
//! of a proposed fleet file, passes on demand and the engine's events as server-sent events — for
//! CI, for the CLI (`--server`, or found beside the store) and for people.
//!
//! Access: with tokens configured (`watch --read-token REF --admin-token REF`), a request needs
//! `Authorization: Bearer <token>`: the read token reads, the admin token also triggers passes
//! (401 without a token or with an unknown one, 403 with the wrong kind); tokens are compared in
//! constant time. Without tokens the API answers only to loopback peers. Nothing secret is ever
//! served: rows, plans and history carry no credential, and history is scrubbed when stored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, mpsc};

use super::rows;
use crate::engine::rollout::Act;
use crate::engine::scheduler::Command;
use crate::engine::{AppReport, Engine, now_ms, plan_of, summarize};
use crate::fleet::shard::Shard;
use crate::model::Desired;
use crate::plan::{Context, Plan, plan_app};
use crate::secret::Secret;
use crate::store::Event;
use crate::view;

/// Proposed plans computed at once; more get 503 (each reads every app once).
pub const MAX_PROPOSALS: usize = 4;
/// History events per page when `limit` is not given, and at most.
pub const PAGE: usize = 100;
/// The most a page may hold.
pub const MAX_PAGE: usize = 1000;

/// The API's bearer tokens; `None` for a kind not configured.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// Reads status, history, plans, events.
    pub read: Option<Secret>,
    /// Everything, passes included.
    pub admin: Option<Secret>,
}

impl Tokens {
    /// Whether any token is configured (else only loopback peers are answered).
    pub fn configured(&self) -> bool {
        self.read.is_some() || self.admin.is_some()
    }
}

/// What the API reads and drives.
pub struct Api {
    /// The engine (store, platforms, events).
    pub engine: Arc<Engine>,
    /// The fleet the daemon runs (the last good one), in fleet order.
    pub current: Arc<Mutex<Vec<Desired>>>,
    /// The scheduler's commands (passes on demand).
    pub commands: mpsc::UnboundedSender<Command>,
    /// Who may do what.
    pub tokens: Tokens,
    /// The running fleet file: a proposal's `${file:…}` paths resolve beside it.
    pub fleet_path: PathBuf,
    /// The daemon's shard: a proposal keeps only its apps.
    pub shard: Option<Shard>,
    /// How many apps a proposal observes at once.
    pub concurrency: usize,
    /// The fleet the daemon started with (its `platforms` section; the apps are [`Api::current`]).
    pub fleet: crate::fleet::Fleet,
    proposals: Semaphore,
}

impl Api {
    /// The API over the daemon's parts: its engine, running fleet and scheduler, as `opts`
    /// say, for `fleet` (as the daemon started with it).
    pub fn new(
        engine: Arc<Engine>,
        current: Arc<Mutex<Vec<Desired>>>,
        commands: mpsc::UnboundedSender<Command>,
        opts: &super::WatchOptions,
        fleet: crate::fleet::Fleet,
    ) -> Api {
        Api {
            engine,
            current,
            commands,
            tokens: opts.tokens.clone(),
            fleet_path: opts.fleet_path.clone(),
            shard: opts.shard,
            concurrency: opts.concurrency,
            fleet,
            proposals: Semaphore::new(MAX_PROPOSALS),
        }
    }

    pub(super) fn apps(&self) -> Vec<Desired> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The routes under `/api/v1`: the read routes behind the read token, the others behind the
/// admin token.
pub fn router(api: Arc<Api>) -> Router {
    let read = Router::new()
        .route("/api/v1/apps", get(apps))
        .route("/api/v1/apps/{app}", get(app))
        .route("/api/v1/apps/{app}/history", get(app_history))
        .route("/api/v1/apps/{app}/qr", get(app_qr))
        .route("/api/v1/history", get(fleet_history))
        .route("/api/v1/plan", get(running_plan).post(proposed_plan))
        .route("/api/v1/events", get(events))
        .route_layer(axum::middleware::from_fn_with_state(
            (api.clone(), Need::Read),
            guard,
        ));
    let admin = Router::new()
        .route("/api/v1/passes", post(passes))
        .route("/api/v1/auth/{platform}", post(auth))
        .route("/api/v1/rollout/promote", post(promote))
        .route("/api/v1/rollout/resume", post(resume))
        .route_layer(axum::middleware::from_fn_with_state(
            (api.clone(), Need::Admin),
            guard,
        ));
    read.merge(admin).with_state(api)
}

/// Lets a request through when [`authorize`] does.
async fn guard(
    State((api, need)): State<(Arc<Api>, Need)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(&api, request.headers(), peer, need) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused,
    }
}

/// A JSON error with what to do next.
fn problem(status: StatusCode, error: impl Into<String>, help: impl Into<String>) -> Response {
    let body = json!({ "error": error.into(), "help": help.into() });
    (status, axum::Json(body)).into_response()
}

/// What a request may do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Read,
    Admin,
}

/// Whether the request may go on; the refusal otherwise.
pub(super) fn authorize(
    api: &Api,
    headers: &HeaderMap,
    peer: SocketAddr,
    need: Need,
) -> Result<(), Response> {
    if !api.tokens.configured() {
        if peer.ip().is_loopback() {
            return Ok(());
        }
        return Err(problem(
            StatusCode::FORBIDDEN,
            "without tokens the API answers only on loopback",
            "start `minifleet watch` with `--read-token ${env:…}` (and `--admin-token`) to open it",
        ));
    }
    // The web page's cookie may read, never act: a page elsewhere cannot make a browser act.
    let given = bearer(headers).or_else(|| cookie(headers).filter(|_| need == Need::Read));
    let Some(given) = given else {
        return Err(unauthorized("no bearer token"));
    };
    match token_of(api, given) {
        Some(Need::Admin) => Ok(()),
        Some(Need::Read) => match need {
            Need::Read => Ok(()),
            Need::Admin => Err(problem(
                StatusCode::FORBIDDEN,
                "the read token cannot trigger passes",
                "use the admin token (`watch --admin-token`)",
            )),
        },
        None => Err(unauthorized("the bearer token is not one of this daemon's")),
    }
}

/// The token of `Authorization: Bearer …`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|g| !g.is_empty())
}

/// The name of the web page's cookie, which holds the token a person signed in with.
pub(super) const COOKIE: &str = "minifleet_token";

/// The token of the web page's cookie.
pub(super) fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|t| !t.is_empty())
}

/// What `given` may do, when it is one of this daemon's tokens (compared in constant time).
pub(super) fn token_of(api: &Api, given: &str) -> Option<Need> {
    let is = |token: &Option<Secret>| {
        token.as_ref().is_some_and(|t| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                t.expose().as_bytes(),
                given.as_bytes(),
            )
            .is_ok()
        })
    };
    if is(&api.tokens.admin) {
        Some(Need::Admin)
    } else if is(&api.tokens.read) {
        Some(Need::Read)
    } else {
        None
    }
}

fn unauthorized(why: &str) -> Response {
    let mut response = problem(
        StatusCode::UNAUTHORIZED,
        why,
        "send `Authorization: Bearer <token>`; the CLI reads it from `--token-file` or MINIFLEET_TOKEN",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// `label=k=v[,k2=v2…]`: every pair must match.
fn labels(text: Option<&str>) -> Result<Vec<(String, String)>, Response> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|pair| {
            pair.trim()
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    problem(
                        StatusCode::BAD_REQUEST,
                        format!("`{pair}` is not key=value"),
                        "e.g. `?label=region=east` or `?label=region=east,tier=canary`",
                    )
                })
        })
        .collect()
}

/// Whether `app` has every label of `wanted`.
fn has_labels(app: &Desired, wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|(k, v)| has_label(app, k, v))
}

/// Whether `app` has the label `key=value`.
fn has_label(app: &Desired, key: &str, value: &str) -> bool {
    app.labels.iter().any(|(k, v)| k == key && v == value)
}

/// `?state=&platform=&label=k=v&name=` of `GET /apps`.
#[derive(Debug, Default, Deserialize)]
struct AppFilter {
    state: Option<String>,
    platform: Option<String>,
    label: Option<String>,
    name: Option<String>,
}

/// `GET /api/v1/apps`: every app's status row (as `status -o json`), filtered.
async fn apps(State(api): State<Arc<Api>>, Query(filter): Query<AppFilter>) -> Response {
    let wanted = match labels(filter.label.as_deref()) {
        Ok(wanted) => wanted,
        Err(refused) => return refused,
    };
    let chosen: Vec<Desired> = api
        .apps()
        .into_iter()
        .filter(|a| {
            filter
                .platform
                .as_deref()
                .is_none_or(|p| a.platform.to_string() == p)
        })
        .filter(|a| filter.name.as_deref().is_none_or(|n| a.name == n))
        .filter(|a| has_labels(a, &wanted))
        .collect();
    let store = api.engine.store().clone();
    let rows =
        tokio::task::spawn_blocking(move || rows::status_rows(&store, &chosen, now_ms())).await;
    match rows {
        Ok(Ok(rows)) => {
            let rows: Vec<_> = rows
                .into_iter()
                .filter(|r| filter.state.as_deref().is_none_or(|s| r.state == s))
                .collect();
            let rows = view::status::JsonRows(&rows);
            axum::Json(json!({ "format_version": view::status::FORMAT_VERSION, "apps": rows }))
                .into_response()
        }
        Ok(Err(err)) => store_failed(&err),
        Err(_) => internal(),
    }
}

fn store_failed(err: &crate::store::StoreError) -> Response {
    let report = view::report::Report::from(err);
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        report.message,
        report.help.unwrap_or_default(),
    )
}

fn internal() -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the request failed inside the daemon",
        "see the daemon's log",
    )
}

fn no_app(name: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        format!("no app named `{name}` in the daemon's fleet"),
        "`GET /api/v1/apps` lists them",
    )
}

/// `GET /api/v1/apps/{app}`: one app: its row, what the fleet wants, its plan from the last
/// observation, and its newest history.
async fn app(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Response {
    let Some(app) = api.apps().into_iter().find(|a| a.name == name) else {
        return no_app(&name);
    };
    let details = app_details(&api, &app, 20).map(|(row, plan, history)| {
        json!({
            "format_version": view::status::FORMAT_VERSION,
            "app": view::status::JsonRow(&row),
            "wanted": {
                "template": app.template,
                "version": app.version,
                "fingerprint": app.fingerprint,
                "stage": app.stage,
                "gray": app.gray,
                "labels": app.labels.iter().collect::<BTreeMap<_, _>>(),
                "testers": app.testers,
            },
            "plan": plan,
            "history": history,
        })
    });
    match details {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(err) => store_failed(&err),
    }
}

/// One app's status row, its plan from the last observation (none before one), and its newest
/// `limit` history events, newest first: the API's and the web page's app view.
pub(super) fn app_details(
    api: &Api,
    app: &Desired,
    limit: usize,
) -> Result<(rows::StatusRow, Option<crate::model::AppPlan>, Vec<Event>), crate::store::StoreError>
{
    let store = api.engine.store();
    let now = now_ms();
    let row = rows::status_row(store, app, now)?;
    let record = store.record(&app.appid)?;
    let plan = store
        .observation(&app.appid)?
        .map(|(observed, _)| plan_app(app, &observed, &record, &Context { now: now / 1000 }));
    let mut history = store.history(Some(&app.appid))?;
    let skip = history.len().saturating_sub(limit);
    history.drain(..skip);
    history.reverse();
    Ok((row, plan, history))
}

/// `?limit=&before=` of the history routes: newest first, `before` a cursor from the last page.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    before: Option<u64>,
}

/// One page of `events` (oldest first as stored): the newest `limit` older than `before`, newest
/// first, never splitting events of one millisecond; with the cursor of the next page.
fn page(mut events: Vec<Event>, query: &PageQuery) -> Value {
    events.sort_by_key(|e| e.at_ms);
    if let Some(before) = query.before {
        events.retain(|e| e.at_ms < before);
    }
    let limit = query.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let mut start = events.len().saturating_sub(limit);
    while start > 0 && start < events.len() && events[start - 1].at_ms == events[start].at_ms {
        start -= 1;
    }
    let mut shown = events.split_off(start);
    let next = (!events.is_empty()).then(|| shown[0].at_ms);
    shown.reverse();
    json!({ "format_version": 1, "events": shown, "next_before": next })
}

/// `GET /api/v1/apps/{app}/history`.
async fn app_history(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let appid = api
        .apps()
        .into_iter()
        .find(|a| a.name == name)
        .map(|a| a.appid);
    let store = api.engine.store();
    // An app removed from the fleet since: by the name its events were recorded under.
    let events = match &appid {
        Some(appid) => store.history(Some(appid)),
        None => store
            .history(None)
            .map(|all| all.into_iter().filter(|e| e.app == name).collect()),
    };
    match events {
        Ok(events) if events.is_empty() && appid.is_none() => no_app(&name),
        Ok(events) => axum::Json(page(events, &query)).into_response(),
        Err(err) => store_failed(&err),
    }
}

/// The query of `GET /api/v1/apps/{app}/qr`.
#[derive(Debug, serde::Deserialize)]
struct QrQuery {
    /// The page the code opens, with its query.
    path: Option<String>,
}

/// `GET /api/v1/apps/{app}/qr[?path=PAGE]`: the experience version's QR code, from the
/// platform: the image itself, or `{"url"}` where the platform gives a URL.
async fn app_qr(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(query): Query<QrQuery>,
) -> Response {
    let Some(app) = api.apps().into_iter().find(|a| a.name == name) else {
        return no_app(&name);
    };
    match api.engine.experience_qr(&app, query.path.as_deref()).await {
        Ok(Some(crate::platform::QrCode::Image {
            content_type,
            bytes,
        })) => ([(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Ok(Some(crate::platform::QrCode::Url(url))) => {
            axum::Json(serde_json::json!({ "url": url })).into_response()
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            format!("{} has no experience QR code", app.platform),
            "",
        ),
        Err(err) => {
            let report = view::report::Report::from(&err);
            problem(
                StatusCode::BAD_GATEWAY,
                report.message,
                report.help.unwrap_or_default(),
            )
        }
    }
}

/// `GET /api/v1/history`: the whole fleet's.
async fn fleet_history(State(api): State<Arc<Api>>, Query(query): Query<PageQuery>) -> Response {
    match api.engine.store().history(None) {
        Ok(events) => axum::Json(page(events, &query)).into_response(),
        Err(err) => store_failed(&err),
    }
}

/// `?only=a,b&label=k=v` of the plan routes.
#[derive(Debug, Default, Deserialize)]
struct PlanQuery {
    only: Option<String>,
    label: Option<String>,
}

impl PlanQuery {
    /// The chosen apps of `apps`; an error names an unknown app or a label that matches none.
    fn choose(&self, apps: Vec<Desired>) -> Result<Vec<Desired>, Response> {
        let only: Vec<&str> = self
            .only
            .as_deref()
            .map(|o| {
                o.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(unknown) = only.iter().find(|n| !apps.iter().any(|a| a.name == **n)) {
            return Err(no_app(unknown));
        }
        let wanted = labels(self.label.as_deref())?;
        let chosen: Vec<Desired> = apps
            .into_iter()
            .filter(|a| only.is_empty() || only.contains(&a.name.as_str()))
            .filter(|a| has_labels(a, &wanted))
            .collect();
        if chosen.is_empty() && !wanted.is_empty() {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no app matches the label",
                "`GET /api/v1/apps` lists the apps and their labels",
            ));
        }
        Ok(chosen)
    }
}

/// The plan document `plan -o json` prints: the plan, and the apps that failed.
pub fn plan_doc(reports: &[AppReport], plan: &Plan) -> Value {
    let mut doc = view::plan::json(plan);
    doc["errors"] = json!(summarize(reports).failed);
    doc
}

/// `GET /api/v1/plan`: the running fleet planned from the store's last observations (no platform
/// call; the daemon keeps them fresh).
async fn running_plan(State(api): State<Arc<Api>>, Query(query): Query<PlanQuery>) -> Response {
    let apps = match query.choose(api.apps()) {
        Ok(apps) => apps,
        Err(refused) => return refused,
    };
    let store = api.engine.store();
    let context = Context {
        now: now_ms() / 1000,
    };
    let mut plan = Plan::default();
    let (mut observed_apps, mut planned) = (Vec::new(), Vec::new());
    for app in &apps {
        let made = store.record(&app.appid).and_then(|record| {
            Ok(store.observation(&app.appid)?.map(|(observed, _)| {
                let app_plan = plan_app(app, &observed, &record, &context);
                let progress = crate::plan::rollout::progress(app, &observed, &app_plan);
                (app_plan, progress)
            }))
        });
        match made {
            Ok(Some(made)) => {
                observed_apps.push(app.clone());
                planned.push(made);
            }
            Ok(None) => plan.unobserved.push(app.name.clone()),
            Err(err) => return store_failed(&err),
        }
    }
    // As the next round would: the rollout holds what its waves and halts hold.
    (plan.apps, plan.rollout) = api.engine.gate_stored(&observed_apps, planned).await;
    axum::Json(plan_doc(&[], &plan)).into_response()
}

/// `POST /api/v1/plan` with a fleet file as the body: validated (422 with every problem, as
/// `validate -o json` gives them) and planned against the daemon's store and live state, with
/// the daemon's platform clients; nothing is applied, nothing stored.
async fn proposed_plan(
    State(api): State<Arc<Api>>,
    Query(query): Query<PlanQuery>,
    body: Bytes,
) -> Response {
    let Ok(_permit) = api.proposals.try_acquire() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_PROPOSALS} proposed plans are being computed"),
            "retry in a moment",
        );
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text",
            "send the fleet file's YAML as the body",
        );
    };
    let path = api.fleet_path.clone();
    let text = text.to_string();
    let loaded = tokio::task::spawn_blocking(move || {
        crate::fleet::load_str(
            &text,
            &path,
            &|name| std::env::var(name).ok(),
            crate::platform::registry::SPECS,
        )
    })
    .await;
    let mut fleet = match loaded {
        Ok(Ok(fleet)) => fleet,
        Ok(Err(errors)) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(view::fleet::errors_json(&errors)),
            )
                .into_response();
        }
        Err(_) => return internal(),
    };
    fleet.keep_shard(api.shard);
    let board = fleet
        .rollout
        .as_ref()
        .map(|r| crate::engine::rollout::Board::new(r, &fleet.apps));
    let apps = match query.choose(fleet.apps) {
        Ok(apps) => apps,
        Err(refused) => return refused,
    };
    let planned = api
        .engine
        .plan_proposal(&apps, board, api.concurrency)
        .await;
    let plan = plan_of(&planned.reports, planned.audit_budget, planned.rollout);
    axum::Json(plan_doc(&planned.reports, &plan)).into_response()
}

/// The body of `POST /api/v1/passes`.
#[derive(Debug, Default, Deserialize)]
struct PassRequest {
    /// Apps by name.
    #[serde(default)]
    apps: Vec<String>,
    /// Apps by label (`key=value`; all must match).
    #[serde(default)]
    labels: Vec<String>,
}

/// `POST /api/v1/passes` (admin): pass the chosen apps now, before any resync.
async fn passes(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let request: PassRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("the body is not a pass request: {err}"),
                r#"send e.g. {"apps": ["tea-house"]} or {"labels": ["region=east"]}"#,
            );
        }
    };
    let labels: Option<Vec<(&str, &str)>> =
        request.labels.iter().map(|l| l.split_once('=')).collect();
    let Some(labels) = labels else {
        return problem(
            StatusCode::BAD_REQUEST,
            "labels must be key=value",
            "e.g. region=east",
        );
    };
    if request.apps.is_empty() && labels.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "no app chosen",
            r#"name apps ({"apps": [...]}) or labels ({"labels": ["k=v"]})"#,
        );
    }
    let fleet = api.apps();
    if let Some(unknown) = request
        .apps
        .iter()
        .find(|n| !fleet.iter().any(|a| &a.name == *n))
    {
        return no_app(unknown);
    }
    let names: Vec<String> = fleet
        .iter()
        .filter(|a| request.apps.is_empty() || request.apps.contains(&a.name))
        .filter(|a| labels.iter().all(|(k, v)| has_label(a, k, v)))
        .map(|a| a.name.clone())
        .collect();
    if names.is_empty() {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no app matches",
            "`GET /api/v1/apps` lists the apps and their labels",
        );
    }
    if api
        .commands
        .send(Command::Pass {
            names: names.clone(),
        })
        .is_err()
    {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is stopping",
            "retry after it restarted",
        );
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "passing": names })),
    )
        .into_response()
}

/// The body of `POST /api/v1/rollout/promote` and `…/resume`: the wave or the release, or
/// neither (the first closed gate; the only halted release).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutRequest {
    #[serde(default)]
    wave: Option<String>,
    #[serde(default)]
    release: Option<String>,
}

/// `POST /api/v1/rollout/promote`: opens a wave's manual gate and passes its apps now.
async fn promote(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    rollout_act(&api, &body, |r| Act::Promote(r.wave.as_deref()))
}

/// `POST /api/v1/rollout/resume`: lifts a halted release and passes its apps now.
async fn resume(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    rollout_act(&api, &body, |r| Act::Resume(r.release.as_deref()))
}

fn rollout_act(api: &Api, body: &[u8], act: impl Fn(&RolloutRequest) -> Act<'_>) -> Response {
    let request: RolloutRequest = if body.is_empty() {
        RolloutRequest::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(err) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not a rollout request: {err}"),
                    r#"send e.g. {"wave": "rest"} to promote, {"release": "shop@1.5.0"} to resume, or nothing"#,
                );
            }
        }
    };
    let acted = match api.engine.act_on_rollout(act(&request)) {
        Ok(acted) => acted,
        Err(why) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                why,
                "`GET /api/v1/plan` shows the rollout's waves and halts",
            );
        }
    };
    if !acted.apps.is_empty() {
        let _ = api.commands.send(Command::Pass {
            names: acted.apps.clone(),
        });
    }
    (
        StatusCode::OK,
        axum::Json(json!({ "done": acted.what, "passing": acted.apps })),
    )
        .into_response()
}

/// `GET /api/v1/events`: the engine's events as they happen (`text/event-stream`, one JSON
/// event per message, the event's kind as its SSE `event:`); a reader too slow for the stream gets
/// a `lagged` event saying how many it missed, never unbounded memory.
async fn events(State(api): State<Arc<Api>>) -> Response {
    let receiver = api.engine.events().stream();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let message = match receiver.recv().await {
            Ok(event) => {
                let data = serde_json::to_value(&*event).unwrap_or(Value::Null);
                let kind = data["event"].as_str().unwrap_or("event").to_string();
                SseEvent::default().event(kind).data(data.to_string())
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => SseEvent::default()
                .event("lagged")
                .data(json!({ "missed": missed }).to_string()),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(message), receiver))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The body of `POST /api/v1/auth/{platform}`: the onboarding command's arguments after
/// the platform's name in `minifleet auth` (e.g. `["link", "--redirect-uri", "https://…"]`).
#[derive(Debug, Deserialize)]
struct AuthRequest {
    args: Vec<String>,
}

/// `POST /api/v1/auth/{platform}` (admin): runs the platform's onboarding command in the daemon,
/// which holds the store and the platforms' tokens (`minifleet auth` while `watch` runs).
async fn auth(State(api): State<Arc<Api>>, Path(platform): Path<String>, body: Bytes) -> Response {
    let Some(module) = crate::platform::registry::auth_module(&platform) else {
        return problem(
            StatusCode::NOT_FOUND,
            format!("no platform `{platform}` to onboard"),
            "see `minifleet auth --help`",
        );
    };
    let request: AuthRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("the body is not an auth request: {err}"),
                r#"send {"args": ["link", "--redirect-uri", "https://…"]}"#,
            );
        }
    };
    let Some(command) = module.auth_command() else {
        return problem(
            StatusCode::NOT_FOUND,
            "no onboarding command",
            "see `minifleet auth --help`",
        );
    };
    let argv = std::iter::once(platform.clone()).chain(request.args);
    let matches = match command.try_get_matches_from(argv) {
        Ok(matches) => matches,
        Err(err) => {
            return problem(
                StatusCode::BAD_REQUEST,
                err.render().to_string().trim().to_string(),
                "see `minifleet auth --help` for the platforms' onboarding commands",
            );
        }
    };
    let mut fleet = api.fleet.clone();
    fleet.apps = api.apps();
    match module
        .run_auth(&matches, &fleet, api.engine.platforms())
        .await
    {
        Ok(output) => axum::Json(output).into_response(),
        Err(report) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            report.message,
            report.help.unwrap_or_default(),
        ),
    }
}
