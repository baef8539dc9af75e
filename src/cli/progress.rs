//! The progress of a long `reconcile` or `plan` on a terminal: one N/total bar (apps settled, or
//! observed for a plan) with the action under way, and the per-action lines printed above it.
//! Piped, quiet or without a terminal there is no bar: the lines alone, as before.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ui::Ui;

/// Where progress goes; cheap to clone (one bar shared).
#[derive(Clone)]
pub struct Progress {
    ui: Ui,
    bar: Option<ProgressBar>,
    counted: Arc<Mutex<HashSet<String>>>,
}

impl Progress {
    /// Progress over `total` apps, the bar saying `verb` (`settled`, `observed`); a bar only when
    /// progress shows, stderr is a terminal and there is more than one app.
    pub fn new(ui: &Ui, total: usize, verb: &str) -> Progress {
        let wanted = ui.shows_progress() && ui.stderr_is_terminal() && total > 1;
        Progress::with_bar(ui, wanted.then(ProgressDrawTarget::stderr), total, verb)
    }

    fn with_bar(ui: &Ui, target: Option<ProgressDrawTarget>, total: usize, verb: &str) -> Progress {
        let bar = target.map(|target| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), target);
            let template =
                format!("{{spinner}} {{pos}}/{{len}} apps {verb} [{{elapsed}}] {{wide_msg}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            ui: *ui,
            bar,
            counted: Arc::default(),
        }
    }

    /// Prints a progress line (above the bar, if there is one).
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => self.ui.status(text),
        }
    }

    /// Says what is under way, on the bar.
    pub fn doing(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// Counts `app` as done (once, however often it is reported).
    pub fn done(&self, app: &str) {
        let first = self
            .counted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(app.to_string());
        if first && let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Apps counted so far.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.counted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Runs `f` (which prints) with the bar off the screen meanwhile.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Takes the bar off the screen (before the summary prints).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Whether a bar is drawn.
    #[cfg(test)]
    fn has_bar(&self) -> bool {
        self.bar.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Format;

    #[test]
    fn no_bar_when_piped_or_quiet_or_for_one_app() {
        // The test harness's stderr is not a terminal.
        let ui = Ui::new(Format::Text, false);
        if !ui.stderr_is_terminal() {
            assert!(!Progress::new(&ui, 100, "settled").has_bar());
        }
        let quiet = Ui::new(Format::Text, true);
        assert!(!Progress::new(&quiet, 100, "settled").has_bar());
        assert!(!Progress::new(&ui, 1, "settled").has_bar());
    }

    #[test]
    fn each_app_counts_once() {
        let ui = Ui::new(Format::Text, true);
        let progress = Progress::with_bar(&ui, Some(ProgressDrawTarget::hidden()), 3, "settled");
        assert!(progress.has_bar());
        for app in ["a", "b", "a", "a", "c"] {
            progress.done(app);
        }
        assert_eq!(progress.count(), 3);
        assert_eq!(progress.bar.as_ref().unwrap().position(), 3);
        progress.doing("a: commit 1.0.0");
        assert_eq!(progress.bar.as_ref().unwrap().message(), "a: commit 1.0.0");
        progress.finish();
        assert!(progress.bar.as_ref().unwrap().is_finished());
    }
}
