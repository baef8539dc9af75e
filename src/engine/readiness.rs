//! Readiness before spending quota, the engine's side: the platform is asked (once a round, for
//! the apps about to submit or release) what will block them; the pure
//! [`crate::plan::readiness`] decides, and a blocked app's plan stops before its submission.

use std::sync::Arc;

use crate::model::Desired;
use crate::plan::readiness::{ICP_FILED, block, blocker, needs_check};
use crate::platform::Platform;

use super::{AppReport, Engine, Held, HoldKind, Mode};

impl Engine {
    /// Reads the readiness of the round's apps that are about to submit or release (except those
    /// already seen ready) and blocks those the platform says will fail. A read that fails blocks
    /// nothing: the submission itself then says what is wrong.
    pub(super) async fn check_readiness(
        &self,
        apps: &[Desired],
        reports: &mut [Option<AppReport>],
        mode: Mode,
    ) {
        let mut asking: Vec<(usize, Arc<dyn Platform>)> = Vec::new();
        for (at, (app, report)) in apps.iter().zip(reports.iter()).enumerate() {
            let Some(report) = report.as_ref() else {
                continue;
            };
            let planned = report.plan.as_ref().is_some_and(needs_check);
            if !planned || report.held.as_ref().is_some_and(Held::blocks_apply) {
                continue;
            }
            if self.store.record(&app.appid).is_ok_and(|r| r.icp_filed) {
                continue;
            }
            if let Some(platform) = self.platform(app.platform) {
                asking.push((at, Arc::clone(platform)));
            }
        }
        let answers = futures_util::future::join_all(
            asking
                .iter()
                .map(|(at, platform)| platform.readiness(&apps[*at])),
        )
        .await;
        for ((at, _), answer) in asking.iter().zip(answers) {
            let (app, Some(report)) = (&apps[*at], reports[*at].as_mut()) else {
                continue;
            };
            let readiness = match answer {
                Ok(Some(readiness)) => readiness,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(app = %app.name, error = %err, "cannot read the app's readiness; submitting as planned");
                    continue;
                }
            };
            let Some(blocker) = blocker(&readiness) else {
                if mode == Mode::Apply && readiness.icp_status == Some(ICP_FILED) {
                    self.remember_filed(app);
                }
                continue;
            };
            if let Some(plan) = report.plan.as_mut() {
                block(plan, &blocker);
            }
            self.hold_in_round(app, report, HoldKind::Blocked, blocker.reason, mode);
        }
    }

    /// Keeps in the app's record that its ICP filing is done: not asked again.
    fn remember_filed(&self, app: &Desired) {
        let saved = self.store.record(&app.appid).and_then(|mut record| {
            record.icp_filed = true;
            self.store.put_record(&app.appid, &record)
        });
        if let Err(err) = saved {
            tracing::warn!(app = %app.name, error = %err, "cannot keep the ICP filing in the record");
        }
    }
}
