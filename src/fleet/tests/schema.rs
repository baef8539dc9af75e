//! Tests: the JSON Schema describes the file and forbids unknown keys.

use serde_json::Value;

use crate::fleet::json_schema;

#[test]
fn the_schema_is_draft_2020_12_with_the_top_level_sections() {
    let schema = json_schema(crate::platform::registry::SPECS);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["title"], "minifleet fleet file");
    assert_eq!(schema["additionalProperties"], false);
    let props = schema["properties"].as_object().unwrap();
    let keys: Vec<&str> = props.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "apps",
            "defaults",
            "notify",
            "platforms",
            "quota",
            "rollout",
            "sandbox",
            "templates",
            "version"
        ]
    );
    assert_eq!(schema["required"], serde_json::json!(["version"]));
    assert!(
        props["apps"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let text = serde_json::to_string(&schema).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, schema, "valid JSON that round-trips");
}

fn def<'s>(schema: &'s Value, name: &str) -> &'s Value {
    let d = &schema["$defs"][name];
    assert!(d.is_object(), "no $defs/{name}");
    d
}

#[test]
fn fixed_key_sections_forbid_unknown_keys_and_free_ones_do_not() {
    let schema = json_schema(crate::platform::registry::SPECS);
    for name in [
        "App",
        "Defaults",
        "Platforms",
        "WechatPlatform",
        "AlipayPlatform",
        "Template",
        "Sandbox",
        "RejectRule",
        "AuditSpec",
        "AuditItem",
    ] {
        assert_eq!(def(&schema, name)["additionalProperties"], false, "{name}");
    }
    let app = def(&schema, "App");
    assert_eq!(app["properties"]["ext"]["additionalProperties"], true);
    assert_eq!(
        app["properties"]["labels"]["additionalProperties"]["type"],
        "string"
    );
    assert_eq!(
        app["required"],
        serde_json::json!(["name", "platform", "appid"])
    );
    let defaults = def(&schema, "Defaults");
    assert!(defaults["properties"].get("name").is_none());
    assert!(defaults["properties"].get("gray").is_some());
}

#[test]
fn secret_fields_are_patterned_references() {
    let schema = json_schema(crate::platform::registry::SPECS);
    let wechat = def(&schema, "WechatPlatform");
    for field in ["component_secret", "token", "encoding_aes_key"] {
        let pattern = wechat["properties"][field]["pattern"].as_str().unwrap();
        assert!(pattern.contains("env|file"), "{field}: {pattern}");
    }
    let alipay = def(&schema, "AlipayPlatform");
    assert!(alipay["properties"]["private_key"]["pattern"].is_string());
    assert_eq!(wechat["required"], serde_json::json!(["component_appid"]));
}

/// Every property of `schema` (recursively), with its schema.
fn properties<'s>(schema: &'s serde_json::Value, out: &mut Vec<(&'s str, &'s serde_json::Value)>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                out.extend(props.iter().map(|(k, v)| (k.as_str(), v)));
            }
            map.values().for_each(|v| properties(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| properties(v, out)),
        _ => {}
    }
}

#[test]
fn every_setting_named_like_a_secret_takes_a_secret_reference_and_no_other_does() {
    let schema = json_schema(crate::platform::registry::SPECS);
    let mut props = Vec::new();
    properties(&schema, &mut props);
    let secret_ref = |v: &serde_json::Value| {
        v.get("pattern").and_then(|p| p.as_str()) == Some(crate::fleet::kit::SECRET_PATTERN)
            || v["anyOf"].as_array().is_some_and(|alts| {
                alts.iter().any(|a| {
                    a.get("pattern").and_then(|p| p.as_str())
                        == Some(crate::fleet::kit::SECRET_PATTERN)
                })
            })
    };
    let secrets: Vec<&str> = props
        .iter()
        .filter(|(_, v)| secret_ref(v))
        .map(|(k, _)| *k)
        .collect();
    assert!(
        secrets.len() >= 6,
        "the platforms' secrets are in the schema: {secrets:?}"
    );
    for (key, value) in &props {
        assert_eq!(
            crate::fleet::secrets::is_secret_key(key),
            secret_ref(value),
            "`{key}`: a setting is secret exactly when its name says so ({value})"
        );
    }
}
