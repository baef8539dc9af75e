//! The simulator's HTTP surface: the endpoint table (path, method, credential), the checks WeChat
//! makes before any handler runs (method 43001/43002, token 41001/40001/42001, body 44002/47001),
//! and the axum glue that feeds real requests into [`dispatch`].

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::state::{World, WxError, WxResult};
use super::{Sim, code, jump, settings, testers, tokens};
use crate::fleet::SandboxSpec;
use crate::model::parse_fingerprint;
use crate::sandbox::faults::{CallKind, Fault};
use crate::sandbox::records::Accepted;

/// An HTTP method the simulator distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// What a simulated call answers: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status (200 also for errcode answers, as WeChat does).
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// The errcode of the answer (0 when absent).
    pub fn errcode(&self) -> i64 {
        self.body
            .get("errcode")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
}

/// A checked request, as handlers see it.
pub struct Req<'a> {
    /// Unix milliseconds.
    pub now: u64,
    /// The sandbox settings.
    pub spec: &'a SandboxSpec,
    /// Lifetime of newly minted tokens, in milliseconds.
    pub token_ttl_ms: u64,
    /// The app the authorizer token belongs to (empty on component calls).
    pub appid: &'a str,
    /// The query parameters.
    pub query: &'a BTreeMap<String, String>,
    /// The JSON body (an empty object on GET).
    pub body: &'a Value,
}

#[derive(Clone, Copy)]
enum Credential {
    None,
    Component,
    Authorizer,
}

type Handler = fn(&mut World, &Req) -> WxResult;

struct Endpoint {
    path: &'static str,
    method: Method,
    credential: Credential,
    handler: Handler,
}

const fn ep(
    path: &'static str,
    method: Method,
    credential: Credential,
    handler: Handler,
) -> Endpoint {
    Endpoint {
        path,
        method,
        credential,
        handler,
    }
}

/// The calls that change an app's code, audits, releases or testers (what the journal guards and
/// what lost answers hit).
const MUTATING: &[&str] = &[
    "wxa/commit",
    "wxa/submit_audit",
    "wxa/undocodeaudit",
    "wxa/release",
    "wxa/grayrelease",
    "wxa/revertgrayrelease",
    "wxa/revertcoderelease",
    "wxa/bind_tester",
    "wxa/unbind_tester",
    "wxa/modify_domain",
    "wxa/setwebviewdomain",
    "cgi-bin/component/setprivacysetting",
    "cgi-bin/wxopen/qrcodejumpadd",
    "cgi-bin/wxopen/qrcodejumppublish",
    "cgi-bin/wxopen/qrcodejumpdelete",
];

/// The token calls: they may get errors and latency, never timeouts or lost answers.
const TOKEN_CALLS: &[&str] = &[
    "cgi-bin/component/api_component_token",
    "cgi-bin/component/api_authorizer_token",
];

/// Which faults `path` (without the leading slash) may get.
pub fn call_kind(path: &str) -> CallKind {
    let path = path.trim_start_matches('/');
    if MUTATING.contains(&path) {
        CallKind::Mutating
    } else if TOKEN_CALLS.contains(&path) {
        CallKind::Token
    } else {
        CallKind::Read
    }
}

use Credential::{Authorizer, Component};
use Method::{Get, Post};

const ENDPOINTS: &[Endpoint] = &[
    ep(
        "cgi-bin/component/api_component_token",
        Post,
        Credential::None,
        tokens::component_token,
    ),
    ep(
        "cgi-bin/component/api_authorizer_token",
        Post,
        Component,
        tokens::authorizer_token,
    ),
    ep(
        "cgi-bin/component/api_start_push_ticket",
        Post,
        Credential::None,
        tokens::start_push_ticket,
    ),
    ep(
        "cgi-bin/component/api_create_preauthcode",
        Post,
        Component,
        tokens::create_preauthcode,
    ),
    ep(
        "cgi-bin/component/api_query_auth",
        Post,
        Component,
        tokens::query_auth,
    ),
    ep(
        "cgi-bin/component/api_get_authorizer_info",
        Post,
        Component,
        tokens::get_authorizer_info,
    ),
    ep(
        "cgi-bin/component/api_get_authorizer_list",
        Post,
        Component,
        tokens::get_authorizer_list,
    ),
    ep("wxa/commit", Post, Authorizer, code::commit),
    ep(
        "wxa/modify_domain",
        Post,
        Authorizer,
        settings::modify_domain,
    ),
    ep("wxa/get_qrcode", Get, Authorizer, settings::get_qrcode),
    ep("wxa/get_page", Get, Authorizer, settings::get_page),
    ep("wxa/get_category", Get, Authorizer, settings::get_category),
    ep("cgi-bin/wxopen/qrcodejumpget", Post, Authorizer, jump::get),
    ep(
        "cgi-bin/wxopen/qrcodejumpdownload",
        Post,
        Authorizer,
        jump::download,
    ),
    ep("cgi-bin/wxopen/qrcodejumpadd", Post, Authorizer, jump::add),
    ep(
        "cgi-bin/wxopen/qrcodejumppublish",
        Post,
        Authorizer,
        jump::publish,
    ),
    ep(
        "cgi-bin/wxopen/qrcodejumpdelete",
        Post,
        Authorizer,
        jump::delete,
    ),
    ep(
        "wxa/setwebviewdomain",
        Post,
        Authorizer,
        settings::setwebviewdomain,
    ),
    ep(
        "cgi-bin/component/getprivacysetting",
        Post,
        Authorizer,
        settings::getprivacysetting,
    ),
    ep(
        "cgi-bin/component/setprivacysetting",
        Post,
        Authorizer,
        settings::setprivacysetting,
    ),
    ep(
        "wxa/security/get_code_privacy_info",
        Get,
        Authorizer,
        code::code_privacy_info,
    ),
    ep("wxa/submit_audit", Post, Authorizer, code::submit_audit),
    ep(
        "wxa/get_latest_auditstatus",
        Get,
        Authorizer,
        code::latest_auditstatus,
    ),
    ep(
        "wxa/get_auditstatus",
        Post,
        Authorizer,
        code::get_auditstatus,
    ),
    ep("wxa/undocodeaudit", Get, Authorizer, code::undocodeaudit),
    ep("wxa/release", Post, Authorizer, code::release),
    ep("wxa/grayrelease", Post, Authorizer, code::grayrelease),
    ep(
        "wxa/getgrayreleaseplan",
        Get,
        Authorizer,
        code::getgrayreleaseplan,
    ),
    ep(
        "wxa/revertgrayrelease",
        Get,
        Authorizer,
        code::revertgrayrelease,
    ),
    ep(
        "wxa/revertcoderelease",
        Get,
        Authorizer,
        code::revertcoderelease,
    ),
    ep("wxa/getversioninfo", Post, Authorizer, code::getversioninfo),
    ep("wxa/queryquota", Get, Authorizer, code::queryquota),
    ep(
        "wxa/icp/get_icp_entrance_info",
        Post,
        Authorizer,
        code::icp_entrance_info,
    ),
    ep("wxa/bind_tester", Post, Authorizer, testers::bind),
    ep("wxa/unbind_tester", Post, Authorizer, testers::unbind),
    ep("wxa/memberauth", Post, Authorizer, testers::memberauth),
];

/// The shared settings of one dispatch.
pub struct Env<'a> {
    /// The sandbox settings.
    pub spec: &'a SandboxSpec,
    /// Lifetime of newly minted tokens, in milliseconds.
    pub token_ttl_ms: u64,
    /// Unix milliseconds.
    pub now: u64,
}

/// Answers one call: `path` without the leading slash, `body` as received. Returns the answer and,
/// when a mutating call was applied, its record.
pub fn dispatch(
    world: &mut World,
    env: &Env,
    method: Method,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> (Reply, Option<Accepted>) {
    let Some(endpoint) = ENDPOINTS.iter().find(|e| e.path == path) else {
        let reply = Reply {
            status: 404,
            body: WxError::new(40066, "invalid url").body(),
        };
        return (reply, None);
    };
    let mut appid = String::new();
    let result = checked_call(world, env, endpoint, method, query, body, &mut appid);
    let accepted = match &result {
        Ok(_) if call_kind(path) == CallKind::Mutating && !settings::is_read(path, body) => {
            Some(record(world, env, path, &appid))
        }
        _ => None,
    };
    let body = match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("errcode".into(), json!(0));
            fields.insert("errmsg".into(), json!("ok"));
            Value::Object(fields)
        }
        Ok(other) => other,
        Err(err) => err.body(),
    };
    (Reply { status: 200, body }, accepted)
}

/// The record of an applied mutating call: the build it concerns is the experience build after a
/// commit, the latest audit's build after the audit and release calls.
fn record(world: &World, env: &Env, path: &str, appid: &str) -> Accepted {
    let app = world.apps.get(appid);
    let build = match path {
        "wxa/commit" | "wxa/bind_tester" | "wxa/unbind_tester" => {
            app.and_then(|a| a.experience.as_ref())
        }
        "wxa/submit_audit" | "wxa/undocodeaudit" | "wxa/release" | "wxa/grayrelease" => {
            app.and_then(|a| a.latest_audit()).map(|a| &a.build)
        }
        _ => None,
    };
    let testers = path.ends_with("_tester");
    Accepted {
        platform: "wechat".into(),
        app: appid.to_string(),
        call: path.to_string(),
        fingerprint: build
            .filter(|_| !testers)
            .and_then(|b| parse_fingerprint(&b.user_desc)),
        version: build.filter(|_| !testers).map(|b| b.user_version.clone()),
        ext_keys: build
            .filter(|_| path == "wxa/commit")
            .map(|b| crate::sandbox::records::ext_keys(&b.ext_json))
            .unwrap_or_default(),
        settings: app.map(|a| settings::in_place(a, path)).unwrap_or_default(),
        at_ms: env.now,
    }
}

fn checked_call(
    world: &mut World,
    env: &Env,
    endpoint: &Endpoint,
    method: Method,
    query: &BTreeMap<String, String>,
    body: &[u8],
    appid_out: &mut String,
) -> WxResult {
    check_method(endpoint.method, method)?;
    let appid = check_credential(world, env.now, endpoint.credential, query)?;
    let body = match endpoint.method {
        Get => json!({}),
        Post => parse_body(body)?,
    };
    if !appid.is_empty() {
        world.settle(&appid, env.spec, env.now);
    }
    appid_out.clone_from(&appid);
    let req = Req {
        now: env.now,
        spec: env.spec,
        token_ttl_ms: env.token_ttl_ms,
        appid: &appid,
        query,
        body: &body,
    };
    (endpoint.handler)(world, &req)
}

fn check_method(wanted: Method, got: Method) -> Result<(), WxError> {
    match (wanted, got) {
        (Get, Post) => Err(WxError::new(43001, "require GET method")),
        (Post, Get) => Err(WxError::new(43002, "require POST method")),
        _ => Ok(()),
    }
}

/// Checks the call's token; returns the authorizer appid (empty for other credentials).
fn check_credential(
    world: &World,
    now: u64,
    credential: Credential,
    query: &BTreeMap<String, String>,
) -> Result<String, WxError> {
    match credential {
        Credential::None => Ok(String::new()),
        Component => {
            let token = query
                .get("component_access_token")
                .or_else(|| query.get("access_token"));
            world.component_of_token(token.map(String::as_str), now)?;
            Ok(String::new())
        }
        Authorizer => world.app_of_token(query.get("access_token").map(String::as_str), now),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, WxError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::new(44002, "empty post data"));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| WxError::new(47001, "data format error: the body is not a JSON object"))
}

/// The axum routes of the WeChat simulator.
pub fn router(sim: Sim) -> Router {
    Router::new()
        .route(
            "/cgi-bin/componentloginpage",
            axum::routing::get(super::page::authorize),
        )
        .route(
            "/wxaopen/safe/bindcomponent",
            axum::routing::get(super::page::authorize),
        )
        .route("/cgi-bin/{*rest}", any(handle))
        .route("/wxa/{*rest}", any(handle))
        .with_state(sim)
}

async fn handle(
    State(sim): State<Sim>,
    method: axum::http::Method,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let method = match method {
        axum::http::Method::GET => Get,
        axum::http::Method::POST => Post,
        _ => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
    };
    let faults = sim.faults();
    tokio::time::sleep(faults.latency()).await;
    let fault = faults.draw(call_kind(uri.path()), &faults.numeric_codes());
    match fault {
        Fault::Error(code) => return json_reply(sim.injected_error(uri.path(), code.as_deref())),
        Fault::Timeout => {
            tokio::time::sleep(faults.timeout_after()).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Fault::None | Fault::LostResponse => {}
    }
    let reply = sim.call(method, uri.path(), &query, &body);
    if uri.path().ends_with("/api_start_push_ticket") && reply.errcode() == 0 {
        sim.spawn_ticket_push();
    }
    if fault == Fault::LostResponse {
        tracing::debug!(path = %uri.path(), "sandbox: applied, answer lost");
        return StatusCode::BAD_GATEWAY.into_response();
    }
    json_reply(reply)
}

fn json_reply(reply: Reply) -> Response {
    if let Some(image) = reply.body[settings::IMAGE_FIELD].as_str() {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(image)
            .unwrap_or_default();
        return ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], bytes).into_response();
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    (status, axum::Json(reply.body)).into_response()
}

/// An injected error answer: `code` when it is a WeChat errcode, else -1 "system busy".
pub fn injected_error(code: Option<&str>) -> Reply {
    let code = code.and_then(|c| c.parse::<i64>().ok()).unwrap_or(-1);
    let msg = match code {
        -1 => "system error",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        85085 => "submit audit reach limit, please check quota",
        87013 => "withdraw audit reach limit",
        _ => "injected fault",
    };
    Reply {
        status: 200,
        body: WxError::new(code, format!("{msg} (sandbox fault)")).body(),
    }
}
