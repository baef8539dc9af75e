//! The `apps` list: each app merged over `defaults`, read, checked and resolved into a
//! [`Desired`]; names and appids checked for uniqueness across the fleet; Alipay apps' own
//! `app_auth_token`s resolved.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::inherit::AppAt;
use super::keys::did_you_mean;
use super::load::Ctx;
use super::merge::deep_merge;
use super::partial::{self, kind};
use super::path::YamlPath;
use super::platforms::Declared;
use super::problems::{MaybeHelp, Problems};
use super::raw::{NAME_PATTERN, RawApp, RawTemplate};
use super::{app_rules, rules, secrets};
use crate::model::{self, Desired, PlatformKind};
use crate::secret::Secret;

/// What apps are checked against: the templates and the platform sections present.
pub(crate) struct Lookup<'a> {
    /// `templates`, as read.
    pub(crate) templates: BTreeMap<String, RawTemplate>,
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

/// Reports an `apps` section that is not a list of apps.
pub(crate) fn not_a_list(value: &Value, p: &mut Problems<'_>) {
    if !value.is_null() {
        p.value(
            &YamlPath::top("apps"),
            format!("expected a list of apps, got {}", kind(value)),
        );
    }
}

/// Where resolved apps are handed to another thread, a batch at a time.
pub(crate) type Handoff = std::sync::mpsc::Sender<Batch>;

/// Resolved apps handed over together.
pub(crate) struct Batch {
    /// The position of the first of them among the resolved apps (a reader that starts over, on
    /// the careful path, starts again at 0).
    pub(crate) at: usize,
    pub(crate) apps: Vec<Desired>,
    /// How many apps the file is expected to hold (0: no estimate yet), to size what collects them.
    pub(crate) expected: usize,
}

/// How many resolved apps are handed over at once.
const BATCH: usize = 1024;

/// Reads apps one at a time, in file order; only apps without problems are resolved.
pub(crate) struct Reader<'a> {
    /// `defaults`, read and checked.
    defaults: Defaults,
    lookup: Lookup<'a>,
    seen: Seen,
    out: ReadApps,
    /// Where resolved apps go in batches instead of `out.apps`, and how many went.
    handoff: Option<(Handoff, usize)>,
    /// How many apps the file is expected to hold (0: no estimate).
    expected: usize,
}

/// `defaults` as a mapping, for the maps an app deep-merges into, and typed, for the keys an app
/// inherits whole.
struct Defaults {
    mapping: Mapping,
    typed: RawApp,
}

impl<'a> Reader<'a> {
    /// A reader merging every app over `defaults` (read and checked already: every key fits).
    pub(crate) fn new(defaults: Value, lookup: Lookup<'a>, handoff: Option<Handoff>) -> Reader<'a> {
        let typed = RawApp::deserialize(&defaults).unwrap_or_default();
        let mapping = match defaults {
            Value::Mapping(m) => m,
            _ => Mapping::new(),
        };
        Reader {
            defaults: Defaults { mapping, typed },
            lookup,
            seen: Seen::default(),
            out: ReadApps::default(),
            handoff: handoff.map(|to| (to, 0)),
            expected: 0,
        }
    }

    /// Sizes what collects apps for `count` of them (an estimate: exceeding it only grows them).
    pub(crate) fn expect(&mut self, count: usize) {
        self.expected = count;
        let seen = &mut self.seen;
        seen.names.reserve(count.saturating_sub(seen.names.len()));
        seen.appids.reserve(count.saturating_sub(seen.appids.len()));
        if self.handoff.is_none() {
            let apps = &mut self.out.apps;
            apps.reserve_exact(count.saturating_sub(apps.len()));
        }
    }

    /// Reads `apps[index]`.
    pub(crate) fn item(&mut self, index: usize, item: Value, p: &mut Problems<'_>) {
        let read = read_app(index, item, &self.defaults, &self.lookup, &mut self.seen, p);
        if let Some((app, token)) = read {
            if let Some(token) = token {
                self.out.app_auth_tokens.insert(app.appid.clone(), token);
            }
            self.out.apps.push(app);
            if self.out.apps.len() >= BATCH {
                self.hand_over();
            }
        }
    }

    /// Every app read without problems (none, when they were handed over).
    pub(crate) fn finish(mut self) -> ReadApps {
        self.hand_over();
        self.out
    }

    /// Sends the apps resolved since the last batch, when there is somewhere to send them.
    fn hand_over(&mut self) {
        if let Some((to, sent)) = self.handoff.as_mut() {
            let apps = std::mem::replace(&mut self.out.apps, Vec::with_capacity(BATCH));
            let len = apps.len();
            let batch = Batch {
                at: *sent,
                apps,
                expected: self.expected,
            };
            // A receiver that is gone has panicked; joining it raises that panic.
            let _ = to.send(batch);
            *sent += len;
        }
    }
}

fn read_app(
    index: usize,
    item: Value,
    defaults: &Defaults,
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
                kind(&item)
            ),
        );
        return None;
    }
    let start = p.found();
    let (mut own, written) = merge_maps(&defaults.mapping, item);
    let mut raw: RawApp = partial::read(&mut own, path, p);
    let none = Mapping::new();
    let own = own.as_mapping().unwrap_or(&none);
    raw.inherit(&defaults.typed, own);
    let at = AppAt::new(path, index, own, &written, &defaults.mapping);
    let identity = identity(&raw, path, index, lookup, seen, p);
    app_rules::check(&raw, raw.platform, &at, p);
    let token = app_auth_token(&raw, path, lookup.ctx, p);
    let template = template_ref(&raw, raw.platform, &at, lookup, p);
    if p.found() > start {
        return None;
    }
    Some((build(identity?, template?, raw), token))
}

/// The app's own keys, where a key's value and its default are both mappings deep-merged (the
/// other inherited keys are taken typed, see [`RawApp::inherit`]); and the app's own values of
/// the keys merged, as written, to tell what it inherits.
fn merge_maps(defaults: &Mapping, mut item: Value) -> (Value, Vec<(Value, Value)>) {
    let mut written = Vec::new();
    if let Value::Mapping(own) = &mut item {
        for (key, value) in own.iter_mut().filter(|(_, value)| value.is_mapping()) {
            if let Some(default) = defaults.get(key).filter(|d| d.is_mapping()) {
                let merged = deep_merge(default, value);
                written.push((key.clone(), std::mem::replace(value, merged)));
            }
        }
    }
    (item, written)
}

/// Resolves the app's own `app_auth_token`, allowed on Alipay apps only.
fn app_auth_token(
    raw: &RawApp,
    app: &YamlPath,
    ctx: &Ctx<'_>,
    p: &mut Problems<'_>,
) -> Option<Secret> {
    let text = raw.app_auth_token.as_deref()?;
    let path = &app.key("app_auth_token");
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
    let name = check_name(raw.name.as_deref(), path, index, seen, p);
    let platform = check_platform(raw.platform, path, lookup, p);
    let appid = check_appid(raw, path, index, seen, p);
    Some(Identity {
        name: name?,
        platform: platform?,
        appid: appid?,
    })
}

fn check_name(
    name: Option<&str>,
    app: &YamlPath,
    index: usize,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<String> {
    let path = || app.key("name");
    let Some(name) = name else {
        p.missing(&path());
        return None;
    };
    if !rules::is_app_name(name) {
        p.value(
            &path(),
            format!("app name `{name}` must match `{}`", NAME_PATTERN),
        )
        .help("use letters, digits, `.`, `_` and `-`, starting with a letter or digit");
        return None;
    }
    if let Some(first) = seen.names.get(name) {
        p.value(
            &path(),
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
    app: &YamlPath,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> Option<PlatformKind> {
    let path = || app.key("platform");
    match platform {
        None => {
            p.missing(&path());
            None
        }
        Some(PlatformKind::Alipay) if !lookup.declared.alipay => {
            p.value(&path(), "platform `alipay` is not configured")
                .help("add a `platforms.alipay` section with the ISV application's `app_id`");
            None
        }
        Some(PlatformKind::Wechat) if !lookup.declared.wechat => {
            p.value(&path(), "platform `wechat` is not configured")
                .help("add a `platforms.wechat` section with the third-party platform's `component_appid`");
            None
        }
        Some(kind) => Some(kind),
    }
}

fn check_appid(
    raw: &RawApp,
    app: &YamlPath,
    index: usize,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<String> {
    let path = || app.key("appid");
    let Some(appid) = raw.appid.as_deref() else {
        p.missing(&path());
        return None;
    };
    if raw.platform == Some(PlatformKind::Wechat) && !rules::is_wechat_appid(appid) {
        p.value(
            &path(),
            format!("WeChat appid must be `wx` and 16 lowercase hex digits, got `{appid}`"),
        );
        return None;
    }
    if raw.platform == Some(PlatformKind::Alipay) && !rules::is_alipay_appid(appid) {
        p.value(
            &path(),
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
        p.value(&path(), format!("appid `{appid}` is already used by {by}"))
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
    at: &AppAt<'_>,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> Option<TemplateRef> {
    let tpath = &YamlPath::top("template");
    let Some(name) = raw.template.as_deref() else {
        at.missing(p, tpath);
        return None;
    };
    let Some(template) = lookup.templates.get(name) else {
        unknown_template(name, at, lookup, p);
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
        at.value(
            p,
            tpath,
            format!("template `{name}` has no `{key}` section"),
        )
        .help(help);
        return None;
    };
    found
}

fn unknown_template(name: &str, at: &AppAt<'_>, lookup: &Lookup<'_>, p: &mut Problems<'_>) {
    let known: Vec<&str> = lookup.templates.keys().map(String::as_str).collect();
    let help = match did_you_mean(name, &known) {
        Some(close) => format!("did you mean `{close}`?"),
        None if known.is_empty() => "define it under `templates`".to_owned(),
        None => {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!("defined templates: {}", list.join(", "))
        }
    };
    at.value(
        p,
        &YamlPath::top("template"),
        format!("unknown template `{name}`"),
    )
    .help(help);
}

/// The ext.json text the platform gets: WeChat names the app in `extAppid`, Alipay does not.
/// Keys in sorted order (the fields below are), as every fingerprint so far was computed over.
fn ext_json(
    platform: PlatformKind,
    appid: &str,
    ext: &serde_json::Map<String, serde_json::Value>,
) -> String {
    #[derive(serde::Serialize)]
    struct ExtJson<'a> {
        ext: &'a serde_json::Map<String, serde_json::Value>,
        #[serde(rename = "extAppid", skip_serializing_if = "Option::is_none")]
        ext_appid: Option<&'a str>,
        #[serde(rename = "extEnable")]
        ext_enable: bool,
    }
    let ext_appid = (platform == PlatformKind::Wechat).then_some(appid);
    let text = ExtJson {
        ext,
        ext_appid,
        ext_enable: true,
    };
    // A map with string keys always serializes.
    serde_json::to_string(&text).unwrap_or_default()
}

/// The resolved app; `raw` has passed every check.
fn build(id: Identity, template: TemplateRef, raw: RawApp) -> Desired {
    let ext_json = ext_json(id.platform, &id.appid, &raw.ext.unwrap_or_default());
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
        labels: raw.labels.unwrap_or_default().into(),
        template: raw.template.unwrap_or_default(),
        template_id: template.id,
        template_version: template.version,
        version,
        description: raw.description.unwrap_or_default(),
        ext_json,
        testers,
        gray: raw.gray.and_then(|g| u8::try_from(g).ok()).unwrap_or(100),
        stage: raw.stage.unwrap_or_default(),
        audit: raw.audit.unwrap_or_default(),
        fingerprint,
    }
}
