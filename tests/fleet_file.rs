//! End-to-end: what the commands say about a fleet file they refuse to read (an alias bomb, a
//! file too large, a device, a secret file too large or not a file, a file that is not UTF-8) or
//! read with a mistake in `defaults`, through the normal validation report — and that a refused
//! file changes nothing.

mod common;

use common::{TestFleet, code, text};

/// A "billion laughs": 9^9 strings from 350 bytes.
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

/// The repository's fleet file.
fn repository_fleet() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fleet.yaml"))
        .expect("the repository's fleet.yaml")
}

/// stderr of a run that failed with exit 1 and printed the validation report.
fn refused(fleet: &TestFleet, args: &[&str]) -> String {
    let out = fleet.run(args);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn an_alias_bomb_is_one_clear_problem_for_every_command_and_changes_nothing() {
    let fleet = TestFleet::new();
    fleet.write_raw(BILLION_LAUGHS);
    for command in ["validate", "plan", "status", "reconcile"] {
        let stderr = refused(&fleet, &[command]);
        assert!(
            stderr.contains(
                "fleet.yaml:8:8: the fleet file's aliases expand to more than 1000000 nodes\n  help: "
            ),
            "{command}: {stderr}"
        );
        assert!(stderr.contains("\n1 problem in "), "{command}: {stderr}");
    }
    assert!(!fleet.store().exists(), "a refused fleet opens no store");
    let out = fleet.run(&["validate", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["errors"][0]["line"], 8);
}

#[test]
fn oversized_fleet_files_devices_and_secret_files_are_refused_with_what_to_do() {
    let fleet = TestFleet::new();
    // A sparse file past the bound: nothing is read.
    std::fs::File::create(fleet.path())
        .and_then(|f| f.set_len(257 << 20))
        .expect("a sparse file");
    let stderr = refused(&fleet, &["validate"]);
    assert!(
        stderr.contains("the fleet file is larger than 256 MiB (257 MiB)\n  help: "),
        "{stderr}"
    );

    let secrets = repository_fleet().replace(
        "    api_base: sandbox ",
        "    token: ${file:/dev/zero}\n    component_secret: ${file:big.pem}\n    api_base: sandbox ",
    );
    fleet.write_raw(&secrets);
    std::fs::write(fleet.dir().join("big.pem"), vec![b'k'; 200 << 10]).expect("a large file");
    let stderr = refused(&fleet, &["validate"]);
    assert!(
        stderr.contains("platforms.wechat.token: secret file `/dev/zero` is not a regular file"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "platforms.wechat.component_secret: secret file `big.pem` is larger than 64 KiB"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("2 problems in"), "{stderr}");

    #[cfg(unix)]
    {
        let device = TestFleet::new();
        std::os::unix::fs::symlink("/dev/zero", device.path()).expect("a symlink");
        let stderr = refused(&device, &["validate"]);
        assert!(
            stderr.contains("the fleet file is not a regular file (a device or a socket)"),
            "{stderr}"
        );
    }
}

#[test]
fn a_byte_order_mark_is_skipped_and_a_file_that_is_not_utf8_is_located() {
    let fleet = TestFleet::new();
    fleet.write_raw(&format!("\u{feff}{}", repository_fleet()));
    let out = fleet.run(&["validate"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let latin1: Vec<u8> = repository_fleet()
        .replacen("Spring menu", "Caf\u{e9} menu", 1)
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    std::fs::write(fleet.path(), &latin1).expect("write");
    let line = latin1
        .split(|b| *b == b'\n')
        .position(|l| l.contains(&0xe9))
        .expect("the line")
        + 1;
    let stderr = refused(&fleet, &["validate"]);
    assert!(
        stderr.contains(&format!(
            "fleet.yaml:{line}:19: the fleet file is not UTF-8: byte 0xe9 at offset"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: save the fleet file as UTF-8"),
        "{stderr}"
    );
}

#[test]
fn a_bad_default_is_reported_once_at_the_default() {
    let fleet = TestFleet::new();
    fleet.write_raw(&repository_fleet().replacen("  template: shop\n", "  template: shopp\n", 1));
    let stderr = refused(&fleet, &["validate"]);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].ends_with(
            ": defaults.template: unknown template `shopp` (inherited by 10 apps: `tea-house`, `noodle-bar`, `dumpling-king` and 7 more)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("  help: did you mean `shop`?"), "{stderr}");
}
