//! Loading: one parse handing over the file's sections and apps in order (the careful path —
//! a position index, then the whole document — for files it does not take), unknown keys stripped, each
//! section read on its own so one problem never hides another; a fleet is returned only when
//! there are no problems at all.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde_json::Value;

use super::Mapping;

use super::apps::{Batch, Handoff};
use super::doc::{self, Parsed};
use super::locate::{Duplicate, Index, ReadError};
use super::merge::MergeError;
use super::partial::{self, kind};
use super::path::YamlPath;
use super::problems::Problems;
use super::raw::RawDefaults;
use super::scalar;
use super::secrets::EnvLookup;
use super::spec::Specs;
use super::{
    Fleet, FleetError, FleetErrors, Platforms, apps, file, keys, merge, notify_spec, platforms,
    quota_spec, rollout_spec, sandbox_spec, templates,
};
use crate::model::Desired;

/// What the file is read against: the platforms it may name, and what secrets are resolved
/// against.
pub(crate) struct Ctx<'a> {
    /// The fleet file's directory: `${file:…}` paths are relative to it.
    pub(crate) base_dir: PathBuf,
    /// Where `${file:…}` paths must stay (a fleet's git commit), if anywhere.
    pub(crate) confine: Option<PathBuf>,
    /// Environment lookup for `${env:…}`.
    pub(crate) env: EnvLookup<'a>,
    /// The platforms, as the registry lists them.
    pub(crate) specs: Specs,
    /// The file's JSON Schema (with the platforms' sections), for the unknown-key check.
    pub(crate) schema: &'static serde_json::Value,
}

/// Loads a fleet from its text (see [`super::load_str`]); `${file:…}` secrets must stay inside
/// `confine`, when given.
pub(crate) fn load_str(
    text: &str,
    file: &Path,
    confine: Option<&Path>,
    env: EnvLookup<'_>,
    specs: Specs,
) -> Result<Fleet, FleetErrors> {
    load_into(text, file, confine, env, specs, None)
}

/// Loads a fleet from its text while a second thread runs `work` on each app as soon as it is
/// resolved (see [`super::load_with`]).
pub(crate) fn load_str_with<R: Send>(
    text: &str,
    file: &Path,
    env: EnvLookup<'_>,
    specs: Specs,
    work: &(dyn Fn(&Desired) -> R + Sync),
) -> Result<(Fleet, Vec<R>), FleetErrors> {
    let (to, from) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let mut apps = Vec::new();
            let mut results = Vec::new();
            for batch in from {
                // A careful read after a streamed one starts over from the first app.
                apps.truncate(batch.at);
                results.truncate(batch.at);
                apps.reserve_exact(batch.expected.saturating_sub(apps.len()));
                results.reserve_exact(batch.expected.saturating_sub(results.len()));
                results.extend(batch.apps.iter().map(work));
                apps.extend(batch.apps);
            }
            (apps, results)
        });
        let loaded = load_into(text, file, None, env, specs, Some(to));
        let (apps, results) = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let mut fleet = loaded?;
        fleet.apps = apps;
        Ok((fleet, results))
    })
}

/// Loads a fleet from its text; resolved apps go to `handoff` when given, else into the fleet.
fn load_into(
    text: &str,
    file: &Path,
    confine: Option<&Path>,
    env: EnvLookup<'_>,
    specs: Specs,
    handoff: Option<Handoff>,
) -> Result<Fleet, FleetErrors> {
    let text = without_bom(text);
    let ctx = Ctx {
        confine: confine.map(Path::to_path_buf),
        ..ctx(file, env, specs)
    };
    let mut reader = Reader::new(text, Problems::new(text, None), file, &ctx, handoff.clone());
    match doc::parse(text, &mut reader).map_err(|e| fail(file, read_error(e)))? {
        Parsed::Streamed => reader.finish(),
        Parsed::Whole(doc) => Err(reader.not_a_mapping(&doc)),
        Parsed::Careful => {
            drop(reader);
            careful(text, file, &ctx, handoff)?.finish()
        }
    }
}

/// [`load_str`] always on the careful path, to check the two agree.
#[cfg(test)]
pub(crate) fn load_str_careful(
    text: &str,
    file: &Path,
    env: EnvLookup<'_>,
    specs: Specs,
) -> Result<Fleet, FleetErrors> {
    let text = without_bom(text);
    let ctx = ctx(file, env, specs);
    careful(text, file, &ctx, None)?.finish()
}

/// `text` without a leading byte order mark, which some editors write and YAML allows (the
/// one-pass reader would take it for part of the first key).
fn without_bom(text: &str) -> &str {
    text.strip_prefix(file::BOM).unwrap_or(text)
}

fn ctx<'a>(file: &Path, env: EnvLookup<'a>, specs: Specs) -> Ctx<'a> {
    Ctx {
        base_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        confine: None,
        env,
        specs,
        schema: super::schema::fleet_schema(specs),
    }
}

fn errors(file: &Path, errors: Vec<FleetError>) -> FleetErrors {
    FleetErrors {
        file: file.to_path_buf(),
        errors,
    }
}

fn fail(file: &Path, error: FleetError) -> FleetErrors {
    errors(file, vec![error])
}

/// The careful path: a position index looks for keys written twice, then the whole document
/// is read ([`doc::whole`]).
fn careful<'a>(
    text: &'a str,
    file: &'a Path,
    ctx: &'a Ctx<'a>,
    handoff: Option<Handoff>,
) -> Result<Reader<'a>, FleetErrors> {
    let index = Index::build(text).map_err(|e| fail(file, read_error(e)))?;
    if !index.duplicates().is_empty() {
        let duplicates = index
            .duplicates()
            .iter()
            .map(|d| duplicate_error(d, &index))
            .collect();
        return Err(errors(file, duplicates));
    }
    let doc = doc::whole(text).map_err(|e| fail(file, read_error(e)))?;
    let mut reader = Reader::new(text, Problems::new(text, Some(index)), file, ctx, handoff);
    match doc::feed(doc, &mut reader) {
        None => Ok(reader),
        Some(doc) => Err(reader.not_a_mapping(&doc)),
    }
}

/// The sections apps are read against.
const APPS_NEED: [&str; 3] = ["platforms", "templates", "defaults"];

/// Reads the document's parts as the parser hands them over: each section on its own so one
/// problem never hides another, each app as soon as the sections it needs ([`APPS_NEED`]) are
/// there — apps that come before them wait in memory.
struct Reader<'a> {
    file: &'a Path,
    ctx: &'a Ctx<'a>,
    p: Problems<'a>,
    /// Top-level sections not read yet, unknown keys stripped.
    sections: Mapping,
    /// Reading apps, once the sections they need are read.
    apps: Option<apps::Reader<'a>>,
    platforms: Platforms,
    /// Apps that came before a section they need, by index.
    waiting: Vec<(usize, Value)>,
    /// How many apps came so far.
    count: usize,
    /// The `<<` merge that failed first in the file: the one error reported.
    merge: Option<FleetError>,
    /// Where resolved apps go, when not into the fleet; taken by the apps reader.
    handoff: Option<Handoff>,
    /// How many apps the file holds, as estimated by the parser (0: no estimate).
    expected: usize,
    /// Whether the text could hold a `<<` merge key at all (most files do not: no part is
    /// searched for one then).
    may_merge: bool,
}

impl doc::Sink for Reader<'_> {
    fn section(&mut self, key: String, mut value: Value) {
        if key == "apps" {
            if let Value::Array(items) = value {
                items.into_iter().for_each(|item| self.app(item));
                return;
            }
        }
        if let Err(e) = self.merge(&mut value) {
            self.merge_failed(e.path(&YamlPath::top(&key)), e.message);
        }
        if keys::strip_section(self.ctx.schema, &key, &mut value, &mut self.p) {
            self.sections.insert(key, value);
        }
    }

    fn expect_apps(&mut self, count: usize) {
        self.expected = count;
        self.p.expect_apps(count);
        if let Some(apps) = self.apps.as_mut() {
            apps.expect(count);
        }
    }

    fn app(&mut self, mut item: Value) {
        let merged = self.merge(&mut item);
        let index = self.count;
        self.count += 1;
        let name = item.get("name").and_then(Value::as_str).map(str::to_owned);
        self.p.push_app_name(name);
        // After the app's name is known, for the problem to name the app.
        if let Err(e) = merged {
            self.merge_failed(e.path(&YamlPath::top("apps").index(index)), e.message);
        }
        keys::strip_app(self.ctx.schema, index, &mut item, &mut self.p);
        if self.apps.is_none() && APPS_NEED.iter().all(|k| self.sections.contains_key(*k)) {
            self.apps = Some(self.start_apps());
        }
        match self.apps.as_mut() {
            Some(apps) => apps.item(index, item, &mut self.p),
            None => self.waiting.push((index, item)),
        }
    }
}

impl<'a> Reader<'a> {
    fn new(
        text: &str,
        p: Problems<'a>,
        file: &'a Path,
        ctx: &'a Ctx<'a>,
        handoff: Option<Handoff>,
    ) -> Reader<'a> {
        Reader {
            file,
            ctx,
            p,
            sections: Mapping::new(),
            apps: None,
            platforms: Platforms::default(),
            waiting: Vec::new(),
            count: 0,
            merge: None,
            handoff,
            expected: 0,
            // A merge key is `<<` as written, or spelled with escapes in a quoted key.
            may_merge: text.contains("<<") || text.contains('\\'),
        }
    }

    /// Applies `<<` merge keys in a part of the document.
    fn merge(&self, value: &mut Value) -> Result<(), MergeError> {
        if !self.may_merge {
            return Ok(());
        }
        merge::apply_merge(value)
    }

    /// Keeps a failed merge at `path` (the `<<` value or its item), when it is the first in the
    /// file so far: the careful path hands over the sections in another order than the file's,
    /// and both must report the same one.
    fn merge_failed(&mut self, path: YamlPath, message: String) {
        let mut e = self.p.alone(&path, format!("invalid YAML: {message}"));
        if self
            .merge
            .as_ref()
            .is_some_and(|kept| kept.file_order() <= e.file_order())
        {
            return;
        }
        e.help("`<<` merges a mapping (`<<: *defaults`) or a list of them");
        self.merge = Some(e);
    }

    /// The one problem of a document that is not a mapping.
    fn not_a_mapping(mut self, doc: &Value) -> FleetErrors {
        top_level_problem(doc, &mut self.p);
        errors(self.file, self.p.into_errors())
    }

    /// Reads the sections apps need; the reader of apps.
    fn start_apps(&mut self) -> apps::Reader<'a> {
        let sections = &mut self.sections;
        let p = &mut self.p;
        let specs = self.ctx.specs;
        let (platforms, declared) =
            platforms::read(&mut take(sections, "platforms"), self.ctx, specs, p);
        let templates = templates::read(&mut take(sections, "templates"), self.ctx, specs, p);
        let mut defaults = take(sections, "defaults");
        let _: RawDefaults = partial::read(&mut defaults, &YamlPath::top("defaults"), p);
        let lookup = apps::Lookup {
            specs,
            templates,
            declared,
            ctx: self.ctx,
        };
        self.platforms = platforms;
        let mut apps = apps::Reader::new(defaults, lookup, self.handoff.take());
        apps.expect(self.expected);
        apps
    }

    fn finish(mut self) -> Result<Fleet, FleetErrors> {
        if let Some(e) = self.merge {
            return Err(fail(self.file, e));
        }
        check_version(self.sections.get("version"), &mut self.p);
        let mut apps = match self.apps.take() {
            Some(apps) => apps,
            None => self.start_apps(),
        };
        for (index, item) in std::mem::take(&mut self.waiting) {
            apps.item(index, item, &mut self.p);
        }
        apps::not_a_list(&take(&mut self.sections, "apps"), &mut self.p);
        let mut read = apps.finish();
        let platforms = self.platforms;
        let sandbox = sandbox_spec::read(&mut take(&mut self.sections, "sandbox"), &mut self.p);
        let rollout = rollout_spec::read(&mut take(&mut self.sections, "rollout"), &mut self.p);
        let quota = quota_spec::read(
            &mut take(&mut self.sections, "quota"),
            &mut read.apps,
            &mut self.p,
        );
        let notify = notify_spec::read(
            &mut take(&mut self.sections, "notify"),
            self.ctx,
            &mut self.p,
        );
        if self.p.count() > 0 {
            return Err(errors(self.file, self.p.into_errors()));
        }
        Ok(Fleet {
            path: self.file.to_path_buf(),
            platforms,
            apps: read.apps,
            sandbox,
            app_tokens: read.app_tokens,
            rollout,
            quota,
            notify,
            revision: crate::model::Revision::default(),
        })
    }
}

fn top_level_problem(doc: &Value, p: &mut Problems<'_>) {
    let root = YamlPath::root();
    if doc.is_null() {
        p.value(&root, "the fleet file is empty")
            .help("start it with `version: 1`");
    } else {
        p.value(
            &root,
            format!("the fleet file must be a mapping, got {}", kind(doc)),
        )
        .help("start it with `version: 1`, then `platforms`, `templates`, `defaults` and `apps`");
    }
}

/// The section `key`, taken out of the sections (null when absent).
fn take(sections: &mut Mapping, key: &str) -> Value {
    sections.remove(key).unwrap_or(Value::Null)
}

fn check_version(version: Option<&Value>, p: &mut Problems<'_>) {
    let path = YamlPath::top("version");
    match version {
        None => {
            if let Some(e) = p.missing(&path) {
                e.help("start the file with `version: 1`");
            }
        }
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => {
            p.value(&path, format!("version must be 1, got `{}`", shown(v)))
                .help("this minifleet reads fleet files of version 1");
        }
    }
}

/// A value as a problem shows it: text bare where it reads back as the same text, anything else
/// in JSON's flow style, which YAML reads too (`"1"` for the text 1, `[1]` for a list).
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) if scalar::reads_as_text(text) => text.clone(),
        other => other.to_string(),
    }
}

fn read_error(e: ReadError) -> FleetError {
    match e {
        ReadError::Syntax(e) => FleetError {
            yaml_path: e.path.to_string(),
            app: e.app,
            line_col: Some(e.line_col),
            message: format!("invalid YAML: {}", e.message),
            help: None,
        },
        ReadError::Copies(e) => e.to_error(),
    }
}

/// A key written twice, naming the app it is in where that app's `name` is written.
fn duplicate_error(d: &Duplicate, index: &Index) -> FleetError {
    FleetError {
        yaml_path: d.path.clone(),
        app: d.app.and_then(|i| index.app_name(i)).map(str::to_owned),
        line_col: Some(d.again),
        message: format!("duplicate key `{}`", d.key),
        help: Some(format!(
            "a key may appear only once in a mapping; the first `{}` is on line {}",
            d.key, d.first.0
        )),
    }
}
