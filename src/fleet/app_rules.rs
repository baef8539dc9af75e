//! Checks on an app's settings (after the defaults are merged in): the version and testers every
//! app has, then its platform's own checks ([`PlatformSpec::check_app`]: gray percentages, tester
//! ids, the audit settings it needs). Each
//! problem goes through [`AppAt`], so one an app inherits is reported once, at the default.

use std::collections::HashSet;

use crate::model::GrayWalk;

use super::inherit::AppAt;
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};
use super::raw::{RawApp, RawGray, RawWalk};
use super::rules;
use super::spec::PlatformSpec;

/// Checks everything but identity and template. `app` is the app being checked; the paths of
/// its keys are built only for a problem.
pub(crate) fn check(
    raw: &RawApp,
    spec: Option<&'static dyn PlatformSpec>,
    app: &AppAt<'_>,
    p: &mut Problems<'_>,
) {
    check_version(raw.version.as_deref(), app, p);
    if let Some(RawGray::Walk(walk)) = &raw.gray {
        if let Err((path, message, help)) = walk_of(walk) {
            app.value(p, &path, message).help(help);
        }
    }
    let testers = raw.testers.as_deref().unwrap_or_default();
    check_testers(testers, app, p);
    if let Some(spec) = spec {
        spec.check_app(raw, app, p);
    }
}

fn check_version(version: Option<&str>, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let path = || YamlPath::top("version");
    match version {
        None => {
            app.missing(p, &path());
        }
        Some(v) if !rules::is_version(v) => {
            app.value(
                p,
                &path(),
                format!("version must be `x.y.z` (digits), got `{v}`"),
            )
            .help("write the version as three numbers, e.g. `1.4.0`");
        }
        Some(_) => {}
    }
}

/// Reports `audit.<key>` as missing, unless `audit` or `audit.<key>` has a problem already (which
/// says enough).
/// The problem is the app's when it sets `stage` or the audit key itself, else (both inherited)
/// the default's.
pub(crate) fn require_in_audit(
    app: &AppAt<'_>,
    key: &str,
    also: &[&[&str]],
    message: String,
    help: &str,
    p: &mut Problems<'_>,
) {
    let audit = YamlPath::top("audit");
    let path = audit.key(key);
    if !app.reported(p, &audit) && !app.reported(p, &path) {
        app.value_from(p, &path, also, message).help(help);
    }
}

fn check_testers(testers: &[String], app: &AppAt<'_>, p: &mut Problems<'_>) {
    let mut seen = HashSet::new();
    let path = |j| YamlPath::top("testers").index(j);
    for (j, tester) in testers.iter().enumerate() {
        if tester.trim().is_empty() {
            app.value(p, &path(j), "tester names must not be empty");
        } else if !seen.insert(tester.as_str()) {
            app.value(p, &path(j), format!("tester `{tester}` is listed twice"));
        }
    }
}

/// How long each step of a walk holds when `hold` is left out.
const DEFAULT_HOLD_SECS: u64 = 24 * 3600;

/// The walk `gray: { steps, hold }` asks for, or what is wrong with it (where, what, the fix).
/// The platform's own checks say which percentages it takes.
pub(crate) fn walk_of(raw: &RawWalk) -> Result<GrayWalk, (YamlPath, String, &'static str)> {
    let gray = YamlPath::top("gray");
    let steps_help = "list the percentages in increasing order, e.g. `steps: [5, 20, 50, 100]`";
    if raw.steps.is_empty() {
        let message = "a gray walk needs at least one step".to_owned();
        return Err((gray.key("steps"), message, steps_help));
    }
    let mut steps = Vec::with_capacity(raw.steps.len());
    for (i, &n) in raw.steps.iter().enumerate() {
        let Ok(step) = u8::try_from(n) else {
            continue; // out of range: the platform's check says so
        };
        if steps.last().is_some_and(|&before| step <= before) {
            let message = format!(
                "gray steps must increase: {step} comes after {}",
                steps[steps.len() - 1]
            );
            return Err((gray.key("steps").index(i), message, steps_help));
        }
        steps.push(step);
    }
    let hold = gray.key("hold");
    let hold_secs = match raw.hold.as_deref() {
        None => DEFAULT_HOLD_SECS,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d.as_secs() >= 1 => d.as_secs(),
            Ok(_) => {
                let message = format!("a step must hold at least a second, got `{text}`");
                return Err((hold, message, "write a duration like `24h`, `30m` or `90s`"));
            }
            Err(e) => {
                let message = format!("invalid duration `{text}`: {e}");
                return Err((hold, message, "write a duration like `24h`, `30m` or `90s`"));
            }
        },
    };
    Ok(GrayWalk {
        steps: steps.into(),
        hold_secs,
    })
}
