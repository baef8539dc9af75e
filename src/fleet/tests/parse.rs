//! The one-pass reader: plain scalars resolve as serde_yaml resolved them (its answers, taken
//! before it left the project, are kept in a table here and in `plain_scalars.tsv`), files it does
//! not take go the careful way, apps are read in any section order, and both paths give the same
//! fleet.

use proptest::prelude::*;
use serde_json::json;

use crate::platform::registry::SPECS;
use serde_json::Value;

use super::*;
use crate::fleet::doc::{self, Parsed, Sink};
use crate::fleet::locate::ReadError;
use crate::fleet::schema::{fleet_schema, object_schema};

/// Collects what the reader hands over.
#[derive(Default)]
struct Parts {
    sections: Vec<(String, Value)>,
    apps: Vec<Value>,
    /// What the reader estimated the apps list to hold, and after how many apps.
    expected: Option<(usize, usize)>,
}

impl Sink for Parts {
    fn section(&mut self, key: String, value: Value) {
        self.sections.push((key, value));
    }

    fn app(&mut self, item: Value) {
        self.apps.push(item);
    }

    fn expect_apps(&mut self, count: usize) {
        assert!(self.expected.is_none(), "estimated once");
        self.expected = Some((count, self.apps.len()));
    }
}

fn parse(text: &str) -> (Parsed, Parts) {
    let mut parts = Parts::default();
    let parsed = doc::parse(text, &mut parts).expect("valid YAML");
    (parsed, parts)
}

/// What the one-pass reader makes of a document holding one plain scalar; `None` for text that
/// is no such document, or that it leaves to the careful path.
fn ours(scalar: &str) -> Option<Value> {
    match doc::parse(scalar, &mut Parts::default()) {
        Ok(Parsed::Whole(v)) => Some(v),
        Ok(Parsed::Streamed | Parsed::Careful) | Err(_) => None,
    }
}

/// serde_yaml 0.9.34's answer for each plain scalar, taken before serde_yaml left the project;
/// `None` where the one pass leaves the scalar to the careful path, which refuses it (an integer
/// beyond 64 bits, which serde_yaml refused too, and `.inf` / `.nan`, which serde_yaml read as
/// floats and a JSON tree cannot hold).
fn serde_yaml_answers() -> Vec<(&'static str, Option<Value>)> {
    vec![
        ("~", Some(Value::Null)),
        ("null", Some(Value::Null)),
        ("Null", Some(Value::Null)),
        ("NULL", Some(Value::Null)),
        ("nul", Some(json!("nul"))),
        ("true", Some(json!(true))),
        ("True", Some(json!(true))),
        ("TRUE", Some(json!(true))),
        ("tRue", Some(json!("tRue"))),
        ("false", Some(json!(false))),
        ("FALSE", Some(json!(false))),
        ("yes", Some(json!("yes"))),
        ("no", Some(json!("no"))),
        ("on", Some(json!("on"))),
        ("0", Some(json!(0))),
        ("00", Some(json!("00"))),
        ("01", Some(json!("01"))),
        ("007", Some(json!("007"))),
        ("-0", Some(json!(0))),
        ("+0", Some(json!(0))),
        ("-01", Some(json!("-01"))),
        ("+12", Some(json!(12))),
        ("12", Some(json!(12))),
        ("-12", Some(json!(-12))),
        ("1_000", Some(json!("1_000"))),
        ("0x1F", Some(json!(31))),
        ("0x", Some(json!("0x"))),
        ("0x-1", Some(json!("0x-1"))),
        ("-0x1f", Some(json!(-31))),
        ("+0x1f", Some(json!(31))),
        ("0o17", Some(json!(15))),
        ("0o8", Some(json!("0o8"))),
        ("0b101", Some(json!(5))),
        ("-0b101", Some(json!(-5))),
        ("0b2", Some(json!("0b2"))),
        ("1.5", Some(json!(1.5))),
        ("-1.5", Some(json!(-1.5))),
        ("+1.5", Some(json!(1.5))),
        (".5", Some(json!(0.5))),
        ("5.", Some(json!(5.0))),
        ("1e3", Some(json!(1000.0))),
        ("1E3", Some(json!(1000.0))),
        ("-1e-3", Some(json!(-0.001))),
        (".inf", None),
        ("-.inf", None),
        ("+.inf", None),
        (".Inf", None),
        (".NaN", None),
        (".nan", None),
        ("nan", Some(json!("nan"))),
        ("inf", Some(json!("inf"))),
        ("1.0.0", Some(json!("1.0.0"))),
        ("12:30", Some(json!("12:30"))),
        ("18446744073709551615", Some(json!(u64::MAX))),
        ("-9223372036854775808", Some(json!(i64::MIN))),
        ("-9223372036854775809", None),
        ("+-1", Some(json!("+-1"))),
        ("1-2", Some(json!("1-2"))),
        ("wx1", Some(json!("wx1"))),
        ("2021000000000101", Some(json!(2021000000000101_u64))),
        ("0.0.3", Some(json!("0.0.3"))),
        ("1e400", Some(json!("1e400"))),
        ("0x10000000000000000", None),
    ]
}

#[test]
fn plain_scalars_resolve_as_serde_yaml_did() {
    for (scalar, answer) in serde_yaml_answers() {
        match answer {
            Some(theirs) => assert_eq!(ours(scalar), Some(theirs), "plain scalar `{scalar}`"),
            None => assert!(
                matches!(parse(scalar).0, Parsed::Careful),
                "`{scalar}` is neither read nor left to the careful path"
            ),
        }
    }
}

/// serde_yaml's answers for 4,096 generated scalars (`plain_scalars.tsv`: the scalar as a JSON
/// string, then its value as JSON, `inf`/`-inf`/`nan`, or `-` where serde_yaml read no single
/// scalar), from the generator of the property test that compared the two while both were there
/// and three generators aimed at numbers, radixes, infinities and integers near 64 bits.
#[test]
fn generated_plain_scalars_resolve_as_serde_yaml_did() {
    for line in include_str!("plain_scalars.tsv").lines() {
        let (scalar, answer) = line.split_once('\t').expect("scalar<TAB>answer");
        let scalar: String = serde_json::from_str(scalar).expect("a JSON string");
        match answer {
            "-" => {}
            "inf" | "-inf" | "nan" => assert!(
                matches!(parse(&scalar).0, Parsed::Careful),
                "`{scalar}` is left to the careful path"
            ),
            json => {
                // A document of blanks only is no scalar to the one pass: the careful read has it.
                let read = match parse(&scalar).0 {
                    Parsed::Careful => doc::whole(&scalar).ok(),
                    _ => ours(&scalar),
                };
                assert_eq!(read, Some(json_answer(json)), "plain scalar `{scalar}`");
            }
        }
    }
}

/// An answer of `plain_scalars.tsv` as a value; floats parsed by Rust's exact parser (serde_json's
/// own is off by a unit in the last place for some, without its `float_roundtrip` feature).
fn json_answer(json: &str) -> Value {
    match json.parse::<f64>() {
        Ok(f) if json.contains(['.', 'e', 'E']) => json!(f),
        _ => serde_json::from_str(json).expect("a JSON value"),
    }
}

proptest! {
    #[test]
    fn any_plain_scalar_reads_the_same_on_the_careful_path(scalar in "[-+.0-9a-fA-FxobnNiI_:eE ~]{1,12}") {
        if let Some(ours) = ours(&scalar) {
            prop_assert_eq!(doc::whole(&scalar), Ok(ours), "plain scalar `{}`", scalar);
        }
    }
}

#[test]
fn sections_stream_in_order_and_apps_one_at_a_time() {
    let (parsed, parts) = parse(BASE);
    assert_eq!(parsed, Parsed::Streamed);
    let keys: Vec<&str> = parts.sections.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["version", "platforms", "templates", "defaults"]);
    assert_eq!(parts.apps.len(), 1);
    assert_eq!(parts.apps[0]["name"], Value::from("tea-house"));
}

#[test]
fn what_the_reader_does_not_take_goes_the_careful_way() {
    let cases = [
        (
            "a key written twice",
            edit(
                BASE,
                &[("  version: 1.4.0\n", "  version: 1.4.0\n  version: 1.5.0\n")],
            ),
        ),
        (
            "a top-level key written twice",
            format!("{BASE}version: 1\n"),
        ),
        (
            "a tag",
            edit(BASE, &[("  version: 1.4.0\n", "  version: !!str 1.4.0\n")]),
        ),
        (
            "a merge key at the top",
            format!("base: &b {{ version: 1 }}\n<<: *b\n{}", &BASE[11..]),
        ),
        ("a second document", format!("{BASE}---\nversion: 1\n")),
        ("an anchored top-level mapping", format!("&top\n{BASE}")),
        (
            "a 128-bit integer",
            edit(
                BASE,
                &[(
                    "{ template_id: 42 }",
                    "{ template_id: 99999999999999999999 }",
                )],
            ),
        ),
        ("an empty file", String::new()),
    ];
    for (what, text) in &cases {
        assert_eq!(parse(text).0, Parsed::Careful, "{what}");
        let _ = load_both(text);
    }
}

#[test]
fn an_anchored_apps_list_is_read_whole_and_the_same() {
    let text = edit(BASE, &[("apps:\n", "apps: &all\n")]);
    let (parsed, parts) = parse(&text);
    assert_eq!(parsed, Parsed::Streamed);
    assert!(
        parts.apps.is_empty(),
        "an anchored list is handed over whole"
    );
    let fleet = load_both(&text).expect("valid");
    assert_eq!(fleet.apps.len(), 1);
    assert_eq!(fleet.apps[0].name, "tea-house");
    // An anchored top-level mapping goes the careful way, and reads the same.
    let fleet = load_both(&format!("&top\n{BASE}")).expect("valid");
    assert_eq!(fleet.apps[0].name, "tea-house");
}

#[test]
fn a_key_written_twice_is_still_reported_with_both_lines() {
    let text = edit(
        BASE,
        &[("  version: 1.4.0\n", "  version: 1.4.0\n  version: 1.5.0\n")],
    );
    let errors = problems(&text);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].yaml_path, "defaults.version");
    assert_eq!(errors[0].line_col, Some((12, 3)));
    assert_eq!(errors[0].message, "duplicate key `version`");
}

#[test]
fn a_key_written_twice_in_an_app_names_the_app_wherever_its_name_is() {
    // The name before the repeat, and after it (the index reads the whole file first).
    for (edits, line) in [
        (
            &[(
                "    platform: wechat\n",
                "    platform: wechat\n    platform: wechat\n",
            )][..],
            16,
        ),
        (
            &[(
                "  - name: tea-house\n    platform: wechat\n",
                "  - platform: wechat\n    platform: wechat\n    name: tea-house\n",
            )][..],
            15,
        ),
    ] {
        let errors = problems(&edit(BASE, edits));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].yaml_path, "apps[0].platform");
        assert_eq!(errors[0].app.as_deref(), Some("tea-house"));
        assert_eq!(errors[0].line_col, Some((line, 5)));
    }
    // Outside an app, none is named.
    let text = edit(
        BASE,
        &[(
            "  stage: experience\n",
            "  stage: experience\n  stage: release\n",
        )],
    );
    assert_eq!(problems(&text)[0].app, None);
}

#[test]
fn apps_before_the_sections_they_need_resolve_the_same() {
    let (head, apps) = BASE.split_at(BASE.find("apps:").expect("BASE has apps"));
    let reordered = format!("{apps}{head}");
    let before = load_both(BASE).expect("BASE is valid");
    let after = load_both(&reordered).expect("the reordered file is valid");
    assert_eq!(format!("{:?}", before.apps), format!("{:?}", after.apps));
    let broken = reordered.replace("  version: 1.4.0\n", "  version: one\n");
    let errors = load_both(&broken).expect_err("a bad default");
    assert!(
        errors
            .errors
            .iter()
            .any(|e| e.yaml_path == "defaults.version"),
        "{errors}"
    );
}

#[test]
fn every_default_is_inherited_by_an_app_that_does_not_set_it() {
    let root = fleet_schema(crate::platform::registry::SPECS);
    let defaults = object_schema(root, &root["$defs"]["Defaults"]).expect("Defaults schema");
    let mut keys: Vec<&str> = defaults["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "audit",
            "description",
            "domains",
            "ext",
            "ext_json",
            "gray",
            "labels",
            "privacy",
            "qrcode_jump",
            "stage",
            "suspend",
            "template",
            "testers",
            "version"
        ],
        "a new defaults key: give it a line below and in RawApp::inherit"
    );
    let text = edit(
        BASE,
        &[(
            "  stage: experience\n",
            "  stage: audit\n  labels: { tier: gold }\n  description: Spring menu\n  ext: { theme: red }\n  ext_json: { window: { navigationBarTitleText: Tea } }\n  testers: [alice]\n  gray: 30\n  suspend: { tier: gold }\n  audit: { items: [{ address: pages/index/index, tag: tea }] }\n  domains: { request: ['https://api.example.com'] }\n  privacy: { contact: { email: p@example.com }, notice_method: 弹窗提示, texts: { Album: 上传照片 } }\n  qrcode_jump: [{ prefix: 'https://shop.example.com/t/', path: pages/table/index }]\n",
        )],
    );
    let fleet = load_both(&text).expect("valid");
    let app = &fleet.apps[0];
    assert_eq!(app.template, "shop");
    assert_eq!(app.version, "1.4.0");
    assert_eq!(app.stage.as_str(), "audit");
    assert_eq!(app.labels.get("tier"), Some("gold"));
    assert_eq!(app.description, "Spring menu");
    assert_eq!(app.ext(), json!({"theme": "red"}));
    assert_eq!(
        app.ext_others(),
        Some(json!({"window": {"navigationBarTitleText": "Tea"}}))
    );
    assert_eq!(app.testers, ["alice"]);
    assert_eq!(app.gray, 30);
    assert!(
        app.suspended,
        "the labels of `suspend` in defaults match the app's"
    );
    assert_eq!(app.audit.items[0].tag.as_deref(), Some("tea"));
    let domains = app.domains.as_deref().expect("domains inherited");
    assert_eq!(
        domains.request.as_deref().unwrap(),
        ["https://api.example.com"]
    );
    let privacy = app.privacy.as_deref().expect("privacy inherited");
    assert_eq!(privacy.texts["Album"], "上传照片");
    let rules = app.qrcode_jump.as_deref().expect("jump rules inherited");
    assert_eq!(rules[0].path, "pages/table/index");
}

#[test]
fn a_gray_walk_reads_with_its_steps_and_a_day_long_hold_by_default() {
    let walk = |gray: &str| {
        let line = format!("  stage: experience\n  gray: {gray}\n");
        let text = edit(BASE, &[("  stage: experience\n", &line)]);
        let fleet = load_both(&text).expect("valid");
        (fleet.apps[0].gray, fleet.apps[0].walk.clone())
    };
    let (gray, w) = walk("{ steps: [5, 20, 50, 100] }");
    let w = w.expect("a walk");
    assert_eq!(
        (gray, &*w.steps, w.hold_secs),
        (100, &[5, 20, 50, 100][..], 86_400)
    );
    let (gray, w) = walk("{ steps: [1, 10], hold: 90m }");
    let w = w.expect("a walk");
    assert_eq!((gray, &*w.steps, w.hold_secs), (10, &[1, 10][..], 5400));
    assert_eq!(walk("40"), (40, None), "a number is no walk");
}

#[test]
fn the_fleet_files_of_the_repository_read_the_same_both_ways() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(Path::new(root).join("fleet.yaml")).expect("read");
    load_both(&text).expect("the repository's fleet.yaml is valid");
}

/// `BASE` with `n` apps; the app at `tagged` (if any) has a tag, which only the careful path reads.
fn many_apps(n: usize, tagged: Option<usize>) -> String {
    let (head, _) = BASE.split_at(BASE.find("apps:").expect("BASE has apps"));
    let mut text = format!("{head}apps:\n");
    for i in 0..n {
        let tag = if tagged == Some(i) { "!!str " } else { "" };
        text.push_str(&format!(
            "  - name: app-{i}\n    platform: wechat\n    appid: {tag}wx{i:016x}\n"
        ));
    }
    text
}

/// Loads `text` while a second thread takes each app's name.
fn load_with_names(text: &str) -> Result<(Fleet, Vec<String>), FleetErrors> {
    crate::fleet::load::load_str_with(text, Path::new("fleet.yaml"), &|_| None, SPECS, &|app| {
        app.name.clone()
    })
}

#[test]
fn loading_with_work_gives_the_same_fleet_and_one_result_per_app_in_order() {
    // More apps than one hand-over batch, and a tag late in the file: the streamed read hands
    // over two batches before the careful read starts over.
    for tagged in [None, Some(2500)] {
        let text = many_apps(3000, tagged);
        let plain = load(&text).expect("valid");
        let (fleet, names) = load_with_names(&text).expect("valid");
        assert_eq!(format!("{:?}", fleet.apps), format!("{:?}", plain.apps));
        let expected: Vec<&str> = plain.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, expected, "tagged: {tagged:?}");
    }
}

#[test]
fn the_length_of_a_long_apps_list_is_estimated_once_from_its_first_apps() {
    let (_, parts) = parse(&many_apps(3000, None));
    let (expected, after) = parts.expected.expect("an estimate");
    assert_eq!(after, 512);
    // The apps differ only in their numbers' digits: the estimate is close.
    assert!((2900..=3100).contains(&expected), "{expected}");
    let (_, short) = parse(&many_apps(100, None));
    assert_eq!(short.expected, None, "no estimate for a short list");
}

#[test]
fn loading_with_work_reports_the_same_problems() {
    // A problem after the first hand-over batch.
    let text = many_apps(1500, None).replace("appid: wx00000000000004b0", "appid: wx1");
    let (Err(plain), Err(with)) = (load(&text), load_with_names(&text)) else {
        panic!("apps[1200] has a bad appid");
    };
    assert_eq!(with, plain);
    assert_eq!(with.errors.len(), 1);
    assert_eq!(with.errors[0].yaml_path, "apps[1200].appid");
}

#[test]
fn the_careful_read_resolves_core_tags_and_text_keys_and_refuses_what_json_cannot_hold_where_written()
 {
    let text = "a: !!str 1.4.0\nb: !!int 7\nc: !!float 1.5\nd: !!bool true\ne: !!null ~\n\
                f: !!map { x: 1 }\ng: !!seq [1]\n'1': a quoted number key\n!!str true: a flag key\n\
                big: !!float 99999999999999999999\n";
    assert_eq!(
        doc::whole(text).unwrap(),
        json!({
            "a": "1.4.0", "b": 7, "c": 1.5, "d": true, "e": null, "f": {"x": 1}, "g": [1],
            "1": "a quoted number key", "true": "a flag key", "big": 1e20
        })
    );
    // Other tags as serde_yaml read them: a local one dropped (the node read as if untagged),
    // a core one that converts nothing and a global one making text, one on a collection
    // changing nothing; `!!int` and `!!float` convert quoted text too.
    let text = "a: !custom x\nb: !custom 12\nc: ! 12\nd: !custom '12'\ne: !!binary aGk=\n\
                f: !<tag:yaml.org,2002:str> 12\ng: !<tag:example.com,2000:id> 12\n\
                h: !custom { x: 1 }\ni: !!str [1]\nj: !!int '7'\nk: !!float 30\n";
    assert_eq!(
        doc::whole(text).unwrap(),
        json!({
            "a": "x", "b": 12, "c": 12, "d": "12", "e": "aGk=", "f": "12", "g": "12",
            "h": {"x": 1}, "i": [1], "j": 7, "k": 30.0
        })
    );
    assert_eq!(doc::whole("").unwrap(), Value::Null, "an empty file");
    let refused = [
        ("a: !!int x\n", "`x` is not what its tag `!!int` says"),
        ("a: !!bool yes\n", "`yes` is not what its tag `!!bool` says"),
        (
            "a: !!float 1.2.3\n",
            "`1.2.3` is not what its tag `!!float` says",
        ),
        ("a: .inf\n", "`.inf` is not a number a fleet file can hold"),
        (
            "a: 99999999999999999999\n",
            "the integer `99999999999999999999` does not fit in 64 bits",
        ),
        (
            "a: !!int -99999999999999999999\n",
            "the integer `-99999999999999999999` does not fit in 64 bits",
        ),
        ("a: 1\n? [1, 2]\n: x\n", "a mapping key must be text"),
        (
            "a: {1: gold}\n",
            "the key `1` is a number, and keys are text",
        ),
        ("a: {1.5: x}\n", "quote it (`\"1.5\"`)"),
        ("a: {true: x}\n", "the key `true` is a boolean"),
        ("a: {~: x}\n", "a key is empty (null)"),
        ("a: 1\n---\nb: 2\n", "a fleet file holds one YAML document"),
        (
            "a: &a [1, *a]\n",
            "an alias is inside the node its anchor names",
        ),
        ("k: &k x\na: {x: 1, *k : 2}\n", "duplicate key `x`"),
    ];
    for (text, words) in refused {
        match doc::whole(text) {
            Err(ReadError::Syntax(e)) => {
                assert!(e.message.contains(words), "{text:?}: {e:?}");
                assert!(e.line_col.0 >= 1 && e.line_col.0 <= 3, "{text:?}: {e:?}");
            }
            other => panic!("{text:?} refused, got {other:?}"),
        }
    }
}

#[test]
fn a_merge_key_holding_no_mapping_is_one_clear_problem() {
    let text = edit(
        BASE,
        &[("  - name: tea-house\n", "  - <<: 5\n    name: tea-house\n")],
    );
    let errors = load_both(&text).expect_err("a merge of a number");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    assert_eq!(
        errors.errors[0].message,
        "invalid YAML: expected a mapping or list of mappings for merging, but found a number"
    );
    assert_eq!(errors.errors[0].yaml_path, "apps[0].<<");
    assert_eq!(errors.errors[0].app.as_deref(), Some("tea-house"));
    assert_eq!(errors.errors[0].line_col, Some((14, 9)));
    assert!(errors.errors[0].help.is_some());
}

#[test]
fn of_two_failed_merges_the_first_in_the_file_is_reported_at_its_item() {
    // The careful path meets `apps` before `defaults` (it hands the sections over by name): both
    // report the failure in `defaults`, which comes first in the file, at the list's bad item.
    let text = edit(
        BASE,
        &[
            (
                "  stage: experience\n",
                "  stage: experience\n  ext: { <<: [{ a: 1 }, text] }\n",
            ),
            ("  - name: tea-house\n", "  - <<: 5\n    name: tea-house\n"),
        ],
    );
    let errors = load_both(&text).expect_err("two merges of no mapping");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    let e = &errors.errors[0];
    assert_eq!(e.yaml_path, "defaults.ext.<<[1]");
    assert_eq!(e.app, None);
    assert_eq!(e.line_col, Some((13, 25)));
    assert_eq!(
        e.message,
        "invalid YAML: expected a mapping for merging, but found a string"
    );
    // Alone in an app, deep in it, through an alias: at the alias, naming the app.
    let text = edit(
        BASE,
        &[(
            "    appid: wx1111111111111111\n",
            "    appid: wx1111111111111111\n    ext: { n: &n 1, m: { <<: *n } }\n",
        )],
    );
    let e = &load_both(&text).expect_err("a merge of a number").errors[0];
    assert_eq!(e.yaml_path, "apps[0].ext.m.<<");
    assert_eq!(e.app.as_deref(), Some("tea-house"));
    assert_eq!(e.line_col, Some((17, 30)));
}

#[test]
fn an_integer_beyond_64_bits_is_refused_where_written_not_rounded() {
    // A 20-digit id rounded to a float would reach the platform as another number.
    let text = edit(
        BASE,
        &[(
            "    appid: wx1111111111111111\n",
            "    appid: wx1111111111111111\n    ext: { order: 12345678901234567890123 }\n",
        )],
    );
    let errors = load_both(&text).expect_err("a 77-bit integer");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    let e = &errors.errors[0];
    assert!(
        e.message
            .contains("the integer `12345678901234567890123` does not fit in 64 bits"),
        "{e:?}"
    );
    assert!(e.message.contains("quote it"), "{e:?}");
    assert_eq!(e.line_col, Some((17, 19)));
    assert_eq!(e.yaml_path, "apps[0].ext.order");
    assert_eq!(e.app.as_deref(), Some("tea-house"));
    let quoted = text.replace("12345678901234567890123", "'12345678901234567890123'");
    let fleet = load_both(&quoted).expect("quoted, it is text");
    assert_eq!(
        fleet.apps[0].ext()["order"],
        json!("12345678901234567890123")
    );
}

#[test]
fn what_the_careful_read_refuses_is_named_by_its_path_and_app() {
    let cases = [
        (
            "an app's name after the refused value: the path alone",
            edit(
                BASE,
                &[(
                    "  - name: tea-house\n",
                    "  - ext: { n: [1, .nan] }\n    name: tea-house\n",
                )],
            ),
            "apps[0].ext.n[1]",
            None,
            (14, 19),
            "`.nan` is not a number a fleet file can hold",
        ),
        (
            "a core tag its text does not fit, in a section",
            edit(
                BASE,
                &[(
                    "  stage: experience\n",
                    "  stage: experience\n  gray: !!int abc\n",
                )],
            ),
            "defaults.gray",
            None,
            (13, 15),
            "`abc` is not what its tag `!!int` says",
        ),
        (
            "a key that is a number: the mapping it is in",
            format!("{BASE}    labels: {{ region: east, 1: gold }}\n"),
            "apps[0].labels",
            Some("tea-house"),
            (17, 29),
            "the key `1` is a number, and keys are text",
        ),
        (
            "a second document: no path",
            format!("{BASE}---\nversion: 1\n"),
            "",
            None,
            (17, 1),
            "a fleet file holds one YAML document",
        ),
    ];
    for (what, text, path, app, at, words) in cases {
        let errors = load_both(&text).expect_err(what);
        assert_eq!(errors.errors.len(), 1, "{what}: {errors}");
        let e = &errors.errors[0];
        assert!(e.message.contains(words), "{what}: {e:?}");
        assert_eq!(e.yaml_path, path, "{what}");
        assert_eq!(e.app.as_deref(), app, "{what}");
        assert_eq!(e.line_col, Some(at), "{what}");
    }
}

#[test]
fn a_local_tag_is_read_through_as_serde_yaml_read_it() {
    // serde_yaml kept `!md` beside the value, and every reader of the fleet file looked through
    // it; files written for it (or by tools that tag values) still load.
    let text = edit(
        BASE,
        &[
            ("  stage: experience\n", "  stage: !stage experience\n"),
            (
                "    appid: wx1111111111111111\n",
                "    appid: wx1111111111111111\n    description: !md Spring menu\n    ext: !json { theme: red }\n",
            ),
        ],
    );
    let fleet = load_both(&text).expect("tags are read through");
    let app = &fleet.apps[0];
    assert_eq!(app.description, "Spring menu");
    assert_eq!(app.stage.as_str(), "experience");
    assert_eq!(app.ext(), json!({"theme": "red"}));
}

/// A fleet written in most of YAML's scalar forms (radixes, floats, nulls, booleans, block
/// scalars, quoting, anchors and merges, unicode) and with privacy texts: its apps' fingerprints.
const SCALAR_FORMS: &str = r##"version: 1
platforms:
  wechat:
    component_appid: wx0123456789abcdef
    api_base: sandbox
  alipay:
    app_id: "2021000000000000"
    gateway: sandbox
templates:
  shop:
    wechat: { template_id: 42 }
    alipay: { template_id: "2021000000000100", template_version: 0.0.3 }
defaults:
  template: shop
  version: 1.4.0
  stage: experience
  ext: { theme: { color: red, font: serif }, shared: &shared { apiBase: https://api.example.com, n: 7 } }
apps:
  - &first
    name: a1
    platform: wechat
    appid: wx1111111111111111
    ext:
      ints: [0, -0, +12, -12, 0x1F, -0x1f, 0o17, 0b101, 18446744073709551615, -9223372036854775808, 2021000000000101]
      floats: [1.5, -1.5, +1.5, .5, 5., 1e3, 1E3, -1e-3, -0.0, 0.1, 3.14159265358979, 1e300, 2.5e-300]
      strings: ["1", '2', 007, 1_000, 0x, 1.0.0, 12:30, yes, no, on, nan, inf, "", " sp ", 中文, "é\u00e9", 1e400]
      nulls: [~, null, Null, NULL, ""]
      bools: [true, True, TRUE, false, False, FALSE, tRue]
      block: |
        line one
        line two
      folded: >
        folded
        text
      nested: { a: { b: { c: [1, { d: 2 }] } } }
      "key with spaces": 1
      emoji: "🍵"
    ext_json: { window: { navigationBarTitleText: Tea, navigationBarBackgroundColor: "#ffffff" } }
    privacy: { contact: { email: p@example.com }, notice_method: 弹窗提示, texts: { Album: 上传照片, Location: 附近门店 } }
  - <<: *first
    name: a2
    appid: wx2222222222222222
    ext: { <<: *shared, n: 8, extra: [a, b] }
  - name: a3
    platform: alipay
    appid: "2021000000000101"
    ext: { shopId: "2001", price: 12.50, count: 3, neg: -7, ratio: 0.333 }
  - name: a4
    platform: wechat
    appid: wx3333333333333333
    version: 1.4.1
    description: Spring menu
    testers: [bob, alice]
    gray: 30
"##;

#[test]
fn fingerprints_are_those_serde_yaml_s_reading_gave() {
    // Taken at 145153f, when serde_yaml built the tree: a change here would recommit every
    // app of an operator's fleet after an upgrade.
    let want = ["c2783733", "7cb9370a", "8df79277", "5ed25ca4"];
    let fingerprints = |text: &str| -> Vec<String> {
        let fleet = load_both(text).expect("valid");
        fleet
            .apps
            .iter()
            .map(|a| a.fingerprint.to_string())
            .collect()
    };
    assert_eq!(fingerprints(SCALAR_FORMS), want);
    let careful = format!(
        "version: !!int 1\n{}",
        &SCALAR_FORMS["version: 1\n".len()..]
    );
    assert_eq!(parse(&careful).0, Parsed::Careful);
    assert_eq!(fingerprints(&careful), want, "the careful path");
    let repository =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fleet.yaml"))
            .expect("read");
    let want = [
        "f853c96a", "2e9d4d92", "1e4742a8", "e85976ce", "1bbaf39f", "f89921b5", "8371782b",
        "5fced2ad", "907223a4", "8ff9a578",
    ];
    assert_eq!(
        fingerprints(&repository),
        want,
        "the repository's fleet.yaml"
    );
}

#[test]
fn a_key_yaml_reads_as_a_number_is_refused_where_written_with_the_help_to_quote_it() {
    // As the typed reading refused it when the tree was serde_yaml's.
    let text = edit(
        BASE,
        &[(
            "    appid: wx1111111111111111\n",
            "    appid: wx1111111111111111\n    labels: { 1: gold }\n",
        )],
    );
    let errors = load_both(&text).expect_err("a number key");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    let e = &errors.errors[0];
    assert!(e.message.contains("the key `1` is a number"), "{e:?}");
    assert!(e.message.contains("quote it (`\"1\"`)"), "{e:?}");
    assert_eq!(e.line_col, Some((17, 15)));
    let quoted = text.replace("{ 1: gold }", "{ '1': gold }");
    let fleet = load_both(&quoted).expect("a quoted key is text");
    assert_eq!(fleet.apps[0].labels.get("1"), Some("gold"));
}
