//! The daemon (DESIGN §8): serving what the platforms push to (their modules' endpoints),
//! `/healthz`, `/readyz` and `/metrics`, with bounded read times (see [`server`]).
//!
//! The watch daemon ([`run`]) hosts these beside `/readyz` and `/metrics`: a fleet watcher
//! ([`watcher`]) turns edits into diffs for the engine's scheduler; the engine's events are
//! counted ([`metrics`]) and served with the fleet's status, history and plans by the API
//! ([`api`]) that the CLI and CI ask.

pub mod api;
pub mod git;
pub mod health;
pub mod metrics;
pub mod rows;
mod run;
pub mod server;
pub mod watcher;
pub mod web;

pub use run::{ADDR_FILE, DaemonError, GitFollow, WatchOptions, run};
pub use server::{Limits, serve, serve_with};
