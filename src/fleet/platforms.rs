//! The `platforms` section: each platform's section read and checked by its platform module
//! ([`PlatformSpec::read_config`]); unknown platforms are reported by the unknown-key check.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Platforms;
use super::load::Ctx;
use super::path::YamlPath;
use super::problems::Problems;
use super::spec::{SectionCx, Specs};
use crate::model::PlatformKind;

/// Reads and checks `platforms`; the settings of each platform without problems, and which
/// platform sections the file has, valid or not.
pub(crate) fn read(
    value: &mut Value,
    ctx: &Ctx<'_>,
    specs: Specs,
    p: &mut Problems<'_>,
) -> (Platforms, BTreeSet<PlatformKind>) {
    let mut platforms = Platforms::default();
    let mut declared = BTreeSet::new();
    let Value::Object(sections) = value else {
        if !value.is_null() {
            p.value(
                &YamlPath::top("platforms"),
                format!("expected a mapping, got {}", super::partial::kind(value)),
            );
        }
        return (platforms, declared);
    };
    for spec in specs {
        let name = spec.kind().as_str();
        let Some(section) = sections.get_mut(name).filter(|v| !v.is_null()) else {
            continue;
        };
        declared.insert(spec.kind());
        let path = YamlPath::top("platforms").key(name);
        // `proxy` is every platform's: taken out before the platform reads its own keys.
        let proxy = take_proxy(section, &path, p);
        let mut cx = SectionCx { path, ctx, p };
        if let Some(config) = spec.read_config(section, &mut cx) {
            platforms.insert(spec.kind(), config.with_proxy(proxy));
        }
    }
    (platforms, declared)
}

/// Removes `proxy` from a platform section; the URL when it is one (else reported).
fn take_proxy(section: &mut Value, path: &YamlPath, p: &mut Problems<'_>) -> Option<String> {
    let Value::Object(map) = section else {
        return None;
    };
    let value = map.remove("proxy")?;
    let url = value.as_str().map(str::trim).filter(|u| {
        ["http://", "https://"].iter().any(|scheme| {
            u.strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
        })
    });
    if url.is_none() {
        p.value(
            &path.key("proxy"),
            "`proxy` must be an http:// or https:// URL".to_owned(),
        )
        .help("e.g. `proxy: http://egress.internal:3128`");
    }
    url.map(str::to_owned)
}
