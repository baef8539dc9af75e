//! The `apps` list: each app merged over `defaults`, read, checked and resolved into a
//! [`Desired`]; names and appids checked for uniqueness across the fleet; Alipay apps' own
//! `app_auth_token`s resolved.

use std::collections::{BTreeMap, HashMap};

use serde_yaml::Value;

use super::keys::did_you_mean;
use super::load::Ctx;
use super::merge::deep_merge;
use super::partial::{self, kind};
use super::path::YamlPath;
use super::platforms::Declared;
use super::problems::Problems;
use super::raw::{NAME_PATTERN, RawApp, RawTemplate};
use super::{app_rules, rules, secrets};
use crate::model::{self, Desired, PlatformKind};
use crate::secret::Secret;

/// What apps are checked against: the templates and the platform sections present.
pub(crate) struct Lookup<'a> {
    /// `templates`, as read.
    pub(crate) templates: &'a BTreeMap<String, RawTemplate>,
    /// Which `platforms` sections exist.
    pub(crate) declared: Declared,
    /// What secrets are resolved against.
    pub(crate) ctx: &'a Ctx<'a>,
}

/// The resolved apps and the Alipay `app_auth_token`s given on them, by appid.
#[derive(Default)]
pub(crate) struct ReadApps {
    /// Every app without problems, in file order.
    pub(crate) apps: Vec<Desired>,
    /// `app_auth_token`s of Alipay apps, by appid.
    pub(crate) app_auth_tokens: BTreeMap<String, Secret>,
}

/// The platform's template: its id and, on Alipay, its version.
struct TemplateRef {
    id: String,
    version: Option<String>,
}

/// Names and appids seen so far, with the index of the app that used them first.
#[derive(Default)]
struct Seen {
    names: HashMap<String, usize>,
    appids: HashMap<String, (usize, Option<String>)>,
}

/// An app's identity keys.
struct Identity {
    name: String,
    platform: PlatformKind,
    appid: String,
}

/// Reads every app; only apps without problems are resolved.
pub(crate) fn read(
    value: &Value,
    defaults: &Value,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> ReadApps {
    let path = YamlPath::top("apps");
    let items = match value {
        Value::Null => return ReadApps::default(),
        Value::Sequence(items) => items,
        other => {
            p.value(
                &path,
                format!("expected a list of apps, got {}", kind(other)),
            );
            return ReadApps::default();
        }
    };
    let mut seen = Seen::default();
    let mut out = ReadApps::default();
    for (i, item) in items.iter().enumerate() {
        if let Some((app, token)) = read_app(i, item, defaults, lookup, &mut seen, p) {
            if let Some(token) = token {
                out.app_auth_tokens.insert(app.appid.clone(), token);
            }
            out.apps.push(app);
        }
    }
    out
}

fn read_app(
    index: usize,
    item: &Value,
    defaults: &Value,
    lookup: &Lookup<'_>,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<(Desired, Option<Secret>)> {
    let path = &YamlPath::top("apps").index(index);
    if !item.is_mapping() {
        p.value(
            path,
            format!(
                "expected a mapping with `name`, `platform` and `appid`, got {}",
                kind(item)
            ),
        );
        return None;
    }
    let start = p.count();
    let mut merged = deep_merge(defaults, item);
    let raw: RawApp = partial::read(&mut merged, path, p);
    let identity = identity(&raw, path, index, lookup, seen, p);
    app_rules::check(&raw, raw.platform, path, p);
    let token = app_auth_token(&raw, &path.key("app_auth_token"), lookup.ctx, p);
    let template = template_ref(&raw, raw.platform, path, lookup, p);
    if p.count() > start {
        return None;
    }
    Some((build(identity?, template?, raw), token))
}

/// Resolves the app's own `app_auth_token`, allowed on Alipay apps only.
fn app_auth_token(
    raw: &RawApp,
    path: &YamlPath,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> Option<Secret> {
    let text = raw.app_auth_token.as_deref()?;
    if raw.platform != Some(PlatformKind::Alipay) {
        p.value(path, "`app_auth_token` is only allowed on Alipay apps")
            .help("WeChat apps are authorized through `minifleet auth wechat link`");
        return None;
    }
    match secrets::resolve(text, &ctx.base_dir, ctx.env) {
        Ok(token) => Some(token),
        Err(e) => {
            p.value(path, e.to_string()).help(e.help());
            None
        }
    }
}

fn identity(
    raw: &RawApp,
    path: &YamlPath,
    index: usize,
    lookup: &Lookup<'_>,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<Identity> {
    let name = check_name(raw.name.as_deref(), &path.key("name"), index, seen, p);
    let platform = check_platform(raw.platform, &path.key("platform"), lookup, p);
    let appid = check_appid(raw, &path.key("appid"), index, seen, p);
    Some(Identity {
        name: name?,
        platform: platform?,
        appid: appid?,
    })
}

fn check_name(
    name: Option<&str>,
    path: &YamlPath,
    index: usize,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<String> {
    let Some(name) = name else {
        p.missing(path);
        return None;
    };
    if !rules::is_app_name(name) {
        p.value(
            path,
            format!("app name `{name}` must match `{}`", NAME_PATTERN),
        )
        .help("use letters, digits, `.`, `_` and `-`, starting with a letter or digit");
        return None;
    }
    if let Some(first) = seen.names.get(name) {
        p.value(
            path,
            format!("app name `{name}` is already used by `apps[{first}]`"),
        )
        .help("every app needs a unique name");
        return None;
    }
    seen.names.insert(name.to_owned(), index);
    Some(name.to_owned())
}

fn check_platform(
    platform: Option<PlatformKind>,
    path: &YamlPath,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> Option<PlatformKind> {
    match platform {
        None => {
            p.missing(path);
            None
        }
        Some(PlatformKind::Alipay) if !lookup.declared.alipay => {
            p.value(path, "platform `alipay` is not configured")
                .help("add a `platforms.alipay` section with the ISV application's `app_id`");
            None
        }
        Some(PlatformKind::Wechat) if !lookup.declared.wechat => {
            p.value(path, "platform `wechat` is not configured")
                .help("add a `platforms.wechat` section with the third-party platform's `component_appid`");
            None
        }
        Some(kind) => Some(kind),
    }
}

fn check_appid(
    raw: &RawApp,
    path: &YamlPath,
    index: usize,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<String> {
    let Some(appid) = raw.appid.as_deref() else {
        p.missing(path);
        return None;
    };
    if raw.platform == Some(PlatformKind::Wechat) && !rules::is_wechat_appid(appid) {
        p.value(
            path,
            format!("WeChat appid must be `wx` and 16 lowercase hex digits, got `{appid}`"),
        );
        return None;
    }
    if raw.platform == Some(PlatformKind::Alipay) && !rules::is_alipay_appid(appid) {
        p.value(
            path,
            format!("Alipay appid must be 16 digits, got `{appid}`"),
        )
        .help("quote the merchant mini-program's APPID, e.g. `appid: \"2021000000000101\"`");
        return None;
    }
    if let Some((first, first_name)) = seen.appids.get(appid) {
        let by = match first_name {
            Some(n) => format!("app `{n}` (`apps[{first}]`)"),
            None => format!("`apps[{first}]`"),
        };
        p.value(path, format!("appid `{appid}` is already used by {by}"))
            .help("each mini-program may appear only once in the fleet");
        return None;
    }
    seen.appids
        .insert(appid.to_owned(), (index, raw.name.clone()));
    Some(appid.to_owned())
}

/// The platform template of the app's template, reporting why there is none.
fn template_ref(
    raw: &RawApp,
    platform: Option<PlatformKind>,
    path: &YamlPath,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> Option<TemplateRef> {
    let tpath = path.key("template");
    let Some(name) = raw.template.as_deref() else {
        p.missing(&tpath);
        return None;
    };
    let Some(template) = lookup.templates.get(name) else {
        unknown_template(name, &tpath, lookup, p);
        return None;
    };
    let found = match platform? {
        PlatformKind::Wechat => template.wechat.as_ref().map(|w| {
            w.template_id.map(|id| TemplateRef {
                id: id.to_string(),
                version: None,
            })
        }),
        PlatformKind::Alipay => template.alipay.as_ref().map(|a| {
            Some(TemplateRef {
                id: a.template_id.clone()?,
                version: Some(a.template_version.clone()?),
            })
        }),
    };
    let Some(found) = found else {
        let key = platform?.as_str();
        let help = match platform? {
            PlatformKind::Wechat => format!("add `templates.{name}.wechat.template_id`"),
            PlatformKind::Alipay => {
                format!("add `templates.{name}.alipay` with `template_id` and `template_version`")
            }
        };
        p.value(&tpath, format!("template `{name}` has no `{key}` section"))
            .help(help);
        return None;
    };
    found
}

fn unknown_template(name: &str, path: &YamlPath, lookup: &Lookup<'_>, p: &mut Problems<'_>) {
    let known: Vec<&str> = lookup.templates.keys().map(String::as_str).collect();
    let help = match did_you_mean(name, &known) {
        Some(close) => format!("did you mean `{close}`?"),
        None if known.is_empty() => "define it under `templates`".to_owned(),
        None => {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!("defined templates: {}", list.join(", "))
        }
    };
    p.value(path, format!("unknown template `{name}`"))
        .help(help);
}

/// The ext.json text the platform gets: WeChat names the app in `extAppid`, Alipay does not.
fn ext_json(platform: PlatformKind, appid: &str, ext: &serde_json::Value) -> String {
    match platform {
        PlatformKind::Wechat => {
            serde_json::json!({"extAppid": appid, "extEnable": true, "ext": ext}).to_string()
        }
        PlatformKind::Alipay => serde_json::json!({"extEnable": true, "ext": ext}).to_string(),
    }
}

/// The resolved app; `raw` has passed every check.
fn build(id: Identity, template: TemplateRef, raw: RawApp) -> Desired {
    let ext = serde_json::Value::Object(raw.ext.unwrap_or_default());
    let ext_json = ext_json(id.platform, &id.appid, &ext);
    let version = raw.version.unwrap_or_default();
    let fingerprint = model::fingerprint(
        &template.id,
        template.version.as_deref(),
        &version,
        &ext_json,
    );
    let mut testers = raw.testers.unwrap_or_default();
    testers.sort();
    Desired {
        name: id.name,
        platform: id.platform,
        appid: id.appid,
        labels: raw.labels.unwrap_or_default(),
        template: raw.template.unwrap_or_default(),
        template_id: template.id,
        template_version: template.version,
        version,
        description: raw.description.unwrap_or_default(),
        ext,
        ext_json,
        testers,
        gray: raw.gray.and_then(|g| u8::try_from(g).ok()).unwrap_or(100),
        stage: raw.stage.unwrap_or_default(),
        audit: raw.audit.unwrap_or_default(),
        fingerprint,
    }
}
