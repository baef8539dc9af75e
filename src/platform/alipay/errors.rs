//! Alipay result codes and sub-codes sorted into error classes (spec/alipay.md §1.7 and §4: R →
//! Transient, A → Auth, L → Quota, P → Permanent, S → Conflict), with an English explanation and a
//! next step for each, plus the constructors of every [`PlatformError`] the client returns.

use crate::platform::alipay::sign::SignError;
use crate::platform::{ErrorClass, PlatformError};

use ErrorClass::{Auth, Conflict, Permanent, Quota, Transient};

/// One row of the code table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The `sub_code` (or, for rows keyed by it, the numeric `code`).
    pub code: &'static str,
    /// How the engine reacts.
    pub class: ErrorClass,
    /// What the code means.
    pub explanation: &'static str,
    /// What to do next.
    pub hint: &'static str,
}

const fn e(
    code: &'static str,
    class: ErrorClass,
    explanation: &'static str,
    hint: &'static str,
) -> Entry {
    Entry {
        code,
        class,
        explanation,
        hint,
    }
}

const RETRY: &str = "minifleet retries with backoff and re-reads the app's state first";
const REAUTH: &str = "the merchant must authorize the ISV app again (with the mini-program products \
bound first), then run `minifleet auth alipay --app <name> --code <app_auth_code>`";
const KEYS: &str = "check `platforms.alipay.app_id`, `private_key` and `gateway` in the fleet file: \
the private key must match the app public key uploaded to the console, for the same environment";
const BUG: &str = "this is a minifleet bug: please report it with the call and the message";
const OBSERVE: &str = "minifleet re-reads the app's state and plans again";
const TEMPLATE: &str = "check `templates.<name>.alipay.template_id` (the template APPID) and \
`template_version` in the fleet file";
const AUDIT: &str =
    "fix the app's `audit` settings in the fleet file or the app info in the console";
const EXT: &str = "fix the app's `ext` in the fleet file";
const TESTER: &str = "fix the app's `testers` in the fleet file";

/// Every code minifleet knows, from spec/alipay.md §1.7 and §4 (and the codes the sandbox answers).
#[rustfmt::skip]
pub static TABLE: &[Entry] = &[
    e("20000", Transient, "the Alipay service is unavailable; the outcome is unknown", RETRY),
    e("isp.unknow-error", Transient, "the Alipay backend failed; the outcome is unknown", RETRY),
    e("aop.unknow-error", Transient, "the Alipay gateway failed; the outcome is unknown", RETRY),
    e("CODE_TEMPLATE_NOT_SAFE", Transient, "the template is not security-scanned yet",
      "minifleet retries later; if it persists, check the template in the console"),
    e("MINI_APP_INFO_AUDIT_CONTAINS", Transient, "an app-info change is under review",
      "minifleet retries later (about 30 minutes)"),
    e("20001", Auth, "the app_auth_token is not accepted", REAUTH),
    e("aop.invalid-auth-token", Auth, "the auth token is invalid", REAUTH),
    e("aop.auth-token-time-out", Auth, "the auth token expired", REAUTH),
    e("aop.invalid-app-auth-token", Auth, "the app_auth_token is invalid, revoked or replaced", REAUTH),
    e("aop.app-auth-token-time-out", Auth, "the app_auth_token expired", REAUTH),
    e("aop.invalid-app-auth-token-no-api", Auth,
      "the merchant did not authorize this API (products were bound after the authorization)", REAUTH),
    e("aop.no-product-reg-by-partner", Auth,
      "no product is signed for this API, or the merchant app is penalized or offline",
      "bind the products to the ISV app and let the merchant re-authorize; a penalized app must appeal"),
    e("isv.insufficient-isv-permissions", Auth, "the product is not bound to the ISV app",
      "bind the mini-program products to the ISV app in the console, then re-authorize"),
    e("40005", Quota, "calls are throttled", "minifleet waits and calls less often"),
    e("isv.app-call-limited", Quota, "the ISV app's calls are throttled", "minifleet waits and calls less often"),
    e("isv.method-call-limited", Quota, "this method's calls are throttled", "minifleet waits and calls less often"),
    e("40001", Permanent, "a required argument is missing", BUG),
    e("40002", Permanent, "an argument is invalid", KEYS),
    e("40003", Permanent, "a condition of the call is not met", KEYS),
    e("40006", Permanent, "the ISV app lacks a permission", REAUTH),
    e("isv.self-invoke-forbidden", Permanent, "the call carried no app_auth_token", BUG),
    e("isv.insufficient-user-permissions", Permanent, "the user lacks a permission", REAUTH),
    e("isv.invalid-signature", Permanent, "the request signature does not verify", KEYS),
    e("isv.invalid-signature-type", Permanent, "the sign type is not accepted", BUG),
    e("isv.invalid-app-id", Permanent, "the app_id is unknown to this gateway", KEYS),
    e("not-online-app", Permanent, "the ISV app is not online", KEYS),
    e("isv.invalid-timestamp", Permanent, "the timestamp is malformed or off by more than 15 minutes",
      "check this machine's clock; timestamps are sent in Beijing time (GMT+8)"),
    e("isv.invalid-method", Permanent, "the method does not exist", BUG),
    e("isv.invalid-parameter", Permanent, "a parameter is invalid", BUG),
    e("isv.invalid-format", Permanent, "the format is not accepted", BUG),
    e("isv.invalid-charset", Permanent, "the charset is not accepted", BUG),
    e("isv.illegal-json", Permanent, "biz_content is not valid JSON", BUG),
    e("isv.forbidden-api", Permanent, "the ISV app may not call this API", KEYS),
    e("isv.missing-method", Permanent, "the method is missing", BUG),
    e("isv.missing-signature", Permanent, "the signature is missing", BUG),
    e("isv.missing-signature-type", Permanent, "the sign type is missing", BUG),
    e("isv.missing-signature-key", Permanent, "the signing key is missing", KEYS),
    e("isv.missing-app-id", Permanent, "the app_id is missing", KEYS),
    e("isv.missing-timestamp", Permanent, "the timestamp is missing", BUG),
    e("isv.missing-version", Permanent, "the version is missing", BUG),
    e("isv.missing-signature-config", Permanent, "no public key is configured for RSA2", KEYS),
    e("isv.code-invalid", Permanent, "the app_auth_code is unknown, expired or already used",
      "let the merchant authorize again and use the new app_auth_code once"),
    e("isv.refresh-token-invalid", Permanent, "the app_refresh_token is invalid", REAUTH),
    e("APPLICATION_TYPE_NOT_MINIAPP", Permanent, "the authorized app is not a mini-program",
      "check the app's `appid` in the fleet file"),
    e("APP_INFO_NOT_EXIST", Permanent, "the app or the template does not exist for this token", TEMPLATE),
    e("APP_TYPE_ERROR", Permanent, "the app_id and app_auth_token do not pair up",
      "use the ISV app's app_id with the merchant mini-program's app_auth_token"),
    e("TEMPLATE_MINIAPP_NOT_ALLOWED", Permanent, "the token belongs to the template app itself",
      "authorize the merchant mini-program, not the template"),
    e("TEMPLATE_ID_IS_BLANK", Permanent, "template_id is missing", TEMPLATE),
    e("CODE_TEMPLATE_DELETED", Permanent, "the template version was deleted", TEMPLATE),
    e("INVALID_EXT_JSON", Permanent, "ext is not valid JSON", EXT),
    e("VERSION_EXCEEDED_LENGTH", Permanent, "the version is not x.y.z with parts ≤ 2147483647",
      "fix the app's `version` in the fleet file"),
    e("APP_VERSION_IS_BLANK", Permanent, "app_version is missing", BUG),
    e("VERSION_DESC_IS_BLANK", Permanent, "version_desc is missing or not 30–500 characters",
      "fix `audit.version_desc` in the fleet file"),
    e("REGION_TYPE_IS_BLANK", Permanent, "region_type is missing", AUDIT),
    e("REGION_TYPE_IS_INVALID", Permanent, "region_type is not GLOBAL, CHINA or LOCATION", AUDIT),
    e("APP_NAME_IS_BLANK", Permanent, "the app name was never set", AUDIT),
    e("ENGLISH_NAME_IS_BLANK", Permanent, "the English app name was never set", AUDIT),
    e("CATEGORY_NUM_IS_INVALID", Permanent, "1 to 4 valid categories are needed", AUDIT),
    e("INVALID_CATEGORY", Permanent, "a category is invalid", AUDIT),
    e("SERVICE_TEL_AND_MAIL_BOTH_BLANK", Permanent, "neither service phone nor email is set", AUDIT),
    e("INVALID_MINI_APP_SERVICE_TEL", Permanent, "the service phone is invalid", AUDIT),
    e("INVALID_MINI_APP_NAME", Permanent, "the app name is invalid", AUDIT),
    e("INVALID_MINI_APP_NAME_LENGTH", Permanent, "the app name is too short or too long", AUDIT),
    e("MINI_VERSION_NAME_DUPLICATE", Permanent, "the app name is taken", AUDIT),
    e("RISK_DECISION_CHECK_FAIL", Permanent, "the text failed the risk check", AUDIT),
    e("INVALID_LOGO", Permanent, "the logo is invalid (RGB jpg/png needed)", AUDIT),
    e("INVALID_LOGO_EXT", Permanent, "the logo format is invalid", AUDIT),
    e("INVALID_LICENSE_PIC_EXT", Permanent, "a licence picture format is invalid", AUDIT),
    e("GRAY_STRATEGY_IS_BLANK", Permanent, "gray_strategy is missing", BUG),
    e("GRAY_STRATEGY_IS_INVALID", Permanent,
      "the gray strategy is not p10, p30 or p50, or not wider than the running one",
      "Alipay gray is 10, 30, 50 or 100 percent and only widens: fix the app's `gray`"),
    e("INVALID_ROLE", Permanent, "the member role is not DEVELOPER or EXPERIENCER", BUG),
    e("invalid_logon_id", Permanent, "the tester is not an Alipay login account", TESTER),
    e("AE0311010110301", Permanent, "the tester's Alipay account was not found", TESTER),
    e("ROLE_OVER_LIMIT", Permanent, "the app has the most members allowed (30 developers, 50 experiencers)",
      "remove testers from the fleet file"),
    e("NO_ROLLBACK_VERSION", Permanent, "no earlier release to roll back to",
      "release the wanted version through a new upload and audit"),
    e("VERSION_HAS_EXISTED", Conflict, "the version is not above the app's highest version",
      "bump the app's `version` in the fleet file above the highest existing one"),
    e("DEV_VERSION_OVER_LIMIT", Conflict, "the app holds 20 development versions (开发中版本超过最大数量)",
      "minifleet deletes stale development versions, then uploads again"),
    e("MINI_APP_PACKAGE_INFO_NOT_EXIST", Conflict, "the version does not exist or is not built yet", OBSERVE),
    e("CAN_NOT_SUBMIT_WITH_AUDIT_GRAY", Conflict,
      "another version occupies the review slot (auditing, passed, rejected or gray)", OBSERVE),
    e("VERSION_STATUS_ERROR", Conflict, "the version's status does not allow this call", OBSERVE),
    e("EXPERIENCER_ALREADY_EXIST", Conflict, "the tester is already a member or invited", OBSERVE),
    e("DEVELOPER_ALREADY_EXSIT", Conflict, "the developer is already a member or invited", OBSERVE),
    e("EXPERIENCER_ALREADY_REFUSED", Conflict, "the tester refused the invitation",
      "minifleet removes and re-invites; ask the tester to accept"),
    e("DEVELOPER_ALREADY_REFUSED", Conflict, "the developer refused the invitation",
      "remove and re-invite; ask the developer to accept"),
    e("CANNOT_INVITE_MANAGER", Conflict, "the user is an admin already", OBSERVE),
    e("DEV_MANAGER_ALREADY_EXIST", Conflict, "the user is an admin already", OBSERVE),
    e("MEMBER_NOT_EXIST", Conflict, "the member does not exist", OBSERVE),
];

/// The sub_msg text the real gateway uses for the development-version cap.
const DEV_CAP_TEXT: &str = "开发中版本超过最大数量";

/// The table row of `code`.
pub fn lookup(code: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|entry| entry.code == code)
}

/// The first `[A-Z_]{5,}` or `AE\d+` token of `text` that is in the table (for `unknown-sub-code`).
fn token_in(text: &str) -> Option<&'static Entry> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.split(|c: char| !is_word(c))
        .filter(|w| {
            let upper = w.len() >= 5 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            let ae =
                w.len() > 2 && w.starts_with("AE") && w[2..].chars().all(|c| c.is_ascii_digit());
            upper || ae
        })
        .find_map(lookup)
}

/// The row for a failure: the sub_code, else a code inside sub_msg (returned too, as the code
/// to show), else the numeric code.
fn classify(
    code: &str,
    sub_code: &str,
    sub_msg: &str,
) -> Option<(Option<&'static str>, &'static Entry)> {
    if let Some(entry) = lookup(sub_code) {
        return Some((None, entry));
    }
    let recovered = if sub_msg.contains(DEV_CAP_TEXT) {
        lookup("DEV_VERSION_OVER_LIMIT")
    } else {
        token_in(sub_msg)
    };
    if let Some(entry) = recovered {
        return Some((Some(entry.code), entry));
    }
    if sub_code.ends_with("_SENSITIVE") {
        return lookup("RISK_DECISION_CHECK_FAIL").map(|e| (None, e));
    }
    lookup(code).map(|entry| (None, entry))
}

/// A failed call with a gateway code, classified by [`TABLE`]. The error's `code` is the
/// sub_code (or the code recovered from `sub_msg`), else the numeric code. The message is
/// scrubbed of secrets: the sub_msg of `isv.invalid-signature` quotes the whole signing string,
/// `app_auth_token` included.
pub fn api_error(
    call: &str,
    code: &str,
    msg: &str,
    sub_code: &str,
    sub_msg: &str,
) -> PlatformError {
    let message = if sub_msg.is_empty() { msg } else { sub_msg };
    let own = if sub_code.is_empty() { code } else { sub_code };
    let (shown, class, explanation, hint) = match classify(code, sub_code, sub_msg) {
        Some((recovered, entry)) => (
            recovered.unwrap_or(own),
            entry.class,
            entry.explanation.to_string(),
            entry.hint,
        ),
        None => (
            own,
            Permanent,
            if message.is_empty() {
                "unknown Alipay error".to_string()
            } else {
                message.to_string()
            },
            "look the sub_code up in the Alipay Open Platform documentation (opendocs.alipay.com)",
        ),
    };
    PlatformError {
        effect: None,
        platform: crate::platform::alipay::spec::KIND,
        call: call.to_string(),
        code: shown.to_string(),
        message: message.to_string(),
        class,
        explanation,
        hint: hint.to_string(),
    }
    .scrubbed()
}

/// An error minifleet itself detected (no gateway code).
pub fn local(
    call: &str,
    code: &str,
    class: ErrorClass,
    explanation: &str,
    hint: &str,
) -> PlatformError {
    PlatformError::local(
        crate::platform::alipay::spec::KIND,
        call,
        code,
        class,
        explanation,
        hint,
    )
}

/// A transport failure (connect, timeout, reset).
pub fn network(call: &str, err: reqwest::Error) -> PlatformError {
    PlatformError::network(crate::platform::alipay::spec::KIND, call, err, NETWORK_HINT)
}

/// What to do when the gateway cannot be reached.
pub const NETWORK_HINT: &str =
    "check the network and `platforms.alipay.gateway`; minifleet retries with backoff";

/// A non-2xx HTTP status: 5xx is transient, anything else permanent.
pub fn http_status(call: &str, status: u16) -> PlatformError {
    let check = "check `platforms.alipay.gateway` in the fleet file";
    let kind = crate::platform::alipay::spec::KIND;
    PlatformError::http_status(kind, call, status, "the Alipay gateway", RETRY, check)
}

/// The code of a response that failed verification.
pub const RESPONSE_SIGNATURE: &str = "response_signature";

/// A response that failed verification: nothing in it is trusted.
pub fn signature(call: &str, err: &SignError) -> PlatformError {
    let class = match err {
        SignError::MalformedBody(_) => Transient,
        _ => Permanent,
    };
    PlatformError {
        message: err.to_string(),
        ..local(
            call,
            RESPONSE_SIGNATURE,
            class,
            "the response could not be verified with Alipay's public key",
            err.help(),
        )
    }
    .scrubbed()
}

/// An unusable key in the configuration.
pub fn bad_key(call: &str, what: &str, err: &SignError) -> PlatformError {
    PlatformError {
        message: err.to_string(),
        ..local(
            call,
            "invalid_key",
            Permanent,
            &format!("`platforms.alipay.{what}` is not usable"),
            err.help(),
        )
    }
    .scrubbed()
}

/// A verified answer whose fields are not what minifleet expects.
pub fn decode(call: &str, detail: impl std::fmt::Display) -> PlatformError {
    PlatformError::decode(crate::platform::alipay::spec::KIND, call, detail, RETRY)
}

/// The local store failed.
pub fn store(call: &str, err: crate::store::StoreError) -> PlatformError {
    PlatformError::store(crate::platform::alipay::spec::KIND, call, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of spec/alipay.md §1.7 and §4 with its class letter.
    const SPEC: &[(&str, ErrorClass)] = &[
        ("isp.unknow-error", Transient),
        ("aop.unknow-error", Transient),
        ("CODE_TEMPLATE_NOT_SAFE", Transient),
        ("MINI_APP_INFO_AUDIT_CONTAINS", Transient),
        ("aop.invalid-app-auth-token", Auth),
        ("aop.app-auth-token-time-out", Auth),
        ("aop.invalid-app-auth-token-no-api", Auth),
        ("aop.no-product-reg-by-partner", Auth),
        ("isv.insufficient-isv-permissions", Auth),
        ("isv.app-call-limited", Quota),
        ("isv.method-call-limited", Quota),
        ("isv.self-invoke-forbidden", Permanent),
        ("isv.invalid-signature", Permanent),
        ("isv.invalid-app-id", Permanent),
        ("not-online-app", Permanent),
        ("isv.invalid-timestamp", Permanent),
        ("isv.missing-method", Permanent),
        ("isv.missing-signature-config", Permanent),
        ("APPLICATION_TYPE_NOT_MINIAPP", Permanent),
        ("APP_INFO_NOT_EXIST", Permanent),
        ("APP_TYPE_ERROR", Permanent),
        ("TEMPLATE_MINIAPP_NOT_ALLOWED", Permanent),
        ("TEMPLATE_ID_IS_BLANK", Permanent),
        ("CODE_TEMPLATE_DELETED", Permanent),
        ("INVALID_EXT_JSON", Permanent),
        ("VERSION_HAS_EXISTED", Conflict),
        ("VERSION_EXCEEDED_LENGTH", Permanent),
        ("DEV_VERSION_OVER_LIMIT", Conflict),
        ("APP_VERSION_IS_BLANK", Permanent),
        ("MINI_APP_PACKAGE_INFO_NOT_EXIST", Conflict),
        ("CAN_NOT_SUBMIT_WITH_AUDIT_GRAY", Conflict),
        ("VERSION_DESC_IS_BLANK", Permanent),
        ("REGION_TYPE_IS_BLANK", Permanent),
        ("REGION_TYPE_IS_INVALID", Permanent),
        ("APP_NAME_IS_BLANK", Permanent),
        ("ENGLISH_NAME_IS_BLANK", Permanent),
        ("CATEGORY_NUM_IS_INVALID", Permanent),
        ("INVALID_CATEGORY", Permanent),
        ("SERVICE_TEL_AND_MAIL_BOTH_BLANK", Permanent),
        ("INVALID_MINI_APP_SERVICE_TEL", Permanent),
        ("INVALID_MINI_APP_NAME", Permanent),
        ("INVALID_MINI_APP_NAME_LENGTH", Permanent),
        ("MINI_VERSION_NAME_DUPLICATE", Permanent),
        ("RISK_DECISION_CHECK_FAIL", Permanent),
        ("INVALID_LOGO", Permanent),
        ("INVALID_LOGO_EXT", Permanent),
        ("INVALID_LICENSE_PIC_EXT", Permanent),
        ("GRAY_STRATEGY_IS_BLANK", Permanent),
        ("GRAY_STRATEGY_IS_INVALID", Permanent),
        ("INVALID_ROLE", Permanent),
        ("invalid_logon_id", Permanent),
        ("AE0311010110301", Permanent),
        ("EXPERIENCER_ALREADY_EXIST", Conflict),
        ("DEVELOPER_ALREADY_EXSIT", Conflict),
        ("EXPERIENCER_ALREADY_REFUSED", Conflict),
        ("DEVELOPER_ALREADY_REFUSED", Conflict),
        ("CANNOT_INVITE_MANAGER", Conflict),
        ("DEV_MANAGER_ALREADY_EXIST", Conflict),
        ("ROLE_OVER_LIMIT", Permanent),
    ];

    #[test]
    fn every_spec_code_has_its_class() {
        for (code, class) in SPEC {
            let err = api_error("c", "40004", "Business Failed", code, "x");
            assert_eq!((err.code.as_str(), err.class), (*code, *class), "{code}");
        }
    }

    #[test]
    fn numeric_codes_classify_when_the_sub_code_is_unknown() {
        let cases = [
            ("20000", Transient),
            ("20001", Auth),
            ("40001", Permanent),
            ("40002", Permanent),
            ("40003", Permanent),
            ("40005", Quota),
            ("40006", Permanent),
        ];
        for (code, class) in cases {
            let err = api_error("c", code, "msg", "", "");
            assert_eq!((err.code.as_str(), err.class), (code, class), "{code}");
        }
    }

    #[test]
    fn sub_msg_tokens_classify_unknown_sub_codes() {
        let err = api_error(
            "c",
            "40004",
            "Business Failed",
            "unknown-sub-code",
            "未知的错误码MINI_APP_INFO_AUDIT_CONTAINS",
        );
        assert_eq!(
            (err.code.as_str(), err.class),
            ("MINI_APP_INFO_AUDIT_CONTAINS", Transient)
        );
        let err = api_error(
            "c",
            "40004",
            "",
            "unknown-sub-code",
            "AE0311010110301 用户查询失败",
        );
        assert_eq!(
            (err.code.as_str(), err.class),
            ("AE0311010110301", Permanent)
        );
        let err = api_error(
            "c",
            "40004",
            "",
            "SOMETHING",
            "上传失败：开发中版本超过最大数量",
        );
        assert_eq!(
            (err.code.as_str(), err.class),
            ("DEV_VERSION_OVER_LIMIT", Conflict)
        );
        let err = api_error("c", "40004", "", "APP_NAME_SENSITIVE", "敏感词");
        assert_eq!(
            (err.code.as_str(), err.class),
            ("APP_NAME_SENSITIVE", Permanent)
        );
        let err = api_error("c", "40004", "Business Failed", "NEVER_SEEN", "");
        assert_eq!((err.code.as_str(), err.class), ("NEVER_SEEN", Permanent));
        assert_eq!(err.explanation, "Business Failed");
    }

    #[test]
    fn an_invalid_signature_sub_msg_keeps_its_code_and_loses_the_token_it_quotes() {
        let sub_msg = "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：\
            app_auth_token=SENTINEL-alipay-token&app_id=2021000000000000&biz_content={}\
            &charset=utf-8&method=alipay.open.mini.version.upload&sign_type=RSA2\
            &timestamp=2024-05-01 10:00:00&version=1.0";
        let call = "alipay.open.mini.version.upload";
        let err = api_error(
            call,
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            sub_msg,
        );
        assert_eq!(
            (err.code.as_str(), err.class),
            ("isv.invalid-signature", Permanent)
        );
        for text in [&err.message, &err.explanation, &err.to_string()] {
            assert!(!text.contains("SENTINEL"), "{text}");
        }
        assert!(
            err.message
                .contains("app_auth_token=***&app_id=2021000000000000")
        );
        let unknown = api_error(call, "40002", "", "isv.never-seen", sub_msg);
        assert!(!unknown.explanation.contains("SENTINEL"), "{unknown}");
        assert!(!unknown.to_string().contains("SENTINEL"), "{unknown}");
    }

    #[test]
    fn table_codes_are_unique() {
        let mut codes: Vec<&str> = TABLE.iter().map(|e| e.code).collect();
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }
}
