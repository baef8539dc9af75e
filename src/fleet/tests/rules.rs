//! Tests: value, unknown-key and required-key rules, each at the right path, app and line:col.

use super::cases::*;
use super::*;

fn value_cases() -> Vec<Case> {
    vec![
        case(
            "gray above 100",
            app_with("    gray: 150\n"),
            "apps[0].gray",
            TEA,
            (17, 11),
            "gray must be between 1 and 100, got 150",
            Some("from 1 to 100; 100 means a full release"),
        ),
        case(
            "gray zero",
            app_with("    gray: 0\n"),
            "apps[0].gray",
            TEA,
            (17, 11),
            "gray must be between 1 and 100, got 0",
            None,
        ),
        case(
            "gray from defaults points at defaults",
            edit(
                BASE,
                &[(
                    "  stage: experience\n",
                    "  stage: experience\n  gray: 101\n",
                )],
            ),
            "defaults.gray",
            None,
            (13, 9),
            "gray must be between 1 and 100, got 101 (inherited by app `tea-house`)",
            None,
        ),
        case(
            "gray not a number",
            app_with("    gray: high\n"),
            "apps[0].gray",
            TEA,
            (17, 11),
            "invalid type: string \"high\", expected an integer",
            None,
        ),
        case(
            "testers not a list",
            app_with("    testers: ops-li\n"),
            "apps[0].testers",
            TEA,
            (17, 14),
            "invalid type: string \"ops-li\", expected a list",
            None,
        ),
        case(
            "label values are strings",
            app_with("    labels: { tier: 1 }\n"),
            "apps[0].labels.tier",
            TEA,
            (17, 21),
            "invalid type: integer `1`, expected a string",
            Some("YAML reads bare digits as a number: quote it, e.g. `\"1\"`"),
        ),
        case(
            "ext must be a mapping",
            app_with("    ext: [1]\n"),
            "apps[0].ext",
            TEA,
            (17, 10),
            "invalid type: sequence, expected a mapping",
            None,
        ),
        case(
            "empty tester",
            app_with("    testers: [ops-li, \"\", ops-li]\n"),
            "apps[0].testers[1]",
            TEA,
            (17, 23),
            "tester names must not be empty",
            None,
        ),
        case(
            "duplicate tester",
            app_with("    testers: [ops-li, \"\", ops-li]\n"),
            "apps[0].testers[2]",
            TEA,
            (17, 27),
            "tester `ops-li` is listed twice",
            None,
        ),
        case(
            "version from defaults",
            edit(BASE, &[("  version: 1.4.0\n", "  version: 1.4.x\n")]),
            "defaults.version",
            None,
            (11, 12),
            "version must be `x.y.z` (digits), got `1.4.x` (inherited by app `tea-house`)",
            Some("`1.4.0`"),
        ),
        case(
            "bad app name",
            edit(BASE, &[("name: tea-house", "name: -tea")]),
            "apps[0].name",
            Some("-tea"),
            (14, 11),
            "app name `-tea` must match `^[A-Za-z0-9][A-Za-z0-9._-]*$`",
            None,
        ),
        case(
            "bad wechat appid",
            edit(BASE, &[("appid: wx1111111111111111", "appid: wx1234")]),
            "apps[0].appid",
            TEA,
            (16, 12),
            "WeChat appid must be `wx` and 16 lowercase hex digits, got `wx1234`",
            None,
        ),
        case(
            "bad component appid",
            edit(BASE, &[("wx0123456789abcdef", "wx0123")]),
            "platforms.wechat.component_appid",
            None,
            (4, 22),
            "`component_appid` must be `wx` and 16 lowercase hex digits, got `wx0123`",
            None,
        ),
        case(
            "bad api_base",
            edit(BASE, &[("api_base: sandbox", "api_base: ftp://x")]),
            "platforms.wechat.api_base",
            None,
            (5, 15),
            "`api_base` must be `sandbox` or an http(s) URL, got `ftp://x`",
            Some("`sandbox`"),
        ),
        case(
            "bad template_version",
            edit(
                BASE,
                &[(
                    "    wechat: { template_id: 42 }\n",
                    "    wechat: { template_id: 42 }\n    alipay: { template_id: \"x\", template_version: \"0.3\" }\n",
                )],
            ),
            "templates.shop.alipay.template_version",
            None,
            (9, 51),
            "template_version must be `x.y.z` (digits), got `0.3`",
            None,
        ),
        case(
            "unknown platform",
            edit(BASE, &[("platform: wechat", "platform: wexin")]),
            "apps[0].platform",
            TEA,
            (15, 15),
            "unknown platform `wexin`",
            Some("the platforms are `wechat`, `alipay`"),
        ),
        case(
            "audit_quota not a number",
            file_with("sandbox:\n  audit_quota: lots\n"),
            "sandbox.audit_quota",
            None,
            (18, 16),
            "invalid type: string \"lots\", expected an integer",
            None,
        ),
    ]
}

fn key_cases() -> Vec<Case> {
    vec![
        case(
            "unknown app key",
            app_with("    gary: 10\n"),
            "apps[0].gary",
            TEA,
            (17, 5),
            "unknown key `gary`",
            Some("did you mean `gray`?"),
        ),
        case(
            "unknown platform key",
            edit(
                BASE,
                &[(
                    "    api_base: sandbox\n",
                    "    api_base: sandbox\n    component_secre: ${env:X}\n",
                )],
            ),
            "platforms.wechat.component_secre",
            None,
            (6, 5),
            "unknown key `component_secre`",
            Some("did you mean `component_secret`?"),
        ),
        case(
            "unknown top-level key",
            edit(BASE, &[("version: 1\n", "version: 1\nplatfroms: {}\n")]),
            "platfroms",
            None,
            (2, 1),
            "unknown key `platfroms`",
            Some("did you mean `platforms`?"),
        ),
        case(
            "unknown audit item key",
            app_with("    audit: { items: [ { titel: x } ] }\n"),
            "apps[0].audit.items[0].titel",
            TEA,
            (17, 25),
            "unknown key `titel`",
            Some("did you mean `title`?"),
        ),
        case(
            "unknown template key",
            edit(
                BASE,
                &[("{ template_id: 42 }", "{ template_id: 42, tmplate_id: 1 }")],
            ),
            "templates.shop.wechat.tmplate_id",
            None,
            (8, 32),
            "unknown key `tmplate_id`",
            Some("did you mean `template_id`?"),
        ),
        case(
            "unknown reject rule key",
            file_with(
                "sandbox:\n  reject:\n    - when_ext: { a: 1 }\n      reason: r\n      reson: x\n",
            ),
            "sandbox.reject[0].reson",
            None,
            (21, 7),
            "unknown key `reson`",
            Some("did you mean `reason`?"),
        ),
        case(
            "unknown key far from any",
            app_with("    colour_scheme: x\n"),
            "apps[0].colour_scheme",
            TEA,
            (17, 5),
            "unknown key `colour_scheme`",
            Some("allowed keys here: `app_auth_token`, `appid`, `audit`, `description`"),
        ),
        case(
            "defaults cannot name apps",
            edit(
                BASE,
                &[("  stage: experience\n", "  stage: experience\n  name: x\n")],
            ),
            "defaults.name",
            None,
            (13, 3),
            "unknown key `name`",
            Some("`name` cannot be inherited; set it on each app"),
        ),
    ]
}

fn required_cases() -> Vec<Case> {
    vec![
        case(
            "file version",
            edit(BASE, &[("version: 1\n", "version: 2\n")]),
            "version",
            None,
            (1, 10),
            "version must be 1, got `2`",
            None,
        ),
        case(
            "missing file version",
            edit(BASE, &[("version: 1\n", "")]),
            "version",
            None,
            (1, 1),
            "missing required key `version`",
            Some("`version: 1`"),
        ),
        case(
            "missing component_appid",
            edit(BASE, &[("    component_appid: wx0123456789abcdef\n", "")]),
            "platforms.wechat.component_appid",
            None,
            (4, 5),
            "missing required key `component_appid`",
            None,
        ),
        case(
            "missing app name",
            edit(
                BASE,
                &[("  - name: tea-house\n    platform", "  - platform")],
            ),
            "apps[0].name",
            None,
            (14, 5),
            "missing required key `name`",
            None,
        ),
        case(
            "missing platform",
            edit(BASE, &[("    platform: wechat\n", "")]),
            "apps[0].platform",
            TEA,
            (14, 5),
            "missing required key `platform`",
            None,
        ),
        case(
            "missing appid",
            edit(BASE, &[(APP_END, "")]),
            "apps[0].appid",
            TEA,
            (14, 5),
            "missing required key `appid`",
            None,
        ),
        case(
            "missing template",
            edit(BASE, &[("  template: shop\n", "")]),
            "apps[0].template",
            TEA,
            (13, 5),
            "missing required key `template`",
            None,
        ),
        case(
            "missing version",
            edit(BASE, &[("  version: 1.4.0\n", "")]),
            "apps[0].version",
            TEA,
            (13, 5),
            "missing required key `version`",
            None,
        ),
        case(
            "missing template_id",
            edit(BASE, &[("{ template_id: 42 }", "{}")]),
            "templates.shop.wechat.template_id",
            None,
            (8, 13),
            "missing required key `template_id`",
            None,
        ),
        case(
            "component_secret needed off the sandbox",
            edit(
                BASE,
                &[("api_base: sandbox", "api_base: https://api.weixin.qq.com")],
            ),
            "platforms.wechat.component_secret",
            None,
            (4, 5),
            "missing required key `component_secret`",
            Some("only when `api_base` is `sandbox`"),
        ),
        case(
            "reject rule reason",
            file_with("sandbox:\n  reject:\n    - when_ext: {}\n"),
            "sandbox.reject[0].reason",
            None,
            (19, 7),
            "missing required key `reason`",
            None,
        ),
        case(
            "reject rule when_ext",
            file_with("sandbox:\n  reject:\n    - when_ext: {}\n"),
            "sandbox.reject[0].when_ext",
            None,
            (19, 17),
            "`when_ext` must not be empty",
            None,
        ),
    ]
}

#[test]
fn value_rules() {
    value_cases().iter().for_each(check);
}

#[test]
fn unknown_keys() {
    key_cases().iter().for_each(check);
}

#[test]
fn required_keys() {
    required_cases().iter().for_each(check);
}
