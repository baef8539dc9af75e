//! Readiness before spending quota (issue 16): what the platform says will block an audit or a
//! release, read only for apps about to submit or release, decided here, purely: a blocked app's
//! plan stops before its submission (or its release), with what to do, instead of spending a
//! slot of the shared audit quota on a doomed submission.

use crate::model::{Action, AppPlan, AppState, Readiness};

/// WeChat's ICP filing status meaning "filed" (`wxa/icp/get_icp_entrance_info` → `info.status`).
pub const ICP_FILED: u32 = 6;

/// Why an app is not ready, and what to do about it; `None`: nothing known blocks it.
pub fn blocker(readiness: &Readiness) -> Option<Blocker> {
    let status = readiness.icp_status.filter(|&s| s != ICP_FILED)?;
    let state = match status {
        2 => "in the platform's review",
        3 => "rejected by the platform",
        4 => "in the regulator's review",
        5 => "rejected by the regulator",
        1024 => "not filed",
        _ => "not done",
    };
    Some(Blocker {
        reason: format!(
            "blocked before submitting: the ICP filing (备案) is {state} (status {status}), and \
             WeChat releases no mini-program without one"
        ),
        help: "the merchant files it in the mini-program's console (设置 → 备案); minifleet \
               submits once it reads status 6 (filed)"
            .to_owned(),
    })
}

/// What blocks an app, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// Why, in words.
    pub reason: String,
    /// What to do about it.
    pub help: String,
}

/// Whether `action` spends an audit slot or releases: what readiness guards.
pub fn is_guarded(action: &Action) -> bool {
    action.is_submission() || matches!(action, Action::Release { .. } | Action::Gray { .. })
}

/// Whether the plan submits or releases before its first wait: the apps whose readiness is read.
pub fn needs_check(plan: &AppPlan) -> bool {
    plan.steps_now().any(|s| is_guarded(&s.action))
}

/// Cuts `plan` before its first submission or release: the steps before it still go (a commit),
/// and once they are through the app is stopped (failed) until the blocker is gone.
pub fn block(plan: &mut AppPlan, blocker: &Blocker) {
    let at = plan
        .steps
        .iter()
        .position(|s| is_guarded(&s.action))
        .unwrap_or(plan.steps.len());
    plan.steps.truncate(at);
    plan.ext_change = plan.ext_change.take().filter(|_| {
        plan.steps
            .iter()
            .any(|s| matches!(s.action, Action::Commit { .. }))
    });
    plan.notes
        .push(format!("{}; {}", blocker.reason, blocker.help));
    if !plan.has_changes() {
        plan.state = AppState::Failed {
            reason: blocker.reason.clone(),
            help: blocker.help.clone(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Record;
    use crate::plan::tests::{approved, desired, kinds, plan, steady_old};

    fn icp(status: u32) -> Readiness {
        Readiness {
            icp_status: Some(status),
        }
    }

    #[test]
    fn only_a_filing_that_is_not_done_blocks() {
        assert_eq!(blocker(&icp(ICP_FILED)), None);
        assert_eq!(
            blocker(&Readiness::default()),
            None,
            "nothing known blocks nothing"
        );
        for (status, words) in [
            (1024, "not filed"),
            (4, "in the regulator's review"),
            (3, "rejected by the platform"),
        ] {
            let b = blocker(&icp(status)).expect("blocked");
            assert!(b.reason.contains(words), "{status}: {}", b.reason);
            assert!(b.reason.contains(&format!("(status {status})")));
            assert!(b.help.contains("设置 → 备案"));
        }
    }

    #[test]
    fn a_blocked_plan_keeps_its_commit_and_stops_before_the_submission() {
        let mut p = plan(&desired(), &steady_old(), &Record::default());
        assert!(needs_check(&p));
        let b = blocker(&icp(1024)).unwrap();
        block(&mut p, &b);
        assert_eq!(kinds(&p), ["commit"]);
        assert!(p.ext_change.is_some(), "the commit's diff stays");
        assert_eq!(p.state, AppState::Changes, "the commit still goes");
        assert!(
            p.notes
                .last()
                .unwrap()
                .starts_with("blocked before submitting")
        );
        // Approved already: the release is what is blocked, and the app stops (failed).
        let mut p = plan(&desired(), &approved(), &Record::default());
        assert_eq!(kinds(&p), ["release"]);
        block(&mut p, &b);
        assert!(p.steps.is_empty());
        assert!(matches!(&p.state, AppState::Failed { reason, .. } if reason.contains("ICP")));
    }
}
