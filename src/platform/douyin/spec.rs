//! Douyin as far as the fleet file and the planner are concerned: `platforms.douyin`, its part of
//! the templates, the shape of its appids, the checks of its apps' settings (no gray, no testers,
//! the audit's host apps and note), its ext.json envelope, and the planner's rules
//! (spec/douyin.md §6).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_json::{Map, Value as Json};

use crate::fleet::kit::{
    AppAt, MaybeHelp, Problems, RawApp, RawGray, SECRET_PATTERN, YamlPath, read_section,
};
use crate::fleet::kit::{Holds, check_ext_json, ext_json_text};
use crate::fleet::{ApiBase, PlatformConfig, PlatformSpec, SectionCx, TemplateRef};
use crate::model::{AuditSpec, PlatformKind, Rules};
use crate::secret::Secret;

/// The platform's name in the fleet file.
pub const KIND: PlatformKind = PlatformKind::new("douyin");

/// The Douyin Open Platform host when the file names none.
const DEFAULT_BASE: &str = "https://open.douyin.com";

/// The host apps a submission may name (spec/douyin.md §3.2), with their display names, which
/// `versions` keys its per-host fields by.
pub const HOSTS: &[(&str, &str)] = &[
    ("toutiao", "今日头条"),
    ("tt_lite", "今日头条lite"),
    ("douyin", "抖音"),
    ("douyin_lite", "抖音lite"),
    ("xigua", "西瓜视频"),
    ("huoshan", "抖音火山版"),
];

/// The longest `audit_note` Douyin takes (§3.3).
const MAX_NOTE_CHARS: usize = 200;

/// Douyin Open Platform (third-party mini-programs), as the planner sees it.
pub const RULES: Rules = Rules {
    name: "Douyin",
    // Douyin has no gray release for providers (§6.1): every release is 100 %.
    first_release_can_be_gray: false,
    gray_steps: Some(&[]),
    gray_increase_only: true,
    // UNCONFIRMED (§4): no revoke quota is documented.
    withdrawals_per_day: None,
    withdrawals_per_month: None,
    missing_authorization: "the app has not authorized the third-party application (no authorizer refresh token)",
    authorize_command: "minifleet auth douyin --app <name> --code AUTHORIZATION_CODE",
    // UNCONFIRMED (§3.1): `user_version` format rules are not documented; a version may be
    // uploaded again.
    versions_increase: false,
    dev_build_cap: None,
    // UNCONFIRMED (§4): whether a settled audit blocks a new submission is not documented; its
    // revoke is refused (11603), so it is never withdrawn.
    settled_audit_holds_slot: false,
    gray_holds_review_slot: false,
    end_gray_reason: "",
    withdraw_reason: "revokes the review of outdated build <build>: Douyin reviews one version at a time (11303)",
    settled_withdraw_reason: "revokes the <status> review of outdated build <build>",
    member_ids: "Douyin has no tester API",
};

/// `platforms.douyin`, resolved.
#[derive(Debug, Clone)]
pub struct DouyinConfig {
    /// The third-party application's appid.
    pub component_appid: String,
    /// Its secret (required unless the base is the sandbox).
    pub component_appsecret: Option<Secret>,
    /// The push verification token (消息验证 TOKEN).
    pub token: Option<Secret>,
    /// The 43-character EncodingAESKey (消息加密解密 KEY).
    pub encoding_aes_key: Option<Secret>,
    /// Where the API lives.
    pub api_base: ApiBase,
}

/// `platforms.douyin`: the third-party application minifleet acts as.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DouyinPlatform")]
struct RawDouyin {
    /// The third-party application's appid (`tt` and 16 to 18 lowercase letters or digits).
    #[schemars(required, regex(pattern = r"^tt[0-9a-z]{16,18}$"))]
    component_appid: Option<String>,
    /// The third-party application's secret, as `${env:NAME}` or `${file:PATH}`; optional only
    /// with the sandbox.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    component_appsecret: Option<String>,
    /// The push verification token, as `${env:NAME}` or `${file:PATH}`.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    token: Option<String>,
    /// The 43-character EncodingAESKey, as `${env:NAME}` or `${file:PATH}`.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    encoding_aes_key: Option<String>,
    /// `sandbox` (the embedded simulator) or an http(s) base URL; default
    /// `https://open.douyin.com`.
    api_base: Option<String>,
}

/// `templates.<name>.douyin`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DouyinTemplate")]
struct RawDouyinTemplate {
    /// The template id from the template library (`get_tpl_list`), an integer.
    #[schemars(required)]
    template_id: Option<i64>,
}

/// Douyin's own `audit` keys.
#[derive(JsonSchema)]
#[schemars(rename = "DouyinAudit")]
struct RawDouyinAudit {
    /// Douyin only: the host apps to submit the build to and show it in (`douyin`, `toutiao`,
    /// `douyin_lite`, `tt_lite`, `xigua`, `huoshan`); left out, every host Douyin offers. A host
    /// left out of a submission hides the app there after the release.
    #[allow(
        dead_code,
        reason = "only its schema is used: the values are read by `audit_hosts`"
    )]
    hosts: Option<Vec<String>>,
}

/// The host apps `audit` names (`audit.hosts`); empty when it names none, or names them in a
/// shape the fleet file's checks refused.
pub fn audit_hosts(audit: &AuditSpec) -> Vec<String> {
    audit
        .platform
        .get("hosts")
        .and_then(|h| serde_json::from_value(h.clone()).ok())
        .unwrap_or_default()
}

/// Douyin's [`PlatformSpec`].
pub struct Spec;

/// The one instance the registry lists.
pub static SPEC: Spec = Spec;

/// The keys of ext.json beside `ext` Douyin takes (spec/douyin.md §3.1: `extPages` and app.json
/// keys, which override the template's).
const EXT_JSON_KEYS: [(&str, Holds); 7] = [
    ("directCommit", Holds::Flag),
    ("extPages", Holds::Pages),
    ("networkTimeout", Holds::Mapping),
    ("pages", Holds::Strings),
    ("subPackages", Holds::List),
    ("tabBar", Holds::Mapping),
    ("window", Holds::Mapping),
];

impl PlatformSpec for Spec {
    fn kind(&self) -> PlatformKind {
        KIND
    }

    fn rules(&self) -> &'static Rules {
        &RULES
    }

    fn read_config(
        &self,
        section: &mut Value,
        cx: &mut SectionCx<'_, '_>,
    ) -> Option<PlatformConfig> {
        let start = cx.count();
        let path = cx.path.clone();
        let raw: RawDouyin = read_section(section, &path, cx.problems());
        cx.required(
            "component_appid",
            raw.component_appid.as_deref(),
            is_douyin_appid,
            |id| format!("`component_appid` must be `tt` and 16 to 18 lowercase letters or digits, got `{id}`"),
            Some("copy the third-party application's appid from the Douyin open platform console"),
        );
        let api_base = cx.endpoint("api_base", raw.api_base.as_deref(), DEFAULT_BASE);
        let component_appsecret = cx.secret_unless_sandbox(
            "component_appsecret",
            raw.component_appsecret.as_deref(),
            &api_base,
            "api_base",
        );
        let token = cx.secret("token", raw.token.as_deref());
        let encoding_aes_key = cx.aes_key(
            raw.encoding_aes_key.as_deref(),
            "copy the 消息加密解密 KEY from the Douyin console's development settings",
        );
        let config = DouyinConfig {
            component_appid: raw.component_appid?,
            component_appsecret,
            token,
            encoding_aes_key,
            api_base: api_base.clone(),
        };
        (cx.count() == start).then(|| PlatformConfig::new(api_base, config))
    }

    fn configure_help(&self) -> &'static str {
        "add a `platforms.douyin` section with the third-party application's `component_appid`"
    }

    fn read_template(
        &self,
        section: &mut Value,
        cx: &mut SectionCx<'_, '_>,
    ) -> Option<TemplateRef> {
        let path = cx.path.clone();
        let raw: RawDouyinTemplate = read_section(section, &path, cx.problems());
        match raw.template_id {
            None => {
                cx.problems().missing(&path.key("template_id"));
                None
            }
            Some(id) if id <= 0 => {
                cx.problems()
                    .value(
                        &path.key("template_id"),
                        format!("`template_id` must be a positive integer, got {id}"),
                    )
                    .help("copy the id `get_tpl_list` lists for the template");
                None
            }
            Some(id) => Some(TemplateRef {
                id: id.to_string(),
                version: None,
            }),
        }
    }

    fn template_help(&self, template: &str) -> String {
        format!("add `templates.{template}.douyin.template_id`")
    }

    fn appid_problem(&self, appid: &str) -> Option<(String, Option<String>)> {
        (!is_douyin_appid(appid)).then(|| {
            (
                format!("Douyin appid must be `tt` and 16 to 18 lowercase letters or digits, got `{appid}`"),
                Some("quote the merchant mini-program's appid, e.g. `appid: tt07e3715e98c9aac0`".to_owned()),
            )
        })
    }

    fn check_app(&self, raw: &RawApp, at: &AppAt<'_>, p: &mut Problems<'_>) {
        check_ext_json(raw.ext_json.as_ref(), &EXT_JSON_KEYS, "Douyin", at, p);
        crate::fleet::kit::refuse_settings(raw, "Douyin", at, p);
        let mut percents = raw.gray.iter().flat_map(RawGray::percents);
        if let Some((path, gray)) = percents.find(|(_, g)| *g != 100) {
            at.value(
                p,
                &path,
                format!("Douyin releases to every user: gray must be 100 or left out, got {gray}"),
            )
            .help("Douyin has no gray release for third-party applications; remove `gray`");
        }
        let testers = raw.testers.as_deref().unwrap_or_default();
        if testers.iter().any(|t| !t.trim().is_empty()) {
            at.value(
                p,
                &YamlPath::top("testers"),
                "Douyin has no tester API: testers cannot be managed".to_owned(),
            )
            .help("remove `testers`; add testers in the Douyin console");
        }
        let no_audit = AuditSpec::default();
        check_audit(raw.audit.as_deref().unwrap_or(&no_audit), at, p);
    }

    fn ext_json(&self, appid: &str, ext: &Map<String, Json>, others: &Map<String, Json>) -> String {
        // Douyin names the app in `extAppid`.
        ext_json_text(ext, Some(appid), others)
    }

    fn config_schema(&self) -> Json {
        schemars::schema_for!(RawDouyin).to_value()
    }

    fn template_schema(&self) -> Json {
        schemars::schema_for!(RawDouyinTemplate).to_value()
    }

    fn audit_schema(&self) -> Map<String, Json> {
        let schema = schemars::schema_for!(RawDouyinAudit).to_value();
        match schema.get("properties") {
            Some(Json::Object(properties)) => properties.clone(),
            _ => Map::new(),
        }
    }
}

/// Whether `appid` looks like a Douyin appid: `tt` and 16 to 18 lowercase letters or digits.
/// UNCONFIRMED (spec/douyin.md): no source states the format; every example is `tt` + 16 hex.
pub fn is_douyin_appid(appid: &str) -> bool {
    appid.strip_prefix("tt").is_some_and(|rest| {
        (16..=18).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

/// The host code of display name `name` (`抖音` → `douyin`), or of a code.
pub fn host_code(name: &str) -> Option<&'static str> {
    HOSTS
        .iter()
        .find(|(code, display)| *code == name || *display == name)
        .map(|(code, _)| *code)
}

/// The audit's host apps must be Douyin's, and its note (`version_desc`) at most 200 characters.
fn check_audit(audit: &AuditSpec, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let path = || YamlPath::top("audit");
    let hosts = match audit.platform.get("hosts") {
        None | Some(Json::Null) => Vec::new(),
        Some(value) => match serde_json::from_value::<Vec<String>>(value.clone()) {
            Ok(hosts) => hosts,
            Err(_) => {
                app.value(
                    p,
                    &path().key("hosts"),
                    "`hosts` must be a list of Douyin host app names".to_owned(),
                )
                .help("e.g. `hosts: [douyin, toutiao]`");
                Vec::new()
            }
        },
    };
    for (j, host) in hosts.iter().enumerate() {
        if !HOSTS.iter().any(|(code, _)| code == host) {
            let codes: Vec<&str> = HOSTS.iter().map(|(c, _)| *c).collect();
            app.value(
                p,
                &path().key("hosts").index(j),
                format!("`{host}` is not a Douyin host app"),
            )
            .help(format!("hosts are {}", codes.join(", ")));
        }
    }
    let note = audit
        .version_desc
        .as_deref()
        .map_or(0, |d| d.chars().count());
    if note > MAX_NOTE_CHARS {
        app.value(
            p,
            &path().key("version_desc"),
            format!("a Douyin audit note is at most {MAX_NOTE_CHARS} characters, got {note}"),
        )
        .help("Douyin's `audit_note` takes 200 characters: the test account and what to look at");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appids_are_tt_and_sixteen_to_eighteen_letters_or_digits() {
        assert!(is_douyin_appid("tt07e3715e98c9aac0"));
        assert!(is_douyin_appid("tt07e3715e98c9aac0ab"));
        assert!(!is_douyin_appid("tt07e3715e98c9aac"));
        assert!(!is_douyin_appid("tt07e3715e98c9aac0abc"));
        assert!(!is_douyin_appid("wx07e3715e98c9aac0"));
        assert!(!is_douyin_appid("tt07E3715E98C9AAC0"));
    }

    #[test]
    fn hosts_are_known_by_code_and_by_display_name() {
        assert_eq!(host_code("抖音"), Some("douyin"));
        assert_eq!(host_code("xigua"), Some("xigua"));
        assert_eq!(host_code("kuaishou"), None);
    }

    #[test]
    fn only_a_full_release_is_allowed() {
        assert!(RULES.gray_allowed(100));
        assert!(!RULES.gray_allowed(50));
        assert!(!RULES.gray_allowed(1));
    }
}
