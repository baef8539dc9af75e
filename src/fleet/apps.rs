//! The `apps` list: each app merged over `defaults`, read, checked and resolved into a
//! [`Desired`]; names and appids checked for uniqueness across the fleet.

use std::collections::{BTreeMap, HashMap};

use serde_yaml::Value;

use super::keys::did_you_mean;
use super::merge::deep_merge;
use super::partial::{self, kind};
use super::path::YamlPath;
use super::platforms::Declared;
use super::problems::Problems;
use super::raw::{NAME_PATTERN, RawApp, RawTemplate};
use super::{app_rules, rules};
use crate::model::{self, Desired, PlatformKind};

/// What apps are checked against: the templates and the platform sections present.
pub(crate) struct Lookup<'a> {
    /// `templates`, as read.
    pub(crate) templates: &'a BTreeMap<String, RawTemplate>,
    /// Which `platforms` sections exist.
    pub(crate) declared: Declared,
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
) -> Vec<Desired> {
    let path = YamlPath::top("apps");
    let items = match value {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        other => {
            p.value(
                &path,
                format!("expected a list of apps, got {}", kind(other)),
            );
            return Vec::new();
        }
    };
    let mut seen = Seen::default();
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| read_app(i, item, defaults, lookup, &mut seen, p))
        .collect()
}

fn read_app(
    index: usize,
    item: &Value,
    defaults: &Value,
    lookup: &Lookup<'_>,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<Desired> {
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
    let template_id = template_id(&raw, raw.platform, path, lookup, p);
    if p.count() > start {
        return None;
    }
    Some(build(identity?, template_id?, raw))
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
        Some(PlatformKind::Alipay) => {
            p.value(path, "platform `alipay` is not supported yet")
                .help("only `wechat` apps can be managed for now");
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

/// The platform template id of the app's template, reporting why there is none.
fn template_id(
    raw: &RawApp,
    platform: Option<PlatformKind>,
    path: &YamlPath,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> Option<String> {
    let tpath = path.key("template");
    let Some(name) = raw.template.as_deref() else {
        p.missing(&tpath);
        return None;
    };
    let Some(template) = lookup.templates.get(name) else {
        unknown_template(name, &tpath, lookup, p);
        return None;
    };
    match platform? {
        PlatformKind::Wechat => match &template.wechat {
            Some(w) => w.template_id.map(|id| id.to_string()),
            None => {
                p.value(&tpath, format!("template `{name}` has no `wechat` section"))
                    .help(format!("add `templates.{name}.wechat.template_id`"));
                None
            }
        },
        PlatformKind::Alipay => None,
    }
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

/// The resolved app; `raw` has passed every check.
fn build(id: Identity, template_id: String, raw: RawApp) -> Desired {
    let ext = serde_json::Value::Object(raw.ext.unwrap_or_default());
    let ext_json =
        serde_json::json!({"extAppid": id.appid, "extEnable": true, "ext": ext}).to_string();
    let version = raw.version.unwrap_or_default();
    let fingerprint = model::fingerprint(&template_id, None, &version, &ext_json);
    let mut testers = raw.testers.unwrap_or_default();
    testers.sort();
    Desired {
        name: id.name,
        platform: id.platform,
        appid: id.appid,
        labels: raw.labels.unwrap_or_default(),
        template: raw.template.unwrap_or_default(),
        template_id,
        template_version: None,
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
