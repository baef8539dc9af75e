//! The `templates` section: each template's part for each platform read and checked once by the
//! platform's module ([`PlatformSpec::read_template`]), looked up per app.

use std::collections::BTreeMap;

use serde_json::Value;

use super::load::Ctx;
use super::partial::kind;
use super::path::YamlPath;
use super::problems::Problems;
use super::spec::{SectionCx, Specs, TemplateRef};
use crate::model::PlatformKind;

/// A template: its part for each platform that has one (`None`: the part had problems).
pub(crate) type Template = BTreeMap<PlatformKind, Option<TemplateRef>>;

/// Reads and checks `templates`.
pub(crate) fn read(
    value: &mut Value,
    ctx: &Ctx<'_>,
    specs: Specs,
    p: &mut Problems<'_>,
) -> BTreeMap<String, Template> {
    let top = YamlPath::top("templates");
    let mut templates = BTreeMap::new();
    let Value::Object(entries) = value else {
        if !value.is_null() {
            p.value(&top, format!("expected a mapping, got {}", kind(value)));
        }
        return templates;
    };
    for (name, entry) in entries.iter_mut() {
        let path = top.key(name);
        let Value::Object(parts) = entry else {
            if !entry.is_null() {
                p.value(&path, format!("expected a mapping, got {}", kind(entry)));
            }
            templates.insert(name.to_owned(), Template::new());
            continue;
        };
        let mut template = Template::new();
        for spec in specs {
            let key = spec.kind().as_str();
            let Some(part) = parts.get_mut(key) else {
                continue;
            };
            let mut cx = SectionCx {
                path: path.key(key),
                ctx,
                p,
            };
            template.insert(spec.kind(), spec.read_template(part, &mut cx));
        }
        templates.insert(name.to_owned(), template);
    }
    templates
}
