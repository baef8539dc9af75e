//! The `platforms` section: each platform's section read and checked by its platform module
//! ([`PlatformSpec::read_config`]); unknown platforms are reported by the unknown-key check.

use std::collections::BTreeSet;

use serde_yaml::Value;

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
    let Value::Mapping(sections) = value else {
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
        let mut cx = SectionCx {
            path: YamlPath::top("platforms").key(name),
            ctx,
            p,
        };
        if let Some(config) = spec.read_config(section, &mut cx) {
            platforms.insert(spec.kind(), config);
        }
    }
    (platforms, declared)
}
