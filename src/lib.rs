//! minifleet: a declarative GitOps reconciler for fleets of WeChat and Alipay mini-programs.
//!
//! The pure core ([`fleet`], [`model`], [`plan`]) turns the fleet file and observed live state into
//! a plan; [`platform`] talks to the platforms; [`engine`] joins them under concurrency limits and
//! records everything in the [`store`]; [`sandbox`] simulates the platforms on loopback; [`cli`] is
//! the thin shell the binary runs. See ARCHITECTURE.md.

// `PlatformError` carries the call, code, platform message, explanation and hint (DESIGN §6); it
// travels on the cold error path only, so its size is not worth boxing every `Result` for.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod daemon;
pub mod engine;
pub mod fleet;
pub mod gitsource;
pub mod model;
pub mod notify;
pub mod plan;
pub mod platform;
pub mod sandbox;
pub mod scrub;
pub mod secret;
pub mod store;
pub mod ui;
pub mod view;
