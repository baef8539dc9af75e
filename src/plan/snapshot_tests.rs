//! Snapshots of the rendered plan of a representative fleet, as text and as JSON. The snapshot
//! files live in `src/plan/snapshots/`.

use super::render;
use super::tests::sample_plan;

#[test]
fn plan_text() {
    insta::assert_snapshot!(render::text(&sample_plan(), false));
}

#[test]
fn plan_json() {
    insta::assert_json_snapshot!(render::json(&sample_plan()));
}
