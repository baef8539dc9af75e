//! An app's status as `status` (and the daemon) show it: what the fleet wants, what the platform
//! has, and where the app stands — as structured rows for JSON and as a table for people.

use serde::{Deserialize, Serialize};

use crate::model::{
    AppState, Audit, AuditStatus, Build, Desired, Live, Observed, Record, Stage, WalkView,
};
use crate::plan::{Context, plan_app};

/// The version of `status -o json` (and the API's app rows): 2 since `wanted`, `experience`,
/// `audit` and `live` are objects (version 1 had them as formatted text).
pub const FORMAT_VERSION: u32 = 2;

/// One app's wanted vs live state, as `status` shows it: structured, so `-o json` gives fields,
/// not formatted text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusRow {
    /// The app's name.
    pub name: String,
    /// The app's id.
    pub appid: String,
    /// `wechat` or `alipay`.
    pub platform: String,
    /// What the fleet file wants.
    pub wanted: Wanted,
    /// The experience build, when observed.
    pub experience: Option<Build>,
    /// The latest audit, when observed.
    pub audit: Option<Audit>,
    /// The live build (with its gray percentage while a gray release runs), when observed.
    pub live: Option<Live>,
    /// The state name (`in_sync`…), `held`, or `unobserved`.
    pub state: String,
    /// Why a failed, unauthorized or held app is so.
    pub reason: Option<String>,
    /// When the app was last observed (unix ms).
    pub observed_at_ms: Option<u64>,
    /// The fleet revision (git commit, or the file's digest) the live build was committed from,
    /// where minifleet committed it and knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_revision: Option<String>,
}

impl StatusRow {
    /// Where to get the experience version's QR code, once there is an experience version.
    pub fn experience_qr(&self) -> Option<QrWhere> {
        self.experience.as_ref().map(|_| QrWhere::of(&self.name))
    }
}

/// `status -o json`'s document, serialized straight from the rows (no JSON tree of 100k rows is
/// built first).
#[derive(Serialize)]
pub struct JsonStatus<'a> {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The rows.
    pub apps: JsonRows<'a>,
}

impl<'a> JsonStatus<'a> {
    /// The document of `rows`.
    pub fn of(rows: &'a [StatusRow]) -> JsonStatus<'a> {
        JsonStatus {
            format_version: FORMAT_VERSION,
            apps: JsonRows(rows),
        }
    }
}

/// Rows as JSON shows them: each with `experience_qr` where there is an experience version
/// (made as it is written, not kept in the rows: at 100k rows that is 14 MB).
pub struct JsonRows<'a>(pub &'a [StatusRow]);

impl Serialize for JsonRows<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(JsonRow))
    }
}

/// One row as JSON shows it (see [`JsonRows`]).
pub struct JsonRow<'a>(pub &'a StatusRow);

impl Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            row: &'a StatusRow,
            #[serde(skip_serializing_if = "Option::is_none")]
            experience_qr: Option<QrWhere>,
        }
        Out {
            row: self.0,
            experience_qr: self.0.experience_qr(),
        }
        .serialize(serializer)
    }
}

/// Where an app's experience QR code is had: the command, and the daemon's route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QrWhere {
    /// `minifleet qr <app>`.
    pub command: String,
    /// `/api/v1/apps/<app>/qr` (an image, or `{"url"}` where the platform gives a URL).
    pub api: String,
}

impl QrWhere {
    /// Where `name`'s QR code is had.
    pub fn of(name: &str) -> QrWhere {
        QrWhere {
            command: format!("minifleet qr {name}"),
            api: format!("/api/v1/apps/{name}/qr"),
        }
    }
}

/// What the fleet file wants of an app.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Wanted {
    /// The code version.
    pub version: String,
    /// The build's fingerprint.
    pub fingerprint: String,
    /// How far to go.
    pub stage: Stage,
    /// The gray percentage of a release (100 = full).
    pub gray: u8,
}

impl Wanted {
    /// What `app` wants.
    pub fn of(app: &Desired) -> Wanted {
        Wanted {
            version: app.version.clone(),
            fingerprint: app.fingerprint.clone(),
            stage: app.stage,
            gray: app.gray,
        }
    }

    /// In words: `1.4.0 [mf:1a2b3c4d] gray 10%`, `1.4.0 [mf:1a2b3c4d] (stage audit)`.
    pub fn text(&self) -> String {
        let build = format!("{} [mf:{}]", self.version, self.fingerprint);
        match self.stage {
            Stage::Release if self.gray < 100 => format!("{build} gray {}%", self.gray),
            Stage::Release => build,
            stage => format!("{build} (stage {})", stage.as_str()),
        }
    }
}

/// The row of `app`, planned from its last observation (`None`: never observed) at `now_ms`;
/// `held` says why automated passes leave it alone, if they do.
pub fn row(
    app: &Desired,
    record: &Record,
    observation: Option<&(Observed, u64)>,
    held: Option<String>,
    now_ms: u64,
) -> StatusRow {
    let (state, reason) = match observation {
        None => ("unobserved".to_string(), None),
        Some((observed, _)) => {
            let context = Context { now: now_ms / 1000 };
            let plan = plan_app(app, observed, record, &context);
            let reason = match &plan.state {
                AppState::Failed { reason, .. } | AppState::NotAuthorized { reason } => {
                    Some(reason.clone())
                }
                AppState::Graying => plan.walk.as_ref().map(WalkView::words),
                _ => None,
            };
            (plan.state.name().to_string(), reason)
        }
    };
    let (state, reason) = match held {
        Some(why) if state != "in_sync" => ("held".to_string(), Some(why)),
        _ => (state, reason),
    };
    let observed = observation.map(|(o, _)| o);
    let live_revision = observed
        .and_then(|o| o.live.as_ref())
        .and_then(|l| l.build.fingerprint.as_deref())
        .and_then(|fp| record.build_revision(fp))
        .map(str::to_owned);
    StatusRow {
        name: app.name.clone(),
        appid: app.appid.clone(),
        platform: app.platform.to_string(),
        wanted: Wanted::of(app),
        experience: observed.and_then(|o| o.experience.clone()),
        audit: observed.and_then(|o| o.audit.clone()),
        live: observed.and_then(|o| o.live.clone()),
        state,
        reason,
        observed_at_ms: observation.map(|(_, at)| *at),
        live_revision,
    }
}

/// A build in words: `1.4.0 [mf:1a2b3c4d]` (`[mf:--------]` when minifleet did not make it).
pub fn build_text(b: &Build) -> String {
    b.text()
}

/// The live build of `row` in words, with the fleet revision it was made from where known:
/// `1.4.0 [mf:1a2b3c4d] from 3f2a1b9c0d4e`.
pub fn live_from_text(row: &StatusRow) -> Option<String> {
    let live = live_text(row.live.as_ref()?);
    Some(match &row.live_revision {
        Some(revision) => format!("{live} from {}", crate::model::short_revision(revision)),
        None => live,
    })
}

/// The live build in words, with the gray percentage while a gray release runs.
pub fn live_text(l: &Live) -> String {
    l.text()
}

/// The latest audit in words: `approved 1.4.0 [mf:1a2b3c4d]`.
pub fn audit_text(a: &Audit) -> String {
    let status = match a.status {
        AuditStatus::Auditing => "in review",
        AuditStatus::Delayed => "delayed",
        AuditStatus::Approved => "approved",
        AuditStatus::Rejected => "rejected",
        AuditStatus::Withdrawn => "withdrawn",
    };
    format!("{status} {}", build_text(&a.build))
}

/// The rows as a table (`APP PLATFORM WANTED AUDIT LIVE STATE OBSERVED`), then a line per app
/// with a reason; ages are counted to `now_ms`.
pub fn table(rows: &[StatusRow], now_ms: u64) -> String {
    let header = [
        "APP", "PLATFORM", "WANTED", "AUDIT", "LIVE", "STATE", "OBSERVED",
    ];
    let dash = || "-".to_string();
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.platform.clone(),
                r.wanted.text(),
                r.audit.as_ref().map_or_else(dash, audit_text),
                live_from_text(r).unwrap_or_else(dash),
                r.state.replace('_', " "),
                r.observed_at_ms
                    .map(|at| format!("{} ago", humantime::format_duration(age(now_ms, at))))
                    .unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cols: &[String]| {
        let padded: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(&header.map(String::from))];
    out.extend(cells.iter().map(|c| line(c)));
    for r in rows.iter().filter(|r| r.reason.is_some()) {
        out.push(format!(
            "{}: {}",
            r.name,
            r.reason.as_deref().unwrap_or_default()
        ));
    }
    out.join("\n")
}

/// Whole seconds from `at_ms` to `now_ms`.
pub fn age(now_ms: u64, at_ms: u64) -> std::time::Duration {
    std::time::Duration::from_secs(now_ms.saturating_sub(at_ms) / 1000)
}
