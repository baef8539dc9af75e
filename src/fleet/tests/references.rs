//! Tests: references between sections, uniqueness, audit items, and whole-file problems.

use super::cases::*;
use super::*;

fn reference_cases() -> Vec<Case> {
    let second = |appid: &str, name: &str| {
        app_with(&format!(
            "  - name: {name}\n    platform: wechat\n    appid: {appid}\n"
        ))
    };
    vec![
        case(
            "duplicate name",
            second("wx2222222222222222", "tea-house"),
            "apps[1].name",
            TEA,
            (17, 11),
            "app name `tea-house` is already used by `apps[0]`",
            None,
        ),
        case(
            "duplicate appid",
            second("wx1111111111111111", "noodle-bar"),
            "apps[1].appid",
            Some("noodle-bar"),
            (19, 12),
            "appid `wx1111111111111111` is already used by app `tea-house` (`apps[0]`)",
            None,
        ),
        case(
            "unknown template",
            edit(BASE, &[("  template: shop\n", "  template: shpo\n")]),
            "defaults.template",
            None,
            (10, 13),
            "unknown template `shpo` (inherited by app `tea-house`)",
            Some("did you mean `shop`?"),
        ),
        case(
            "template lacks the platform",
            edit(
                BASE,
                &[(
                    "    wechat: { template_id: 42 }\n",
                    "    alipay: { template_id: \"2021000000000100\", template_version: \"0.0.3\" }\n",
                )],
            ),
            "defaults.template",
            None,
            (10, 13),
            "template `shop` has no `wechat` section (inherited by app `tea-house`)",
            Some("`templates.shop.wechat.template_id`"),
        ),
        case(
            "platform not configured",
            edit(
                BASE,
                &[(
                    "  wechat:\n    component_appid: wx0123456789abcdef\n    api_base: sandbox\n",
                    "  {}\n",
                )],
            ),
            "apps[0].platform",
            TEA,
            (13, 15),
            "platform `wechat` is not configured",
            Some("`platforms.wechat`"),
        ),
        case(
            "alipay not configured",
            edit(BASE, &[("platform: wechat", "platform: alipay")]),
            "apps[0].platform",
            TEA,
            (15, 15),
            "platform `alipay` is not configured",
            Some("add a `platforms.alipay` section"),
        ),
    ]
}

fn audit_cases() -> Vec<Case> {
    let title33 = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三";
    vec![
        case(
            "too many audit items",
            app_with(
                "    audit:\n      items: [{title: a}, {title: b}, {title: c}, {title: d}, {title: e}, {title: f}]\n",
            ),
            "apps[0].audit.items",
            TEA,
            (18, 14),
            "at most 5 audit items are allowed, got 6",
            None,
        ),
        case(
            "title too long (in characters)",
            app_with(&format!(
                "    audit: {{ items: [ {{ title: {title33} }} ] }}\n"
            )),
            "apps[0].audit.items[0].title",
            TEA,
            (17, 32),
            "title must be at most 32 characters, got 33",
            None,
        ),
        case(
            "too many tags",
            app_with("    audit: { items: [ { tag: a b c d e f g h i j k } ] }\n"),
            "apps[0].audit.items[0].tag",
            TEA,
            (17, 30),
            "at most 10 tags are allowed, got 11",
            None,
        ),
        case(
            "tag too long",
            app_with("    audit: { items: [ { tag: food abcdefghijklmnopqrstu } ] }\n"),
            "apps[0].audit.items[0].tag",
            TEA,
            (17, 30),
            "tag `abcdefghijklmnopqrstu` is longer than 20 characters",
            None,
        ),
        case(
            "release needs audit items",
            edit(BASE, &[("  stage: experience\n", "")]),
            "apps[0].audit.items",
            TEA,
            (13, 5),
            "a WeChat app at stage `release` needs at least one audit item",
            Some("add `audit.items` to defaults"),
        ),
        case(
            "audit stage needs audit items",
            edit(BASE, &[("stage: experience", "stage: audit")]),
            "defaults.audit.items",
            None,
            (10, 3),
            "a WeChat app at stage `audit` needs at least one audit item (inherited by app `tea-house`)",
            None,
        ),
        case(
            "literal secret",
            edit(
                BASE,
                &[(
                    "    api_base: sandbox\n",
                    "    api_base: sandbox\n    component_secret: hunter2\n",
                )],
            ),
            "platforms.wechat.component_secret",
            None,
            (6, 23),
            "secrets must come from `${env:NAME}` or `${file:PATH}`, never from the fleet file itself",
            None,
        ),
    ]
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
    let errors = problems(&file_with(
        "sandbox:\n  audit_delay: 2x\n  privacy_scan: soon\n",
    ));
    let delay = problem_at(&errors, "sandbox.audit_delay");
    assert!(
        delay.message.starts_with("invalid duration `2x`: "),
        "{delay:?}"
    );
    assert_eq!(delay.line_col, Some((18, 16)));
    assert!(
        problem_at(&errors, "sandbox.privacy_scan")
            .message
            .starts_with("invalid duration `soon`")
    );
}

#[test]
fn yaml_syntax_errors_have_the_parsers_position() {
    let errors = problems("version: 1\napps: [\n  - name: x\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].message.starts_with("invalid YAML: "),
        "{:?}",
        errors[0]
    );
    assert_eq!(errors[0].yaml_path, "");
    assert!(
        errors[0].line_col.is_some_and(|(line, _)| line >= 2),
        "{:?}",
        errors[0]
    );
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
    assert_eq!(
        problems("- a\n")[0].message,
        "the fleet file must be a mapping, got a list"
    );
    let apps = problems("version: 1\napps: {}\n");
    assert_eq!(
        problem_at(&apps, "apps").message,
        "expected a list of apps, got a mapping"
    );
    let app = problems("version: 1\napps: [tea]\n");
    assert_eq!(problem_at(&app, "apps[0]").line_col, Some((2, 8)));
    let section = problems("version: 1\nplatforms: wechat\n");
    assert_eq!(
        problem_at(&section, "platforms").message,
        "expected a mapping, got a string"
    );
}

#[test]
fn many_problems_are_all_reported_in_file_order() {
    let text = format!(
        "{}{}",
        edit(
            BASE,
            &[
                ("version: 1\n", "version: 1\nfoo: 1\n"),
                (APP_END, &format!("{APP_END}    gray: 150\n"))
            ]
        ),
        "  - name: noodle-bar\n    platform: wechat\n    appid: wx1111111111111111\n    testers: ops-li\n  - name: ok-app\n    platform: wechat\n    appid: wx3333333333333333\n    version: 2.0\n"
    );
    let errors = problems(&text);
    let paths: Vec<&str> = errors.iter().map(|e| e.yaml_path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "foo",
            "apps[0].gray",
            "apps[1].appid",
            "apps[1].testers",
            "apps[2].version"
        ],
        "{errors:#?}"
    );
    let lines: Vec<usize> = errors
        .iter()
        .filter_map(|e| e.line_col.map(|(l, _)| l))
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    assert_eq!(errors[2].app.as_deref(), Some("noodle-bar"));
}
