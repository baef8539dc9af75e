//! History events in words: one line per event, oldest first.

use crate::store::Event;

/// `2026-12-03T06:22:18Z  tea-house        commit         ok  commit 1.5.0 [mf:1a2b3c4d]  (fleet
/// 3f2a1b9c0d4e)`: the fleet revision the wanted state came from closes the line, where known.
pub fn line(event: &Event) -> String {
    let code = event
        .code
        .as_deref()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    let revision = event
        .revision
        .as_deref()
        .map(|r| format!("  (fleet {})", crate::model::short_revision(r)))
        .unwrap_or_default();
    format!(
        "{}  {:<16} {:<14} {}{}  {}{revision}",
        crate::model::calendar::utc(event.at_ms),
        event.app,
        event.what,
        event.result,
        code,
        event.detail
    )
}
