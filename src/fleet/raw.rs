//! The fleet file as written: the serde model the file is read into and the JSON Schema is derived
//! from. Every field is optional here so that one missing or mistyped key does not hide the others;
//! `#[schemars(required)]` marks what the loader requires.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::{AuditSpec, Stage};

/// The pattern every secret field matches: a reference, never the secret itself.
pub(crate) const SECRET_PATTERN: &str = r"^\$\{(env|file):[^}]+\}$";

/// The pattern of `x.y.z` versions.
pub(crate) const VERSION_PATTERN: &str = r"^[0-9]+\.[0-9]+\.[0-9]+$";

/// The pattern of app names.
pub(crate) const NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]*$";

/// A minifleet fleet file (version 1): the wanted state of every mini-program of a WeChat
/// third-party platform or an Alipay ISV.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "minifleet fleet file")]
#[allow(dead_code)] // the loader reads each section on its own; this whole is for the schema
pub(crate) struct RawFleet {
    /// The fleet file format version; must be `1`.
    #[schemars(required, range(min = 1, max = 1))]
    pub version: Option<u32>,
    /// Credentials and endpoints of the platforms the apps live on, one section per platform
    /// (the platform modules give their schemas).
    pub platforms: Option<BTreeMap<String, Value>>,
    /// Templates by name: the platform template each app's code is built from, one section per
    /// platform (the platform modules give their schemas).
    pub templates: Option<BTreeMap<String, BTreeMap<String, Value>>>,
    /// Settings every app inherits: mappings deep-merge, lists and scalars replace.
    pub defaults: Option<RawDefaults>,
    /// The mini-programs, each with a unique name and appid.
    pub apps: Option<Vec<RawApp>>,
    /// Settings of the embedded platform simulator, used when a platform's base is `sandbox`.
    pub sandbox: Option<RawSandbox>,
}

/// `defaults`: every per-app key except `name`, `platform` and `appid`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Defaults")]
#[allow(dead_code)] // read only to check types; the untyped mapping is what apps inherit
pub(crate) struct RawDefaults {
    /// Free labels, for `--selector`; values are strings.
    pub labels: Option<BTreeMap<String, String>>,
    /// The template name (a key of `templates`).
    pub template: Option<String>,
    /// The code version, `x.y.z`.
    #[schemars(regex(pattern = VERSION_PATTERN))]
    pub version: Option<String>,
    /// Human description of the build.
    pub description: Option<String>,
    /// The merchant's ext config (the `ext` object of ext.json).
    pub ext: Option<Map<String, Value>>,
    /// Testers (WeChat wechatid / Alipay logon id: an email address or a phone number).
    pub testers: Option<Vec<String>>,
    /// Percent of users on the new version; 100 = full release (Alipay: 10, 30, 50 or 100).
    #[schemars(range(min = 1, max = 100))]
    pub gray: Option<i64>,
    /// How far down the pipeline to go: `experience`, `audit` or `release` (default).
    pub stage: Option<Stage>,
    /// What to send with an audit submission.
    pub audit: Option<AuditSpec>,
}

/// `apps[i]`: one mini-program; keys missing here come from `defaults`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "App")]
pub struct RawApp {
    /// Unique, stable, human name.
    #[schemars(required, regex(pattern = NAME_PATTERN))]
    pub name: Option<String>,
    /// The platform the app lives on (the names the platform registry knows).
    #[schemars(required)]
    pub platform: Option<String>,
    /// The platform's app id (WeChat: `wx` and 16 hex digits; Alipay: 16 digits); unique.
    #[schemars(required)]
    pub appid: Option<String>,
    /// Alipay only: the merchant's `app_auth_token`, as `${env:NAME}` or `${file:PATH}`; without it
    /// the token stored by `minifleet auth alipay` is used. Never inherited from `defaults`.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    pub app_auth_token: Option<String>,
    /// Free labels, for `--selector`; values are strings.
    pub labels: Option<BTreeMap<String, String>>,
    /// The template name (a key of `templates`).
    pub template: Option<String>,
    /// The code version, `x.y.z`.
    #[schemars(regex(pattern = VERSION_PATTERN))]
    pub version: Option<String>,
    /// Human description of the build.
    pub description: Option<String>,
    /// The merchant's ext config (the `ext` object of ext.json).
    pub ext: Option<Map<String, Value>>,
    /// Testers (WeChat wechatid / Alipay logon id: an email address or a phone number).
    pub testers: Option<Vec<String>>,
    /// Percent of users on the new version; 100 = full release (Alipay: 10, 30, 50 or 100).
    #[schemars(range(min = 1, max = 100))]
    pub gray: Option<i64>,
    /// How far down the pipeline to go: `experience`, `audit` or `release` (default).
    pub stage: Option<Stage>,
    /// What to send with an audit submission.
    pub audit: Option<std::sync::Arc<AuditSpec>>,
}

impl RawApp {
    /// Takes from `defaults` every inherited key the app's own mapping `own` does not have.
    /// Mappings both set were deep-merged before reading; the app's value wins otherwise.
    pub(crate) fn inherit(&mut self, defaults: &RawApp, own: &serde_yaml::Mapping) {
        // An app sets a handful of keys: a scan of them beats hashing each field's name.
        let own: Vec<&str> = own.keys().filter_map(serde_yaml::Value::as_str).collect();
        macro_rules! inherit {
            ($($field:ident),*) => {$(
                if !own.contains(&stringify!($field)) {
                    self.$field.clone_from(&defaults.$field);
                }
            )*};
        }
        inherit!(
            labels,
            template,
            version,
            description,
            ext,
            testers,
            gray,
            stage,
            audit
        );
    }
}

/// `sandbox`: the embedded simulator's behaviour.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sandbox")]
pub(crate) struct RawSandbox {
    /// How long an audit takes before its verdict (humantime, e.g. `2s`; default `2s`).
    pub audit_delay: Option<String>,
    /// How long the privacy scan after a commit runs (humantime; default `1s`).
    pub privacy_scan: Option<String>,
    /// The component's monthly audit quota (default 100).
    pub audit_quota: Option<u32>,
    /// Audits of apps matching a rule are rejected with its reason; others are approved.
    pub reject: Option<Vec<RawRejectRule>>,
    /// Faults injected into the platform calls the sandbox answers (all off by default).
    pub faults: Option<RawFaults>,
    /// Use a sandbox already running at this http(s) URL (`minifleet sandbox --listen …`) instead
    /// of starting one in-process; its own settings then apply.
    pub url: Option<String>,
}

/// `sandbox.faults`: what goes wrong on purpose, and how often.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Faults")]
pub(crate) struct RawFaults {
    /// Share of calls (0 to 1) answered with an injected error instead; nothing is applied.
    #[schemars(range(min = 0, max = 1))]
    pub error_rate: Option<f64>,
    /// The codes injected errors carry, one picked at random per error: numbers are WeChat
    /// errcodes (e.g. `-1`, `45011`, `85085`), text is an Alipay sub_code (e.g. `isp.unknow-error`).
    pub codes: Option<Vec<RawFaultCode>>,
    /// A fixed delay before each call is answered (humantime, e.g. `50ms`).
    pub latency: Option<String>,
    /// Share of calls (0 to 1) that hang for `timeout_after`, then fail unapplied.
    #[schemars(range(min = 0, max = 1))]
    pub timeout_rate: Option<f64>,
    /// How long an injected timeout hangs (humantime; default `35s`, past the clients' 30 s).
    pub timeout_after: Option<String>,
    /// Share of mutating calls (0 to 1) that are applied but whose answer is lost (HTTP 502).
    #[schemars(range(min = 0, max = 1))]
    pub lost_response_rate: Option<f64>,
    /// Seed of the fault generator: the same seed and the same calls give the same faults.
    pub seed: Option<u64>,
}

/// `sandbox.faults.codes[k]`: a WeChat errcode or an Alipay sub_code.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "FaultCode")]
pub(crate) enum RawFaultCode {
    /// A WeChat errcode.
    Number(i64),
    /// An Alipay sub_code (or a WeChat errcode written as text).
    Text(String),
}

/// `sandbox.reject[k]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RejectRule")]
pub(crate) struct RawRejectRule {
    /// The audit is rejected when the app's ext contains every one of these key/value pairs.
    #[schemars(required)]
    pub when_ext: Option<Map<String, Value>>,
    /// The rejection reason the sandbox reports.
    #[schemars(required)]
    pub reason: Option<String>,
}
