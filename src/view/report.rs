//! The one error report: a message in the fixed grammar (lowercase, no trailing period, names in
//! backticks) and an optional `help:` line with what to do next.

use std::fmt;

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
