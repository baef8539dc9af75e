//! Alipay as far as the fleet file and the planner are concerned: `platforms.alipay`, its part of
//! the templates, the shape of its appids, the checks of its apps' settings (gray steps, logon
//! ids, the audit's description and contacts), its ext.json envelope, and the planner's rules
//! (spec/alipay.md).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_json::{Map, Value as Json};

use crate::fleet::kit::is_phone;
use crate::fleet::kit::{
    AppAt, MaybeHelp, Problems, RawApp, RawGray, SECRET_PATTERN, VERSION_PATTERN, YamlPath,
    is_email, is_version, read_section, require_in_audit,
};
use crate::fleet::kit::{Holds, check_ext_json, ext_json_text};
use crate::fleet::{ApiBase, PlatformConfig, PlatformSpec, SectionCx, TemplateRef};
use crate::model::{AuditSpec, PlatformKind, Rules, Stage};
use crate::secret::Secret;

/// The platform's name in the fleet file.
pub const KIND: PlatformKind = PlatformKind::new("alipay");

/// The Alipay gateway when the file names none.
const DEFAULT_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";

/// At most this many `mini_category_ids`.
const MAX_CATEGORIES: usize = 4;

/// Alipay Open Platform (ISV), as the planner sees it.
pub const RULES: Rules = Rules {
    name: "Alipay",
    first_release_can_be_gray: true,
    gray_steps: Some(&[10, 30, 50]),
    gray_increase_only: true,
    withdrawals_per_day: None,
    withdrawals_per_month: None,
    missing_authorization: "the app has not authorized the ISV application (no app_auth_token)",
    authorize_command: "minifleet auth alipay --app <name> --code APP_AUTH_CODE",
    versions_increase: true,
    dev_build_cap: Some(20),
    settled_audit_holds_slot: true,
    gray_holds_review_slot: true,
    end_gray_reason: "end the <percent>% gray release of outdated build <build> first: on Alipay a \
                      gray version holds the app's single review slot, so the new build cannot be \
                      submitted while it runs. Cancelling the gray <after>; releasing it to every \
                      user instead would publish a build the fleet no longer wants",
    withdraw_reason: "cancels the review of outdated build <build>: Alipay reviews one version at a \
                      time, and the new build needs the review slot",
    settled_withdraw_reason: "cancels the <status> review of outdated build <build> (back to \
                              development): Alipay has one review slot per app, and the <status> \
                              version holds it until it is released or cancelled",
    member_ids: "Alipay lists members by user id",
};

/// `platforms.alipay`, resolved.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// The ISV application's app id (sent as `app_id` on every call).
    pub app_id: String,
    /// The ISV application's private key (PKCS#1 or PKCS#8, PEM or bare base64); required unless
    /// the gateway is the sandbox, which then hands out its own test key.
    pub private_key: Option<Secret>,
    /// Alipay's public key, for verifying responses; required unless the gateway is the sandbox.
    pub alipay_public_key: Option<Secret>,
    /// Where the gateway lives (`https://openapi.alipay.com/gateway.do` or the sandbox).
    pub gateway: ApiBase,
}

/// `platforms.alipay`: the ISV application minifleet acts as.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AlipayPlatform")]
struct RawAlipay {
    /// The ISV application's app id (16 digits).
    #[schemars(required, regex(pattern = r"^[0-9]{16}$"))]
    app_id: Option<String>,
    /// The application private key (PKCS#1 or PKCS#8, PEM or bare base64), as `${env:NAME}` or
    /// `${file:PATH}`.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    private_key: Option<String>,
    /// Alipay's public key, as `${env:NAME}` or `${file:PATH}`.
    #[schemars(regex(pattern = SECRET_PATTERN))]
    alipay_public_key: Option<String>,
    /// `sandbox` (the embedded simulator) or the gateway URL; default
    /// `https://openapi.alipay.com/gateway.do`.
    gateway: Option<String>,
}

/// `templates.<name>.alipay`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AlipayTemplate")]
struct RawAlipayTemplate {
    /// The template mini-program's APPID.
    #[schemars(required)]
    template_id: Option<String>,
    /// The template version, `x.y.z`.
    #[schemars(required, regex(pattern = VERSION_PATTERN))]
    template_version: Option<String>,
}

/// Alipay's [`PlatformSpec`].
pub struct Spec;

/// The one instance the registry lists.
pub static SPEC: Spec = Spec;

/// The keys of ext.json beside `ext` Alipay takes (spec/alipay.md, `version.upload`'s `ext`).
const EXT_JSON_KEYS: [(&str, Holds); 2] = [("extPages", Holds::Pages), ("window", Holds::Mapping)];

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
        let raw: RawAlipay = read_section(section, &path, cx.problems());
        cx.required(
            "app_id",
            raw.app_id.as_deref(),
            is_alipay_appid,
            |id| format!("`app_id` must be the ISV application's 16-digit app id, got `{id}`"),
            Some("quote it (`app_id: \"2021000000000000\"`) and copy it from the open platform console"),
        );
        let gateway = cx.endpoint("gateway", raw.gateway.as_deref(), DEFAULT_GATEWAY);
        let private_key = cx.secret_unless_sandbox(
            "private_key",
            raw.private_key.as_deref(),
            &gateway,
            "gateway",
        );
        let alipay_public_key = cx.secret_unless_sandbox(
            "alipay_public_key",
            raw.alipay_public_key.as_deref(),
            &gateway,
            "gateway",
        );
        let app_id = raw.app_id?;
        let config = AlipayConfig {
            app_id,
            private_key,
            alipay_public_key,
            gateway: gateway.clone(),
        };
        (cx.count() == start).then(|| PlatformConfig::new(gateway, config))
    }

    fn configure_help(&self) -> &'static str {
        "add a `platforms.alipay` section with the ISV application's `app_id`"
    }

    fn read_template(
        &self,
        section: &mut Value,
        cx: &mut SectionCx<'_, '_>,
    ) -> Option<TemplateRef> {
        let path = cx.path.clone();
        let raw: RawAlipayTemplate = read_section(section, &path, cx.problems());
        if raw.template_id.is_none() {
            cx.problems().missing(&path.key("template_id"));
        }
        match raw.template_version.as_deref() {
            None => {
                cx.problems().missing(&path.key("template_version"));
            }
            Some(v) if !is_version(v) => {
                cx.problems().value(
                    &path.key("template_version"),
                    format!("template_version must be `x.y.z` (digits), got `{v}`"),
                );
                return None;
            }
            Some(_) => {}
        }
        Some(TemplateRef {
            id: raw.template_id?,
            version: Some(raw.template_version?),
        })
    }

    fn template_help(&self, template: &str) -> String {
        format!("add `templates.{template}.alipay` with `template_id` and `template_version`")
    }

    fn appid_problem(&self, appid: &str) -> Option<(String, Option<String>)> {
        (!is_alipay_appid(appid)).then(|| {
            (
                format!("Alipay appid must be 16 digits, got `{appid}`"),
                Some(
                    "quote the merchant mini-program's APPID, e.g. `appid: \"2021000000000101\"`"
                        .to_owned(),
                ),
            )
        })
    }

    fn check_app(&self, raw: &RawApp, at: &AppAt<'_>, p: &mut Problems<'_>) {
        check_ext_json(raw.ext_json.as_ref(), &EXT_JSON_KEYS, "Alipay", at, p);
        crate::fleet::kit::refuse_settings(raw, "Alipay", at, p);
        for (path, gray) in raw.gray.iter().flat_map(RawGray::percents) {
            check_gray(gray, &path, at, p);
        }
        let testers = raw.testers.as_deref().unwrap_or_default();
        check_logon_ids(testers, at, p);
        let no_audit = AuditSpec::default();
        let audit = raw.audit.as_deref().unwrap_or(&no_audit);
        check_audit(audit, at, p);
        let described = raw
            .description
            .as_deref()
            .is_some_and(|d| !d.trim().is_empty());
        require_version_desc(audit, described, raw.stage.unwrap_or_default(), at, p);
    }

    fn takes_app_token(&self) -> bool {
        true
    }

    fn ext_json(
        &self,
        _appid: &str,
        ext: &Map<String, Json>,
        others: &Map<String, Json>,
    ) -> String {
        // Alipay does not name the app in ext.json.
        ext_json_text(ext, None, others)
    }

    fn config_schema(&self) -> Json {
        schemars::schema_for!(RawAlipay).to_value()
    }

    fn template_schema(&self) -> Json {
        schemars::schema_for!(RawAlipayTemplate).to_value()
    }
}

/// Whether `id` is an Alipay app id: exactly 16 ASCII digits (`^\d{16}$`).
fn is_alipay_appid(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `id` looks like an Alipay logon id: an email address or a phone number (digits, with
/// an optional leading `+` and `-` separators, at least 5 digits).
fn is_alipay_logon_id(id: &str) -> bool {
    is_email(id) || is_phone(id)
}

fn check_gray(gray: i64, path: &YamlPath, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let allowed = u8::try_from(gray).is_ok_and(|g| RULES.gray_allowed(g));
    if !allowed {
        app.value(
            p,
            path,
            format!("Alipay gray must be 10, 30, 50 or 100, got {gray}"),
        )
        .help("Alipay gray releases are p10, p30 or p50; 100 means a full release");
    }
}

/// Alipay invites members by logon id: an email address or a phone number.
fn check_logon_ids(testers: &[String], app: &AppAt<'_>, p: &mut Problems<'_>) {
    for (j, tester) in testers.iter().enumerate() {
        if tester.trim().is_empty() || is_alipay_logon_id(tester) {
            continue;
        }
        let tpath = YamlPath::top("testers").index(j);
        if !app.reported(p, &tpath) {
            app.value(
                p,
                &tpath,
                format!("tester `{tester}` is not an Alipay logon id (an email address or a phone number)"),
            )
            .help("Alipay invites testers by the account they log in to Alipay with");
        }
    }
}

/// The Alipay-only audit fields: contacts and categories.
fn check_audit(audit: &AuditSpec, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let path = || YamlPath::top("audit");
    if let Some(phone) = audit.service_phone.as_deref() {
        let n = phone.chars().count();
        let ok = (5..=30).contains(&n) && phone.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        if !ok {
            app.value(
                p,
                &path().key("service_phone"),
                format!("`service_phone` must be 5 to 30 digits and `-`, got `{phone}`"),
            );
        }
    }
    if let Some(email) = audit.service_email.as_deref().filter(|e| !is_email(e)) {
        app.value(
            p,
            &path().key("service_email"),
            format!("`service_email` must be an email address, got `{email}`"),
        );
    }
    let n = audit.mini_category_ids.len();
    if n > MAX_CATEGORIES {
        app.value(
            p,
            &path().key("mini_category_ids"),
            format!("at most {MAX_CATEGORIES} categories are allowed, got {n}"),
        )
        .help("Alipay `audit.apply` takes 1 to 4 `mini_category_ids`");
    }
}

/// An Alipay submission needs a `version_desc`: `audit.version_desc` or the app's description.
fn require_version_desc(
    audit: &AuditSpec,
    described: bool,
    stage: Stage,
    app: &AppAt<'_>,
    p: &mut Problems<'_>,
) {
    let needed = stage != Stage::Experience
        && !described
        && audit
            .version_desc
            .as_deref()
            .is_none_or(|d| d.trim().is_empty());
    if !needed {
        return;
    }
    let stage = stage.as_str();
    require_in_audit(
        app,
        "version_desc",
        &[&["stage"], &["description"]],
        format!("an Alipay app at stage `{stage}` needs `audit.version_desc` or a `description`"),
        "Alipay reviews each version with its description; add `description` or `audit.version_desc` to defaults",
        p,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alipay_ids() {
        assert!(is_alipay_appid("2021000000000001"));
        assert!(!is_alipay_appid("202100000000001"));
        assert!(!is_alipay_appid("2021x00000000001"));
        assert!(
            !is_alipay_appid("２０２１000000000001"),
            "full-width digits are not digits"
        );
        for ok in ["ops@example.com", "13800138000", "+86-138-0013-8000"] {
            assert!(is_alipay_logon_id(ok), "{ok}");
        }
        for bad in [
            "ops-li",
            "ops@",
            "@example.com",
            "a@b",
            "1380",
            "a b@c.d",
            "138x0013800",
            "+-1",
        ] {
            assert!(!is_alipay_logon_id(bad), "{bad}");
        }
    }
}
