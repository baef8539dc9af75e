//! ext.json as the platforms get it: the merchant's `ext`, the app's id where the platform wants
//! it, and the other keys the fleet sets beside `ext` (`ext_json:` — app.json overrides such as
//! `extPages`, `window`, `tabBar`), checked against the keys each platform takes.

use serde_json::{Map, Value};

use super::inherit::AppAt;
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};

/// What a key of ext.json holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// A mapping (`window`, `tabBar`, `networkTimeout`, `plugins`).
    Mapping,
    /// A mapping of page path to a mapping (`extPages`).
    Pages,
    /// A list of strings (`pages`, `requiredPrivateInfos`, `navigateToMiniProgramAppIdList`).
    Strings,
    /// A list (`subPackages`).
    List,
    /// `true` or `false` (`directCommit`).
    Flag,
}

impl Holds {
    fn fits(self, value: &Value) -> bool {
        match self {
            Holds::Mapping => value.is_object(),
            Holds::Pages => value
                .as_object()
                .is_some_and(|pages| pages.values().all(Value::is_object)),
            Holds::Strings => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Holds::List => value.is_array(),
            Holds::Flag => value.is_boolean(),
        }
    }

    fn words(self) -> &'static str {
        match self {
            Holds::Mapping => "a mapping",
            Holds::Pages => "a mapping of page paths to mappings",
            Holds::Strings => "a list of strings",
            Holds::List => "a list",
            Holds::Flag => "true or false",
        }
    }
}

/// The keys of ext.json minifleet writes itself.
const OWN: [&str; 3] = ["ext", "extAppid", "extEnable"];

/// Checks `ext_json` (the keys beside `ext`) against the keys `platform` takes.
pub(crate) fn check(
    others: Option<&Map<String, Value>>,
    takes: &[(&str, Holds)],
    platform: &str,
    app: &AppAt<'_>,
    p: &mut Problems<'_>,
) {
    let Some(others) = others else {
        return;
    };
    let path = YamlPath::top("ext_json");
    for (key, value) in others {
        let at = path.key(key);
        if OWN.contains(&key.as_str()) {
            let help = if key == "ext" {
                "set the merchant's config under the app's `ext`"
            } else {
                "minifleet writes it: leave it out"
            };
            app.value(
                p,
                &at,
                format!("`{key}` is written by minifleet, not set in `ext_json`"),
            )
            .help(help);
            continue;
        }
        match takes.iter().find(|(name, _)| name == key) {
            None => {
                let names: Vec<&str> = takes.iter().map(|(name, _)| *name).collect();
                app.value(
                    p,
                    &at,
                    format!("`{key}` is not an ext.json key {platform} takes"),
                )
                .help(format!("{platform} takes: {}", names.join(", ")));
            }
            Some((_, holds)) if !holds.fits(value) => {
                app.value(p, &at, format!("`{key}` must be {}", holds.words()));
            }
            Some(_) => {}
        }
    }
}

/// The canonical ext.json text (keys sorted, no whitespace; it is part of the build's
/// fingerprint): `ext`, `extAppid` when the platform names the app, `extEnable`, and `others`.
pub fn canonical(
    ext: &Map<String, Value>,
    appid: Option<&str>,
    others: &Map<String, Value>,
) -> String {
    if others.is_empty() {
        /// The keys in sorted order (the fields are), as every fingerprint so far was computed
        /// over.
        #[derive(serde::Serialize)]
        struct Plain<'a> {
            ext: &'a Map<String, Value>,
            #[serde(rename = "extAppid", skip_serializing_if = "Option::is_none")]
            ext_appid: Option<&'a str>,
            #[serde(rename = "extEnable")]
            ext_enable: bool,
        }
        let plain = Plain {
            ext,
            ext_appid: appid,
            ext_enable: true,
        };
        // A map with string keys always serializes.
        return serde_json::to_string(&plain).unwrap_or_default();
    }
    // serde_json's map keeps its keys sorted: one map of everything is canonical.
    let mut all = others.clone();
    all.insert("ext".to_owned(), Value::Object(ext.clone()));
    if let Some(appid) = appid {
        all.insert("extAppid".to_owned(), Value::String(appid.to_owned()));
    }
    all.insert("extEnable".to_owned(), Value::Bool(true));
    serde_json::to_string(&all).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn without_other_keys_the_text_is_what_every_fingerprint_was_computed_over() {
        let ext = map(json!({"theme": "red", "shopId": "1"}));
        assert_eq!(
            canonical(&ext, Some("wx1"), &Map::new()),
            r#"{"ext":{"shopId":"1","theme":"red"},"extAppid":"wx1","extEnable":true}"#
        );
        assert_eq!(
            canonical(&ext, None, &Map::new()),
            r#"{"ext":{"shopId":"1","theme":"red"},"extEnable":true}"#
        );
    }

    #[test]
    fn other_keys_sit_in_sorted_order_beside_ext() {
        let ext = map(json!({"a": 1}));
        let others =
            map(json!({"window": {"navigationBarTitleText": "Tea"}, "directCommit": false}));
        assert_eq!(
            canonical(&ext, Some("wx1"), &others),
            r#"{"directCommit":false,"ext":{"a":1},"extAppid":"wx1","extEnable":true,"window":{"navigationBarTitleText":"Tea"}}"#
        );
    }
}
