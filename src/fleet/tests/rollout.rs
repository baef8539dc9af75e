//! Tests: the `rollout` section resolves into waves and a halt rule, both ways of reading agree,
//! and each mistake is one problem at its path with a way out.

use super::*;
use crate::model::rollout::{HaltRule, MaxUpdate};

fn with_rollout(rollout: &str) -> String {
    format!("{BASE}rollout:\n{rollout}")
}

#[test]
fn a_rollout_resolves_into_waves_and_a_halt_rule() {
    let text = with_rollout(
        "  waves:
    - { name: canary, match: { tier: canary }, max_update: 2, bake: 1h }
    - { name: east, match: { region: east }, max_update: 25% }
    - { name: rest, max_update: 0 }
  halt: { rejections: 3, rate: 10% }
",
    );
    let fleet = load_both(&text).expect("valid");
    let rollout = fleet.rollout.expect("a rollout");
    let names: Vec<&str> = rollout.waves.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["canary", "east", "rest"]);
    assert_eq!(
        rollout.waves[0].labels,
        [("tier".to_owned(), "canary".to_owned())]
    );
    assert_eq!(rollout.waves[0].max_update, MaxUpdate::Count(2));
    assert_eq!(rollout.waves[0].bake_secs, 3600);
    assert_eq!(rollout.waves[1].max_update, MaxUpdate::Percent(25));
    assert!(rollout.waves[2].max_update.is_gate());
    assert!(rollout.waves[2].labels.is_empty(), "the catch-all");
    assert_eq!(
        rollout.halt,
        HaltRule {
            rejections: 3,
            rate_percent: 10
        }
    );
    // Left out: every app at once, no bake, the default halt rule; no section: no rollout.
    let fleet = load_both(&with_rollout("  waves: [{ name: all }]\n")).expect("valid");
    let rollout = fleet.rollout.expect("a rollout");
    assert_eq!(rollout.waves[0].max_update, MaxUpdate::Percent(100));
    assert_eq!(rollout.waves[0].bake_secs, 0);
    assert_eq!(rollout.halt, HaltRule::default());
    assert!(load_both(BASE).unwrap().rollout.is_none());
}

#[test]
fn each_rollout_mistake_is_one_problem_at_its_path() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("  halt: {}\n", "rollout.waves", "missing", "list the waves"),
        (
            "  waves: []\n",
            "rollout.waves",
            "at least one wave",
            "e.g.",
        ),
        (
            "  waves: [{ name: a }, { name: a }]\n",
            "rollout.waves[1].name",
            "duplicate wave name `a`",
            "promote",
        ),
        (
            "  waves: [{ name: \"-a\" }]\n",
            "rollout.waves[0].name",
            "invalid wave name",
            "letters",
        ),
        (
            "  waves: [{ name: a, max_update: 150% }]\n",
            "rollout.waves[0].max_update",
            "invalid share `150%`",
            "0%",
        ),
        (
            "  waves: [{ name: a, bake: soon }]\n",
            "rollout.waves[0].bake",
            "invalid duration `soon`",
            "duration",
        ),
        (
            "  waves: [{ name: a }]\n  halt: { rejections: 0, rate: 0% }\n",
            "rollout.halt",
            "never halts",
            "default",
        ),
        (
            "  waves: [{ name: a, matches: { tier: x } }]\n",
            "rollout.waves[0].matches",
            "unknown",
            "match",
        ),
    ];
    for (rollout, path, message, help) in cases {
        let errors = problems(&with_rollout(rollout));
        assert_eq!(errors.len(), 1, "{rollout}: {errors:?}");
        let e = problem_at(&errors, path);
        assert!(e.message.contains(message), "{rollout}: {}", e.message);
        assert!(
            e.help.as_deref().unwrap_or_default().contains(help),
            "{rollout}: {:?}",
            e.help
        );
    }
}
