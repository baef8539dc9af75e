//! The `platforms` section: WeChat resolved into a [`WechatConfig`], Alipay into an
//! [`AlipayConfig`] (secrets included; per-app `app_auth_token`s are added by the apps).

use serde_yaml::Value;

use super::load::Ctx;
use super::path::YamlPath;
use super::problems::Problems;
use super::raw::{RawAlipay, RawPlatforms, RawWechat};
use super::{AlipayConfig, ApiBase, Platforms, WechatConfig, partial, rules, secrets};
use crate::secret::Secret;

/// The WeChat API base when the file names none.
const WECHAT_DEFAULT_BASE: &str = "https://api.weixin.qq.com";

/// The Alipay gateway when the file names none.
const ALIPAY_DEFAULT_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";

/// Which platform sections the file has, valid or not.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Declared {
    /// `platforms.wechat` is present.
    pub(crate) wechat: bool,
    /// `platforms.alipay` is present.
    pub(crate) alipay: bool,
}

/// Reads and checks `platforms`.
pub(crate) fn read(
    value: &mut Value,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> (Platforms, Declared) {
    let present = |key: &str| value.get(key).is_some_and(|v| !v.is_null());
    let declared = Declared {
        wechat: present("wechat"),
        alipay: present("alipay"),
    };
    let path = YamlPath::top("platforms");
    let raw: RawPlatforms = partial::read(value, &path, p);
    let wechat = raw
        .wechat
        .and_then(|w| wechat(w, &path.key("wechat"), ctx, p));
    let alipay = raw
        .alipay
        .and_then(|a| alipay(a, &path.key("alipay"), ctx, p));
    (Platforms { wechat, alipay }, declared)
}

fn wechat(
    raw: RawWechat,
    path: &YamlPath,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> Option<WechatConfig> {
    let start = p.count();
    let appid_path = path.key("component_appid");
    match &raw.component_appid {
        None => {
            p.missing(&appid_path);
        }
        Some(id) if !rules::is_wechat_appid(id) => {
            p.value(
                &appid_path,
                format!("`component_appid` must be `wx` and 16 lowercase hex digits, got `{id}`"),
            );
        }
        Some(_) => {}
    }
    let api_base = endpoint(
        raw.api_base.as_deref(),
        WECHAT_DEFAULT_BASE,
        &path.key("api_base"),
        p,
    );
    let component_secret = secret(
        raw.component_secret.as_deref(),
        &path.key("component_secret"),
        ctx,
        p,
    );
    if raw.component_secret.is_none() && api_base != ApiBase::Sandbox {
        if let Some(e) = p.missing(&path.key("component_secret")) {
            e.help("`component_secret` may be left out only when `api_base` is `sandbox`");
        }
    }
    let token = secret(raw.token.as_deref(), &path.key("token"), ctx, p);
    let encoding_aes_key = secret(
        raw.encoding_aes_key.as_deref(),
        &path.key("encoding_aes_key"),
        ctx,
        p,
    );
    check_aes_key(encoding_aes_key.as_ref(), &path.key("encoding_aes_key"), p);
    let component_appid = raw.component_appid?;
    (p.count() == start).then_some(WechatConfig {
        component_appid,
        component_secret,
        token,
        encoding_aes_key,
        api_base,
    })
}

/// Parses an endpoint (`sandbox` or a URL), `default` when absent; the key's name is the path's.
fn endpoint(text: Option<&str>, default: &str, path: &YamlPath, p: &mut Problems<'_>) -> ApiBase {
    let Some(text) = text else {
        return ApiBase::Url(default.to_owned());
    };
    let key = path.to_string();
    let key = key.rsplit('.').next().unwrap_or_default().to_owned();
    rules::api_base(text).unwrap_or_else(|| {
        p.value(
            path,
            format!("`{key}` must be `sandbox` or an http(s) URL, got `{text}`"),
        )
        .help(format!(
            "e.g. `{default}`, or `sandbox` for the embedded simulator"
        ));
        ApiBase::Sandbox
    })
}

/// Resolves an optional secret reference, reporting why it cannot be.
fn secret(
    text: Option<&str>,
    path: &YamlPath,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> Option<Secret> {
    match secrets::resolve(text?, &ctx.base_dir, ctx.env) {
        Ok(s) => Some(s),
        Err(e) => {
            p.value(path, e.to_string()).help(e.help());
            None
        }
    }
}

fn check_aes_key(key: Option<&Secret>, path: &YamlPath, p: &mut Problems<'_>) {
    let Some(key) = key else { return };
    let n = key.expose().chars().count();
    if n != 43 {
        p.value(
            path,
            format!("`encoding_aes_key` must be 43 characters, got {n}"),
        )
        .help("copy the EncodingAESKey from the open platform's settings page");
    }
}

fn alipay(
    raw: RawAlipay,
    path: &YamlPath,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> Option<AlipayConfig> {
    let start = p.count();
    let app_id_path = path.key("app_id");
    match &raw.app_id {
        None => {
            p.missing(&app_id_path);
        }
        Some(id) if !rules::is_alipay_appid(id) => {
            p.value(
                &app_id_path,
                format!("`app_id` must be the ISV application's 16-digit app id, got `{id}`"),
            )
            .help("quote it (`app_id: \"2021000000000000\"`) and copy it from the open platform console");
        }
        Some(_) => {}
    }
    let gateway = endpoint(
        raw.gateway.as_deref(),
        ALIPAY_DEFAULT_GATEWAY,
        &path.key("gateway"),
        p,
    );
    let private_key = key(
        raw.private_key.as_deref(),
        "private_key",
        &gateway,
        path,
        ctx,
        p,
    );
    let alipay_public_key = key(
        raw.alipay_public_key.as_deref(),
        "alipay_public_key",
        &gateway,
        path,
        ctx,
        p,
    );
    let app_id = raw.app_id?;
    (p.count() == start).then_some(AlipayConfig {
        app_id,
        private_key,
        alipay_public_key,
        gateway,
        app_auth_tokens: Default::default(),
    })
}

/// Resolves an Alipay key, required unless the gateway is the sandbox.
fn key(
    text: Option<&str>,
    name: &str,
    gateway: &ApiBase,
    path: &YamlPath,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> Option<Secret> {
    let key_path = path.key(name);
    if text.is_none() && *gateway != ApiBase::Sandbox {
        if let Some(e) = p.missing(&key_path) {
            e.help(format!(
                "`{name}` may be left out only when `gateway` is `sandbox`"
            ));
        }
    }
    secret(text, &key_path, ctx, p)
}
