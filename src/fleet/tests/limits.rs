//! Tests: what the loader refuses to read, quickly and with bounded memory — alias bombs,
//! oversized fleet files, secret files that are devices or too large, files that are not UTF-8 —
//! and the byte order mark it skips.

use serde_json::Value;

use super::*;
use crate::fleet::aliases::{MAX_COPIED_NODES, MAX_COPIED_TEXT};
use crate::fleet::doc::{self, Sink};
use crate::fleet::file::{self, MAX_FLEET_BYTES};
use crate::fleet::locate::ReadError;

/// A "billion laughs": nine levels of nine aliases each, 9^9 (387 million) strings from 350 bytes.
const BILLION_LAUGHS: &str = "\
version: 1
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
";

/// Counts the nodes of what the one-pass reader hands over.
#[derive(Default)]
struct Nodes(u64);

fn nodes(value: &Value) -> u64 {
    1 + match value {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Object(map) => map.values().map(|v| 1 + nodes(v)).sum(),
        _ => 0,
    }
}

impl Sink for Nodes {
    fn section(&mut self, _key: String, value: Value) {
        self.0 += 1 + nodes(&value);
    }

    fn app(&mut self, item: Value) {
        self.0 += nodes(&item);
    }
}

#[test]
fn a_billion_laughs_alias_bomb_is_refused_before_it_is_built() {
    let mut built = Nodes::default();
    let refused = doc::parse(BILLION_LAUGHS, &mut built);
    assert!(matches!(refused, Err(ReadError::Copies(_))), "{refused:?}");
    // Everything the reader built before it refused: the copies up to the bound, and the few
    // nodes written.
    assert!(built.0 <= MAX_COPIED_NODES + 100, "built {} nodes", built.0);

    // Both ways refuse it at the same alias, with the same words (the careful way before
    // the whole read builds anything).
    let errors = load_both(BILLION_LAUGHS).expect_err("an alias bomb");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    let e = &errors.errors[0];
    assert_eq!(
        e.message,
        format!("the fleet file's aliases expand to more than {MAX_COPIED_NODES} nodes")
    );
    // `b` to `f` copy 672 588 nodes; the first alias of `f` (597 871 nodes) would pass the bound.
    assert_eq!(e.line_col, Some((8, 8)));
    assert_eq!(e.yaml_path, "");
    assert!(
        e.help.as_deref().is_some_and(|h| h.contains("`defaults`")),
        "{e:?}"
    );
}

#[test]
fn an_alias_bomb_the_one_pass_reader_leaves_to_the_careful_path_is_refused_the_same() {
    // A tag sends the file the careful way from its first line.
    let tagged = format!("x: !!str y\n{BILLION_LAUGHS}");
    let errors = load(&tagged).expect_err("an alias bomb");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    assert!(
        errors.errors[0]
            .message
            .contains("aliases expand to more than")
    );
    assert_eq!(errors.errors[0].line_col, Some((9, 8)));
    // A smaller one, within the bound (59,049 copies), is read whole: what it reports are the
    // file's own problems, keys a fleet file does not have, not its aliases.
    let small: String = tagged.lines().take(7).map(|l| format!("{l}\n")).collect();
    let errors = load(&small).expect_err("keys a fleet file does not have");
    let messages: Vec<&str> = errors.errors.iter().map(|e| e.message.as_str()).collect();
    for key in ["x", "a", "b", "c", "d", "e"] {
        let unknown = format!("unknown key `{key}`");
        assert!(messages.contains(&unknown.as_str()), "{errors}");
    }
    assert!(!messages.iter().any(|m| m.contains("aliases")), "{errors}");
}

#[test]
fn a_long_string_aliased_many_times_is_refused() {
    let long = "x".repeat(1 << 20);
    let copies = ", *s".repeat(usize::try_from(MAX_COPIED_TEXT >> 20).unwrap_or(16) + 1);
    let text = format!("version: 1\ns: &s {long}\nt: [*s{copies}]\n");
    let errors = load_both(&text).expect_err("16 MiB of copies");
    assert_eq!(
        errors.errors[0].message,
        "the fleet file's aliases expand to more than 16 MiB of text"
    );
}

#[test]
fn an_alias_per_app_in_a_large_fleet_is_within_the_bound() {
    let (head, _) = BASE.split_at(BASE.find("apps:").expect("BASE has apps"));
    let mut text = format!(
        "{head}shared: &ext {{ apiBase: https://api.example.com, theme: classic, menu: {{ a: 1, b: 2 }} }}\napps:\n"
    );
    for i in 0..3000 {
        text.push_str(&format!(
            "  - name: app-{i}\n    platform: wechat\n    appid: wx{i:016x}\n    ext: *ext\n"
        ));
    }
    // `shared` is not a key of the fleet file; everything else reads.
    let errors = load(&text).expect_err("an unknown top-level key");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    assert_eq!(errors.errors[0].message, "unknown key `shared`");
}

#[test]
fn a_fleet_file_larger_than_the_bound_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    // A sparse file: no disk space, and reading it would take 257 MiB of memory.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_FLEET_BYTES + (1 << 20)).unwrap();
    let errors =
        crate::fleet::load(&path, crate::platform::registry::SPECS).expect_err("too large");
    assert_eq!(errors.errors.len(), 1);
    let e = &errors.errors[0];
    assert_eq!(e.message, "the fleet file is larger than 256 MiB (257 MiB)");
    assert!(e.help.as_deref().is_some_and(|h| h.contains("-f")), "{e:?}");
}

#[cfg(unix)]
#[test]
fn a_device_as_the_fleet_file_is_refused_not_read() {
    for (path, message) in [
        (
            "/dev/zero",
            "the fleet file is not a regular file (a device or a socket)",
        ),
        ("/", "the fleet file is a directory"),
    ] {
        let errors =
            crate::fleet::load(Path::new(path), crate::platform::registry::SPECS).expect_err(path);
        assert_eq!(errors.errors[0].message, message);
    }
}

#[test]
fn a_utf8_byte_order_mark_before_the_first_key_is_skipped() {
    let text = format!("\u{feff}{BASE}");
    let fleet = load_both(&text).expect("a BOM is no part of the first key");
    assert_eq!(fleet.apps.len(), 1);
    // Positions are those of the text after the mark.
    let unknown = edit(BASE, &[("version: 1\n", "version: 1\nfoo: 1\n")]);
    let errors = load_both(&format!("\u{feff}{unknown}")).expect_err("an unknown key");
    assert_eq!(errors.errors[0].message, "unknown key `foo`");
    assert_eq!(errors.errors[0].line_col, Some((2, 1)));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, format!("\u{feff}{BASE}")).unwrap();
    assert_eq!(
        crate::fleet::load(&path, crate::platform::registry::SPECS)
            .expect("valid")
            .apps
            .len(),
        1
    );
}

#[test]
fn a_fleet_file_that_is_not_utf8_names_the_byte_its_offset_and_line() {
    // `café` in Latin-1 on line 3, after a BOM-less start.
    let mut bytes = b"version: 1\n# menu\n  # caf".to_vec();
    bytes.extend([0xe9, b'\n']);
    let e = file::decode(bytes).expect_err("Latin-1");
    assert_eq!(
        e.message,
        "the fleet file is not UTF-8: byte 0xe9 at offset 25 is not valid UTF-8"
    );
    assert_eq!(e.line_col, Some((3, 8)));
    assert!(
        e.help
            .as_deref()
            .is_some_and(|h| h.contains("save the fleet file as UTF-8"))
    );
    // Columns count characters, and the offset counts the BOM's bytes too.
    let mut bytes = "\u{feff}名前: ".as_bytes().to_vec();
    bytes.push(0xff);
    let e = file::decode(bytes).expect_err("a stray byte");
    assert_eq!(e.line_col, Some((1, 5)));
    assert!(e.message.contains("byte 0xff at offset 11"), "{e:?}");
    let e = file::decode(vec![0xff, 0xfe, b'v', 0]).expect_err("UTF-16");
    assert_eq!(e.message, "the fleet file is UTF-16, not UTF-8");
    assert_eq!(
        file::decode("\u{feff}version: 1\n".as_bytes().to_vec()).as_deref(),
        Ok("version: 1\n")
    );
}
