//! Douyin error codes sorted into error classes (spec/douyin.md §5), with an English explanation
//! and a next step for each, plus the constructors of every [`PlatformError`] the client returns.

use crate::model::calendar::next_beijing_day;
use crate::platform::{ErrorClass, ErrorEffect, PlatformError};

use super::spec::KIND;
use ErrorClass::{Auth, Conflict, Permanent, Quota, Transient};

/// One row of the code table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The codes (v1 and v2 spellings of one meaning share a row).
    pub codes: &'static [i64],
    /// How the engine reacts.
    pub class: ErrorClass,
    /// What the code means.
    pub explanation: &'static str,
    /// What to do next.
    pub hint: &'static str,
}

const fn e(
    codes: &'static [i64],
    class: ErrorClass,
    explanation: &'static str,
    hint: &'static str,
) -> Entry {
    Entry {
        codes,
        class,
        explanation,
        hint,
    }
}

const RETRY: &str = "minifleet retries with backoff";
const OBSERVE: &str = "minifleet re-reads the app's versions and plans again";
const TOKEN: &str = "minifleet refreshes the token once and retries";
const REAUTH: &str = "the merchant must authorize the app again with permission sets 1 and 2 (development, basic \
information): run `minifleet auth douyin --app <name> --code AUTHORIZATION_CODE` with the code of the new authorization";
const TICKET: &str = "Douyin pushes component_ticket every 10 minutes to the authorization-event URL \
(授权事件接收 URL): make sure it reaches `minifleet watch` (`POST /douyin/auth`), then retry";
const OPERATOR: &str =
    "fix it in the Douyin console (subject, app name, icon, intro, category), then reconcile again";
const CONFIG: &str = "fix `platforms.douyin` or the template in the fleet file";
const BUG: &str = "this is a minifleet bug: please report it with the call and the message";

/// Every code minifleet knows, from spec/douyin.md §3 and §5.
#[rustfmt::skip]
pub static TABLE: &[Entry] = &[
    e(&[28001005, 28001006, 40000, 9999], Transient, "Douyin is busy or had a system error", RETRY),
    e(&[11300, 11400, 11500, 11600, 40045], Transient, "the operation failed; try later", RETRY),
    e(&[28001003, 28001008, 40020], Auth, "the access token is invalid or expired", TOKEN),
    e(&[40009, 40010], Auth, "the component access token expired or is wrong", TOKEN),
    e(&[40021], Auth, "the authorizer refresh token is invalid or expired (it is single use and lives 30 days)",
      "minifleet retrieves a new authorization code (`retrieve_auth_code`); if that fails, the merchant must authorize again"),
    e(&[40018], Auth, "the authorization code expired or was used (codes live one hour)",
      "ask for a new code (`retrieve_auth_code` or a new authorization) and run `minifleet auth douyin` again"),
    e(&[40037], Transient, "the component_ticket is invalid or expired (tickets live 3 hours)", TICKET),
    e(&[11301], Quota, "audit submissions are too frequent (one per 10 seconds)", "minifleet waits 10 seconds"),
    e(&[11501], Quota, "rollbacks are too frequent (one per 10 minutes)", "minifleet waits 10 minutes"),
    e(&[28003017], Quota, "the API quota is used up", "calls resume the next day (UNCONFIRMED: 08:00 Beijing time)"),
    e(&[28003018], Quota, "API calls are too frequent", "minifleet waits a minute"),
    e(&[11303, 11403], Conflict, "a version is already in review", OBSERVE),
    e(&[11302, 11402], Conflict, "there is no test version / no audited version to act on", OBSERVE),
    e(&[10003], Conflict, "there is no earlier release to roll back to",
      "minifleet builds the wanted version again and sends it through a new audit"),
    e(&[11404, 11401], Conflict, "the audit is not approved, or the app was recently taken down (a new audit is needed)", OBSERVE),
    e(&[11601], Conflict, "the review was already revoked", OBSERVE),
    e(&[11602, 11603], Conflict, "the review cannot be revoked: it is being processed or finished", OBSERVE),
    e(&[40030], Conflict, "the version asked for does not exist", OBSERVE),
    e(&[40022, 28001018, 40036], Permanent, "the app has not authorized this third-party application, or without the development permission set", REAUTH),
    e(&[40004, 40003, 28001016], Permanent, "the app or the third-party application is not found, banned or offline",
      "check the app's `appid` and `platforms.douyin.component_appid`, and the apps' status in the Douyin console"),
    e(&[10104, 10107, 10108, 10109, 10105, 10106, 11305, 11306], Permanent,
      "the subject or the app is banned, a developer app, pending a name reset, or its subject or basic information is incomplete or under review", OPERATOR),
    e(&[11307], Permanent, "a host app of the submission is not allowed for this app",
      "fix the app's `audit.hosts` in the fleet file (or leave it out to submit every host Douyin offers)"),
    e(&[40029, 40034, 40035], Permanent, "the template or draft is not found, or the template library is full (200)", CONFIG),
    e(&[40038, 40006], Permanent, "the component secret is wrong, or this machine's IP is not on the application's whitelist",
      "check `platforms.douyin.component_appsecret`, and the IP whitelist in the Douyin console"),
    e(&[40058, 40059], Permanent, "the third-party application is not fully published, or a create-type link lacks the app name",
      "publish the third-party application in the Douyin console first"),
    e(&[40001, 40002, 40040, 28001007, 9998], Permanent, "the request's parameters are wrong or missing", BUG),
];

/// Douyin's v2 `tpapp` calls answer some v1 codes plus 20000000 (20040022 = 40022).
/// UNCONFIRMED (spec/douyin.md §5): the pattern is inferred from the codes seen.
pub fn normalise(code: i64) -> i64 {
    if (20_040_000..=20_049_999).contains(&code) {
        code - 20_000_000
    } else {
        code
    }
}

/// The table row of `code` (normalised).
pub fn lookup(code: i64) -> Option<&'static Entry> {
    let code = normalise(code);
    TABLE.iter().find(|entry| entry.codes.contains(&code))
}

/// When the limit behind quota code `code` lifts, for an error at unix time `now` (seconds).
fn quota_reset(code: i64, now: u64) -> u64 {
    match code {
        11301 => now + 10,
        11501 => now + 600,
        // UNCONFIRMED (§4): "quotas reset 08:00 Beijing" comes from a general FAQ.
        28003017 => next_beijing_day(now) + 8 * 3600,
        _ => now + 60,
    }
}

/// A failed call with a code, classified by [`TABLE`]; the message is scrubbed of secrets.
pub fn api_error(call: &str, code: i64, message: &str, log_id: Option<&str>) -> PlatformError {
    let (class, explanation, hint) = match lookup(code) {
        Some(entry) => (entry.class, entry.explanation.to_owned(), entry.hint),
        None => (
            Permanent,
            if message.is_empty() {
                "unknown code".to_owned()
            } else {
                message.to_owned()
            },
            "look the code up in the Douyin open platform documentation (developer.open-douyin.com)",
        ),
    };
    let normalised = normalise(code);
    let effect = match (normalised, class) {
        (_, Quota) => Some(ErrorEffect::QuotaResets {
            at: quota_reset(normalised, crate::platform::now_secs()),
        }),
        (10003, _) => Some(ErrorEffect::RollbackRefused),
        _ => None,
    };
    // Douyin support asks for the log id: it travels in the message.
    let message = match log_id.filter(|l| !l.is_empty()) {
        Some(log_id) => format!("{message} (log_id {log_id})"),
        None => message.to_owned(),
    };
    PlatformError {
        effect,
        platform: KIND,
        call: call.to_owned(),
        code: code.to_string(),
        message,
        class,
        explanation,
        hint: hint.to_owned(),
    }
    .scrubbed()
}

/// An error minifleet itself detected (no code from Douyin).
pub fn local(
    call: &str,
    code: &str,
    class: ErrorClass,
    explanation: &str,
    hint: &str,
) -> PlatformError {
    PlatformError::local(KIND, call, code, class, explanation, hint)
}

/// What to do when Douyin cannot be reached.
pub const NETWORK_HINT: &str =
    "check the network and `platforms.douyin.api_base`; minifleet retries with backoff";

/// A non-2xx HTTP status: 5xx is transient, anything else permanent.
pub fn http_status(call: &str, status: u16) -> PlatformError {
    let check = "check `platforms.douyin.api_base` in the fleet file";
    PlatformError::http_status(KIND, call, status, "Douyin", RETRY, check)
}

/// An answer that is not the JSON minifleet expects.
pub fn decode(call: &str, detail: impl std::fmt::Display) -> PlatformError {
    PlatformError::decode(KIND, call, detail, RETRY)
}

/// The local store failed while reading or writing a credential.
pub fn store(call: &str, err: crate::store::StoreError) -> PlatformError {
    PlatformError::store(KIND, call, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of spec/douyin.md §5 with its class (R Transient, T Auth, Q Quota, S Conflict,
    /// P Permanent); 40018 and 40021 are recovered through a new code (Auth), 40037 waits for
    /// the next ticket (Transient).
    const SPEC: &[(&[i64], ErrorClass)] = &[
        (&[28001005, 28001006, 40000, 9999], Transient),
        (&[11300, 11400, 11500, 11600, 40045], Transient),
        (&[28001003, 28001008, 40020, 40009, 40010], Auth),
        (&[40021, 40018], Auth),
        (&[40037], Transient),
        (&[11301, 11501, 28003017, 28003018], Quota),
        (
            &[
                11303, 11403, 11302, 11402, 10003, 11404, 11401, 11601, 11602, 11603, 40030,
            ],
            Conflict,
        ),
        (&[40022, 28001018, 40036, 40004, 40003, 28001016], Permanent),
        (
            &[
                10104, 10107, 10108, 10109, 10105, 10106, 11305, 11306, 11307,
            ],
            Permanent,
        ),
        (
            &[40029, 40034, 40035, 40038, 40006, 40058, 40059],
            Permanent,
        ),
        (&[40001, 40002, 40040, 28001007, 9998], Permanent),
    ];

    #[test]
    fn every_code_of_the_spec_is_classified_with_an_explanation_and_a_hint() {
        for (codes, class) in SPEC {
            for code in *codes {
                let entry = lookup(*code).unwrap_or_else(|| panic!("{code} is not in the table"));
                assert_eq!(entry.class, *class, "{code}");
                assert!(
                    !entry.explanation.is_empty() && !entry.hint.is_empty(),
                    "{code}"
                );
            }
        }
        let listed: usize = SPEC.iter().map(|(c, _)| c.len()).sum();
        let table: usize = TABLE.iter().map(|e| e.codes.len()).sum();
        assert_eq!(listed, table, "the table holds exactly the spec's codes");
    }

    #[test]
    fn v2_codes_are_normalised_and_throttles_say_when_they_lift() {
        assert_eq!(lookup(20040022).map(|e| e.class), Some(Permanent));
        let err = api_error(
            "package_version/audit",
            11301,
            "too frequent",
            Some("2024LOG"),
        );
        assert_eq!(err.class, Quota);
        let at = err.quota_resets_at().unwrap();
        let now = crate::platform::now_secs();
        assert!((now + 9..=now + 11).contains(&at), "{at} vs {now}");
        assert!(err.message.contains("log_id 2024LOG"));
        let refused = api_error("package_version/rollback", 10003, "", None);
        assert_eq!(refused.effect, Some(ErrorEffect::RollbackRefused));
        let unknown = api_error("x", 123456, "strange", None);
        assert_eq!(
            (unknown.class, unknown.explanation.as_str()),
            (Permanent, "strange")
        );
    }
}
