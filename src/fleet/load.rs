//! Loading: parse, index, strip unknown keys, then read each section on its own so one problem
//! never hides another; a fleet is returned only when there are no problems at all.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::locate::{Duplicate, Index, SyntaxError};
use super::partial::{self, kind};
use super::path::YamlPath;
use super::problems::Problems;
use super::raw::RawDefaults;
use super::secrets::EnvLookup;
use super::{Fleet, FleetError, FleetErrors, apps, keys, platforms, sandbox_spec, templates};

/// What secrets are resolved against.
pub(crate) struct Ctx<'a> {
    /// The fleet file's directory: `${file:…}` paths are relative to it.
    pub(crate) base_dir: PathBuf,
    /// Environment lookup for `${env:…}`.
    pub(crate) env: EnvLookup<'a>,
}

/// Loads a fleet from its text (see [`super::load_str`]).
pub(crate) fn load_str(text: &str, file: &Path, env: EnvLookup<'_>) -> Result<Fleet, FleetErrors> {
    let fail = |errors| FleetErrors {
        file: file.to_path_buf(),
        errors,
    };
    let index = Index::build(text).map_err(|e| fail(vec![syntax_error(e)]))?;
    if !index.duplicates().is_empty() {
        return Err(fail(
            index.duplicates().iter().map(duplicate_error).collect(),
        ));
    }
    let mut doc: Value = serde_yaml::from_str(text).map_err(|e| fail(vec![yaml_error(&e)]))?;
    doc.apply_merge().map_err(|e| fail(vec![yaml_error(&e)]))?;
    let ctx = Ctx {
        base_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        env,
    };
    let mut p = Problems::new(&index);
    let fleet = read_doc(&mut doc, file, &ctx, &mut p);
    match fleet {
        Some(fleet) if p.count() == 0 => Ok(fleet),
        _ => Err(fail(p.into_errors())),
    }
}

fn read_doc(doc: &mut Value, file: &Path, ctx: &Ctx<'_>, p: &mut Problems<'_>) -> Option<Fleet> {
    let Value::Mapping(_) = doc else {
        top_level_problem(doc, p);
        return None;
    };
    p.set_app_names(app_names(doc));
    keys::strip_unknown(doc, p);
    check_version(doc.get("version"), p);
    let (platforms, declared) = platforms::read(&mut take(doc, "platforms"), ctx, p);
    let templates = templates::read(&mut take(doc, "templates"), p);
    let mut defaults = take(doc, "defaults");
    let _: RawDefaults = partial::read(&mut defaults, &YamlPath::top("defaults"), p);
    let lookup = apps::Lookup {
        templates: &templates,
        declared,
        ctx,
    };
    let read = apps::read(&take(doc, "apps"), &defaults, &lookup, p);
    let mut platforms = platforms;
    if let Some(alipay) = platforms.alipay.as_mut() {
        alipay.app_auth_tokens = read.app_auth_tokens;
    }
    let sandbox = sandbox_spec::read(&mut take(doc, "sandbox"), p);
    Some(Fleet {
        path: file.to_path_buf(),
        platforms,
        apps: read.apps,
        sandbox,
    })
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

/// The section `key`, taken out of the document (null when absent).
fn take(doc: &mut Value, key: &str) -> Value {
    doc.as_mapping_mut()
        .and_then(|m| m.remove(key))
        .unwrap_or(Value::Null)
}

/// The names of `apps[i]` as written, where they are strings.
fn app_names(doc: &Value) -> Vec<Option<String>> {
    let Some(items) = doc.get("apps").and_then(Value::as_sequence) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|a| a.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
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
            let shown = serde_yaml::to_string(v)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            p.value(&path, format!("version must be 1, got `{shown}`"))
                .help("this minifleet reads fleet files of version 1");
        }
    }
}

fn syntax_error(e: SyntaxError) -> FleetError {
    FleetError {
        yaml_path: String::new(),
        app: None,
        line_col: Some(e.line_col),
        message: format!("invalid YAML: {}", e.message),
        help: None,
    }
}

fn duplicate_error(d: &Duplicate) -> FleetError {
    FleetError {
        yaml_path: d.path.clone(),
        app: None,
        line_col: Some(d.again),
        message: format!("duplicate key `{}`", d.key),
        help: Some(format!(
            "a key may appear only once in a mapping; the first `{}` is on line {}",
            d.key, d.first.0
        )),
    }
}

fn yaml_error(e: &serde_yaml::Error) -> FleetError {
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).to_owned();
    FleetError {
        yaml_path: String::new(),
        app: None,
        line_col: e.location().map(|l| (l.line(), l.column())),
        message: format!("invalid YAML: {message}"),
        help: None,
    }
}
