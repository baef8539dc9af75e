//! The seam between the fleet file and the platforms: what the loader asks a platform about its
//! own parts of the file — its `platforms.<name>` section, its part of each template, the shape
//! of its appids, the checks of its apps' settings, the ext.json envelope and the planner's
//! [`Rules`]. Each platform module implements [`PlatformSpec`]; the loader is handed the list
//! (the platform registry's), so nothing here names a platform.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use serde_json::{Map, Value as Json};

use super::ApiBase;
use super::inherit::AppAt;
use super::load::Ctx;
use super::path::YamlPath;
use super::problems::Problems;
use super::raw::RawApp;
use crate::model::{PlatformKind, Rules};

/// The platforms a fleet file may name, as the platform registry lists them.
pub type Specs = &'static [&'static dyn PlatformSpec];

/// A platform as far as the fleet file is concerned.
pub trait PlatformSpec: Send + Sync {
    /// The platform's name in the fleet file (`platform: wechat`, `platforms.wechat`).
    fn kind(&self) -> PlatformKind;

    /// The platform's name as people know it (`WeChat`), for messages: its rules' name.
    fn title(&self) -> &'static str {
        self.rules().name
    }

    /// What the platform allows, as far as planning is concerned.
    fn rules(&self) -> &'static Rules;

    /// Reads and checks `platforms.<name>` (reported through `cx`); its settings when there is no
    /// problem.
    fn read_config(
        &self,
        section: &mut Value,
        cx: &mut SectionCx<'_, '_>,
    ) -> Option<PlatformConfig>;

    /// The help of an app on this platform when `platforms.<name>` is missing.
    fn configure_help(&self) -> &'static str;

    /// Reads and checks `templates.<template>.<name>`; the platform's template when there is no
    /// problem.
    fn read_template(&self, section: &mut Value, cx: &mut SectionCx<'_, '_>)
    -> Option<TemplateRef>;

    /// The help of an app whose template has no section for this platform.
    fn template_help(&self, template: &str) -> String;

    /// Why `appid` is not an appid of this platform (the message and a help line), if it is not.
    fn appid_problem(&self, appid: &str) -> Option<(String, Option<String>)>;

    /// The platform's checks of an app's settings, after `defaults` are merged in: its gray
    /// percentages, testers and audit settings. Problems go through `at` (an inherited problem is
    /// reported once, at the default).
    fn check_app(&self, raw: &RawApp, at: &AppAt<'_>, p: &mut Problems<'_>);

    /// Whether an app may give its own platform token (`app_auth_token`).
    fn takes_app_token(&self) -> bool {
        false
    }

    /// The ext.json text the platform gets for app `appid` with `ext` and the other keys the
    /// fleet sets beside it (canonical: keys sorted; it is part of the build's fingerprint).
    fn ext_json(&self, appid: &str, ext: &Map<String, Json>, others: &Map<String, Json>) -> String;

    /// The JSON Schema of `platforms.<name>`.
    fn config_schema(&self) -> Json;

    /// The JSON Schema of `templates.<template>.<name>`.
    fn template_schema(&self) -> Json;

    /// The schemas of the `audit` keys the platform adds for itself (`{"hosts": {…}}`): the
    /// keys land in [`crate::model::AuditSpec::platform`] for its module to read.
    fn audit_schema(&self) -> Map<String, Json> {
        Map::new()
    }
}

/// What a section reader reports problems into, and resolves secrets against.
pub struct SectionCx<'c, 'p> {
    /// The section's path (`platforms.wechat`).
    pub path: YamlPath,
    pub(super) ctx: &'c Ctx<'c>,
    pub(super) p: &'c mut Problems<'p>,
}

impl<'p> SectionCx<'_, 'p> {
    /// The problems of the file so far.
    pub fn problems(&mut self) -> &mut Problems<'p> {
        self.p
    }

    /// Resolves an optional `${env:…}` / `${file:…}` secret at key `key` of the section,
    /// reporting why it cannot be.
    pub fn secret(&mut self, key: &str, text: Option<&str>) -> Option<crate::secret::Secret> {
        let text = text?;
        match super::secrets::resolve_within(
            text,
            &self.ctx.base_dir,
            self.ctx.confine.as_deref(),
            self.ctx.env,
        ) {
            Ok(secret) => Some(secret),
            Err(e) => {
                self.p
                    .value(&self.path.key(key), e.to_string())
                    .help(e.help());
                None
            }
        }
    }

    /// A secret at key `key` that may be left out only when the platform's endpoint (at key
    /// `endpoint_key`) is the sandbox, which hands out its own.
    pub fn secret_unless_sandbox(
        &mut self,
        key: &str,
        text: Option<&str>,
        endpoint: &ApiBase,
        endpoint_key: &str,
    ) -> Option<crate::secret::Secret> {
        if text.is_none() && *endpoint != ApiBase::Sandbox {
            if let Some(e) = self.p.missing(&self.path.key(key)) {
                e.help(format!(
                    "`{key}` may be left out only when `{endpoint_key}` is `sandbox`"
                ));
            }
        }
        self.secret(key, text)
    }

    /// The push crypto's 43-character `encoding_aes_key` (a secret), checked for its length;
    /// `help` says where to copy it from.
    pub fn aes_key(&mut self, text: Option<&str>, help: &str) -> Option<crate::secret::Secret> {
        let key = self.secret("encoding_aes_key", text)?;
        let n = key.expose().chars().count();
        if n != 43 {
            self.p
                .value(
                    &self.path.key("encoding_aes_key"),
                    format!("`encoding_aes_key` must be 43 characters, got {n}"),
                )
                .help(help);
        }
        Some(key)
    }

    /// An endpoint at key `key`: `sandbox` or an http(s) URL; `default` when absent.
    pub fn endpoint(&mut self, key: &str, text: Option<&str>, default: &str) -> ApiBase {
        let Some(text) = text else {
            return ApiBase::Url(default.to_owned());
        };
        super::rules::api_base(text).unwrap_or_else(|| {
            self.p
                .value(
                    &self.path.key(key),
                    format!("`{key}` must be `sandbox` or an http(s) URL, got `{text}`"),
                )
                .help(format!(
                    "e.g. `{default}`, or `sandbox` for the embedded simulator"
                ));
            ApiBase::Sandbox
        })
    }

    /// Checks the required value `value` at key `key` of the section: reports it missing, or
    /// `problem(value)` when `valid` refuses it, with `help` when there is one; the value when it
    /// is there and valid.
    pub fn required<'v>(
        &mut self,
        key: &str,
        value: Option<&'v str>,
        valid: impl Fn(&str) -> bool,
        problem: impl FnOnce(&str) -> String,
        help: Option<&str>,
    ) -> Option<&'v str> {
        let path = self.path.key(key);
        match value {
            None => {
                self.p.missing(&path);
                None
            }
            Some(v) if !valid(v) => {
                let error = self.p.value(&path, problem(v));
                if let Some(help) = help {
                    error.help(help);
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    /// How many problems the file has so far (to tell whether a section added any).
    pub fn count(&self) -> usize {
        self.p.count()
    }
}

/// A platform's settings from `platforms.<name>`, kept opaque to the fleet: the platform module
/// reads its own type back out with [`PlatformConfig::get`].
#[derive(Clone)]
pub struct PlatformConfig {
    /// Where the platform's API lives (the real one, or the sandbox).
    pub endpoint: ApiBase,
    /// The forward proxy its calls go through (`platforms.<name>.proxy`), if set.
    pub proxy: Option<String>,
    settings: Arc<dyn Any + Send + Sync>,
    /// The settings as debug text (secrets print `***`), to tell a changed section.
    summary: String,
}

impl PlatformConfig {
    /// Settings `settings` of a platform at `endpoint`.
    pub fn new<T: Any + Send + Sync + fmt::Debug>(
        endpoint: ApiBase,
        settings: T,
    ) -> PlatformConfig {
        PlatformConfig {
            endpoint,
            proxy: None,
            summary: format!("{settings:?}"),
            settings: Arc::new(settings),
        }
    }

    /// The same settings with calls going through `proxy`.
    pub fn with_proxy(mut self, proxy: Option<String>) -> PlatformConfig {
        self.proxy = proxy;
        self
    }

    /// The settings, as the platform module's own type.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.settings.downcast_ref()
    }

    /// Whether the platform is the sandbox (the embedded one, or `sandbox.url`'s).
    pub fn is_sandbox(&self) -> bool {
        self.endpoint == ApiBase::Sandbox
    }
}

impl fmt::Debug for PlatformConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl PartialEq for PlatformConfig {
    fn eq(&self, other: &Self) -> bool {
        self.endpoint == other.endpoint
            && self.proxy == other.proxy
            && self.summary == other.summary
    }
}

/// A platform's template: its id and, where the platform versions templates, its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    /// The platform's template id.
    pub id: String,
    /// The template's version, where there is one.
    pub version: Option<String>,
}

/// The spec named `name`, if the registry has one.
pub fn find(specs: Specs, name: &str) -> Option<&'static dyn PlatformSpec> {
    specs.iter().copied().find(|s| s.kind().as_str() == name)
}
