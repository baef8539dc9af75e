//! Collecting problems: each one gets its YAML path, the app it is in and its line:col from the
//! index, and the whole set is sorted into file order and displayed in one fixed grammar. The
//! index is built on the first problem: a file without problems is parsed once.

use std::cell::OnceCell;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use super::locate::Index;
use super::path::{Seg, YamlPath};
use super::{FleetError, FleetErrors};

/// Every problem found so far.
pub(crate) struct Problems<'a> {
    text: &'a str,
    index: OnceCell<Index>,
    app_names: Vec<Option<String>>,
    errors: Vec<FleetError>,
    paths: HashSet<String>,
}

impl<'a> Problems<'a> {
    /// An empty set of problems in `text`, located through `index` (built from `text` when
    /// `None` and a problem needs it).
    pub(crate) fn new(text: &'a str, index: Option<Index>) -> Problems<'a> {
        Problems {
            text,
            index: index.map(OnceCell::from).unwrap_or_default(),
            app_names: Vec::new(),
            errors: Vec::new(),
            paths: HashSet::new(),
        }
    }

    /// Sizes the list of app names for about `count` apps.
    pub(crate) fn expect_apps(&mut self, count: usize) {
        self.app_names
            .reserve_exact(count.saturating_sub(self.app_names.len()));
    }

    /// The name of the next app, `apps[i]`, as written, to name the app in problems inside it.
    pub(crate) fn push_app_name(&mut self, name: Option<String>) {
        self.app_names.push(name);
    }

    /// A problem with the value at `path`.
    pub(crate) fn value(&mut self, path: &YamlPath, message: impl Into<String>) -> &mut FleetError {
        let line_col = self.index().locate(path);
        self.push(path, line_col, message.into())
    }

    /// A problem with the key at `path` itself (an unknown key).
    pub(crate) fn key(&mut self, path: &YamlPath, message: impl Into<String>) -> &mut FleetError {
        let line_col = self.index().locate_key(path);
        self.push(path, line_col, message.into())
    }

    /// A missing required key, unless a problem was already reported there (a mistyped value
    /// that was set aside).
    pub(crate) fn missing(&mut self, path: &YamlPath) -> Option<&mut FleetError> {
        if self.reported(path) {
            return None;
        }
        let name = match path.segs().last() {
            Some(Seg::Key(k)) => k.clone(),
            _ => path.to_string(),
        };
        Some(self.value(path, format!("missing required key `{name}`")))
    }

    /// Whether a problem was reported at `path`.
    pub(crate) fn reported(&self, path: &YamlPath) -> bool {
        !self.paths.is_empty() && self.paths.contains(&path.to_string())
    }

    /// How many problems were found.
    pub(crate) fn count(&self) -> usize {
        self.errors.len()
    }

    /// The problems, in file order (those without a position last).
    pub(crate) fn into_errors(mut self) -> Vec<FleetError> {
        self.errors
            .sort_by_key(|e| e.line_col.unwrap_or((usize::MAX, usize::MAX)));
        self.errors
    }

    /// The position index; the text parsed before, so it builds.
    fn index(&self) -> &Index {
        self.index
            .get_or_init(|| Index::build(self.text).unwrap_or_default())
    }

    fn push(
        &mut self,
        path: &YamlPath,
        line_col: Option<(usize, usize)>,
        message: String,
    ) -> &mut FleetError {
        self.paths.insert(path.to_string());
        let app = self.app_of(path);
        self.errors.push(FleetError {
            yaml_path: path.to_string(),
            app,
            line_col,
            message,
            help: None,
        });
        let last = self.errors.len() - 1;
        &mut self.errors[last]
    }

    fn app_of(&self, path: &YamlPath) -> Option<String> {
        match path.segs() {
            [Seg::Key(apps), Seg::Index(i), ..] if apps == "apps" => {
                self.app_names.get(*i).cloned().flatten()
            }
            _ => None,
        }
    }
}

impl FleetError {
    /// Adds how to fix the problem.
    pub(crate) fn help(&mut self, help: impl Into<String>) {
        self.help = Some(help.into());
    }

    /// Writes the problem's block: `error: FILE:L:C: PATH (app `NAME`): MESSAGE` and its help.
    pub(crate) fn write_block(&self, file: &Path, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", file.display())?;
        if let Some((line, col)) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if !self.yaml_path.is_empty() {
            f.write_str(&self.yaml_path)?;
            if let Some(app) = &self.app {
                write!(f, " (app `{app}`)")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl FleetErrors {
    /// Writes every problem and the summary line.
    pub(crate) fn write_report(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.errors {
            error.write_block(&self.file, f)?;
            f.write_str("\n")?;
        }
        let n = self.errors.len();
        let noun = if n == 1 { "problem" } else { "problems" };
        write!(f, "{n} {noun} in {}", self.file.display())
    }
}
