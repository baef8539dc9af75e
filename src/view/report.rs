//! The one error report: a message in the fixed grammar (lowercase, no trailing period, names in
//! backticks) and an optional `help:` line with what to do next.

use std::fmt;

use crate::engine::PassError;
use crate::platform::PlatformError;
use crate::store::StoreError;

/// An error as people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Report {
    /// A report without a hint.
    pub fn new(message: impl Into<String>) -> Report {
        Report {
            message: message.into(),
            help: None,
        }
    }

    /// Adds (or replaces) the `help:` line; an empty hint adds none.
    pub fn help(mut self, help: impl Into<String>) -> Report {
        let help = help.into();
        self.help = (!help.is_empty()).then_some(help);
        self
    }

    /// The same report about app `name`: `app `name`: …`.
    pub fn for_app(mut self, name: &str) -> Report {
        self.message = format!("app `{name}`: {}", self.message);
        self
    }
}

impl fmt::Display for Report {
    /// `message`, then `help: …` on its own line when there is a hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl From<&PlatformError> for Report {
    /// The platform's error (`wechat: call failed with code (explanation)`) with its next step.
    fn from(err: &PlatformError) -> Report {
        Report::new(format!("{}: {err}", err.platform)).help(err.hint.clone())
    }
}

impl From<&StoreError> for Report {
    /// The store's error with what to do about it ([`StoreError::help`]).
    fn from(err: &StoreError) -> Report {
        let report = Report::new(err.to_string());
        match err.help() {
            Some(help) => report.help(help),
            None => report,
        }
    }
}

impl From<StoreError> for Report {
    fn from(err: StoreError) -> Report {
        Report::from(&err)
    }
}

impl From<&PassError> for Report {
    /// What ended an app's pass, with what to do about it.
    fn from(err: &PassError) -> Report {
        match err {
            PassError::Platform(err) => Report::from(&**err),
            PassError::Store(report) => report.clone(),
            PassError::NoPlatform(kind) => Report::new(err.to_string()).help(format!(
                "add a `platforms.{kind}` section to the fleet file, or move the app to a platform it has"
            )),
            PassError::Crashed => Report::new(err.to_string()).help(
                "this is a bug: the log (`RUST_LOG=minifleet=debug`) says where; the next pass tries again",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fixtures::report as app_report;
    use crate::model::{AppState, PlatformKind};
    use crate::platform::ErrorClass;

    #[test]
    fn a_platform_error_keeps_its_platform_call_code_and_hint() {
        let err = PlatformError::local(
            PlatformKind::new("wechat"),
            "wxa/commit",
            "85013",
            ErrorClass::Permanent,
            "the ext.json is invalid",
            "fix the app's `ext`",
        );
        let said = Report::from(&PassError::Platform(Box::new(err)));
        assert_eq!(
            said.message,
            "wechat: wxa/commit failed with 85013 (the ext.json is invalid)"
        );
        assert_eq!(said.help.as_deref(), Some("fix the app's `ext`"));
    }

    #[test]
    fn every_pass_error_says_what_to_do() {
        let locked = StoreError::Locked {
            dir: "/tmp/store".into(),
            holder: None,
        };
        for err in [
            PassError::NoPlatform(PlatformKind::new("wechat")),
            PassError::Crashed,
            PassError::from(locked),
        ] {
            let said = Report::from(&err);
            assert_eq!(said.message, err.to_string());
            assert!(said.help.is_some(), "{err} has a `help:` line");
        }
    }

    #[test]
    fn a_failed_app_keeps_the_hint_of_an_error_that_is_not_the_platforms() {
        let mut report = app_report(AppState::InSync, Vec::new());
        report.error = Some(PassError::NoPlatform(PlatformKind::new("alipay")));
        let failed = crate::engine::summarize(&[report]).failed;
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0]
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("`platforms.alipay`")),
            "{failed:?}"
        );
    }
}
