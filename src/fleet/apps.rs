//! The `apps` list: each app merged over `defaults`, read, checked and resolved into a
//! [`Desired`]; names and appids checked for uniqueness across the fleet; apps' own platform
//! tokens resolved. What is the platform's own is asked of its [`PlatformSpec`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::Mapping;

use super::inherit::AppAt;
use super::keys::did_you_mean;
use super::load::Ctx;
use super::merge::deep_merge;
use super::partial::{self, kind};
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};
use super::raw::{NAME_PATTERN, RawApp, RawGray};
use super::spec::{PlatformSpec, Specs, TemplateRef};
use super::templates::Template;
use super::typed::Tree;
use super::{app_rules, rules, secrets};
use crate::model::{self, Desired, PlatformKind};
use crate::secret::Secret;

/// What apps are checked against: the platforms, the templates and the platform sections
/// present.
pub(crate) struct Lookup<'a> {
    /// The platforms the file may name.
    pub(crate) specs: Specs,
    /// `templates`, as read.
    pub(crate) templates: BTreeMap<String, Template>,
    /// Which `platforms` sections exist.
    pub(crate) declared: BTreeSet<PlatformKind>,
    /// What secrets are resolved against.
    pub(crate) ctx: &'a Ctx<'a>,
}

/// The resolved apps and the platform tokens given on them, by appid.
#[derive(Default)]
pub(crate) struct ReadApps {
    /// Every app without problems, in file order.
    pub(crate) apps: Vec<Desired>,
    /// `app_auth_token`s given on apps, by appid.
    pub(crate) app_tokens: BTreeMap<String, Secret>,
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
    spec: &'static dyn PlatformSpec,
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
        let typed = RawApp::deserialize(Tree(&defaults)).unwrap_or_default();
        let mapping = match defaults {
            Value::Object(m) => m,
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
                self.out.app_tokens.insert(app.appid.clone(), token);
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
    if !item.is_object() {
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
    let own = own.as_object().unwrap_or(&none);
    raw.inherit(&defaults.typed, own);
    let at = AppAt::new(path, index, own, &written, &defaults.mapping);
    let spec = raw
        .platform
        .as_deref()
        .and_then(|n| super::spec::find(lookup.specs, n));
    let identity = identity(&raw, spec, path, index, lookup, seen, p);
    app_rules::check(&raw, spec, &at, p);
    let token = app_auth_token(&raw, spec, path, lookup, p);
    let template = template_ref(&raw, spec, &at, lookup, p);
    if p.found() > start {
        return None;
    }
    Some((build(identity?, template?, raw), token))
}

/// The app's own keys, where a key's value and its default are both mappings deep-merged (the
/// other inherited keys are taken typed, see [`RawApp::inherit`]); and the app's own values of
/// the keys merged, as written, to tell what it inherits.
fn merge_maps(defaults: &Mapping, mut item: Value) -> (Value, Vec<(String, Value)>) {
    let mut written = Vec::new();
    if let Value::Object(own) = &mut item {
        for (key, value) in own.iter_mut().filter(|(_, value)| value.is_object()) {
            if let Some(default) = defaults.get(key).filter(|d| d.is_object()) {
                let merged = deep_merge(default, value);
                written.push((key.clone(), std::mem::replace(value, merged)));
            }
        }
    }
    (item, written)
}

/// Resolves the app's own `app_auth_token`, allowed where its platform takes one.
fn app_auth_token(
    raw: &RawApp,
    spec: Option<&'static dyn PlatformSpec>,
    app: &YamlPath,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> Option<Secret> {
    let ctx = lookup.ctx;
    let text = raw.app_auth_token.as_deref()?;
    let path = &app.key("app_auth_token");
    let spec = spec?;
    if !spec.takes_app_token() {
        let takers: Vec<&str> = lookup
            .specs
            .iter()
            .filter(|s| s.takes_app_token())
            .map(|s| s.title())
            .collect();
        let command = spec.rules().authorize_command;
        let command = command.split(" --").next().unwrap_or(command);
        let message = format!(
            "`app_auth_token` is only allowed on {} apps",
            takers.join(" and ")
        );
        p.value(path, message).help(format!(
            "{} apps are authorized through `{command}`",
            spec.title()
        ));
        return None;
    }
    match secrets::resolve_within(text, &ctx.base_dir, ctx.confine.as_deref(), ctx.env) {
        Ok(token) => Some(token),
        Err(e) => {
            p.value(path, e.to_string()).help(e.help());
            None
        }
    }
}

fn identity(
    raw: &RawApp,
    spec: Option<&'static dyn PlatformSpec>,
    path: &YamlPath,
    index: usize,
    lookup: &Lookup<'_>,
    seen: &mut Seen,
    p: &mut Problems<'_>,
) -> Option<Identity> {
    let name = check_name(raw.name.as_deref(), path, index, seen, p);
    let spec = check_platform(raw.platform.as_deref(), spec, path, lookup, p);
    let appid = check_appid(raw, spec, path, index, seen, p);
    Some(Identity {
        name: name?,
        spec: spec?,
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
    name: Option<&str>,
    spec: Option<&'static dyn PlatformSpec>,
    app: &YamlPath,
    lookup: &Lookup<'_>,
    p: &mut Problems<'_>,
) -> Option<&'static dyn PlatformSpec> {
    let path = || app.key("platform");
    let Some(name) = name else {
        p.missing(&path());
        return None;
    };
    let Some(spec) = spec else {
        let known: Vec<&str> = lookup.specs.iter().map(|s| s.kind().as_str()).collect();
        let help = match did_you_mean(name, &known) {
            Some(close) => format!("did you mean `{close}`?"),
            None => {
                let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                format!("the platforms are {}", list.join(", "))
            }
        };
        p.value(&path(), format!("unknown platform `{name}`"))
            .help(help);
        return None;
    };
    if !lookup.declared.contains(&spec.kind()) {
        p.value(&path(), format!("platform `{name}` is not configured"))
            .help(spec.configure_help());
        return None;
    }
    Some(spec)
}

fn check_appid(
    raw: &RawApp,
    spec: Option<&'static dyn PlatformSpec>,
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
    if let Some((message, help)) = spec.and_then(|s| s.appid_problem(appid)) {
        let problem = p.value(&path(), message);
        if let Some(help) = help {
            problem.help(help);
        }
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
    spec: Option<&'static dyn PlatformSpec>,
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
    let spec = spec?;
    match template.get(&spec.kind()) {
        // The template's part had problems: they say enough.
        Some(part) => part.clone(),
        None => {
            let key = spec.kind().as_str();
            at.value(
                p,
                tpath,
                format!("template `{name}` has no `{key}` section"),
            )
            .help(spec.template_help(name));
            None
        }
    }
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

/// The resolved app; `raw` has passed every check.
fn build(id: Identity, template: TemplateRef, raw: RawApp) -> Desired {
    let others = raw.ext_json.unwrap_or_default();
    let ext_json = id
        .spec
        .ext_json(&id.appid, &raw.ext.unwrap_or_default(), &others);
    let version = raw.version.unwrap_or_default();
    let privacy = raw.privacy.as_deref().map(model::Privacy::canonical);
    let fingerprint = model::fingerprint_with(
        &template.id,
        template.version.as_deref(),
        &version,
        &ext_json,
        privacy.as_deref(),
    );
    let mut testers = raw.testers.unwrap_or_default();
    testers.sort();
    // Checked before an app is built: a walk that does not read is a problem already reported.
    let walk = match &raw.gray {
        Some(RawGray::Walk(w)) => app_rules::walk_of(w).ok(),
        _ => None,
    };
    let suspended = raw
        .suspend
        .as_ref()
        .is_some_and(|s| s.applies(raw.labels.as_ref()));
    Desired {
        name: id.name,
        platform: id.spec.kind(),
        rules: id.spec.rules(),
        appid: id.appid,
        labels: raw.labels.unwrap_or_default().into(),
        template: raw.template.unwrap_or_default(),
        template_id: template.id,
        template_version: template.version,
        version,
        description: raw.description.unwrap_or_default(),
        ext_json,
        testers,
        gray: raw
            .gray
            .as_ref()
            .and_then(|g| u8::try_from(g.last()).ok())
            .unwrap_or(100),
        walk,
        stage: raw.stage.unwrap_or_default(),
        suspended,
        priority: raw.priority,
        audit: raw.audit.unwrap_or_default(),
        domains: raw.domains,
        privacy: raw.privacy,
        qrcode_jump: raw.qrcode_jump,
        fingerprint,
        revision: model::Revision::default(),
    }
}
