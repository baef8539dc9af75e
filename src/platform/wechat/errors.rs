//! WeChat errcodes sorted into error classes (spec/wechat.md §7), with an English explanation and a
//! next step for each, plus the constructors of every [`PlatformError`] the client returns.

use crate::model::calendar::{next_beijing_day, next_beijing_month};
use crate::platform::{ErrorClass, ErrorEffect, PlatformError};

use ErrorClass::{Auth, Conflict, Permanent, Quota, Transient};

/// One row of the errcode table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The errcode.
    pub code: i64,
    /// How the engine reacts.
    pub class: ErrorClass,
    /// What the code means.
    pub explanation: &'static str,
    /// What to do next.
    pub hint: &'static str,
}

const fn e(code: i64, class: ErrorClass, explanation: &'static str, hint: &'static str) -> Entry {
    Entry {
        code,
        class,
        explanation,
        hint,
    }
}

const TICKET: &str = "WeChat pushes component_verify_ticket every 10 minutes to the authorization-event \
URL; make sure that URL answers `success` and stores the ticket, or call `api_start_push_ticket`";
const REAUTH: &str = "the merchant must authorize the app again: run `minifleet auth wechat link --app <name> --redirect-uri URL`";
const PERMISSION: &str = "the merchant must (re)authorize the component with permission set 18 \
(mini program development management): run `minifleet auth wechat link --app <name> --redirect-uri URL`";
const COMPONENT: &str = "check `platforms.wechat.component_appid` and `component_secret` in the fleet \
file against open.weixin.qq.com";
const EXT: &str = "fix the app's `ext` or the template in the fleet file, then reconcile again";
const AUDIT_ITEMS: &str = "fix `audit.items` in the fleet file with values from `wxa/get_page` and \
`wxa/get_category`";
const TESTER: &str = "fix the app's `testers` in the fleet file";
const DOMAIN: &str = "fix the domain settings on open.weixin.qq.com or in the fleet file";
const BUG: &str = "this is a minifleet bug: please report it with the call and the message";
const OBSERVE: &str = "minifleet re-reads the app's state and plans again";
const RETRY: &str = "minifleet retries with backoff";
const JUMP: &str = "minifleet does not manage QR-code jump rules (扫普通链接二维码打开小程序): fix the rule \
on mp.weixin.qq.com or in the tool that calls `cgi-bin/wxopen/qrcodejumpadd`";

/// Every errcode minifleet knows, from spec/wechat.md §7 (and the codes the sandbox answers).
#[rustfmt::skip]
pub static TABLE: &[Entry] = &[
    e(-1, Transient, "WeChat is busy", RETRY),
    e(40001, Auth, "the access token is invalid or not the latest (another refresh happened)",
      "minifleet refreshes the token once; make sure no other system refreshes this component's tokens"),
    e(40014, Auth, "the access token is invalid", "minifleet refreshes the token once and retries"),
    e(41001, Auth, "the access token is missing", "minifleet refreshes the token once and retries"),
    e(42001, Auth, "the access token expired", "minifleet refreshes the token once and retries"),
    e(61005, Transient, "the component_verify_ticket expired", TICKET),
    e(61006, Transient, "the component_verify_ticket is invalid", TICKET),
    e(61058, Transient, "the component_verify_ticket is invalid", TICKET),
    e(61023, Auth, "the authorizer refresh token is invalid",
      "recover it with `api_get_authorizer_info`, or the merchant must authorize the app again: run `minifleet auth wechat link --app <name> --redirect-uri URL`"),
    e(61010, Permanent, "the authorization code expired or was already used", REAUTH),
    e(45009, Quota, "the daily API call quota is used up",
      "calls resume at 00:00 Beijing time; `cgi-bin/clear_quota` can reset it (10 times a month)"),
    e(45011, Quota, "API calls are too frequent",
      "minifleet waits a few minutes before calling again"),
    e(48006, Quota, "the quota reset (`clear_quota`) was used too often this month",
      "wait for the next month or for the daily quota to reset at 00:00 Beijing time"),
    e(85085, Quota, "the monthly audit quota is exhausted",
      "the monthly audit quota is shared by all apps of the component and resets on the 1st; see `wxa/queryquota`"),
    e(87013, Quota, "the withdrawal quota is used up (5 a day, 10 a month per app)",
      "withdrawals are possible again after 00:00 Beijing time, or next month; the running audit must finish first"),
    e(89405, Quota, "the monthly speed-up quota is used up",
      "speed-ups are possible again next month"),
    e(89030, Quota, "the monthly operation limit is reached",
      "the operation is possible again next month"),
    e(61055, Quota, "the monthly operation limit is reached",
      "the operation is possible again next month"),
    e(61039, Transient, "the privacy scan of the committed code is not finished",
      "wait at least a minute and try again; do not commit again"),
    e(89401, Transient, "WeChat had an internal error", RETRY),
    e(89247, Transient, "WeChat had an internal error", RETRY),
    e(89250, Transient, "WeChat had an internal error", RETRY),
    e(89249, Transient, "a task of this kind is still running", RETRY),
    e(85090, Transient, "commits for this extAppid must wait a few minutes", RETRY),
    e(85009, Conflict, "an audit is already in flight (one audit at a time)",
      "wait for its verdict, or withdraw it with `wxa/undocodeaudit` if the build is outdated"),
    e(85019, Conflict, "no audit-approved version to release", OBSERVE),
    e(85020, Conflict, "the latest audit is not approved", OBSERVE),
    e(85052, Conflict, "the version is already released", OBSERVE),
    e(85004, Conflict, "the tester is already bound", OBSERVE),
    e(89404, Conflict, "the audit was already sped up", OBSERVE),
    e(85058, Conflict, "there is no audit", OBSERVE),
    e(85012, Conflict, "the audit id is invalid", OBSERVE),
    e(89402, Conflict, "the audit is not in the review queue", OBSERVE),
    e(89403, Conflict, "the audit is not eligible for a speed-up", OBSERVE),
    e(85079, Conflict, "nothing is released yet, so a gray release is impossible",
      "the first release must be a full release"),
    e(85080, Conflict, "the latest audit is not approved, so a gray release is impossible",
      OBSERVE),
    e(85082, Conflict, "the gray percentage is not higher than the current one",
      "gray percentages only go up; revert the gray release first to lower it"),
    e(87011, Conflict, "a gray release is in progress, so a rollback is impossible",
      "cancel the gray release with `wxa/revertgrayrelease` first"),
    e(85086, Conflict, "nothing is committed", "commit the code first"),
    e(89019, Conflict, "the domains are unchanged", OBSERVE),
    e(87012, Permanent, "there is no version to roll back to (none, or already rolled back)",
      "release the wanted version through a new commit and audit"),
    e(85092, Permanent, "the audit preview media are invalid (often expired media ids)",
      "upload the preview media again with `wxa/uploadmedia`, then retry"),
    e(40013, Permanent, "the appid is invalid", "check the app's `appid` in the fleet file"),
    e(40125, Permanent, "the component secret is invalid", COMPONENT),
    e(41004, Permanent, "the component secret is missing", COMPONENT),
    e(61011, Permanent, "the component is invalid", COMPONENT),
    e(61028, Permanent, "the component is not published",
      "publish the component (全网发布) on open.weixin.qq.com"),
    e(40164, Permanent, "the caller's IP is not in the component's whitelist",
      "add this machine's IP to the component's API whitelist on open.weixin.qq.com"),
    e(61004, Permanent, "the caller's IP is not in the component's whitelist",
      "add this machine's IP to the component's API whitelist on open.weixin.qq.com"),
    e(48001, Permanent, "the API is not authorized for this app", PERMISSION),
    e(61003, Permanent, "the app has not authorized the component", REAUTH),
    e(61007, Permanent, "the app has not granted the needed permission set", PERMISSION),
    e(85013, Permanent, "the ext_json custom config is invalid", EXT),
    e(85014, Permanent, "the template id is invalid",
      "check `templates.<name>.wechat.template_id` in the fleet file"),
    e(85043, Permanent, "the template is broken",
      "upload the template again and update the fleet file"),
    e(85044, Permanent, "the code package is too large", "shrink the template package"),
    e(85045, Permanent, "a path in ext_json does not exist in the template", EXT),
    e(85046, Permanent, "a tabBar item in ext_json has no path", EXT),
    e(85047, Permanent, "ext_json lists no pages", EXT),
    e(85048, Permanent, "ext_json could not be parsed", EXT),
    e(85064, Permanent, "the template was not found",
      "check `templates.<name>.wechat.template_id` in the fleet file"),
    e(85065, Permanent, "the template library is full",
      "delete unused templates on open.weixin.qq.com"),
    e(85006, Permanent, "the audit item_list or a tag is invalid", AUDIT_ITEMS),
    e(85007, Permanent, "an audit page path is invalid", AUDIT_ITEMS),
    e(85008, Permanent, "an audit category is invalid", AUDIT_ITEMS),
    e(85010, Permanent, "an audit item is missing a field", AUDIT_ITEMS),
    e(85011, Permanent, "an audit title is invalid", AUDIT_ITEMS),
    e(85023, Permanent, "the audit item_list has too many or too few items", AUDIT_ITEMS),
    e(85077, Permanent, "an audit category is offline", AUDIT_ITEMS),
    e(85087, Permanent, "navigateToMiniProgram is used without the appid list",
      "add `navigateToMiniProgramAppIdList` to the app's ext config"),
    e(85093, Permanent, "the audit preview limits are exceeded", "send fewer preview media"),
    e(85094, Permanent, "the audit-mechanism (UGC) declaration is missing",
      "declare the UGC audit mechanism on the first submission of this category"),
    e(61040, Permanent, "a privacy API is not authorized or not configured",
      "list it in `requiredPrivateInfos`, apply for the API, or set `audit.privacy_api_not_use`"),
    e(86000, Permanent, "the call must be made by the component",
      "call with the component's credentials"),
    e(86001, Permanent, "nothing is committed for this app", "commit the code first"),
    e(86002, Permanent, "the app's name, avatar or intro is not set",
      "the merchant must finish the app's basic settings on mp.weixin.qq.com"),
    e(86007, Permanent, "the app may not submit audits",
      "the merchant must resolve the restriction on mp.weixin.qq.com"),
    e(86008, Permanent, "the service provider may not submit audits",
      "resolve the restriction on open.weixin.qq.com"),
    e(86009, Permanent, "the service provider may not submit audits",
      "resolve the restriction on open.weixin.qq.com"),
    e(86010, Permanent, "the app may not submit audits",
      "the merchant must resolve the restriction on mp.weixin.qq.com"),
    e(87006, Permanent, "mini games cannot be submitted this way",
      "manage this app outside minifleet"),
    e(85001, Permanent, "the WeChat id does not exist or is not searchable", TESTER),
    e(85002, Permanent, "the app has reached its tester limit", TESTER),
    e(85003, Permanent, "this person is a tester of too many apps", TESTER),
    e(89031, Permanent, "the app has reached its tester limit", TESTER),
    e(85016, Permanent, "too many domains", DOMAIN),
    e(85017, Permanent, "no new domain, or the domain is not registered", DOMAIN),
    e(85018, Permanent, "the domain is not registered on the component", DOMAIN),
    e(89020, Permanent, "the component has no business domains", DOMAIN),
    e(89021, Permanent, "the domain is not a business domain of the component", DOMAIN),
    e(89029, Permanent, "too many business domains", DOMAIN),
    e(89231, Permanent, "personal mini programs do not support this", DOMAIN),
    e(85015, Permanent, "the version given to the call is invalid (no such version of the app)",
      "check the app's versions on mp.weixin.qq.com; to go back to an older build, release it through a new commit and audit"),
    e(85021, Conflict, "the app's visit status cannot change now", OBSERVE),
    e(85022, Permanent, "the action is invalid", BUG),
    e(85066, Permanent, "the QR-code jump rule's link is invalid", JUMP),
    e(85068, Permanent, "the test link is not under the jump rule's prefix", JUMP),
    e(85069, Permanent, "the jump rule's verification file was not found at the prefix's domain",
      "host the file from `cgi-bin/wxopen/qrcodejumpdownload` at the root of the prefix's domain, then add the rule again"),
    e(85070, Permanent, "the jump rule's link is blacklisted", JUMP),
    e(85071, Conflict, "the jump rule is already added", OBSERVE),
    e(85072, Permanent, "the jump rule's link is taken by another app", JUMP),
    e(85073, Permanent, "the app has the most QR-code jump rules allowed",
      "delete unused jump rules (`cgi-bin/wxopen/qrcodejumpdelete`) before adding another"),
    e(85074, Conflict, "the app has no released version, so a jump rule cannot be published",
      "release a version of the app first; the rule can be published after that"),
    e(85075, Permanent, "personal mini programs cannot set QR-code jump rules", JUMP),
    e(85076, Permanent, "the jump rule's link domain has no ICP filing (备案)",
      "file the domain for ICP (备案) first, then add the rule again"),
    e(87072, Permanent, "the privacy setting's storage period is invalid", "write it like `30天`"),
    e(85081, Permanent, "the gray percentage is invalid", BUG),
    e(43001, Permanent, "the call requires GET", BUG),
    e(43002, Permanent, "the call requires POST", BUG),
    e(43003, Permanent, "the call requires HTTPS", "use an https:// `api_base`"),
    e(44002, Permanent, "the POST body is empty", BUG),
    e(47001, Permanent, "the request body is malformed", BUG),
    e(40097, Permanent, "the arguments are invalid", BUG),
    e(40066, Permanent, "the URL is invalid",
      "check `platforms.wechat.api_base` in the fleet file"),
];

/// The table row of `code`.
pub fn lookup(code: i64) -> Option<&'static Entry> {
    TABLE.iter().find(|entry| entry.code == code)
}

/// When the quota behind errcode `code` resets, for an error at unix time `now` (seconds): 85085
/// (monthly audits) and the other monthly limits → the 1st of next month, Beijing time; 45009
/// (daily API calls) and 87013 (withdrawals) → next 00:00 Beijing time; 45011 (too frequent) → a
/// minute; any other quota → an hour.
pub fn quota_reset(code: i64, now: u64) -> u64 {
    match code {
        85085 | 89405 | 89030 | 61055 => next_beijing_month(now),
        45009 | 87013 => next_beijing_day(now),
        45011 => now + 60,
        _ => now + 3600,
    }
}

/// What errcode `code` (of class `class`) means for the engine beyond its class, at unix time
/// `now`.
fn effect(code: i64, class: ErrorClass, now: u64) -> Option<ErrorEffect> {
    match (code, class) {
        (_, Quota) => Some(ErrorEffect::QuotaResets {
            at: quota_reset(code, now),
        }),
        (87012, _) => Some(ErrorEffect::RollbackRefused),
        _ => None,
    }
}

/// A failed call with an errcode, classified by [`TABLE`]; the errmsg is scrubbed of secrets.
pub fn api_error(call: &str, code: i64, errmsg: &str) -> PlatformError {
    let (class, explanation, hint) = match lookup(code) {
        Some(entry) => (entry.class, entry.explanation.to_string(), entry.hint),
        None => (
            Permanent,
            if errmsg.is_empty() {
                "unknown errcode".to_string()
            } else {
                errmsg.to_string()
            },
            "look the errcode up in the WeChat Open Platform documentation (developers.weixin.qq.com)",
        ),
    };
    PlatformError {
        effect: effect(code, class, crate::platform::now_secs()),
        platform: crate::platform::wechat::spec::KIND,
        call: call.to_string(),
        code: code.to_string(),
        message: errmsg.to_string(),
        class,
        explanation,
        hint: hint.to_string(),
    }
    .scrubbed()
}

/// An error minifleet itself detected (no errcode).
pub fn local(
    call: &str,
    code: &str,
    class: ErrorClass,
    explanation: &str,
    hint: &str,
) -> PlatformError {
    PlatformError::local(
        crate::platform::wechat::spec::KIND,
        call,
        code,
        class,
        explanation,
        hint,
    )
}

/// A transport failure (connect, timeout, reset). The URL (which carries the token) is left out.
pub fn network(call: &str, err: reqwest::Error) -> PlatformError {
    PlatformError::network(crate::platform::wechat::spec::KIND, call, err, NETWORK_HINT)
}

/// What to do when WeChat cannot be reached.
pub const NETWORK_HINT: &str =
    "check the network and `platforms.wechat.api_base`; minifleet retries with backoff";

/// A non-2xx HTTP status: 5xx is transient, anything else permanent.
pub fn http_status(call: &str, status: u16) -> PlatformError {
    let check = "check `platforms.wechat.api_base` in the fleet file";
    PlatformError::http_status(
        crate::platform::wechat::spec::KIND,
        call,
        status,
        "WeChat",
        RETRY,
        check,
    )
}

/// An answer that is not the JSON minifleet expects.
pub fn decode(call: &str, detail: impl std::fmt::Display) -> PlatformError {
    PlatformError::decode(crate::platform::wechat::spec::KIND, call, detail, RETRY)
}

/// The local store failed while reading or writing a credential.
pub fn store(call: &str, err: crate::store::StoreError) -> PlatformError {
    PlatformError::store(crate::platform::wechat::spec::KIND, call, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of spec/wechat.md §7 with its class (R Transient, T Auth, Q Quota, S Conflict,
    /// P Permanent).
    const SPEC: &[(&[i64], ErrorClass)] = &[
        (&[-1], Transient),
        (&[40001, 40014, 41001, 42001], Auth),
        (&[61005, 61006, 61058], Transient),
        (&[61023], Auth),
        (&[45009, 45011, 85085, 87013, 89405, 89030, 61055], Quota),
        (&[61039, 89401, 89247, 89250, 89249, 85090], Transient),
        (
            &[85009, 85019, 85020, 85052, 85004, 89404, 85058, 85012],
            Conflict,
        ),
        (&[89402, 89403, 85079, 85082, 87011, 85086, 89019], Conflict),
        (
            &[
                87012, 85092, 40013, 40125, 41004, 61011, 61028, 40164, 61004,
            ],
            Permanent,
        ),
        (
            &[
                48001, 61003, 61007, 85013, 85014, 85043, 85044, 85045, 85046,
            ],
            Permanent,
        ),
        (
            &[
                85047, 85048, 85064, 85006, 85007, 85008, 85010, 85011, 85023,
            ],
            Permanent,
        ),
        (
            &[
                85077, 85087, 85093, 85094, 61040, 86000, 86001, 86002, 86007,
            ],
            Permanent,
        ),
        (
            &[
                86008, 86009, 86010, 87006, 85001, 85002, 85003, 85016, 85017,
            ],
            Permanent,
        ),
        (
            &[85018, 89020, 89021, 89029, 89231, 85065, 85081],
            Permanent,
        ),
        (&[43001, 43002, 43003, 44002, 47001, 40097], Permanent),
    ];

    #[test]
    fn every_spec_code_maps_to_its_class() {
        for (codes, class) in SPEC {
            for code in *codes {
                let err = api_error("wxa/x", *code, "msg");
                assert_eq!(err.class, *class, "errcode {code}");
                assert!(lookup(*code).is_some(), "errcode {code} is in the table");
                assert!(!err.hint.is_empty() && !err.explanation.is_empty());
            }
        }
    }

    /// The errcode table of the seed document, commented-out rows included.
    const SEED_TABLE: &str = include_str!("../../../tests/fixtures/wechat/seed_errcodes.txt");

    /// The codes of [`SEED_TABLE`]: every `'<code>' =>` / `'<code>'=>` row.
    fn seed_codes() -> Vec<i64> {
        SEED_TABLE
            .lines()
            .filter_map(|line| {
                let row = line.trim_start_matches(|c: char| c == '/' || c.is_whitespace());
                let code = row.strip_prefix('\'')?.split('\'').next()?;
                let rest = row[code.len() + 2..].trim_start();
                rest.starts_with("=>").then(|| code.parse().ok())?
            })
            .collect()
    }

    #[test]
    fn every_code_of_the_seed_error_table_is_explained() {
        let codes = seed_codes();
        assert!(codes.len() >= 50, "the fixture parses: {codes:?}");
        for code in [-1, 61003, 85009, 85015, 85021, 85022, 85066, 85076, 89031] {
            assert!(codes.contains(&code), "errcode {code} is in the fixture");
        }
        let unexplained: Vec<i64> = codes
            .iter()
            .copied()
            .filter(|&code| {
                let err = api_error("wxa/x", code, "the platform's own words");
                lookup(code).is_none()
                    || err.explanation == "the platform's own words"
                    || err.hint.contains("documentation")
                    || err.hint.is_empty()
            })
            .collect();
        assert_eq!(
            unexplained,
            Vec::<i64>::new(),
            "errcodes without an explanation"
        );
    }

    #[test]
    fn qr_code_jump_rule_codes_have_their_classes() {
        let cases: &[(&[i64], ErrorClass)] = &[
            (
                &[85015, 85022, 85066, 85068, 85069, 85070, 85072],
                Permanent,
            ),
            (&[85073, 85075, 85076, 89031], Permanent),
            (&[85021, 85071, 85074], Conflict),
        ];
        for (codes, class) in cases {
            for code in *codes {
                assert_eq!(api_error("c", *code, "").class, *class, "errcode {code}");
            }
        }
        assert!(api_error("c", 85076, "").hint.contains("ICP"));
        assert!(api_error("c", 89031, "").hint.contains("testers"));
    }

    #[test]
    fn an_errmsg_echoing_a_token_is_scrubbed_known_code_or_not() {
        let errmsg = "invalid args: /wxa/commit?access_token=SENTINEL-wx-token {\"authorizer_refresh_token\":\"SENTINEL-refresh\"}";
        for code in [40097, 99999] {
            let err = api_error("wxa/commit", code, errmsg);
            for text in [&err.message, &err.explanation, &err.to_string()] {
                assert!(!text.contains("SENTINEL"), "{code}: {text}");
            }
            assert!(err.message.contains("access_token=***"), "{}", err.message);
        }
    }

    #[test]
    fn the_table_has_no_duplicates() {
        let mut codes: Vec<i64> = TABLE.iter().map(|e| e.code).collect();
        codes.sort_unstable();
        let len = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), len);
    }

    #[test]
    fn ticket_codes_say_how_tickets_arrive() {
        for code in [61005, 61006, 61058] {
            assert!(api_error("c", code, "").hint.contains("every 10 minutes"));
        }
        assert!(api_error("c", 85085, "").hint.contains("wxa/queryquota"));
    }

    #[test]
    fn unknown_codes_are_permanent_with_the_errmsg() {
        let err = api_error("wxa/commit", 99999, "something odd");
        assert_eq!(err.class, Permanent);
        assert_eq!(err.code, "99999");
        assert_eq!(err.explanation, "something odd");
        assert!(err.hint.contains("documentation"));
        assert_eq!(http_status("wxa/commit", 502).class, Transient);
        assert_eq!(http_status("wxa/commit", 502).code, "http_502");
        assert_eq!(http_status("wxa/commit", 404).class, Permanent);
    }

    const DAY: u64 = 86_400;
    /// 2024-02-01 00:00 Beijing time = 2024-01-31 16:00 UTC.
    const FEB_1_BEIJING: u64 = 1_706_716_800;

    #[test]
    fn quota_errors_reset_when_the_platform_says() {
        let now = FEB_1_BEIJING + 10 * DAY + 3600;
        // 85085: 2024-03-01 00:00 Beijing = 2024-02-29 16:00 UTC.
        assert_eq!(quota_reset(85085, now), 1_709_222_400);
        assert_eq!(quota_reset(85085, FEB_1_BEIJING - 1), FEB_1_BEIJING);
        assert_eq!(quota_reset(45009, now), FEB_1_BEIJING + 11 * DAY);
        assert_eq!(quota_reset(87013, FEB_1_BEIJING), FEB_1_BEIJING + DAY);
        assert_eq!(quota_reset(45011, now), now + 60);
        // December rolls over into January of the next year.
        assert_eq!(quota_reset(85085, 1_704_038_399), 1_704_038_400);
    }

    #[test]
    fn quota_and_rollback_codes_carry_their_effect() {
        let now = FEB_1_BEIJING + 3600;
        assert_eq!(
            effect(45009, Quota, now),
            Some(ErrorEffect::QuotaResets {
                at: FEB_1_BEIJING + DAY
            })
        );
        assert_eq!(
            effect(87012, Permanent, now),
            Some(ErrorEffect::RollbackRefused)
        );
        assert_eq!(effect(85009, Conflict, now), None);
        let err = api_error("wxa/get_latest_auditstatus", 45009, "quota");
        assert!(err.quota_resets_at().is_some_and(|at| at > now));
        assert_eq!(
            api_error("wxa/revertcoderelease", 87012, "").effect,
            Some(ErrorEffect::RollbackRefused)
        );
        assert_eq!(api_error("wxa/commit", 85009, "").effect, None);
    }
}
