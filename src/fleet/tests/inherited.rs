//! Tests: one mistake in `defaults`, one problem — reported at the default, naming the apps that
//! inherit it — for every check an inherited value goes through; an app that sets its own bad
//! value still gets its own problem, and one that sets a good value none.

use super::*;

/// Both platforms, one template for both; `defaults` as the cases edit it. Apps are appended.
const TWO_PLATFORMS: &str = "\
version: 1
platforms:
  wechat: { component_appid: wx0123456789abcdef, api_base: sandbox }
  alipay: { app_id: \"2021000000000000\", gateway: sandbox }
templates:
  shop:
    wechat: { template_id: 42 }
    alipay: { template_id: \"2021000000000100\", template_version: \"0.0.3\" }
  wechat-only:
    wechat: { template_id: 43 }
defaults:
  template: shop
  version: 1.4.0
  description: Spring menu
  stage: experience
apps:
";

/// A bad default, and what apps of one platform make of it.
struct Case {
    what: &'static str,
    /// The apps' platform.
    alipay: bool,
    /// Edits of [`TWO_PLATFORMS`] that put the bad value in `defaults`.
    defaults: &'static [(&'static str, &'static str)],
    /// Keys of an app that sets a good value itself (flow mapping entries).
    good: &'static str,
    /// Keys of an app that sets a bad value of its own.
    bad: &'static str,
    /// The problem's path inside the app (and inside `defaults`).
    path: &'static str,
    /// The default's problem, without the apps that inherit it.
    message: &'static str,
    /// The bad app's own problem.
    own: &'static str,
}

/// Four apps that inherit the default, one that sets a good value, one a bad one (`apps[5]`).
fn fleet(c: &Case) -> String {
    let mut text = edit(TWO_PLATFORMS, c.defaults);
    let app = |i: usize, name: &str, keys: &str| {
        let (platform, appid) = if c.alipay {
            ("alipay", format!("\"20210000000001{i:02}\""))
        } else {
            ("wechat", format!("wx{i:016x}"))
        };
        format!("  - {{ name: {name}, platform: {platform}, appid: {appid}{keys} }}\n")
    };
    for i in 0..4 {
        text.push_str(&app(i, &format!("app-{i}"), ""));
    }
    text.push_str(&app(4, "good", &format!(", {}", c.good)));
    text.push_str(&app(5, "bad", &format!(", {}", c.bad)));
    text
}

fn check_case(c: &Case) {
    let text = fleet(c);
    let errors = match load_both(&text) {
        Ok(_) => panic!("case `{}`: expected problems in\n{text}", c.what),
        Err(e) => e.errors,
    };
    let ctx = format!("case `{}`: {errors:#?}", c.what);
    assert_eq!(errors.len(), 2, "{ctx}");
    let at_default = problem_at(&errors, &format!("defaults.{}", c.path));
    assert_eq!(
        at_default.message,
        format!(
            "{} (inherited by 4 apps: `app-0`, `app-1`, `app-2` and 1 more)",
            c.message
        ),
        "{ctx}"
    );
    assert_eq!(at_default.app, None, "{ctx}");
    let (line, _) = at_default.line_col.expect("a position");
    let first = text.lines().position(|l| l == "defaults:").unwrap_or(0) + 1;
    let last = text.lines().position(|l| l == "apps:").unwrap_or(0) + 1;
    assert!(
        (first..last).contains(&line),
        "{ctx}: line {line} is not in `defaults`"
    );
    let own = problem_at(&errors, &format!("apps[5].{}", c.path));
    assert_eq!(own.message, c.own, "{ctx}");
    assert_eq!(own.app.as_deref(), Some("bad"), "{ctx}");
}

const TITLE_33: &str = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三";

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "unknown template",
            alipay: false,
            defaults: &[("  template: shop\n", "  template: shopp\n")],
            good: "template: shop",
            bad: "template: shoq",
            path: "template",
            message: "unknown template `shopp`",
            own: "unknown template `shoq`",
        },
        Case {
            what: "template without the apps' platform",
            alipay: true,
            defaults: &[("  template: shop\n", "  template: wechat-only\n")],
            good: "template: shop",
            bad: "template: wechat-only, version: 1.5.0",
            path: "template",
            message: "template `wechat-only` has no `alipay` section",
            own: "template `wechat-only` has no `alipay` section",
        },
        Case {
            what: "version",
            alipay: false,
            defaults: &[("  version: 1.4.0\n", "  version: 1.4.x\n")],
            good: "version: 1.5.0",
            bad: "version: \"1.5\"",
            path: "version",
            message: "version must be `x.y.z` (digits), got `1.4.x`",
            own: "version must be `x.y.z` (digits), got `1.5`",
        },
        Case {
            what: "WeChat gray",
            alipay: false,
            defaults: &[("  stage: experience\n", "  stage: experience\n  gray: 0\n")],
            good: "gray: 10",
            bad: "gray: 101",
            path: "gray",
            message: "gray must be between 1 and 100, got 0",
            own: "gray must be between 1 and 100, got 101",
        },
        Case {
            what: "Alipay gray",
            alipay: true,
            defaults: &[("  stage: experience\n", "  stage: experience\n  gray: 20\n")],
            good: "gray: 30",
            bad: "gray: 40",
            path: "gray",
            message: "Alipay gray must be 10, 30, 50 or 100, got 20",
            own: "Alipay gray must be 10, 30, 50 or 100, got 40",
        },
        Case {
            what: "a stage that needs WeChat audit items",
            alipay: false,
            defaults: &[("  stage: experience\n", "  stage: release\n")],
            good: "stage: experience",
            bad: "stage: audit",
            path: "audit.items",
            message: "a WeChat app at stage `release` needs at least one audit item",
            own: "a WeChat app at stage `audit` needs at least one audit item",
        },
        Case {
            what: "a stage that needs an Alipay version_desc",
            alipay: true,
            defaults: &[
                ("  description: Spring menu\n", ""),
                ("  stage: experience\n", "  stage: release\n"),
            ],
            good: "description: Rice menu",
            bad: "stage: audit",
            path: "audit.version_desc",
            message: "an Alipay app at stage `release` needs `audit.version_desc` or a `description`",
            own: "an Alipay app at stage `audit` needs `audit.version_desc` or a `description`",
        },
        Case {
            what: "audit item title",
            alipay: false,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  audit: { items: [ { title: 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三 } ] }\n",
            )],
            good: "audit: { items: [ { title: Home } ] }",
            bad: "audit: { items: [ { title: 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四 } ] }",
            path: "audit.items[0].title",
            message: "title must be at most 32 characters, got 33",
            own: "title must be at most 32 characters, got 34",
        },
        Case {
            what: "audit item tag",
            alipay: false,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  audit: { items: [ { tag: a b c d e f g h i j k } ] }\n",
            )],
            good: "audit: { items: [ { tag: shop } ] }",
            bad: "audit: { items: [ { tag: abcdefghijklmnopqrstu } ] }",
            path: "audit.items[0].tag",
            message: "at most 10 tags are allowed, got 11",
            own: "tag `abcdefghijklmnopqrstu` is longer than 20 characters",
        },
        Case {
            what: "too many audit items",
            alipay: false,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  audit: { items: [ {}, {}, {}, {}, {}, {} ] }\n",
            )],
            good: "audit: { items: [ {} ] }",
            bad: "audit: { items: [ {}, {}, {}, {}, {}, {}, {} ] }",
            path: "audit.items",
            message: "at most 5 audit items are allowed, got 6",
            own: "at most 5 audit items are allowed, got 7",
        },
        Case {
            what: "Alipay service phone",
            alipay: true,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  audit: { service_phone: call-me, service_email: ops@example.com }\n",
            )],
            good: "audit: { service_phone: \"0571-1234567\" }",
            bad: "audit: { service_phone: ring }",
            path: "audit.service_phone",
            message: "`service_phone` must be 5 to 30 digits and `-`, got `call-me`",
            own: "`service_phone` must be 5 to 30 digits and `-`, got `ring`",
        },
        Case {
            what: "Alipay service email",
            alipay: true,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  audit: { service_email: ops@ }\n",
            )],
            good: "audit: { service_email: ops@example.com }",
            bad: "audit: { service_email: qa@ }",
            path: "audit.service_email",
            message: "`service_email` must be an email address, got `ops@`",
            own: "`service_email` must be an email address, got `qa@`",
        },
        Case {
            what: "Alipay categories",
            alipay: true,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  audit: { mini_category_ids: [A, B, C, D, E] }\n",
            )],
            good: "audit: { mini_category_ids: [A] }",
            bad: "audit: { mini_category_ids: [A, B, C, D, E, F] }",
            path: "audit.mini_category_ids",
            message: "at most 4 categories are allowed, got 5",
            own: "at most 4 categories are allowed, got 6",
        },
        Case {
            what: "an empty tester",
            alipay: false,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  testers: [ops-li, \"\"]\n",
            )],
            good: "testers: [ops-li]",
            bad: "testers: [qa-wang, \" \"]",
            path: "testers[1]",
            message: "tester names must not be empty",
            own: "tester names must not be empty",
        },
        Case {
            what: "a tester listed twice",
            alipay: false,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  testers: [ops-li, ops-li]\n",
            )],
            good: "testers: [ops-li]",
            bad: "testers: [qa-wang, qa-wang]",
            path: "testers[1]",
            message: "tester `ops-li` is listed twice",
            own: "tester `qa-wang` is listed twice",
        },
        Case {
            what: "a tester that is no Alipay logon id",
            alipay: true,
            defaults: &[(
                "  stage: experience\n",
                "  stage: experience\n  testers: [ops@example.com, ops-li]\n",
            )],
            good: "testers: [ops@example.com]",
            bad: "testers: [qa@example.com, qa-wang]",
            path: "testers[1]",
            message: "tester `ops-li` is not an Alipay logon id (an email address or a phone number)",
            own: "tester `qa-wang` is not an Alipay logon id (an email address or a phone number)",
        },
    ]
}

#[test]
fn a_bad_default_is_one_problem_at_the_default_and_an_apps_own_bad_value_is_its_own() {
    assert_eq!(TITLE_33.chars().count(), 33);
    cases().iter().for_each(check_case);
}

#[test]
fn a_bad_default_template_on_the_repositorys_fleet_is_one_problem_not_one_per_app() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(Path::new(root).join("fleet.yaml")).expect("read");
    let text = edit(&text, &[("  template: shop\n", "  template: shopp\n")]);
    let errors = load_both(&text).expect_err("an unknown template").errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!(e.yaml_path, "defaults.template");
    assert_eq!(
        e.message,
        "unknown template `shopp` (inherited by 10 apps: `tea-house`, `noodle-bar`, `dumpling-king` and 7 more)"
    );
    assert_eq!(e.help.as_deref(), Some("did you mean `shop`?"));
    let line = text
        .lines()
        .position(|l| l == "  template: shopp")
        .expect("the line")
        + 1;
    assert_eq!(e.line_col, Some((line, 13)));
}

#[test]
fn a_bad_default_in_a_thousand_app_fleet_is_one_problem() {
    let mut text = edit(TWO_PLATFORMS, &[("  version: 1.4.0\n", "  version: 1.4\n")]);
    // Quoted, so it reads as the string it is meant to be: the version rule's problem.
    text = text.replace("  version: 1.4\n", "  version: \"1.4\"\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "  - {{ name: app-{i}, platform: wechat, appid: wx{i:016x} }}\n"
        ));
    }
    let errors = load_both(&text).expect_err("a bad version").errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].yaml_path, "defaults.version");
    assert_eq!(
        errors[0].message,
        "version must be `x.y.z` (digits), got `1.4` (inherited by 1000 apps: `app-0`, `app-1`, `app-2` and 997 more)"
    );
}

#[test]
fn an_app_that_merges_its_own_audit_over_the_default_still_inherits_the_default_items() {
    let c = Case {
        what: "items inherited through a deep merge",
        alipay: false,
        defaults: &[(
            "  stage: experience\n",
            "  stage: experience\n  audit: { items: [ { tag: a b c d e f g h i j k } ] }\n",
        )],
        good: "audit: { items: [ { tag: shop } ] }",
        bad: "audit: { items: [ { tag: abcdefghijklmnopqrstu } ] }",
        path: "audit.items[0].tag",
        message: "at most 10 tags are allowed, got 11",
        own: "tag `abcdefghijklmnopqrstu` is longer than 20 characters",
    };
    // `app-0` sets an audit mapping of its own without `items`: it inherits them.
    let text = edit(
        &fleet(&c),
        &[(
            "appid: wx0000000000000000 }",
            "appid: wx0000000000000000, audit: { feedback_info: see notes } }",
        )],
    );
    let errors = load_both(&text).expect_err("bad tags").errors;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        problem_at(&errors, "defaults.audit.items[0].tag")
            .message
            .contains("(inherited by 4 apps"),
        "{errors:#?}"
    );
}

#[test]
fn apps_that_inherit_a_problem_are_named_up_to_three() {
    let bad_gray = edit(
        TWO_PLATFORMS,
        &[("  stage: experience\n", "  stage: experience\n  gray: 0\n")],
    );
    for (apps, suffix) in [
        (1, "(inherited by app `app-0`)"),
        (2, "(inherited by apps `app-0` and `app-1`)"),
        (3, "(inherited by apps `app-0`, `app-1` and `app-2`)"),
        (
            5,
            "(inherited by 5 apps: `app-0`, `app-1`, `app-2` and 2 more)",
        ),
    ] {
        let mut text = bad_gray.clone();
        for i in 0..apps {
            text.push_str(&format!(
                "  - {{ name: app-{i}, platform: wechat, appid: wx{i:016x} }}\n"
            ));
        }
        let errors = load_both(&text).expect_err("gray 0").errors;
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].message.ends_with(suffix), "{errors:#?}");
    }
}

#[test]
fn a_default_set_aside_for_its_own_problem_is_not_reported_again_by_each_app() {
    // A mistyped version and stage: each one problem, not a missing version per app nor the
    // audit items the built-in `release` stage would need.
    let text = edit(
        TWO_PLATFORMS,
        &[
            ("  version: 1.4.0\n", "  version: [1, 4]\n"),
            ("  stage: experience\n", "  stage: relase\n"),
        ],
    ) + "  - { name: a, platform: wechat, appid: wx1111111111111111 }\n  - { name: b, platform: wechat, appid: wx2222222222222222 }\n";
    let errors = load_both(&text).expect_err("mistyped defaults").errors;
    let paths: Vec<&str> = errors.iter().map(|e| e.yaml_path.as_str()).collect();
    assert_eq!(paths, ["defaults.version", "defaults.stage"], "{errors:#?}");
}

#[test]
fn a_required_key_no_one_sets_is_missing_on_each_app() {
    // No default to point at: each app names itself, as before.
    let text = edit(TWO_PLATFORMS, &[("  version: 1.4.0\n", "")])
        + "  - { name: a, platform: wechat, appid: wx1111111111111111 }\n  - { name: b, platform: wechat, appid: wx2222222222222222, version: 1.0.0 }\n";
    let errors = load_both(&text).expect_err("no version").errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].yaml_path, "apps[0].version");
    assert_eq!(errors[0].message, "missing required key `version`");
    assert_eq!(errors[0].app.as_deref(), Some("a"));
}
