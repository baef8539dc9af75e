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
    /// Fleet-wide progressive delivery: the fleet in waves, and when rejections halt a release.
    pub rollout: Option<RawRollout>,
    /// How the platforms' shared audit quotas are shared out: slots kept for new merchants, and
    /// who goes first.
    pub quota: Option<RawQuota>,
    /// Who is told what happened: team chats (WeCom, DingTalk, Feishu / Lark, Slack) and
    /// webhooks.
    pub notify: Option<RawNotify>,
}

/// `notify`: where the daemon and `reconcile` tell people what happened.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Notify")]
pub(crate) struct RawNotify {
    /// The web page's base URL, linked from every message (e.g. `https://minifleet.example.com`).
    pub link: Option<String>,
    /// How long notices are gathered into one message per sink (humantime; default `2s`): a
    /// burst becomes one digest ("37 apps approved").
    pub batch: Option<String>,
    /// Tell `quota_low` (once a month) when a platform's monthly audit quota left is at or below
    /// this (default 10).
    pub quota_low: Option<u32>,
    /// The sinks.
    pub sinks: Option<Vec<RawSink>>,
}

/// `notify.sinks[i]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sink")]
pub(crate) struct RawSink {
    /// Its unique name (metrics and the store's record of what was sent use it).
    #[schemars(required)]
    pub name: Option<String>,
    /// `wecom`, `dingtalk`, `feishu`, `slack` or `webhook`.
    #[schemars(required)]
    pub kind: Option<super::notify_spec::SinkKind>,
    /// The robot's or webhook's URL, which is its credential (WeCom's `key`, DingTalk's
    /// `access_token`, Slack's path): `${env:NAME}` or `${file:PATH}`.
    #[schemars(required, regex(pattern = SECRET_PATTERN))]
    pub url_secret: Option<String>,
    /// What signs the messages (DingTalk's `SEC…`, Feishu's signing secret, the webhook's HMAC
    /// key), as `${env:NAME}` or `${file:PATH}`; WeCom and Slack do not sign.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    pub secret: Option<String>,
    /// The notices it wants (default: all but `converged`).
    pub events: Option<Vec<super::notify_spec::NoticeKind>>,
    /// Only apps with all these labels (default: every app).
    pub selector: Option<BTreeMap<String, String>>,
    /// `zh` or `en` (default: `zh` for WeCom, DingTalk and Feishu, `en` for Slack and webhooks).
    pub language: Option<super::notify_spec::Language>,
}

/// `quota`: the fleet's ledger of each platform's shared monthly audit quota.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Quota")]
pub(crate) struct RawQuota {
    /// Submissions of each month's quota kept for new merchants (apps with nothing released
    /// yet); the other apps share what is left beyond them. Default 0.
    pub reserve: Option<u32>,
    /// Who goes first when the quota is short, by labels: the first rule an app's labels match
    /// gives its priority (an app's own `priority` wins). Higher goes first; default 0.
    pub priority: Option<Vec<RawPriorityRule>>,
}

/// `quota.priority[i]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PriorityRule")]
pub(crate) struct RawPriorityRule {
    /// Labels an app must all have, e.g. `{ tier: gold }`.
    #[serde(rename = "match")]
    #[schemars(required)]
    pub labels: Option<BTreeMap<String, String>>,
    /// The priority of the apps it matches (higher goes first).
    #[schemars(required)]
    pub priority: Option<i32>,
}

/// `rollout`: the waves a change goes through, in order, and the halt rule.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rollout")]
pub(crate) struct RawRollout {
    /// The waves, in order. An app is in the first wave whose `match` labels it has all of; an
    /// app in no wave is in the last.
    #[schemars(required, length(min = 1))]
    pub waves: Option<Vec<RawWave>>,
    /// When audit rejections of one release halt it everywhere (default: 2 apps, or 20 % of a
    /// wave's apps, whichever comes first).
    pub halt: Option<RawHalt>,
}

/// `rollout.waves[i]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Wave")]
pub(crate) struct RawWave {
    /// The wave's name, unique in the rollout (`minifleet promote NAME`).
    #[schemars(required, regex(pattern = NAME_PATTERN))]
    pub name: Option<String>,
    /// Labels an app must all have to be in this wave, e.g. `{ tier: canary }`; left out: every
    /// app no earlier wave took.
    #[serde(rename = "match")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Apps of the wave on their way to the new build at once: a count, or a share like `25%`;
    /// `0` is a manual gate opened by `minifleet promote`. Default: every app.
    pub max_update: Option<RawCount>,
    /// How long to wait after the wave is fully released before the next wave starts
    /// (humantime, e.g. `30m`, `24h`; default none).
    pub bake: Option<String>,
}

/// A count, or a share written `N%`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawCount {
    /// A number of apps.
    Count(u32),
    /// A share of the wave's apps, `1%` to `100%`.
    Share(#[schemars(regex(pattern = r"^[0-9]{1,3}%$"))] String),
}

/// `rollout.halt`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Halt")]
pub(crate) struct RawHalt {
    /// Rejected apps of one wave that halt the release (`0`: the count never does; default 2).
    pub rejections: Option<u32>,
    /// Share of a wave's apps whose rejection halts the release, `N%` (`0%`: never; default
    /// `20%`).
    #[schemars(regex(pattern = r"^[0-9]{1,3}%$"))]
    pub rate: Option<String>,
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
    /// The other keys of ext.json, beside `ext`: app.json overrides such as `extPages`, `window`,
    /// `tabBar`, `networkTimeout`, `requiredPrivateInfos` (which keys each platform takes:
    /// `minifleet validate` says).
    pub ext_json: Option<Map<String, Value>>,
    /// Testers (WeChat wechatid / Alipay logon id: an email address or a phone number).
    pub testers: Option<Vec<String>>,
    /// Percent of users on the new version; 100 = full release (Alipay: 10, 30, 50 or 100). Or a
    /// walk over time: `{ steps: [5, 20, 50, 100], hold: 24h }`.
    pub gray: Option<RawGray>,
    /// How far down the pipeline to go: `experience`, `audit` or `release` (default).
    pub stage: Option<Stage>,
    /// Stop every change to the apps (they are still observed and planned): `true`, or the
    /// labels of the apps to suspend, e.g. `{ region: east }`.
    pub suspend: Option<RawSuspend>,
    /// What to send with an audit submission.
    pub audit: Option<AuditSpec>,
    /// WeChat: the server and web-view domains the apps must have, per kind (`request`, `ws`,
    /// `upload`, `download`, `udp`, `tcp`, `webview`); a kind left out is left alone.
    pub domains: Option<crate::model::Domains>,
    /// WeChat: the privacy guide, set before each submission.
    pub privacy: Option<crate::model::Privacy>,
    /// WeChat: QR-code jump rules (ordinary links that open the apps); a rule that leaves the
    /// list is deleted.
    pub qrcode_jump: Option<Vec<crate::model::JumpRule>>,
}

/// `gray`: a percentage, or a walk of percentages over time.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Gray")]
pub enum RawGray {
    /// Percent of users on the new version; 100 = full release.
    Percent(#[schemars(range(min = 1, max = 100))] i64),
    /// Raise the release step by step.
    Walk(RawWalk),
}

/// `gray: { steps, hold }`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GrayWalk")]
pub struct RawWalk {
    /// Percentages, increasing; each one is released after the one before has held for `hold`
    /// (100: the full release ends the walk). WeChat's first release is always full.
    #[schemars(length(min = 1), inner(range(min = 1, max = 100)))]
    pub steps: Vec<i64>,
    /// How long each step holds before the next (humantime, e.g. `24h`, `30m`; default `24h`).
    pub hold: Option<String>,
}

impl RawGray {
    /// Every percentage with where it is written: `gray`, or `gray.steps[i]`.
    pub fn percents(&self) -> Vec<(super::path::YamlPath, i64)> {
        let gray = super::path::YamlPath::top("gray");
        match self {
            RawGray::Percent(n) => vec![(gray, *n)],
            RawGray::Walk(walk) => {
                let steps = gray.key("steps");
                let at = |i| steps.index(i);
                walk.steps
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (at(i), *n))
                    .collect()
            }
        }
    }

    /// The percentage the release ends on: the number, or the walk's last step (100 without one).
    pub fn last(&self) -> i64 {
        match self {
            RawGray::Percent(n) => *n,
            RawGray::Walk(walk) => walk.steps.last().copied().unwrap_or(100),
        }
    }
}

impl<'de> Deserialize<'de> for RawGray {
    /// A number or a mapping, read by what the YAML holds: the mapping's own errors (an unknown
    /// key, a mistyped step) keep their words and paths, which an untagged enum would lose.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawGray;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a percentage or a mapping `{ steps, hold }`")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RawGray, E> {
                Ok(RawGray::Percent(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RawGray, E> {
                Ok(RawGray::Percent(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawGray, A::Error> {
                let walk = RawWalk::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawGray::Walk(walk))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `suspend`: a flag, or the labels of the apps it suspends.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawSuspend {
    /// `true`: suspended; `false`: not.
    Flag(bool),
    /// Suspended when the app has all these labels (for `defaults`).
    Labels(BTreeMap<String, String>),
}

impl RawSuspend {
    /// Whether an app with `labels` is suspended.
    pub fn applies(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match self {
            RawSuspend::Flag(on) => *on,
            RawSuspend::Labels(wanted) => wanted
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)),
        }
    }
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
    /// The other keys of ext.json, beside `ext`: app.json overrides such as `extPages`, `window`,
    /// `tabBar`, `networkTimeout`, `requiredPrivateInfos` (which keys each platform takes:
    /// `minifleet validate` says).
    pub ext_json: Option<Map<String, Value>>,
    /// Testers (WeChat wechatid / Alipay logon id: an email address or a phone number).
    pub testers: Option<Vec<String>>,
    /// Percent of users on the new version; 100 = full release (Alipay: 10, 30, 50 or 100). Or a
    /// walk over time: `{ steps: [5, 20, 50, 100], hold: 24h }`.
    pub gray: Option<RawGray>,
    /// How far down the pipeline to go: `experience`, `audit` or `release` (default).
    pub stage: Option<Stage>,
    /// Stop every change to the app (it is still observed and planned): `true`, or labels
    /// (suspended when the app has them all).
    pub suspend: Option<RawSuspend>,
    /// Where the app stands in line for the audit quota when it is short: higher goes first
    /// (default: the first `quota.priority` rule its labels match, else 0). Never inherited.
    pub priority: Option<i32>,
    /// What to send with an audit submission.
    pub audit: Option<std::sync::Arc<AuditSpec>>,
    /// WeChat: the server and web-view domains the app must have, per kind (`request`, `ws`,
    /// `upload`, `download`, `udp`, `tcp`, `webview`); a kind left out is left alone. Set before
    /// the commit that needs them.
    pub domains: Option<std::sync::Arc<crate::model::Domains>>,
    /// WeChat: the privacy guide (contact, notice method, storage, a text per privacy key), set
    /// after each commit's privacy scan and before its submission.
    pub privacy: Option<std::sync::Arc<crate::model::Privacy>>,
    /// WeChat: QR-code jump rules (扫普通链接二维码打开小程序: an ordinary link, e.g. printed on a
    /// table, that opens the app at a page), added, published once the app has a release, and
    /// deleted when they leave the list (only those minifleet added). Leaving the key out leaves
    /// the app's rules alone.
    pub qrcode_jump: Option<std::sync::Arc<Vec<crate::model::JumpRule>>>,
}

impl RawApp {
    /// Takes from `defaults` every inherited key the app's own mapping `own` does not have.
    /// Mappings both set were deep-merged before reading; the app's value wins otherwise.
    pub(crate) fn inherit(&mut self, defaults: &RawApp, own: &crate::fleet::Mapping) {
        // An app sets a handful of keys: a scan of them beats hashing each field's name.
        let own: Vec<&str> = own.keys().map(String::as_str).collect();
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
            ext_json,
            testers,
            gray,
            stage,
            suspend,
            audit,
            domains,
            privacy,
            qrcode_jump
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
    /// APIs the simulated template's code calls that need a privacy declaration, e.g.
    /// `[getLocation]`: a commit whose ext.json `requiredPrivateInfos` lacks one is caught by the
    /// privacy scan, and WeChat refuses its submission (61040).
    pub privacy_apis: Option<Vec<String>>,
    /// Privacy keys (`Album`, `Location`…) the privacy scan finds in every commit, beside
    /// `Location` for a commit that declares a location API: a submission without a guide text
    /// for each is refused (85086).
    pub privacy_keys: Option<Vec<String>>,
    /// Domains WeChat lists as not in effect (not ICP-filed), by host or whole URL.
    pub unfiled_domains: Option<Vec<String>>,
    /// Hosts where the QR-code jump rules' verification file is not hosted (adding a rule fails
    /// with 85069).
    pub jump_unverified: Option<Vec<String>>,
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
