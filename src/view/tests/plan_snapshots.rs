//! Snapshots of the rendered plan of a representative fleet, as text and as JSON. The snapshot
//! files live in `src/view/tests/snapshots/`.

use crate::plan::tests::sample_plan;
use crate::view::plan as render;

#[test]
fn plan_text() {
    insta::assert_snapshot!(render::text(&sample_plan(), false));
}

#[test]
fn plan_json() {
    insta::assert_json_snapshot!(render::json(&sample_plan()));
}
