//! The top-level `notify` section: the team chats and webhooks told what happened (issue 17).
//! Each sink names its kind, its URL (a secret: a chat robot's URL is its credential), the secret
//! it signs with where the kind signs, the events it wants, the apps (by labels) and the language.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::load::Ctx;
use super::partial;
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};
use super::raw::RawNotify;
use super::spec::SectionCx;
use crate::secret::Secret;

/// How long notices are gathered into one message by default.
pub const DEFAULT_BATCH: Duration = Duration::from_secs(2);

/// The audit quota left at which `quota_low` is told, by default.
pub const DEFAULT_QUOTA_LOW: u32 = 10;

/// The fleet's `notify` section.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySpec {
    /// The web page's base URL, linked from messages (`https://minifleet.example.com`).
    pub link: Option<String>,
    /// How long notices are gathered before a sink's message goes.
    pub batch: Duration,
    /// A platform's audit quota left at or below this is told (`quota_low`), once a month.
    pub quota_low: u32,
    /// The sinks.
    pub sinks: Vec<Sink>,
}

/// One place told what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Sink {
    /// Its unique name (in metrics and in what the store remembers was sent).
    pub name: String,
    /// What it is.
    pub kind: SinkKind,
    /// Where messages go (the robot's or the webhook's URL, a credential).
    pub url: Secret,
    /// What signs the messages: DingTalk's `SEC…`, Feishu's signing secret, the webhook's HMAC
    /// key. `None`: unsigned (a robot without signing; WeCom and Slack never sign).
    pub secret: Option<Secret>,
    /// The notices it wants.
    pub events: Vec<NoticeKind>,
    /// The apps it is told about: those with all these labels (every app when empty).
    pub selector: BTreeMap<String, String>,
    /// The language of its messages.
    pub language: Language,
}

/// The kind of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// A WeCom (企业微信) group robot: markdown to its webhook (the key is in the URL).
    Wecom,
    /// A DingTalk (钉钉) custom robot, signed with HMAC-SHA256 (`timestamp`, `sign`).
    Dingtalk,
    /// A Feishu / Lark (飞书) custom bot, signed (`timestamp`, `sign` in the body).
    Feishu,
    /// A Slack incoming webhook.
    Slack,
    /// Any HTTP endpoint: the JSON notices, signed in `X-Minifleet-Signature`.
    Webhook,
}

impl SinkKind {
    /// Its name in the fleet file.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Wecom => "wecom",
            SinkKind::Dingtalk => "dingtalk",
            SinkKind::Feishu => "feishu",
            SinkKind::Slack => "slack",
            SinkKind::Webhook => "webhook",
        }
    }

    /// The language its messages are in unless the sink says: Chinese for the Chinese
    /// platforms' chats, English for the others.
    pub fn default_language(self) -> Language {
        match self {
            SinkKind::Wecom | SinkKind::Dingtalk | SinkKind::Feishu => Language::Zh,
            SinkKind::Slack | SinkKind::Webhook => Language::En,
        }
    }
}

/// What a sink can be told.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The platform approved an app's audit.
    AuditApproved,
    /// The platform rejected an app's audit, with its reason.
    AuditRejected,
    /// An app failed (the code and what to do).
    AppFailed,
    /// Rejections halted a release across the fleet.
    RolloutHalted,
    /// Apps wait at a wave's manual gate (`minifleet promote`).
    GateWaiting,
    /// Apps wait for the platform's monthly audit quota.
    QuotaExhausted,
    /// A platform's monthly audit quota is at or below `notify.quota_low` (told once a month).
    QuotaLow,
    /// An app is on its wanted build.
    Converged,
}

impl NoticeKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [NoticeKind; 8] = [
        NoticeKind::AuditRejected,
        NoticeKind::AppFailed,
        NoticeKind::RolloutHalted,
        NoticeKind::GateWaiting,
        NoticeKind::QuotaExhausted,
        NoticeKind::QuotaLow,
        NoticeKind::AuditApproved,
        NoticeKind::Converged,
    ];

    /// Its name in the fleet file.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::AuditApproved => "audit_approved",
            NoticeKind::AuditRejected => "audit_rejected",
            NoticeKind::AppFailed => "app_failed",
            NoticeKind::RolloutHalted => "rollout_halted",
            NoticeKind::GateWaiting => "gate_waiting",
            NoticeKind::QuotaExhausted => "quota_exhausted",
            NoticeKind::QuotaLow => "quota_low",
            NoticeKind::Converged => "converged",
        }
    }
}

/// The language of a sink's messages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Chinese.
    #[default]
    Zh,
    /// English.
    En,
}

/// Reads and checks `notify`; `None` when the section is absent or has problems (reported).
pub(crate) fn read(value: &mut Value, ctx: &Ctx<'_>, p: &mut Problems<'_>) -> Option<NotifySpec> {
    if value.is_null() {
        return None;
    }
    let path = YamlPath::top("notify");
    let raw: RawNotify = partial::read(value, &path, p);
    let before = p.count();
    let link = raw.link.filter(|l| {
        let ok = l.starts_with("https://") || l.starts_with("http://");
        if !ok {
            p.value(&path.key("link"), format!("`{l}` is not an http(s) URL"))
                .help("the web page's address, e.g. `link: https://minifleet.example.com`");
        }
        ok
    });
    let batch = match raw.batch.as_deref().map(humantime::parse_duration) {
        None => DEFAULT_BATCH,
        Some(Ok(d)) if d <= Duration::from_secs(600) => d,
        Some(_) => {
            p.value(&path.key("batch"), "not a duration up to 10m")
                .help("how long notices are gathered into one message, e.g. `batch: 5s`");
            DEFAULT_BATCH
        }
    };
    let mut sinks: Vec<Sink> = Vec::new();
    for (i, raw) in raw.sinks.unwrap_or_default().into_iter().enumerate() {
        let at = path.key("sinks").index(i);
        let secret = |key: &str, text: Option<&str>, p: &mut Problems<'_>| {
            let mut cx = SectionCx {
                path: at.clone(),
                ctx,
                p,
            };
            cx.secret(key, text)
        };
        let Some(name) = raw.name.filter(|n| !n.trim().is_empty()) else {
            p.missing(&at.key("name"))
                .help("name the sink, e.g. `name: ops-wecom` (metrics and the store use it)");
            continue;
        };
        if sinks.iter().any(|s| s.name == name) {
            p.value(&at.key("name"), format!("a second sink named `{name}`"))
                .help("give each sink its own name");
        }
        let Some(kind) = raw.kind else {
            p.missing(&at.key("kind"))
                .help("one of `wecom`, `dingtalk`, `feishu`, `slack`, `webhook`");
            continue;
        };
        let url = secret("url_secret", raw.url_secret.as_deref(), p);
        if raw.url_secret.is_none() {
            p.missing(&at.key("url_secret")).help(
                "the robot's or webhook's URL, a credential: `url_secret: ${env:NAME}` or \
                 `${file:PATH}`",
            );
        }
        let signing = secret("secret", raw.secret.as_deref(), p);
        if raw.secret.is_some() && matches!(kind, SinkKind::Wecom | SinkKind::Slack) {
            p.value(
                &at.key("secret"),
                format!("a {} sink does not sign", kind.as_str()),
            )
            .help("its URL is its credential: remove `secret`");
        }
        let events = raw.events.unwrap_or_else(|| {
            NoticeKind::ALL
                .into_iter()
                .filter(|k| *k != NoticeKind::Converged)
                .collect()
        });
        if events.is_empty() {
            p.value(&at.key("events"), "a sink told nothing")
                .help("list what it wants, e.g. `events: [audit_rejected, app_failed]`");
        }
        let Some(url) = url else {
            continue;
        };
        sinks.push(Sink {
            name,
            kind,
            url,
            secret: signing,
            events,
            selector: raw.selector.unwrap_or_default(),
            language: raw.language.unwrap_or_else(|| kind.default_language()),
        });
    }
    let quota_low = raw.quota_low.unwrap_or(DEFAULT_QUOTA_LOW);
    (p.count() == before).then_some(NotifySpec {
        link,
        batch,
        quota_low,
        sinks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_notices_have_their_file_names() {
        assert_eq!(SinkKind::Dingtalk.as_str(), "dingtalk");
        assert_eq!(SinkKind::Wecom.default_language(), Language::Zh);
        assert_eq!(SinkKind::Slack.default_language(), Language::En);
        for kind in NoticeKind::ALL {
            let named: NoticeKind =
                serde_json::from_value(serde_json::json!(kind.as_str())).unwrap();
            assert_eq!(named, kind);
        }
    }
}
