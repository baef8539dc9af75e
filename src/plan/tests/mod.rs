//! Planner tests: table tests per transition, tester rules and property tests (the rendering
//! tests in `view` use the fixtures here too). The helpers here build inputs concisely.

mod alipay;
mod props;
mod release;
mod rollout;
mod testers;
mod transitions;
mod walk;

use serde_json::json;

use crate::model::{
    AppPlan, Audit, AuditStatus, Build, Desired, Live, Observed, Record, Stage, Withdrawals,
    fingerprint_tag,
};

use super::{Context, plan_app};
use crate::model::{beijing_day, beijing_month};

/// The fingerprint the fleet wants.
pub(crate) const FP: &str = "1a2b3c4d";
/// The fingerprint of the build released before.
pub(crate) const OLD: &str = "99aabbcc";
/// The fingerprint of some other build minifleet made (e.g. an outdated submission).
pub(crate) const OTHER: &str = "5e6f7a8b";
/// 2024-02-01 10:00 Beijing time.
pub(crate) const NOW: u64 = 1_706_752_800;

/// `tea-house` on WeChat, wanting 1.5.0 [mf:1a2b3c4d] fully released, no testers.
pub(crate) fn desired() -> Desired {
    desired_named("tea-house", "wx1111111111111111")
}

/// An app wanting 1.5.0 [mf:1a2b3c4d] fully released on WeChat.
pub(crate) fn desired_named(name: &str, appid: &str) -> Desired {
    let ext = json!({"shopId": "1001", "theme": "red"});
    Desired {
        name: name.to_owned(),
        platform: crate::platform::wechat::spec::KIND,
        rules: &crate::platform::wechat::spec::RULES,
        appid: appid.to_owned(),
        labels: Default::default(),
        template: "shop".to_owned(),
        template_id: "42".to_owned(),
        template_version: None,
        version: "1.5.0".to_owned(),
        description: "Spring menu".to_owned(),
        ext_json: json!({"ext": ext, "extAppid": appid, "extEnable": true}).to_string(),
        testers: Vec::new(),
        gray: 100,
        walk: None,
        priority: None,
        stage: Stage::Release,
        suspended: false,
        audit: Default::default(),
        domains: None,
        privacy: None,
        qrcode_jump: None,
        fingerprint: FP.to_owned(),
        revision: Default::default(),
    }
}

/// A build minifleet made.
pub(crate) fn build(version: &str, fp: &str) -> Build {
    Build {
        version: version.to_owned(),
        fingerprint: Some(fp.to_owned()),
        description: format!("Spring menu {}", fingerprint_tag(fp)),
    }
}

/// A build minifleet did not make (no fingerprint in its description).
pub(crate) fn foreign(version: &str) -> Build {
    Build {
        version: version.to_owned(),
        fingerprint: None,
        description: "made by hand".to_owned(),
    }
}

/// An audit of `build`.
pub(crate) fn audit(id: &str, build: Build, status: AuditStatus) -> Audit {
    Audit {
        id: id.to_owned(),
        build,
        status,
        reason: None,
    }
}

/// A release of `build`, gray at `gray` percent or full.
pub(crate) fn live(build: Build, gray: Option<u8>) -> Option<Live> {
    Some(Live { build, gray })
}

/// An authorized app with nothing committed, audited or released.
pub(crate) fn observed() -> Observed {
    Observed {
        authorized: true,
        ..Observed::default()
    }
}

/// An app that runs 1.4.0 [mf:99aabbcc] everywhere: experience, approved audit, full release.
pub(crate) fn steady_old() -> Observed {
    Observed {
        experience: Some(build("1.4.0", OLD)),
        audit: Some(audit("100", build("1.4.0", OLD), AuditStatus::Approved)),
        live: live(build("1.4.0", OLD), None),
        ..observed()
    }
}

/// An app whose wanted build is approved while 1.4.0 is live in full.
pub(crate) fn approved() -> Observed {
    Observed {
        experience: Some(wanted_build()),
        audit: Some(audit("102", wanted_build(), AuditStatus::Approved)),
        ..steady_old()
    }
}

/// The wanted build is live at `gray` percent.
pub(crate) fn released(gray: Option<u8>) -> Observed {
    Observed {
        live: live(wanted_build(), gray),
        previous: Some(build("1.4.0", OLD)),
        ..approved()
    }
}

/// `1.5.0 [mf:1a2b3c4d]`, the wanted build.
pub(crate) fn wanted_build() -> Build {
    build("1.5.0", FP)
}

/// Withdrawal counters at [`NOW`]: `today` today and `this_month` this month.
pub(crate) fn withdrawals(today: u32, this_month: u32) -> Withdrawals {
    Withdrawals {
        day: beijing_day(NOW),
        today,
        month: beijing_month(NOW),
        this_month,
    }
}

/// Plans at [`NOW`].
pub(crate) fn plan(d: &Desired, o: &Observed, r: &Record) -> AppPlan {
    plan_app(d, o, r, &Context { now: NOW })
}

/// The kinds of a plan's steps, in order.
pub(crate) fn kinds(plan: &AppPlan) -> Vec<&'static str> {
    plan.steps.iter().map(|s| s.action.kind()).collect()
}

/// A representative fleet: changes with an ext diff and gray, a wait, an app in sync, a rejected
/// and an unauthorized app, a rollback, a first release wanting gray, and a withdrawal.
pub(crate) fn sample_plan() -> super::Plan {
    let rejected = Audit {
        reason: Some("the menu page shows no prices".into()),
        ..audit("103", wanted_build(), AuditStatus::Rejected)
    };
    let cases = [
        sample("tea-house", 1, steady_old(), |d| {
            d.gray = 10;
            d.testers = vec!["ops-li".into()];
        }),
        sample("noodle-bar", 2, sample_waiting(), |_| {}),
        sample("dumpling-king", 3, sample_released(), |_| {}),
        sample("bubble-tea", 4, sample_with_audit(rejected), |_| {}),
        sample(
            "hotpot-house",
            5,
            Observed {
                authorized: false,
                ..Observed::default()
            },
            |_| {},
        ),
        sample("bakery", 6, sample_superseded(), |_| {}),
        sample("kebab-corner", 7, sample_first_release(), |d| d.gray = 10),
        sample("congee-shop", 8, sample_outdated(), |_| {}),
    ];
    let record = Record {
        last_ext: Some(json!({"shopId": "1001", "theme": "green"})),
        withdrawals: withdrawals(1, 3),
        ..Record::default()
    };
    let apps = cases.iter().map(|(d, o)| plan(d, o, &record)).collect();
    super::Plan {
        apps,
        audit_budget: None,
        unobserved: Vec::new(),
        rollout: None,
    }
}

/// One sample app (appid `wx` and 16 times `digit`): its desired state (tweaked by `tweak`) and observation.
fn sample(
    name: &str,
    digit: u8,
    o: Observed,
    tweak: impl FnOnce(&mut Desired),
) -> (Desired, Observed) {
    let appid = format!("wx{}", digit.to_string().repeat(16));
    let mut d = desired_named(name, &appid);
    tweak(&mut d);
    (d, o)
}

/// Old release live, the wanted build committed and in review.
fn sample_waiting() -> Observed {
    Observed {
        experience: Some(wanted_build()),
        audit: Some(audit("102", wanted_build(), AuditStatus::Auditing)),
        ..steady_old()
    }
}

/// The wanted build everywhere.
fn sample_released() -> Observed {
    Observed {
        experience: Some(wanted_build()),
        audit: Some(audit("102", wanted_build(), AuditStatus::Approved)),
        live: live(wanted_build(), None),
        ..observed()
    }
}

/// Old release live, the wanted build committed with `audit`.
fn sample_with_audit(audit: Audit) -> Observed {
    Observed {
        experience: Some(wanted_build()),
        audit: Some(audit),
        ..steady_old()
    }
}

/// The wanted build was the release before the live one.
fn sample_superseded() -> Observed {
    Observed {
        live: live(build("1.4.5", OTHER), None),
        previous: Some(wanted_build()),
        ..sample_released()
    }
}

/// The wanted build approved, nothing ever released.
fn sample_first_release() -> Observed {
    Observed {
        live: None,
        ..sample_released()
    }
}

/// An outdated build in review.
fn sample_outdated() -> Observed {
    Observed {
        experience: Some(build("1.4.5", OTHER)),
        audit: Some(audit("101", build("1.4.5", OTHER), AuditStatus::Auditing)),
        ..steady_old()
    }
}
