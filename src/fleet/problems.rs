//! Collecting problems: each one gets its YAML path, the app it is in and its line:col from the
//! index, and the whole set is sorted into file order and displayed in one fixed grammar. The
//! index is built on the first problem: a file without problems is parsed once. A problem apps
//! inherit from `defaults` is one problem, at the default, naming the apps.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use super::locate::Index;
use super::path::{Seg, YamlPath};
use super::{FleetError, FleetErrors};

/// Every problem found so far.
pub struct Problems<'a> {
    text: &'a str,
    index: OnceCell<Index>,
    app_names: Vec<Option<String>>,
    errors: Vec<FleetError>,
    /// Where problems were reported, but for those apps inherit.
    paths: HashSet<String>,
    /// Problems at `defaults` that apps inherit, by path and message.
    inherited: HashMap<(String, String), Inherited>,
    /// The app that inherited a problem last, and where the problems it inherits are.
    inherited_here: (usize, HashSet<String>),
    /// How many problems apps had, those they inherit counted once per app.
    found: usize,
}

/// A problem at `defaults` and the apps that inherit it.
struct Inherited {
    /// The problem, in `errors`.
    at: usize,
    /// How many apps inherit it.
    apps: usize,
    /// The first few of them, by name.
    names: Vec<String>,
}

/// How many of the apps that inherit a problem are named.
const NAMED: usize = 3;

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
            inherited: HashMap::new(),
            inherited_here: (0, HashSet::new()),
            found: 0,
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

    /// A problem with the value at `path` inside `defaults` that `apps[app]` inherits: reported
    /// once, however many apps inherit it; the message names them (see [`Problems::into_errors`]).
    pub(crate) fn inherited(
        &mut self,
        path: &YamlPath,
        app: usize,
        message: String,
    ) -> &mut FleetError {
        let name = match self.app_names.get(app).cloned().flatten() {
            Some(name) => format!("`{name}`"),
            None => format!("`apps[{app}]`"),
        };
        if self.inherited_here.0 != app {
            self.inherited_here = (app, HashSet::new());
        }
        self.inherited_here.1.insert(path.to_string());
        self.found += 1;
        let key = (path.to_string(), message);
        let at = match self.inherited.get_mut(&key) {
            Some(shared) => {
                shared.apps += 1;
                if shared.names.len() < NAMED {
                    shared.names.push(name);
                }
                shared.at
            }
            None => {
                let line_col = self.index().locate(path);
                let at = self.errors.len();
                self.errors
                    .push(error(path.to_string(), None, line_col, key.1.clone()));
                let names = vec![name];
                self.inherited.insert(key, Inherited { at, apps: 1, names });
                at
            }
        };
        &mut self.errors[at]
    }

    /// Whether `apps[app]` inherits a problem at `path` (inside `defaults`) reported already.
    pub(crate) fn inherited_by(&self, path: &YamlPath, app: usize) -> bool {
        let (last, paths) = &self.inherited_here;
        *last == app && paths.contains(&path.to_string())
    }

    /// An app's problem that is the consequence of a default set aside for a problem of its own
    /// (reported already): nothing more to say, but the app has a problem.
    pub(crate) fn set_aside(&mut self) {
        self.found += 1;
    }

    /// A problem with the value at `path`, located and naming its app like the others, but not
    /// collected: one that is reported alone (a failed `<<` merge).
    pub(crate) fn alone(&self, path: &YamlPath, message: String) -> FleetError {
        let line_col = self.index().locate(path);
        error(path.to_string(), self.app_of(path), line_col, message)
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

    /// Whether a problem was reported at `path` (not counting those apps inherit: see
    /// [`Problems::inherited_by`]).
    pub(crate) fn reported(&self, path: &YamlPath) -> bool {
        !self.paths.is_empty() && self.paths.contains(&path.to_string())
    }

    /// How many problems were found.
    pub(crate) fn count(&self) -> usize {
        self.errors.len()
    }

    /// How many problems apps had so far, those they inherit counted once for each app: an app
    /// has a problem when this grew while it was checked.
    pub(crate) fn found(&self) -> usize {
        self.found
    }

    /// The problems, in file order (those without a position last); a problem apps inherit
    /// says which.
    pub(crate) fn into_errors(mut self) -> Vec<FleetError> {
        for shared in self.inherited.values() {
            let e = &mut self.errors[shared.at];
            e.message.push_str(&which_apps(shared));
        }
        self.errors.sort_by_key(FleetError::file_order);
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
        self.found += 1;
        let app = self.app_of(path);
        self.errors
            .push(error(path.to_string(), app, line_col, message));
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

fn error(
    yaml_path: String,
    app: Option<String>,
    line_col: Option<(usize, usize)>,
    message: String,
) -> FleetError {
    FleetError {
        yaml_path,
        app,
        line_col,
        message,
        help: None,
    }
}

/// ` (inherited by app `a`)`, ` (inherited by apps `a` and `b`)`, or
/// ` (inherited by 8 apps: `a`, `b`, `c` and 5 more)`.
fn which_apps(shared: &Inherited) -> String {
    let names = &shared.names;
    match (shared.apps, names.as_slice()) {
        (1, [one]) => format!(" (inherited by app {one})"),
        (n, [init @ .., last]) if n == names.len() => {
            format!(" (inherited by apps {} and {last})", init.join(", "))
        }
        (n, _) => format!(
            " (inherited by {n} apps: {} and {} more)",
            names.join(", "),
            n - names.len()
        ),
    }
}

/// How to fix a problem that may not have been reported (see [`super::inherit::AppAt::value`]).
pub(crate) trait MaybeHelp {
    /// Adds how to fix the problem, when there is one.
    fn help(self, help: impl Into<String>);
}

impl MaybeHelp for Option<&mut FleetError> {
    fn help(self, help: impl Into<String>) {
        if let Some(e) = self {
            e.help(help);
        }
    }
}

impl FleetError {
    /// Adds how to fix the problem.
    pub(crate) fn help(&mut self, help: impl Into<String>) {
        self.help = Some(help.into());
    }

    /// Where the problem is in the file, to sort by (those without a position last).
    pub(crate) fn file_order(&self) -> (usize, usize) {
        self.line_col.unwrap_or((usize::MAX, usize::MAX))
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
