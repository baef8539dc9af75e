//! Snapshots of the rendered plan of a representative fleet, as text and as JSON. The snapshot
//! files live in `src/view/tests/snapshots/`.

use crate::plan::tests::sample_plan;
use crate::view::plan as render;

use super::group::{bump, rejected};

#[test]
fn plan_text() {
    insta::assert_snapshot!(render::text(&sample_plan(), false));
}

#[test]
fn plan_json() {
    insta::assert_json_snapshot!(render::json(&sample_plan()));
}

/// The representative fleet, grouped, with four apps of one version bump and two rejections
/// added: the groups first (largest first), then the apps that stand alone in fleet order.
#[test]
fn plan_grouped_text() {
    let mut plan = sample_plan();
    plan.apps.extend((0..4).map(bump));
    plan.apps
        .push(rejected(1, "103", "the menu page shows no prices"));
    plan.apps.push(rejected(2, "207", "the logo is blurred"));
    insta::assert_snapshot!(crate::view::group::text(&plan, false));
}
