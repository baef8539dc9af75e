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
            "platforms",
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
