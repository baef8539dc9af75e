//! The simulated `gateway.do`: the method table, the checks the real gateway makes before any
//! handler runs (spec §1.3–1.7: app id, signature, sign type, timestamp, app_auth_token), the signed
//! response writer, and the axum glue that collects params from the query string and a urlencoded
//! or multipart body.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Form, FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::state::{AliError, AliResult, World};
use super::wire::read_timestamp;
use super::{Sim, members, versions};
use crate::fleet::SandboxSpec;
use crate::model::fingerprint;
use crate::platform::alipay::sign::{PrivateKey, PublicKey, response_node_name, sign_content};
use crate::sandbox::faults::{CallKind, Fault};
use crate::sandbox::records::Accepted;

/// How far a request's timestamp may be from the gateway's clock (15 minutes).
const TIMESTAMP_SKEW_MS: u64 = 15 * 60 * 1000;
/// The largest body read (the sandbox's own limit applies first).
const MAX_BODY: usize = 1 << 20;

/// A checked request, as handlers see it.
pub struct Req<'a> {
    /// Unix milliseconds.
    pub now: u64,
    /// The sandbox settings.
    pub spec: &'a SandboxSpec,
    /// The merchant app the `app_auth_token` belongs to (empty on ISV-only calls).
    pub appid: &'a str,
    /// The business params: `biz_content`'s object, or the flat fields of an upload API.
    pub biz: &'a Map<String, Value>,
}

type Handler = fn(&mut World, &Req) -> AliResult;

/// Which token a method needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// ISV credentials only (`auth.token.app`).
    Isv,
    /// A merchant's `app_auth_token`.
    Merchant,
}

struct Endpoint {
    method: &'static str,
    scope: Scope,
    /// Business params are flat form fields (upload APIs), not `biz_content`.
    flat: bool,
    handler: Handler,
}

const fn ep(method: &'static str, handler: Handler) -> Endpoint {
    Endpoint {
        method,
        scope: Scope::Merchant,
        flat: false,
        handler,
    }
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "alipay.open.auth.token.app",
        scope: Scope::Isv,
        flat: false,
        handler: members::token_app,
    },
    Endpoint {
        method: "alipay.open.mini.version.audit.apply",
        scope: Scope::Merchant,
        flat: true,
        handler: versions::audit_apply,
    },
    ep("alipay.open.mini.version.upload", versions::upload),
    ep(
        "alipay.open.mini.version.build.query",
        versions::build_query,
    ),
    ep(
        "alipay.open.mini.experience.create",
        versions::experience_create,
    ),
    ep(
        "alipay.open.mini.experience.query",
        versions::experience_query,
    ),
    ep(
        "alipay.open.mini.version.audit.cancel",
        versions::audit_cancel,
    ),
    ep(
        "alipay.open.mini.version.audited.cancel",
        versions::audited_cancel,
    ),
    ep(
        "alipay.open.mini.version.gray.online",
        versions::gray_online,
    ),
    ep(
        "alipay.open.mini.version.gray.cancel",
        versions::gray_cancel,
    ),
    ep("alipay.open.mini.version.online", versions::online),
    ep("alipay.open.mini.version.rollback", versions::rollback),
    ep("alipay.open.mini.version.offline", versions::offline),
    ep("alipay.open.mini.version.delete", versions::delete),
    ep("alipay.open.mini.version.list.query", versions::list_query),
    ep(
        "alipay.open.mini.version.detail.query",
        versions::detail_query,
    ),
    ep("alipay.open.app.members.create", members::create),
    ep("alipay.open.app.members.query", members::query),
    ep("alipay.open.app.members.delete", members::delete),
];

/// The methods that change a merchant app's versions or members (what lost answers hit).
const MUTATING: &[&str] = &[
    "alipay.open.mini.version.upload",
    "alipay.open.mini.experience.create",
    "alipay.open.mini.version.audit.apply",
    "alipay.open.mini.version.audit.cancel",
    "alipay.open.mini.version.audited.cancel",
    "alipay.open.mini.version.gray.online",
    "alipay.open.mini.version.gray.cancel",
    "alipay.open.mini.version.online",
    "alipay.open.mini.version.rollback",
    "alipay.open.mini.version.offline",
    "alipay.open.mini.version.delete",
    "alipay.open.app.members.create",
    "alipay.open.app.members.delete",
];

/// Which faults `method` may get.
pub fn call_kind(method: &str) -> CallKind {
    if MUTATING.contains(&method) {
        CallKind::Mutating
    } else if method == "alipay.open.auth.token.app" {
        CallKind::Token
    } else {
        CallKind::Read
    }
}

/// The keys and identity one dispatch checks and signs with.
pub struct Env<'a> {
    /// The sandbox settings.
    pub spec: &'a SandboxSpec,
    /// Unix milliseconds.
    pub now: u64,
    /// The ISV app id requests must carry.
    pub isv_app_id: &'a str,
    /// Verifies request signatures.
    pub isv_public: &'a PublicKey,
    /// Signs responses.
    pub alipay_private: &'a PrivateKey,
}

/// A failure before the signature was checked: answered without `sign`.
struct Unsigned(AliError);

/// The response node a method answers in.
fn node_of(method: &str) -> String {
    if method.is_empty() {
        crate::platform::alipay::sign::ERROR_NODE.to_string()
    } else {
        response_node_name(method)
    }
}

/// Answers one request given all its params (query and body merged; file parts left out), with
/// the record of the call when it was a mutating call that was applied.
pub fn dispatch(
    world: &mut World,
    env: &Env,
    params: &BTreeMap<String, String>,
) -> (String, Option<Accepted>) {
    let method = params.get("method").map(String::as_str).unwrap_or("");
    let node = node_of(method);
    match authenticate(env, params) {
        Err(Unsigned(err)) => (write(&node, &err.node(), None), None),
        Ok(()) => {
            let mut appid = String::new();
            let result = run(world, env, method, params, &mut appid);
            let accepted = match &result {
                Ok(_) if call_kind(method) == CallKind::Mutating => {
                    Some(record(world, env, method, &appid, params))
                }
                _ => None,
            };
            let fields = match result {
                Ok(mut fields) => {
                    let mut out = Map::new();
                    out.insert("code".into(), json!("10000"));
                    out.insert("msg".into(), json!("Success"));
                    out.append(&mut fields);
                    Value::Object(out)
                }
                Err(err) => err.node(),
            };
            (write(&node, &fields, Some(env.alipay_private)), accepted)
        }
    }
}

/// An injected error answer, signed like any other: `sub_code` when given, else the transient
/// 20000 `isp.unknow-error`.
pub fn injected_error(
    env: &Env,
    params: &BTreeMap<String, String>,
    sub_code: Option<&str>,
) -> String {
    let method = params.get("method").map(String::as_str).unwrap_or("");
    let err = match sub_code {
        None | Some("isp.unknow-error") => AliError::with(
            "20000",
            "Service Currently Unavailable",
            "isp.unknow-error",
            "系统繁忙 (sandbox fault)",
        ),
        Some(sub) if sub.starts_with("isp.") => AliError::with(
            "20000",
            "Service Currently Unavailable",
            sub,
            "系统繁忙 (sandbox fault)",
        ),
        Some(sub) if sub.starts_with("aop.") => AliError::with(
            "20001",
            "Insufficient Token Permissions",
            sub,
            "授权权限不足 (sandbox fault)",
        ),
        Some(sub) if sub.starts_with("isv.") => AliError::invalid(sub, "参数无效 (sandbox fault)"),
        Some(sub) => AliError::business(sub, "业务处理失败 (sandbox fault)"),
    };
    write(&node_of(method), &err.node(), Some(env.alipay_private))
}

/// The record of an applied mutating call; the fingerprint is computed from the version's
/// template, template version, app_version and ext, as minifleet computes it.
fn record(
    world: &World,
    env: &Env,
    method: &str,
    appid: &str,
    params: &BTreeMap<String, String>,
) -> Accepted {
    let version = params
        .get("app_version")
        .cloned()
        .or_else(|| biz_app_version(params));
    let found = version
        .as_deref()
        .and_then(|v| world.apps.get(appid)?.version(v));
    let fingerprint = found.map(|found| {
        fingerprint(
            &found.template_id,
            found.template_version.as_deref(),
            &found.app_version,
            &found.ext,
        )
    });
    let ext_keys = match (method, found) {
        ("alipay.open.mini.version.upload", Some(found)) => {
            crate::sandbox::records::ext_keys(&found.ext)
        }
        _ => Vec::new(),
    };
    Accepted {
        platform: "alipay".into(),
        app: appid.to_string(),
        call: method.to_string(),
        fingerprint,
        version,
        ext_keys,
        settings: Vec::new(),
        at_ms: env.now,
    }
}

fn biz_app_version(params: &BTreeMap<String, String>) -> Option<String> {
    let biz: Value = serde_json::from_str(params.get("biz_content")?).ok()?;
    biz.get("app_version")?.as_str().map(str::to_string)
}

/// `{"<node>":<fields>,"sign":"…"}`, signed over the exact node text written.
fn write(node: &str, fields: &Value, key: Option<&PrivateKey>) -> String {
    let text = fields.to_string();
    match key {
        Some(key) => {
            let sign = key.sign(&text);
            format!("{{\"{node}\":{text},\"sign\":\"{sign}\"}}")
        }
        None => format!("{{\"{node}\":{text}}}"),
    }
}

/// The gateway's protocol checks, up to and including the signature.
fn authenticate(env: &Env, params: &BTreeMap<String, String>) -> Result<(), Unsigned> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let missing = |sub: &str, what: &str| Unsigned(AliError::missing(sub, what));
    get("method").ok_or_else(|| missing("isv.missing-method", "缺少方法名参数"))?;
    let app_id = get("app_id").ok_or_else(|| missing("isv.missing-app-id", "缺少AppID参数"))?;
    if app_id != env.isv_app_id {
        return Err(Unsigned(AliError::invalid(
            "isv.invalid-app-id",
            "无效的AppID参数",
        )));
    }
    let sign = get("sign").ok_or_else(|| missing("isv.missing-signature", "缺少签名参数"))?;
    let sign_type = get("sign_type")
        .ok_or_else(|| missing("isv.missing-signature-type", "缺少签名类型参数"))?;
    if sign_type != "RSA2" {
        return Err(Unsigned(AliError::invalid(
            "isv.invalid-signature-type",
            "无效的签名类型参数",
        )));
    }
    get("timestamp").ok_or_else(|| missing("isv.missing-timestamp", "缺少时间戳参数"))?;
    get("version").ok_or_else(|| missing("isv.missing-version", "缺少版本参数"))?;
    let content = sign_content(params);
    env.isv_public.verify(&content, sign).map_err(|_| {
        Unsigned(AliError::invalid(
            "isv.invalid-signature",
            &format!("验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"),
        ))
    })
}

/// The checks after the signature, then the handler; `appid_out` gets the merchant app.
fn run(
    world: &mut World,
    env: &Env,
    method: &str,
    params: &BTreeMap<String, String>,
    appid_out: &mut String,
) -> AliResult {
    check_timestamp(env, params)?;
    let endpoint = ENDPOINTS
        .iter()
        .find(|e| e.method == method)
        .ok_or_else(|| AliError::invalid("isv.invalid-method", "不存在的方法名"))?;
    let appid = match endpoint.scope {
        Scope::Isv => String::new(),
        Scope::Merchant => merchant_of(world, params)?,
    };
    let biz = business_params(endpoint, params)?;
    if !appid.is_empty() {
        world.settle(&appid, env.spec, env.now);
    }
    appid_out.clone_from(&appid);
    let req = Req {
        now: env.now,
        spec: env.spec,
        appid: &appid,
        biz: &biz,
    };
    (endpoint.handler)(world, &req)
}

fn check_timestamp(env: &Env, params: &BTreeMap<String, String>) -> Result<(), AliError> {
    let stamp = params.get("timestamp").map(String::as_str).unwrap_or("");
    match read_timestamp(stamp) {
        Some(at) if at.abs_diff(env.now) <= TIMESTAMP_SKEW_MS => Ok(()),
        _ => Err(AliError::invalid(
            "isv.invalid-timestamp",
            "非法的时间戳参数: yyyy-MM-dd HH:mm:ss in GMT+8, within 15 minutes",
        )),
    }
}

/// The merchant appid of the call's `app_auth_token`.
fn merchant_of(world: &World, params: &BTreeMap<String, String>) -> Result<String, AliError> {
    let token = params
        .get("app_auth_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AliError::with(
                "40006",
                "Insufficient Permissions",
                "isv.self-invoke-forbidden",
                "此用户不允许自调用",
            )
        })?;
    world.global.tokens.get(token).cloned().ok_or_else(|| {
        AliError::with(
            "20001",
            "Insufficient Token Permissions",
            "aop.invalid-app-auth-token",
            "无效的应用授权令牌",
        )
    })
}

fn business_params(
    endpoint: &Endpoint,
    params: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, AliError> {
    if endpoint.flat {
        return Ok(params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect());
    }
    match params.get("biz_content").filter(|b| !b.is_empty()) {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(AliError::invalid(
                "isv.illegal-json",
                "biz_content 不是合法的 JSON 对象",
            )),
        },
    }
}

/// The axum routes of the Alipay simulator: `POST /gateway.do`.
pub fn router(sim: Sim) -> Router {
    Router::new()
        .route("/gateway.do", post(handle))
        .with_state(sim)
}

async fn handle(State(sim): State<Sim>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut params: BTreeMap<String, String> =
        axum::extract::Query::<BTreeMap<String, String>>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(map)| map)
            .unwrap_or_default();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let body_params = if content_type.starts_with("multipart/form-data") {
        multipart_text_fields(&content_type, &bytes)
    } else {
        form_fields(Request::from_parts(parts, Body::from(bytes))).await
    };
    params.extend(body_params);
    let method = params.get("method").cloned().unwrap_or_default();
    let faults = sim.faults();
    tokio::time::sleep(faults.latency()).await;
    let fault = faults.draw(call_kind(&method), &faults.alipay_codes());
    let body = match fault {
        Fault::Error(code) => sim.injected_error(&params, code.as_deref()),
        Fault::Timeout => {
            tokio::time::sleep(faults.timeout_after()).await;
            return axum::http::StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Fault::LostResponse => {
            sim.call(&params);
            tracing::debug!(%method, "sandbox: applied, answer lost");
            return axum::http::StatusCode::BAD_GATEWAY.into_response();
        }
        Fault::None => sim.call(&params),
    };
    ([(CONTENT_TYPE, "text/html;charset=utf-8")], body).into_response()
}

async fn form_fields(request: Request) -> BTreeMap<String, String> {
    Form::<BTreeMap<String, String>>::from_request(request, &())
        .await
        .map(|Form(map)| map)
        .unwrap_or_default()
}

/// The text fields of a `multipart/form-data` body; file parts (with `filename=`) are skipped.
pub fn multipart_text_fields(content_type: &str, body: &Bytes) -> BTreeMap<String, String> {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return BTreeMap::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let mut fields = BTreeMap::new();
    for part in split_bytes(body, delimiter.as_bytes()).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break;
        }
        if let Some((name, value)) = text_part(part) {
            fields.insert(name, value);
        }
    }
    fields
}

/// A part's field name and text, unless it is a file.
fn text_part(part: &[u8]) -> Option<(String, String)> {
    let part = part.strip_prefix(b"\r\n").unwrap_or(part);
    let split = split_bytes(part, b"\r\n\r\n");
    let headers = String::from_utf8_lossy(split.first()?);
    let value_start = headers.len() + 4;
    let value = part.get(value_start..)?;
    let value = value.strip_suffix(b"\r\n").unwrap_or(value);
    let disposition = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
    if disposition.contains("filename=") {
        return None;
    }
    let name = disposition
        .split(';')
        .find_map(|p| p.trim().strip_prefix("name="))?
        .trim_matches('"')
        .to_string();
    Some((name, String::from_utf8_lossy(value).into_owned()))
}

/// `haystack` split at every occurrence of `needle`.
fn split_bytes<'a>(haystack: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            out.push(&haystack[start..i]);
            i += needle.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&haystack[start..]);
    out
}
