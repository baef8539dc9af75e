//! Tests: every validation rule produces its problem with the right path, app, line:col and words.

use super::*;

/// The last line of the one app in [`BASE`], to append app keys after.
const APP_END: &str = "    appid: wx1111111111111111\n";

/// One rule and the problem it must produce.
struct Case {
    name: &'static str,
    text: String,
    path: &'static str,
    app: Option<&'static str>,
    at: Option<(usize, usize)>,
    message: &'static str,
    help: Option<&'static str>,
}

/// [`BASE`] with `lines` appended to its app.
fn app_with(lines: &str) -> String {
    edit(BASE, &[(APP_END, &format!("{APP_END}{lines}"))])
}

/// [`BASE`] with `lines` appended at the end of the file.
fn file_with(lines: &str) -> String {
    format!("{BASE}{lines}")
}

#[allow(clippy::too_many_arguments)]
fn case(
    name: &'static str,
    text: String,
    path: &'static str,
    app: Option<&'static str>,
    at: (usize, usize),
    message: &'static str,
    help: Option<&'static str>,
) -> Case {
    Case { name, text, path, app, at: Some(at), message, help }
}

const TEA: Option<&str> = Some("tea-house");

fn value_cases() -> Vec<Case> {
    vec![
        case("gray above 100", app_with("    gray: 150\n"), "apps[0].gray", TEA, (17, 11),
            "gray must be between 1 and 100, got 150", Some("from 1 to 100; 100 means a full release")),
        case("gray zero", app_with("    gray: 0\n"), "apps[0].gray", TEA, (17, 11),
            "gray must be between 1 and 100, got 0", None),
        case("gray from defaults points at defaults",
            edit(BASE, &[("  stage: experience\n", "  stage: experience\n  gray: 101\n")]),
            "apps[0].gray", TEA, (13, 9), "gray must be between 1 and 100, got 101", None),
        case("gray not a number", app_with("    gray: high\n"), "apps[0].gray", TEA, (17, 11),
            "invalid type: string \"high\", expected an integer", None),
        case("testers not a list", app_with("    testers: ops-li\n"), "apps[0].testers", TEA, (17, 14),
            "invalid type: string \"ops-li\", expected a list", None),
        case("label values are strings", app_with("    labels: { tier: 1 }\n"), "apps[0].labels.tier", TEA,
            (17, 21), "invalid type: integer `1`, expected a string", None),
        case("ext must be a mapping", app_with("    ext: [1]\n"), "apps[0].ext", TEA, (17, 10),
            "invalid type: sequence, expected a mapping", None),
        case("empty tester", app_with("    testers: [ops-li, \"\", ops-li]\n"), "apps[0].testers[1]", TEA,
            (17, 23), "tester names must not be empty", None),
        case("duplicate tester", app_with("    testers: [ops-li, \"\", ops-li]\n"), "apps[0].testers[2]", TEA,
            (17, 27), "tester `ops-li` is listed twice", None),
        case("version from defaults", edit(BASE, &[("  version: 1.4.0\n", "  version: 1.4.x\n")]),
            "apps[0].version", TEA, (11, 12), "version must be `x.y.z` (digits), got `1.4.x`", Some("`1.4.0`")),
        case("bad app name", edit(BASE, &[("name: tea-house", "name: -tea")]), "apps[0].name", Some("-tea"),
            (14, 11), "app name `-tea` must match `^[A-Za-z0-9][A-Za-z0-9._-]*$`", None),
        case("bad wechat appid", edit(BASE, &[("appid: wx1111111111111111", "appid: wx1234")]), "apps[0].appid",
            TEA, (16, 12), "WeChat appid must be `wx` and 16 lowercase hex digits, got `wx1234`", None),
        case("bad component appid", edit(BASE, &[("wx0123456789abcdef", "wx0123")]),
            "platforms.wechat.component_appid", None, (4, 22),
            "`component_appid` must be `wx` and 16 lowercase hex digits, got `wx0123`", None),
        case("bad api_base", edit(BASE, &[("api_base: sandbox", "api_base: ftp://x")]), "platforms.wechat.api_base",
            None, (5, 15), "`api_base` must be `sandbox` or an http(s) URL, got `ftp://x`", Some("`sandbox`")),
        case("bad template_version",
            edit(BASE, &[("    wechat: { template_id: 42 }\n",
                "    wechat: { template_id: 42 }\n    alipay: { template_id: \"x\", template_version: \"0.3\" }\n")]),
            "templates.shop.alipay.template_version", None, (9, 51),
            "template_version must be `x.y.z` (digits), got `0.3`", None),
        case("unknown platform", edit(BASE, &[("platform: wechat", "platform: wexin")]), "apps[0].platform", TEA,
            (15, 15), "unknown variant `wexin`, expected `wechat` or `alipay`", None),
        case("audit_quota not a number", file_with("sandbox:\n  audit_quota: lots\n"), "sandbox.audit_quota", None,
            (18, 16), "invalid type: string \"lots\", expected an integer", None),
    ]
}

fn key_cases() -> Vec<Case> {
    vec![
        case("unknown app key", app_with("    gary: 10\n"), "apps[0].gary", TEA, (17, 5), "unknown key `gary`",
            Some("did you mean `gray`?")),
        case("unknown platform key",
            edit(BASE, &[("    api_base: sandbox\n", "    api_base: sandbox\n    component_secre: ${env:X}\n")]),
            "platforms.wechat.component_secre", None, (6, 5), "unknown key `component_secre`",
            Some("did you mean `component_secret`?")),
        case("unknown top-level key", edit(BASE, &[("version: 1\n", "version: 1\nplatfroms: {}\n")]), "platfroms",
            None, (2, 1), "unknown key `platfroms`", Some("did you mean `platforms`?")),
        case("unknown audit item key", app_with("    audit: { items: [ { titel: x } ] }\n"),
            "apps[0].audit.items[0].titel", TEA, (17, 25), "unknown key `titel`", Some("did you mean `title`?")),
        case("unknown template key", edit(BASE, &[("{ template_id: 42 }", "{ template_id: 42, tmplate_id: 1 }")]),
            "templates.shop.wechat.tmplate_id", None, (8, 32), "unknown key `tmplate_id`",
            Some("did you mean `template_id`?")),
        case("unknown reject rule key",
            file_with("sandbox:\n  reject:\n    - when_ext: { a: 1 }\n      reason: r\n      reson: x\n"),
            "sandbox.reject[0].reson", None, (21, 7), "unknown key `reson`", Some("did you mean `reason`?")),
        case("unknown key far from any", app_with("    colour_scheme: x\n"), "apps[0].colour_scheme", TEA,
            (17, 5), "unknown key `colour_scheme`", Some("allowed keys here: `appid`, `audit`, `description`")),
        case("defaults cannot name apps",
            edit(BASE, &[("  stage: experience\n", "  stage: experience\n  name: x\n")]), "defaults.name", None,
            (13, 3), "unknown key `name`", Some("`name` cannot be inherited; set it on each app")),
    ]
}

fn required_cases() -> Vec<Case> {
    vec![
        case("file version", edit(BASE, &[("version: 1\n", "version: 2\n")]), "version", None, (1, 10),
            "version must be 1, got `2`", None),
        case("missing file version", edit(BASE, &[("version: 1\n", "")]), "version", None, (1, 1),
            "missing required key `version`", Some("`version: 1`")),
        case("missing component_appid", edit(BASE, &[("    component_appid: wx0123456789abcdef\n", "")]),
            "platforms.wechat.component_appid", None, (4, 5), "missing required key `component_appid`", None),
        case("missing app name", edit(BASE, &[("  - name: tea-house\n    platform", "  - platform")]),
            "apps[0].name", None, (14, 5), "missing required key `name`", None),
        case("missing platform", edit(BASE, &[("    platform: wechat\n", "")]), "apps[0].platform", TEA, (14, 5),
            "missing required key `platform`", None),
        case("missing appid", edit(BASE, &[(APP_END, "")]), "apps[0].appid", TEA, (14, 5),
            "missing required key `appid`", None),
        case("missing template", edit(BASE, &[("  template: shop\n", "")]), "apps[0].template", TEA, (13, 5),
            "missing required key `template`", None),
        case("missing version", edit(BASE, &[("  version: 1.4.0\n", "")]), "apps[0].version", TEA, (13, 5),
            "missing required key `version`", None),
        case("missing template_id", edit(BASE, &[("{ template_id: 42 }", "{}")]),
            "templates.shop.wechat.template_id", None, (8, 13), "missing required key `template_id`", None),
        case("component_secret needed off the sandbox",
            edit(BASE, &[("api_base: sandbox", "api_base: https://api.weixin.qq.com")]),
            "platforms.wechat.component_secret", None, (4, 5), "missing required key `component_secret`",
            Some("only when `api_base` is `sandbox`")),
        case("reject rule reason", file_with("sandbox:\n  reject:\n    - when_ext: {}\n"),
            "sandbox.reject[0].reason", None, (19, 7), "missing required key `reason`", None),
        case("reject rule when_ext", file_with("sandbox:\n  reject:\n    - when_ext: {}\n"),
            "sandbox.reject[0].when_ext", None, (19, 17), "`when_ext` must not be empty", None),
    ]
}

fn reference_cases() -> Vec<Case> {
    let second = |appid: &str, name: &str| app_with(&format!("  - name: {name}\n    platform: wechat\n    appid: {appid}\n"));
    vec![
        case("duplicate name", second("wx2222222222222222", "tea-house"), "apps[1].name", TEA, (17, 11),
            "app name `tea-house` is already used by `apps[0]`", None),
        case("duplicate appid", second("wx1111111111111111", "noodle-bar"), "apps[1].appid", Some("noodle-bar"),
            (19, 12), "appid `wx1111111111111111` is already used by app `tea-house` (`apps[0]`)", None),
        case("unknown template", edit(BASE, &[("  template: shop\n", "  template: shpo\n")]), "apps[0].template",
            TEA, (10, 13), "unknown template `shpo`", Some("did you mean `shop`?")),
        case("template lacks the platform",
            edit(BASE, &[("    wechat: { template_id: 42 }\n",
                "    alipay: { template_id: \"2021000000000100\", template_version: \"0.0.3\" }\n")]),
            "apps[0].template", TEA, (10, 13), "template `shop` has no `wechat` section",
            Some("`templates.shop.wechat.template_id`")),
        case("platform not configured",
            edit(BASE, &[("  wechat:\n    component_appid: wx0123456789abcdef\n    api_base: sandbox\n", "  {}\n")]),
            "apps[0].platform", TEA, (13, 15), "platform `wechat` is not configured", Some("`platforms.wechat`")),
        case("alipay not yet", edit(BASE, &[("platform: wechat", "platform: alipay")]), "apps[0].platform", TEA,
            (15, 15), "platform `alipay` is not supported yet", None),
    ]
}

fn audit_cases() -> Vec<Case> {
    let title33 = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三";
    vec![
        case("too many audit items",
            app_with("    audit:\n      items: [{title: a}, {title: b}, {title: c}, {title: d}, {title: e}, {title: f}]\n"),
            "apps[0].audit.items", TEA, (18, 14), "at most 5 audit items are allowed, got 6", None),
        case("title too long (in characters)", app_with(&format!("    audit: {{ items: [ {{ title: {title33} }} ] }}\n")),
            "apps[0].audit.items[0].title", TEA, (17, 32), "title must be at most 32 characters, got 33", None),
        case("too many tags", app_with("    audit: { items: [ { tag: a b c d e f g h i j k } ] }\n"),
            "apps[0].audit.items[0].tag", TEA, (17, 30), "at most 10 tags are allowed, got 11", None),
        case("tag too long", app_with("    audit: { items: [ { tag: food abcdefghijklmnopqrstu } ] }\n"),
            "apps[0].audit.items[0].tag", TEA, (17, 30), "tag `abcdefghijklmnopqrstu` is longer than 20 characters",
            None),
        case("release needs audit items", edit(BASE, &[("  stage: experience\n", "")]), "apps[0].audit.items", TEA,
            (13, 5), "a WeChat app at stage `release` needs at least one audit item",
            Some("add `audit.items` to defaults")),
        case("audit stage needs audit items", edit(BASE, &[("stage: experience", "stage: audit")]),
            "apps[0].audit.items", TEA, (14, 5), "a WeChat app at stage `audit` needs at least one audit item", None),
        case("literal secret",
            edit(BASE, &[("    api_base: sandbox\n", "    api_base: sandbox\n    component_secret: hunter2\n")]),
            "platforms.wechat.component_secret", None, (6, 23),
            "secrets must come from `${env:NAME}` or `${file:PATH}`, never from the fleet file itself", None),
    ]
}

fn check(c: &Case) {
    let errors = problems(&c.text);
    let e = problem_at(&errors, c.path);
    let ctx = format!("case `{}`: {e:#?}", c.name);
    assert_eq!(e.message, c.message, "{ctx}");
    assert_eq!(e.app.as_deref(), c.app, "{ctx}");
    assert_eq!(e.line_col, c.at, "{ctx}");
    if let Some(help) = c.help {
        assert!(e.help.as_deref().is_some_and(|h| h.contains(help)), "{ctx}");
    }
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

#[test]
fn references_and_uniqueness() {
    reference_cases().iter().for_each(check);
}

#[test]
fn audit_items_and_secrets() {
    audit_cases().iter().for_each(check);
}

#[test]
fn a_mistyped_key_is_reported_once_not_again_as_missing() {
    let errors = problems(&edit(BASE, &[("platform: wechat", "platform: [wechat]")]));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].yaml_path, "apps[0].platform");
}

#[test]
fn invalid_durations_are_named() {
    let errors = problems(&file_with("sandbox:\n  audit_delay: 2x\n  privacy_scan: soon\n"));
    let delay = problem_at(&errors, "sandbox.audit_delay");
    assert!(delay.message.starts_with("invalid duration `2x`: "), "{delay:?}");
    assert_eq!(delay.line_col, Some((18, 16)));
    assert!(problem_at(&errors, "sandbox.privacy_scan").message.starts_with("invalid duration `soon`"));
}

#[test]
fn yaml_syntax_errors_have_the_parsers_position() {
    let errors = problems("version: 1\napps: [\n  - name: x\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.starts_with("invalid YAML: "), "{:?}", errors[0]);
    assert_eq!(errors[0].yaml_path, "");
    assert!(errors[0].line_col.is_some_and(|(line, _)| line >= 2), "{:?}", errors[0]);
}

#[test]
fn duplicate_yaml_keys_are_a_yaml_error() {
    let errors = problems("version: 1\nversion: 1\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains("duplicate"), "{:?}", errors[0]);
    assert_eq!(errors[0].line_col.map(|(l, _)| l), Some(2));
}

#[test]
fn the_shape_of_the_file_and_its_sections() {
    assert_eq!(problems("")[0].message, "the fleet file is empty");
    assert_eq!(problems("- a\n")[0].message, "the fleet file must be a mapping, got a list");
    let apps = problems("version: 1\napps: {}\n");
    assert_eq!(problem_at(&apps, "apps").message, "expected a list of apps, got a mapping");
    let app = problems("version: 1\napps: [tea]\n");
    assert_eq!(problem_at(&app, "apps[0]").line_col, Some((2, 8)));
    let section = problems("version: 1\nplatforms: wechat\n");
    assert_eq!(problem_at(&section, "platforms").message, "expected a mapping, got a string");
}

#[test]
fn many_problems_are_all_reported_in_file_order() {
    let text = format!(
        "{}{}",
        edit(BASE, &[("version: 1\n", "version: 1\nfoo: 1\n"), (APP_END, &format!("{APP_END}    gray: 150\n"))]),
        "  - name: noodle-bar\n    platform: wechat\n    appid: wx1111111111111111\n    testers: ops-li\n  - name: ok-app\n    platform: wechat\n    appid: wx3333333333333333\n    version: 2.0\n"
    );
    let errors = problems(&text);
    let paths: Vec<&str> = errors.iter().map(|e| e.yaml_path.as_str()).collect();
    assert_eq!(
        paths,
        ["foo", "apps[0].gray", "apps[1].appid", "apps[1].testers", "apps[2].version"],
        "{errors:#?}"
    );
    let lines: Vec<usize> = errors.iter().filter_map(|e| e.line_col.map(|(l, _)| l)).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    assert_eq!(errors[2].app.as_deref(), Some("noodle-bar"));
}
