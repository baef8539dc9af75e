//! One home for what people and scripts read: how an action is described, the plan and status
//! renderers (text and JSON), history lines, and the error report with its `help:` line. `cli`
//! and `daemon` only pick the output; nothing here does I/O or reads a clock.

pub mod action;
pub mod fleet;
pub mod group;
pub mod history;
pub mod html;
pub mod plan;
pub mod report;
pub mod status;

#[cfg(test)]
mod tests;

/// `n thing(s)`, or nothing when `n` is zero.
pub(crate) fn counted(n: usize, one: &str, many: &str) -> Option<String> {
    match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        _ => Some(format!("{n} {many}")),
    }
}

pub use crate::plan::plural;
