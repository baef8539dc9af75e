//! Tests: the `quota` section keeps slots for new merchants and gives apps their priority by
//! labels (an app's own wins); each mistake is one problem at its path with a way out.

use super::*;

const APPS: &str = "  - { name: gold-1, platform: wechat, appid: wx2222222222222222, labels: { tier: gold } }
  - { name: own-1, platform: wechat, appid: wx3333333333333333, labels: { tier: gold }, priority: -5 }
";

fn with_quota(quota: &str) -> String {
    format!("{BASE}{APPS}quota:\n{quota}")
}

#[test]
fn priorities_come_from_the_first_matching_rule_unless_an_app_sets_its_own() {
    let text = with_quota(
        "  reserve: 3
  priority:
    - { match: { tier: gold }, priority: 10 }
    - { match: { tier: gold, region: east }, priority: 99 }
",
    );
    let fleet = load_both(&text).expect("valid");
    assert_eq!(fleet.quota.reserve, 3);
    let priority = |name: &str| fleet.apps.iter().find(|a| a.name == name).unwrap().priority;
    assert_eq!(priority("tea-house"), None, "no label matches: 0");
    assert_eq!(priority("gold-1"), Some(10), "the first rule wins");
    assert_eq!(priority("own-1"), Some(-5), "an app's own priority wins");
}

#[test]
fn without_a_quota_section_nothing_is_kept_and_every_priority_is_the_default() {
    let fleet = load_both(&format!("{BASE}{APPS}")).expect("valid");
    assert_eq!(fleet.quota.reserve, 0);
    assert_eq!(fleet.apps[1].priority, None);
}

#[test]
fn each_mistake_is_one_problem_at_its_path() {
    let cases = [
        ("  reserve: lots\n", "quota.reserve", "invalid type"),
        (
            "  reserve: 200000\n",
            "quota.reserve",
            "reserve must be at most 100000",
        ),
        (
            "  priority: [{ priority: 3 }]\n",
            "quota.priority[0].match",
            "missing required key `match`",
        ),
        (
            "  priority: [{ match: {}, priority: 3 }]\n",
            "quota.priority[0].match",
            "must name at least one label",
        ),
        (
            "  priority: [{ match: { tier: gold } }]\n",
            "quota.priority[0].priority",
            "missing required key `priority`",
        ),
        ("  keep: 3\n", "quota.keep", "unknown key `keep`"),
    ];
    for (quota, path, message) in cases {
        let errors = load_both(&with_quota(quota)).expect_err(quota).errors;
        let e = problem_at(&errors, path);
        assert!(e.message.contains(message), "{quota}: {e:#?}");
    }
    let in_defaults = edit(
        BASE,
        &[(
            "  stage: experience\n",
            "  stage: experience\n  priority: 3\n",
        )],
    );
    let errors = load_both(&in_defaults)
        .expect_err("priority is never inherited")
        .errors;
    assert!(
        problem_at(&errors, "defaults.priority")
            .message
            .contains("unknown key")
    );
}
