//! Tests: the Alipay rules (platform section, appid, template, gray, testers, audit fields and the
//! per-app `app_auth_token`), each with its path, app and line:col.

use super::cases::*;
use super::*;

/// A small valid Alipay fleet; cases edit it. Line numbers matter to the tests.
const ALIPAY_BASE: &str = "\
version: 1
platforms:
  alipay:
    app_id: \"2021000000000000\"
    gateway: sandbox
templates:
  shop:
    alipay: { template_id: \"2021000000000100\", template_version: \"0.0.3\" }
defaults:
  template: shop
  version: 1.4.0
  description: Spring menu
apps:
  - name: rice-shop
    platform: alipay
    appid: \"2021000000000101\"
";

/// The last line of the one app in [`ALIPAY_BASE`].
const RICE_END: &str = "    appid: \"2021000000000101\"\n";

const RICE: Option<&str> = Some("rice-shop");

/// [`ALIPAY_BASE`] with `lines` appended to its app.
fn rice_with(lines: &str) -> String {
    edit(ALIPAY_BASE, &[(RICE_END, &format!("{RICE_END}{lines}"))])
}

fn platform_cases() -> Vec<Case> {
    vec![
        case(
            "ISV app id not 16 digits",
            edit(ALIPAY_BASE, &[("\"2021000000000000\"", "\"2021\"")]),
            "platforms.alipay.app_id",
            None,
            (4, 13),
            "`app_id` must be the ISV application's 16-digit app id, got `2021`",
            Some("quote it"),
        ),
        case(
            "gateway not a URL",
            edit(ALIPAY_BASE, &[("gateway: sandbox", "gateway: ftp://x")]),
            "platforms.alipay.gateway",
            None,
            (5, 14),
            "`gateway` must be `sandbox` or an http(s) URL, got `ftp://x`",
            Some("https://openapi.alipay.com/gateway.do"),
        ),
        case(
            "unreadable private key",
            edit(
                ALIPAY_BASE,
                &[(
                    "    gateway: sandbox\n",
                    "    gateway: sandbox\n    private_key: ${file:none.pem}\n",
                )],
            ),
            "platforms.alipay.private_key",
            None,
            (6, 18),
            "cannot read secret file `none.pem`: entity not found",
            Some("relative to the fleet file"),
        ),
    ]
}

fn app_cases() -> Vec<Case> {
    vec![
        case(
            "appid not 16 digits",
            edit(
                ALIPAY_BASE,
                &[("\"2021000000000101\"", "wx1111111111111111")],
            ),
            "apps[0].appid",
            RICE,
            (16, 12),
            "Alipay appid must be 16 digits, got `wx1111111111111111`",
            Some("APPID"),
        ),
        case(
            "gray not an Alipay step",
            rice_with("    gray: 20\n"),
            "apps[0].gray",
            RICE,
            (17, 11),
            "Alipay gray must be 10, 30, 50 or 100, got 20",
            Some("Alipay gray releases are p10, p30 or p50; 100 means a full release"),
        ),
        case(
            "gray walk step not an Alipay step",
            rice_with("    gray: { steps: [10, 20, 100], hold: 1h }\n"),
            "apps[0].gray.steps[1]",
            RICE,
            (17, 25),
            "Alipay gray must be 10, 30, 50 or 100, got 20",
            Some("p10, p30 or p50"),
        ),
        case(
            "ext_json key Alipay does not take",
            rice_with("    ext_json: { tabBar: { list: [] } }\n"),
            "apps[0].ext_json.tabBar",
            RICE,
            (17, 27),
            "`tabBar` is not an ext.json key Alipay takes",
            Some("Alipay takes: extPages, window"),
        ),
        case(
            "tester not a logon id",
            rice_with("    testers: [ops@example.com, ops-li]\n"),
            "apps[0].testers[1]",
            RICE,
            (17, 32),
            "tester `ops-li` is not an Alipay logon id (an email address or a phone number)",
            Some("log in to Alipay"),
        ),
        case(
            "template without an alipay section",
            edit(
                ALIPAY_BASE,
                &[(
                    "    alipay: { template_id: \"2021000000000100\", template_version: \"0.0.3\" }\n",
                    "    wechat: { template_id: 42 }\n",
                )],
            ),
            "defaults.template",
            None,
            (10, 13),
            "template `shop` has no `alipay` section (inherited by app `rice-shop`)",
            Some("`templates.shop.alipay` with `template_id` and `template_version`"),
        ),
        case(
            "no version_desc and no description",
            edit(ALIPAY_BASE, &[("  description: Spring menu\n", "")]),
            "apps[0].audit.version_desc",
            RICE,
            (13, 5),
            "an Alipay app at stage `release` needs `audit.version_desc` or a `description`",
            Some("add `description` or `audit.version_desc`"),
        ),
    ]
}

fn audit_cases() -> Vec<Case> {
    vec![
        case(
            "region type unknown",
            rice_with("    audit: { region_type: EARTH }\n"),
            "apps[0].audit.region_type",
            RICE,
            (17, 27),
            "unknown variant `EARTH`, expected one of `GLOBAL`, `CHINA`, `LOCATION`",
            None,
        ),
        case(
            "service phone with letters",
            rice_with("    audit: { service_phone: call-me }\n"),
            "apps[0].audit.service_phone",
            RICE,
            (17, 29),
            "`service_phone` must be 5 to 30 digits and `-`, got `call-me`",
            None,
        ),
        case(
            "service email without a domain",
            rice_with("    audit: { service_email: ops@ }\n"),
            "apps[0].audit.service_email",
            RICE,
            (17, 29),
            "`service_email` must be an email address, got `ops@`",
            None,
        ),
        case(
            "too many categories",
            rice_with("    audit: { mini_category_ids: [A_B, C_D, E_F, G_H, I_J] }\n"),
            "apps[0].audit.mini_category_ids",
            RICE,
            (17, 33),
            "at most 4 categories are allowed, got 5",
            Some("1 to 4"),
        ),
    ]
}

fn token_cases() -> Vec<Case> {
    vec![
        case(
            "token on a WeChat app",
            app_with("    app_auth_token: ${env:T}\n"),
            "apps[0].app_auth_token",
            TEA,
            (17, 21),
            "`app_auth_token` is only allowed on Alipay apps",
            Some("minifleet auth wechat link"),
        ),
        case(
            "token variable unset",
            rice_with("    app_auth_token: ${env:RICE_TOKEN}\n"),
            "apps[0].app_auth_token",
            RICE,
            (17, 21),
            "environment variable `RICE_TOKEN` is not set",
            Some("export `RICE_TOKEN`"),
        ),
        case(
            "literal token",
            rice_with("    app_auth_token: 202401BBsecret\n"),
            "apps[0].app_auth_token",
            RICE,
            (17, 21),
            "secrets must come from `${env:NAME}` or `${file:PATH}`, never from the fleet file itself",
            None,
        ),
        case(
            "token in defaults",
            edit(
                ALIPAY_BASE,
                &[(
                    "  template: shop\n",
                    "  template: shop\n  app_auth_token: ${env:T}\n",
                )],
            ),
            "defaults.app_auth_token",
            None,
            (11, 3),
            "unknown key `app_auth_token`",
            Some("`app_auth_token` cannot be inherited; set it on each app"),
        ),
    ]
}

#[test]
fn the_alipay_base_is_valid_and_release_ready() {
    let fleet = load(ALIPAY_BASE).unwrap();
    let app = &fleet.apps[0];
    assert_eq!(app.template_version.as_deref(), Some("0.0.3"));
    assert_eq!(app.gray, 100);
    let alipay = alipay_config(&fleet).unwrap();
    assert!(alipay.private_key.is_none(), "optional with the sandbox");
    assert!(fleet.app_tokens.is_empty());
}

#[test]
fn alipay_platform_rules() {
    platform_cases().iter().for_each(check);
}

#[test]
fn alipay_app_rules() {
    app_cases().iter().for_each(check);
}

#[test]
fn alipay_audit_rules() {
    audit_cases().iter().for_each(check);
}

#[test]
fn app_auth_token_rules() {
    token_cases().iter().for_each(check);
}

#[test]
fn keys_are_required_off_the_sandbox() {
    let text = edit(
        ALIPAY_BASE,
        &[(
            "gateway: sandbox",
            "gateway: https://openapi.alipay.com/gateway.do",
        )],
    );
    let errors = problems(&text);
    for key in ["private_key", "alipay_public_key"] {
        let e = problem_at(&errors, &format!("platforms.alipay.{key}"));
        assert_eq!(e.message, format!("missing required key `{key}`"));
        assert_eq!(
            e.help.as_deref(),
            Some(format!("`{key}` may be left out only when `gateway` is `sandbox`").as_str())
        );
        assert_eq!(e.line_col, Some((4, 5)), "at the section");
    }
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn version_desc_is_not_needed_at_stage_experience_or_with_an_audit_desc() {
    let bare = edit(ALIPAY_BASE, &[("  description: Spring menu\n", "")]);
    let experience = edit(
        &bare,
        &[(
            "  version: 1.4.0\n",
            "  version: 1.4.0\n  stage: experience\n",
        )],
    );
    assert!(load(&experience).is_ok());
    let with_desc = edit(
        &bare,
        &[(
            RICE_END,
            &format!("{RICE_END}    audit: {{ version_desc: Rice menu }}\n"),
        )],
    );
    assert_eq!(
        load(&with_desc).unwrap().apps[0]
            .audit
            .version_desc
            .as_deref(),
        Some("Rice menu")
    );
}

#[test]
fn an_alipay_app_with_a_valid_token_and_contacts_resolves() {
    let text = rice_with(
        "    app_auth_token: ${env:RICE_TOKEN}\n    gray: 10\n    testers: [\"+86-138-0013-8000\"]\n    audit: { region_type: GLOBAL, service_email: ops@example.com }\n",
    );
    let fleet = load_with(&text, &[("RICE_TOKEN", "tok")]).unwrap();
    let alipay = alipay_config(&fleet).unwrap();
    assert_eq!(fleet.app_tokens["2021000000000101"].expose(), "tok");
    assert_eq!(alipay.app_id, "2021000000000000");
    assert_eq!(fleet.apps[0].gray, 10);
}
