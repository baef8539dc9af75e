//! The `platforms` section: WeChat resolved into a [`WechatConfig`] (secrets included); Alipay
//! checked for shape only until it is supported.

use serde_yaml::Value;

use super::load::Ctx;
use super::path::YamlPath;
use super::problems::Problems;
use super::raw::{RawAlipay, RawPlatforms, RawWechat};
use super::{ApiBase, Platforms, WechatConfig, partial, rules, secrets};
use crate::secret::Secret;

/// The WeChat API base when the file names none.
const WECHAT_DEFAULT_BASE: &str = "https://api.weixin.qq.com";

/// Which platform sections the file has, valid or not.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Declared {
    /// `platforms.wechat` is present.
    pub(crate) wechat: bool,
}

/// Reads and checks `platforms`.
pub(crate) fn read(
    value: &mut Value,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> (Platforms, Declared) {
    let declared = Declared {
        wechat: value.get("wechat").is_some_and(|w| !w.is_null()),
    };
    let path = YamlPath::top("platforms");
    let raw: RawPlatforms = partial::read(value, &path, p);
    let wechat = raw
        .wechat
        .and_then(|w| wechat(w, &path.key("wechat"), ctx, p));
    if let Some(alipay) = raw.alipay {
        check_alipay(alipay, &path.key("alipay"), p);
    }
    (
        Platforms {
            wechat,
            alipay: None,
        },
        declared,
    )
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
    let api_base = endpoint(raw.api_base.as_deref(), &path.key("api_base"), p);
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

fn endpoint(text: Option<&str>, path: &YamlPath, p: &mut Problems<'_>) -> ApiBase {
    let Some(text) = text else {
        return ApiBase::Url(WECHAT_DEFAULT_BASE.to_owned());
    };
    rules::api_base(text).unwrap_or_else(|| {
        p.value(
            path,
            format!("`api_base` must be `sandbox` or an http(s) URL, got `{text}`"),
        )
        .help(format!(
            "e.g. `{WECHAT_DEFAULT_BASE}`, or `sandbox` for the embedded simulator"
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

fn check_alipay(raw: RawAlipay, path: &YamlPath, p: &mut Problems<'_>) {
    if raw.app_id.is_none() {
        p.missing(&path.key("app_id"));
    }
    for (key, text) in [
        ("private_key", &raw.private_key),
        ("alipay_public_key", &raw.alipay_public_key),
    ] {
        if let Some(Err(e)) = text.as_deref().map(secrets::parse) {
            p.value(&path.key(key), e.to_string()).help(e.help());
        }
    }
    if let Some(gateway) = raw
        .gateway
        .as_deref()
        .filter(|g| rules::api_base(g).is_none())
    {
        p.value(
            &path.key("gateway"),
            format!("`gateway` must be `sandbox` or an http(s) URL, got `{gateway}`"),
        );
    }
}
