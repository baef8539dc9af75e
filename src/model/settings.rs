//! What an audit needs beside the code (issue 16), as desired state: the app's server and
//! web-view domains ([`Domains`], WeChat `modify_domain` / `setwebviewdomain`) and its privacy
//! guide ([`Privacy`], WeChat `setprivacysetting`). Plain data, checked by the fleet and planned by
//! [`crate::plan::settings`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kinds of domain a mini-program has, in the fleet file's names; the first six are WeChat's
/// server domains (`modify_domain`), the last its web-view (business) domains.
pub const DOMAIN_KINDS: [&str; 7] = [
    "request", "ws", "upload", "download", "udp", "tcp", "webview",
];

/// The server kinds: what one `modify_domain` sets together.
pub const SERVER_KINDS: [&str; 6] = ["request", "ws", "upload", "download", "udp", "tcp"];

/// An app's domains per kind. A kind left out is not managed (whatever the app has stays); a kind
/// given is set to exactly its list (an empty list clears it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Domains {
    /// `wx.request` domains, `https://host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Vec<String>>,
    /// `wx.connectSocket` domains, `wss://host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<Vec<String>>,
    /// `wx.uploadFile` domains, `https://host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<Vec<String>>,
    /// `wx.downloadFile` domains, `https://host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<Vec<String>>,
    /// UDP domains, `udp://host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<Vec<String>>,
    /// TCP domains, `tcp://host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Vec<String>>,
    /// `<web-view>` (business) domains, `https://host[:port]`; each must be a (sub)domain of the
    /// third-party platform's registered business domains, with its confirmation file hosted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webview: Option<Vec<String>>,
}

impl Domains {
    /// The list of `kind` (one of [`DOMAIN_KINDS`]), if managed.
    pub fn get(&self, kind: &str) -> Option<&Vec<String>> {
        match kind {
            "request" => self.request.as_ref(),
            "ws" => self.ws.as_ref(),
            "upload" => self.upload.as_ref(),
            "download" => self.download.as_ref(),
            "udp" => self.udp.as_ref(),
            "tcp" => self.tcp.as_ref(),
            "webview" => self.webview.as_ref(),
            _ => None,
        }
    }

    /// The list of `kind`, to set.
    pub fn slot(&mut self, kind: &str) -> Option<&mut Option<Vec<String>>> {
        Some(match kind {
            "request" => &mut self.request,
            "ws" => &mut self.ws,
            "upload" => &mut self.upload,
            "download" => &mut self.download,
            "udp" => &mut self.udp,
            "tcp" => &mut self.tcp,
            "webview" => &mut self.webview,
            _ => return None,
        })
    }

    /// Every list sorted and without repeats, hosts in lower case (the platform compares them so).
    pub fn normalized(mut self) -> Domains {
        for kind in DOMAIN_KINDS {
            if let Some(Some(list)) = self.slot(kind) {
                for domain in list.iter_mut() {
                    *domain = domain.trim().to_ascii_lowercase();
                }
                list.sort();
                list.dedup();
            }
        }
        self
    }

    /// A short digest of the lists, normalized (what a failure to set them is recorded for).
    pub fn digest(&self) -> String {
        let text = serde_json::to_vec(&self.clone().normalized()).unwrap_or_default();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
        hex::encode(&digest.as_ref()[..4])
    }

    /// Whether any server kind is managed.
    pub fn has_server(&self) -> bool {
        SERVER_KINDS.iter().any(|k| self.get(k).is_some())
    }
}

/// An app's domains as the platform reports them, with those it lists as not effective
/// (`invalid_requestdomain` …: not registered on the component, or without an ICP filing).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LiveDomains {
    /// Every kind read (the server kinds always; `webview` when the fleet manages it).
    pub lists: Domains,
    /// The domains the platform says are not in effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
}

/// The privacy guide (用户隐私保护指引) of an app: who to contact, how users are told, how long
/// data is kept, and what each privacy key the code uses is for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// How users reach the owner: at least one of `email`, `phone`, `qq`, `weixin`.
    pub contact: PrivacyContact,
    /// How users are told of changes, e.g. `弹窗提示` (a pop-up).
    pub notice_method: String,
    /// How long data is kept, as WeChat writes it: a number of days followed by `天`, e.g. `30天`
    /// (anything else WeChat refuses with 87072); left out: for as long as the service needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_expire: Option<String>,
    /// What each privacy key is used for, e.g. `Location: 为你推荐附近门店`. Every key the
    /// platform's scan finds in the code must be here, or nothing is submitted.
    pub texts: BTreeMap<String, String>,
}

/// `privacy.contact`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyContact {
    /// An email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A QQ number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qq: Option<String>,
    /// A WeChat id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weixin: Option<String>,
}

impl PrivacyContact {
    /// Whether no way to reach the owner is given.
    pub fn is_empty(&self) -> bool {
        [&self.email, &self.phone, &self.qq, &self.weixin]
            .iter()
            .all(|c| c.as_deref().is_none_or(|c| c.trim().is_empty()))
    }
}

impl Privacy {
    /// The guide as canonical JSON (keys sorted): what the build's fingerprint covers, so a
    /// changed guide goes through an audit and a release, as WeChat shows it only then.
    pub fn canonical(&self) -> String {
        // serde_json's maps keep their keys sorted: the value's text is canonical.
        serde_json::to_value(self)
            .map(|v| v.to_string())
            .unwrap_or_default()
    }
}

/// A QR-code jump rule (扫普通链接二维码打开小程序, WeChat): an ordinary link printed as a QR code,
/// e.g. on a restaurant table, that opens the mini-program at a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JumpRule {
    /// The link prefix, e.g. `https://shop.example.com/t/`; the verification file WeChat hands
    /// out must be hosted at its domain's root before the rule is added.
    pub prefix: String,
    /// The page it opens, e.g. `pages/table/index`.
    pub path: String,
    /// Whether it also takes the links under the prefix and keeps them from other rules
    /// (`permit_sub_rule`; default false).
    #[serde(default)]
    pub sub_rules: bool,
    /// Which version the links open (default `release`).
    #[serde(default)]
    pub open_version: OpenVersion,
    /// Up to 5 test links, each under the prefix (`debug_url`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_links: Vec<String>,
}

/// Which version a jump rule's links open.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OpenVersion {
    /// The development version (1).
    Develop,
    /// The experience (trial) version (2).
    Trial,
    /// The released version (3).
    #[default]
    Release,
}

impl OpenVersion {
    /// WeChat's number for it.
    pub fn code(self) -> u8 {
        match self {
            OpenVersion::Develop => 1,
            OpenVersion::Trial => 2,
            OpenVersion::Release => 3,
        }
    }

    /// The version of WeChat's number.
    pub fn of_code(code: u64) -> Option<OpenVersion> {
        match code {
            1 => Some(OpenVersion::Develop),
            2 => Some(OpenVersion::Trial),
            3 => Some(OpenVersion::Release),
            _ => None,
        }
    }
}

impl JumpRule {
    /// The rule with its test links sorted (the platform keeps no order).
    pub fn normalized(mut self) -> JumpRule {
        self.test_links.sort();
        self.test_links.dedup();
        self
    }

    /// A short digest of the rule (what a failure to set it is recorded for).
    pub fn digest(&self) -> String {
        let text = serde_json::to_vec(&self.clone().normalized()).unwrap_or_default();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
        hex::encode(&digest.as_ref()[..4])
    }
}

/// An app's jump rules as the platform reports them, and the verification file it hands out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LiveJump {
    /// Every rule of the app, with whether it is published.
    pub rules: Vec<LiveRule>,
    /// The verification file (`qrcodejumpdownload`), read when a wanted rule is not there yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<VerifyFile>,
}

/// A jump rule as the platform has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRule {
    /// The rule.
    pub rule: JumpRule,
    /// Whether it is published (`state` 2): only then do its links open the app.
    pub published: bool,
}

/// The file WeChat checks at a jump rule's domain root before adding the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyFile {
    /// Its name, e.g. `abc123.txt`.
    pub name: String,
    /// Its content.
    pub content: String,
}

/// The key the domains' failure is recorded under ([`super::Record::setting_failures`]).
pub const DOMAINS_KEY: &str = "domains";

/// The key a jump rule's failure is recorded under ([`super::Record::setting_failures`]).
pub fn jump_key(prefix: &str) -> String {
    format!("qrcode_jump {prefix}")
}

/// The setting `action` changes, as its failure is recorded: the key, and the digest of what the
/// fleet wants of it (a new digest lifts the failure); `None` for actions on the build.
pub fn setting_of(action: &super::Action, app: &super::Desired) -> Option<(String, String)> {
    use super::Action;
    let rule_digest = |prefix: &str| {
        app.qrcode_jump
            .iter()
            .flat_map(|rules| rules.iter())
            .find(|r| r.prefix == prefix)
            .map(JumpRule::digest)
            .unwrap_or_default()
    };
    match action {
        Action::SetDomains { .. } => Some((
            DOMAINS_KEY.to_owned(),
            app.domains
                .as_deref()
                .map(Domains::digest)
                .unwrap_or_default(),
        )),
        Action::AddJumpRule { rule, .. } => Some((jump_key(&rule.prefix), rule.digest())),
        Action::PublishJumpRule { prefix } | Action::DeleteJumpRule { prefix } => {
            Some((jump_key(prefix), rule_digest(prefix)))
        }
        _ => None,
    }
}

/// Whether `store_expire` is a number of days as WeChat takes it (`30天`).
pub fn is_days(text: &str) -> bool {
    text.strip_suffix('天')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_once_and_kinds_are_named() {
        let d = Domains {
            request: Some(vec![
                "https://B.example.com".into(),
                "https://a.example.com".into(),
                " https://b.example.com".into(),
            ]),
            webview: Some(vec![]),
            ..Domains::default()
        }
        .normalized();
        assert_eq!(
            d.get("request").unwrap(),
            &["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(d.get("webview"), Some(&vec![]));
        assert_eq!(d.get("ws"), None);
        assert!(d.has_server());
        assert!(d.clone().slot("nope").is_none());
        for kind in DOMAIN_KINDS {
            assert!(d.clone().slot(kind).is_some(), "{kind}");
        }
    }

    #[test]
    fn days_read_as_wechat_wants_them() {
        assert!(is_days("30天"));
        assert!(!is_days("30 days"));
        assert!(!is_days("天"));
        assert!(PrivacyContact::default().is_empty());
        let c = PrivacyContact {
            email: Some("p@x.com".into()),
            ..PrivacyContact::default()
        };
        assert!(!c.is_empty());
    }
}
