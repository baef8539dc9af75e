//! Rendering tests: the plan's text and JSON (pinned by snapshots too), status rows and tables,
//! action descriptions.

mod group;
mod plan;
mod plan_snapshots;
mod status;
