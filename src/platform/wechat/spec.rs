//! WeChat as far as the fleet file and the planner are concerned: `platforms.wechat`, its part of
//! the templates, the shape of its appids, the checks of its apps' settings, its ext.json
//! envelope, and the planner's rules (spec/wechat.md).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_json::{Map, Value as Json};

use crate::fleet::kit::{
    AppAt, MaybeHelp, Problems, RawApp, RawGray, SECRET_PATTERN, YamlPath, read_section,
    require_in_audit,
};
use crate::fleet::kit::{Holds, check_ext_json, ext_json_text};
use crate::fleet::{ApiBase, PlatformConfig, PlatformSpec, SectionCx, TemplateRef};
use crate::model::{AuditSpec, PlatformKind, Rules, Stage};
use crate::secret::Secret;

/// The platform's name in the fleet file.
pub const KIND: PlatformKind = PlatformKind::new("wechat");

/// The WeChat API base when the file names none.
const DEFAULT_BASE: &str = "https://api.weixin.qq.com";

/// WeChat Open Platform (third-party platform), as the planner sees it.
pub const RULES: Rules = Rules {
    name: "WeChat",
    first_release_can_be_gray: false,
    gray_steps: None,
    gray_increase_only: true,
    withdrawals_per_day: Some(5),
    withdrawals_per_month: Some(10),
    missing_authorization: "the app has not authorized the third-party platform (no refresh token)",
    authorize_command: "minifleet auth wechat link --app <name> --redirect-uri URL",
    versions_increase: false,
    dev_build_cap: None,
    settled_audit_holds_slot: false,
    gray_holds_review_slot: false,
    end_gray_reason: "",
    withdraw_reason: "withdraws audit <id> of outdated build <build>, which blocks a new submission",
    settled_withdraw_reason: "withdraws the <status> audit <id> of outdated build <build>",
    member_ids: "WeChat only shows opaque member ids",
};

/// `platforms.wechat`, resolved.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// The third-party platform's appid.
    pub component_appid: String,
    /// The component secret (required unless the base is the sandbox).
    pub component_secret: Option<Secret>,
    /// The push message verification token.
    pub token: Option<Secret>,
    /// The 43-character EncodingAESKey.
    pub encoding_aes_key: Option<Secret>,
    /// Where the API lives.
    pub api_base: ApiBase,
}

/// `platforms.wechat`: the third-party platform (component) minifleet acts as.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WechatPlatform")]
struct RawWechat {
    /// The third-party platform's appid (`wx` and 16 hex digits).
    #[schemars(required, regex(pattern = r"^wx[0-9a-f]{16}$"))]
    component_appid: Option<String>,
    /// The component secret, as `${env:NAME}` or `${file:PATH}`; optional only with the sandbox.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    component_secret: Option<String>,
    /// The push message verification token, as `${env:NAME}` or `${file:PATH}`.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    token: Option<String>,
    /// The 43-character EncodingAESKey, as `${env:NAME}` or `${file:PATH}`.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    encoding_aes_key: Option<String>,
    /// `sandbox` (the embedded simulator) or an http(s) base URL; default
    /// `https://api.weixin.qq.com`.
    api_base: Option<String>,
}

/// `templates.<name>.wechat`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WechatTemplate")]
struct RawWechatTemplate {
    /// The numeric template id from `wxa/gettemplatelist`.
    #[schemars(required)]
    template_id: Option<u64>,
}

/// WeChat's [`PlatformSpec`].
pub struct Spec;

/// The one instance the registry lists.
pub static SPEC: Spec = Spec;

/// The keys of ext.json beside `ext` WeChat takes from a third party (spec/wechat.md §2.1).
const EXT_JSON_KEYS: [(&str, Holds); 10] = [
    ("directCommit", Holds::Flag),
    ("extPages", Holds::Pages),
    ("navigateToMiniProgramAppIdList", Holds::Strings),
    ("networkTimeout", Holds::Mapping),
    ("pages", Holds::Strings),
    ("plugins", Holds::Mapping),
    ("requiredPrivateInfos", Holds::Strings),
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
        let raw: RawWechat = read_section(section, &path, cx.problems());
        cx.required(
            "component_appid",
            raw.component_appid.as_deref(),
            is_wechat_appid,
            |id| format!("`component_appid` must be `wx` and 16 lowercase hex digits, got `{id}`"),
            None,
        );
        let api_base = cx.endpoint("api_base", raw.api_base.as_deref(), DEFAULT_BASE);
        let component_secret = cx.secret_unless_sandbox(
            "component_secret",
            raw.component_secret.as_deref(),
            &api_base,
            "api_base",
        );
        let token = cx.secret("token", raw.token.as_deref());
        let encoding_aes_key = cx.aes_key(
            raw.encoding_aes_key.as_deref(),
            "copy the EncodingAESKey from the open platform's settings page",
        );
        let component_appid = raw.component_appid?;
        let config = WechatConfig {
            component_appid,
            component_secret,
            token,
            encoding_aes_key,
            api_base: api_base.clone(),
        };
        (cx.count() == start).then(|| PlatformConfig::new(api_base, config))
    }

    fn configure_help(&self) -> &'static str {
        "add a `platforms.wechat` section with the third-party platform's `component_appid`"
    }

    fn read_template(
        &self,
        section: &mut Value,
        cx: &mut SectionCx<'_, '_>,
    ) -> Option<TemplateRef> {
        let path = cx.path.clone();
        let raw: RawWechatTemplate = read_section(section, &path, cx.problems());
        let Some(id) = raw.template_id else {
            cx.problems().missing(&path.key("template_id"));
            return None;
        };
        Some(TemplateRef {
            id: id.to_string(),
            version: None,
        })
    }

    fn template_help(&self, template: &str) -> String {
        format!("add `templates.{template}.wechat.template_id`")
    }

    fn appid_problem(&self, appid: &str) -> Option<(String, Option<String>)> {
        (!is_wechat_appid(appid)).then(|| {
            (
                format!("WeChat appid must be `wx` and 16 lowercase hex digits, got `{appid}`"),
                None,
            )
        })
    }

    fn check_app(&self, raw: &RawApp, at: &AppAt<'_>, p: &mut Problems<'_>) {
        check_ext_json(raw.ext_json.as_ref(), &EXT_JSON_KEYS, "WeChat", at, p);
        check_tabs(raw.ext_json.as_ref(), at, p);
        crate::fleet::kit::check_settings(raw, at, p);
        for (path, gray) in raw.gray.iter().flat_map(RawGray::percents) {
            check_gray(gray, &path, at, p);
        }
        let no_audit = AuditSpec::default();
        let audit = raw.audit.as_deref().unwrap_or(&no_audit);
        require_audit_items(audit, raw.stage.unwrap_or_default(), at, p);
        check_audit_items(audit, at, p);
    }

    fn ext_json(&self, appid: &str, ext: &Map<String, Json>, others: &Map<String, Json>) -> String {
        // WeChat names the app in `extAppid`.
        ext_json_text(ext, Some(appid), others)
    }

    fn config_schema(&self) -> Json {
        schemars::schema_for!(RawWechat).to_value()
    }

    fn template_schema(&self) -> Json {
        schemars::schema_for!(RawWechatTemplate).to_value()
    }
}

/// Whether `appid` matches `^wx[0-9a-f]{16}$`.
fn is_wechat_appid(appid: &str) -> bool {
    appid.strip_prefix("wx").is_some_and(|hex| {
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// At most this many audit items (`submit_audit`'s `item_list`).
const MAX_AUDIT_ITEMS: usize = 5;
/// At most this many characters in an audit item's title.
const MAX_TITLE_CHARS: usize = 32;

fn check_audit_items(audit: &AuditSpec, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let path = || YamlPath::top("audit").key("items");
    let n = audit.items.len();
    if n > MAX_AUDIT_ITEMS {
        app.value(
            p,
            &path(),
            format!("at most {MAX_AUDIT_ITEMS} audit items are allowed, got {n}"),
        )
        .help("WeChat `submit_audit` takes 1 to 5 pages in `item_list`");
    }
    for (j, item) in audit.items.iter().enumerate() {
        let title_chars = item.title.as_deref().map_or(0, |t| t.chars().count());
        if title_chars > MAX_TITLE_CHARS {
            app.value(
                p,
                &path().index(j).key("title"),
                format!("title must be at most {MAX_TITLE_CHARS} characters, got {title_chars}"),
            );
        }
        if let Some(problem) = item.tag.as_deref().and_then(tag_problem) {
            app.value(p, &path().index(j).key("tag"), problem)
                .help("`tag` holds at most 10 space-separated tags of at most 20 characters each");
        }
    }
}

/// What is wrong with an audit item's space-separated `tag`, if anything.
fn tag_problem(tag: &str) -> Option<String> {
    let tags: Vec<&str> = tag.split_whitespace().collect();
    if tags.len() > 10 {
        return Some(format!("at most 10 tags are allowed, got {}", tags.len()));
    }
    tags.iter()
        .find(|t| t.chars().count() > 20)
        .map(|t| format!("tag `{t}` is longer than 20 characters"))
}

/// Every tab of `ext_json.tabBar.list` names its page (else WeChat refuses the commit, 85046).
fn check_tabs(others: Option<&Map<String, Json>>, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let tabs = others
        .and_then(|o| o.get("tabBar"))
        .and_then(|t| t.get("list"))
        .and_then(Json::as_array);
    for (i, tab) in tabs.into_iter().flatten().enumerate() {
        if tab.get("pagePath").and_then(Json::as_str).is_none() {
            let path = YamlPath::top("ext_json").key("tabBar").key("list").index(i);
            app.value(p, &path, "a tab needs its `pagePath`")
                .help("name the page the tab opens, e.g. `pagePath: pages/index/index`");
        }
    }
}

fn check_gray(gray: i64, path: &YamlPath, app: &AppAt<'_>, p: &mut Problems<'_>) {
    if !(1..=100).contains(&gray) {
        app.value(
            p,
            path,
            format!("gray must be between 1 and 100, got {gray}"),
        )
        .help("WeChat gray releases take a percentage from 1 to 100; 100 means a full release");
    }
}

fn require_audit_items(audit: &AuditSpec, stage: Stage, app: &AppAt<'_>, p: &mut Problems<'_>) {
    if stage == Stage::Experience || !audit.items.is_empty() {
        return;
    }
    let stage = stage.as_str();
    require_in_audit(
        app,
        "items",
        &[&["stage"]],
        format!("a WeChat app at stage `{stage}` needs at least one audit item"),
        "add `audit.items` to defaults",
        p,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appids_are_wx_and_sixteen_lowercase_hex_digits() {
        assert!(is_wechat_appid("wx0123456789abcdef"));
        assert!(!is_wechat_appid("wx0123456789ABCDEF"));
        assert!(!is_wechat_appid("wx0123456789abcde"));
        assert!(!is_wechat_appid("xx0123456789abcdef"));
    }

    #[test]
    fn tags() {
        assert_eq!(tag_problem("food shop"), None);
        assert!(tag_problem("a b c d e f g h i j k").is_some());
        assert_eq!(
            tag_problem("abcdefghijklmnopqrstu"),
            Some("tag `abcdefghijklmnopqrstu` is longer than 20 characters".into())
        );
    }
}
