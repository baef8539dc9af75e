//! Test fixtures of the daemon's unit tests: pass reports without a platform.

use crate::engine::{AppReport, Applied, PassError};
use crate::fleet;
use crate::model::{Action, AppPlan, AppState, Desired, Step};
use crate::platform::{ErrorClass, PlatformError};

/// The event reference of `tea-house` (fingerprint `abcd1234`).
pub fn app_ref() -> crate::engine::events::AppRef {
    crate::engine::events::AppRef {
        name: "tea-house".into(),
        appid: "wx1111111111111111".into(),
        platform: crate::platform::wechat::spec::KIND,
        fingerprint: "abcd1234".into(),
        revision: None,
    }
}

/// A report of a pass of `tea-house` that planned `state` and applied `applied`.
pub fn report(state: AppState, applied: Vec<Applied>) -> AppReport {
    AppReport {
        app: "tea-house".into(),
        appid: "wx1111111111111111".into(),
        plan: Some(AppPlan {
            name: "tea-house".into(),
            appid: "wx1111111111111111".into(),
            platform: crate::platform::wechat::spec::KIND,
            version: "1.0.0".into(),
            fingerprint: "abcd1234".into(),
            state,
            steps: Vec::new(),
            notes: Vec::new(),
            ext_change: None,
            walk: None,
        }),
        applied,
        error: None,
        held: None,
        progress: None,
        unreleased: false,
    }
}

/// A step doing `action`.
pub fn step(action: Action) -> Step {
    Step {
        action,
        reason: "test".into(),
    }
}

/// A platform error of `class`.
pub fn platform_error(class: ErrorClass) -> PlatformError {
    PlatformError {
        effect: None,
        platform: crate::platform::wechat::spec::KIND,
        call: "wxa/release".into(),
        code: "85019".into(),
        message: String::new(),
        class,
        explanation: "x".into(),
        hint: String::new(),
    }
}

/// A report of a pass that could not observe: a platform error of `class`.
pub fn failed_report(class: ErrorClass) -> AppReport {
    AppReport {
        plan: None,
        error: Some(PassError::Platform(Box::new(platform_error(class)))),
        ..report(AppState::InSync, Vec::new())
    }
}

/// The apps of a WeChat sandbox fleet whose `apps:` section is `yaml_apps`.
pub fn apps(yaml_apps: &str) -> Vec<Desired> {
    fleet_of(yaml_apps).apps
}

/// A WeChat sandbox fleet whose `apps:` section is `yaml_apps` (empty: none).
pub fn fleet_of(yaml_apps: &str) -> crate::fleet::Fleet {
    let yaml_apps = if yaml_apps.is_empty() {
        "  []\n"
    } else {
        yaml_apps
    };
    let text = format!(
        "version: 1\n\
         platforms:\n  wechat:\n    component_appid: wx00000000000000aa\n    api_base: sandbox\n\
         templates:\n  shop:\n    wechat: {{ template_id: 7 }}\n\
         defaults:\n  template: shop\n  description: Test\n\
         apps:\n{yaml_apps}"
    );
    fleet::load_str(
        &text,
        std::path::Path::new("fleet.yaml"),
        &|_| None,
        crate::platform::registry::SPECS,
    )
    .unwrap_or_else(|e| panic!("a valid fleet: {e}"))
}
