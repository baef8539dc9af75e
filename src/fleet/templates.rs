//! The `templates` section: each template's per-platform ids, checked once, looked up per app.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::path::YamlPath;
use super::problems::Problems;
use super::raw::RawTemplate;
use super::{partial, rules};

/// Reads and checks `templates`.
pub(crate) fn read(value: &mut Value, p: &mut Problems<'_>) -> BTreeMap<String, RawTemplate> {
    let path = YamlPath::top("templates");
    let templates: BTreeMap<String, RawTemplate> = partial::read(value, &path, p);
    for (name, template) in &templates {
        check(template, &path.key(name), p);
    }
    templates
}

fn check(template: &RawTemplate, path: &YamlPath, p: &mut Problems<'_>) {
    if let Some(wechat) = &template.wechat {
        if wechat.template_id.is_none() {
            p.missing(&path.key("wechat").key("template_id"));
        }
    }
    if let Some(alipay) = &template.alipay {
        let path = path.key("alipay");
        if alipay.template_id.is_none() {
            p.missing(&path.key("template_id"));
        }
        match alipay.template_version.as_deref() {
            None => {
                p.missing(&path.key("template_version"));
            }
            Some(v) if !rules::is_version(v) => {
                p.value(
                    &path.key("template_version"),
                    format!("template_version must be `x.y.z` (digits), got `{v}`"),
                );
            }
            Some(_) => {}
        }
    }
}
