//! Gray walks over time, the part the engine runs before planning: keeping the app's
//! [`GrayMark`] (which step it is on, since when) in step with what was observed, and noticing
//! when a walk was rolled back under it. Pure: the caller passes the time and stores the record.

use crate::model::{Desired, Failure, GrayMark, Observed, Record, Stage, fingerprint_tag};

/// The call name of an aborted walk in the app's failure (`gray walk failed with rolled_back`).
pub const WALK_CALL: &str = "gray walk";

/// Brings `record.gray_mark` in step with `observed` at `now_ms` (unix ms); returns whether the
/// record changed. Marks are in whole seconds, rounded up: a hold is never cut short.
///
/// * The wanted build live at a percentage the mark does not name: the mark moves there, since
///   `now` (a step minifleet did not see begin holds from when it is first seen, never less).
/// * A walk of the wanted build that stopped short of 100 % and is no longer live (its gray was
///   reverted, or another build released over it): the walk is aborted, as a failure of the
///   wanted build, so nothing walks it again until the fleet wants another build.
/// * No walk wanted: the mark is forgotten.
pub fn track(desired: &Desired, observed: &Observed, record: &mut Record, now_ms: u64) -> bool {
    if desired.walk.is_none() || desired.stage != Stage::Release {
        return record.gray_mark.take().is_some();
    }
    let fp = desired.fingerprint.as_str();
    let live = observed.live.as_ref();
    let live_fp = live.and_then(|l| l.build.fingerprint.as_deref());
    if let Some(live) = live.filter(|_| live_fp == Some(fp)) {
        let percent = live.gray.unwrap_or(100);
        let marked = record
            .gray_mark
            .as_ref()
            .is_some_and(|m| m.fingerprint == fp && m.percent == percent);
        if !marked {
            record.gray_mark = Some(GrayMark {
                fingerprint: fp.to_owned(),
                percent,
                since: now_ms.div_ceil(1000),
            });
        }
        return !marked;
    }
    let Some(mark) = record.gray_mark.take() else {
        return false;
    };
    if mark.fingerprint == fp && mark.percent < 100 {
        let now_live = match live {
            Some(l) => match &l.build.fingerprint {
                Some(other) => {
                    format!("{} {} is live now", l.build.version, fingerprint_tag(other))
                }
                None => format!("{} (not made by minifleet) is live now", l.build.version),
            },
            None => "nothing is live now".to_owned(),
        };
        record.failure = Some(Failure {
            fingerprint: fp.to_owned(),
            call: WALK_CALL.to_owned(),
            code: "rolled_back".to_owned(),
            message: format!(
                "the walk of build {} {} was rolled back at {}% ({now_live})",
                desired.version,
                fingerprint_tag(fp),
                mark.percent
            ),
            audit: None,
        });
    }
    true
}

/// The mark after minifleet raised the wanted build's gray to `percent` at `now_ms` (unix ms).
pub fn raised(desired: &Desired, percent: u8, now_ms: u64) -> Option<GrayMark> {
    desired.walk.as_ref().map(|_| GrayMark {
        fingerprint: desired.fingerprint.clone(),
        percent,
        since: now_ms.div_ceil(1000),
    })
}
