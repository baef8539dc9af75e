//! End-to-end checks of the smaller commands: validate, schema, sandbox.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{App, TestFleet, code, text};

#[test]
fn validate_reports_valid_fleets_in_text_and_json() {
    let fleet = TestFleet::new();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    let out = fleet.run(&["validate"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid: 1 app"));

    let out = fleet.run(&["validate", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["apps"], 1);
}

#[test]
fn validate_json_lists_every_problem_with_its_place() {
    let fleet = TestFleet::new();
    fleet.write(&[App {
        gray: 150,
        ..App::new("tea-house", "wx1111111111111111")
    }]);
    let out = fleet.run(&["validate", "-o", "json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{doc}");
    assert_eq!(errors[0]["path"], "apps[0].gray");
    assert_eq!(errors[0]["app"], "tea-house");
    assert!(errors[0]["line"].as_u64().unwrap() > 0);
}

#[test]
fn schema_is_json_schema_for_the_fleet_file() {
    let fleet = TestFleet::new();
    let out = fleet.run(&["schema"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "version",
        "platforms",
        "templates",
        "defaults",
        "apps",
        "sandbox",
    ] {
        assert!(schema["properties"].get(key).is_some(), "{key} in {schema}");
    }
    // What an audit needs beside the code (issue 16), per app and in defaults.
    let defs = &schema["$defs"];
    for (def, keys) in [
        (
            "App",
            &["domains", "privacy", "qrcode_jump", "ext_json"][..],
        ),
        (
            "Defaults",
            &["domains", "privacy", "qrcode_jump", "ext_json"][..],
        ),
        (
            "Domains",
            &[
                "request", "ws", "upload", "download", "udp", "tcp", "webview",
            ][..],
        ),
        (
            "Privacy",
            &["contact", "notice_method", "store_expire", "texts"][..],
        ),
        (
            "JumpRule",
            &["prefix", "path", "sub_rules", "open_version", "test_links"][..],
        ),
    ] {
        for key in keys {
            assert!(
                defs[def]["properties"].get(key).is_some(),
                "{def}.{key} in the schema"
            );
        }
    }
}

#[test]
fn the_standalone_sandbox_serves_wechat_on_loopback() {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("sandbox listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    let body = http_get(&format!("{url}/wxa/getgrayreleaseplan"));
    child.kill().ok();
    child.wait().ok();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["errcode"], 41001, "{doc}");
}

/// A plain HTTP/1.1 GET over a TCP socket (tests need no HTTP client dependency for this).
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    body.to_string()
}

#[test]
fn status_reads_the_store_for_the_chosen_apps_and_bad_input_changes_nothing() {
    let fleet = TestFleet::new();
    fleet.write_raw("version: 2\n");
    let out = fleet.run(&["status"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("version must be 1"), "{}", text(&out));
    assert!(
        !fleet.store().exists(),
        "an invalid fleet file makes no store"
    );

    fleet.write(&[
        App::new("tea-house", "wx1111111111111111"),
        App::alipay("noodle-bar", "2021000000000001"),
    ]);
    let rows = |args: &[&str]| {
        let out = fleet.run(&[&["status", "-o", "json"], args].concat());
        assert_eq!(code(&out), 0, "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        doc["apps"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| format!("{} {}", row["name"], row["state"]))
            .collect::<Vec<_>>()
    };
    // The first run makes the store; the next ones plan each app from it as the file is read.
    let all = [
        r#""tea-house" "unobserved""#,
        r#""noodle-bar" "unobserved""#,
    ];
    assert_eq!(rows(&[]), all);
    assert!(fleet.store().exists());
    assert_eq!(rows(&[]), all);
    assert_eq!(rows(&["--only", "noodle-bar"]), all[1..]);
    // A selector that matches nothing is an error, as in `plan` (a typo must not pass quietly).
    let out = fleet.run(&["status", "--selector", "tier=gold"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("matches `tier=gold`"), "{}", text(&out));

    let out = fleet.run(&["status", "--only", "nope"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("no app named `nope`"), "{}", text(&out));
    fleet.write_raw("version: 2\n");
    let out = fleet.run(&["status"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("version must be 1"), "{}", text(&out));
}

#[test]
fn a_damaged_store_says_it_is_damaged_and_that_deleting_it_is_safe() {
    let fleet = TestFleet::new();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    let out = fleet.run(&["status"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // sled's configuration file ends in a checksum: cut it, as a disk fault would.
    let conf = fleet.store().join("conf");
    let bytes = std::fs::read(&conf).expect("the store's conf");
    std::fs::write(&conf, &bytes[..bytes.len() / 2]).unwrap();

    for command in [&["status"][..], &["plan"][..]] {
        let out = fleet.run(command);
        let all = text(&out);
        assert_eq!(code(&out), 1, "{all}");
        let store = fleet.store().display().to_string();
        assert!(
            all.contains(&format!("the store at `{store}` is damaged")),
            "{all}"
        );
        assert!(
            all.contains(&format!("help: deleting `{store}` is safe")),
            "{all}"
        );
        assert!(
            all.contains("one full observation of every app and the WeChat tester map"),
            "{all}"
        );
        assert!(all.contains("loses no desired or live state"), "{all}");
        assert!(!all.contains("permissions"), "{all}");
        assert!(!all.contains("backtrace"), "{all}");
    }
    std::fs::remove_dir_all(fleet.store()).unwrap();
    let out = fleet.run(&["status"]);
    assert_eq!(code(&out), 0, "deleting it is the fix: {}", text(&out));
}

#[test]
fn a_store_path_that_is_a_file_does_not_blame_permissions() {
    let fleet = TestFleet::new();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    let file = fleet.dir().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = fleet.run(&["--store", file.to_str().unwrap(), "status"]);
    let all = text(&out);
    assert_eq!(code(&out), 1, "{all}");
    assert!(all.contains("cannot create the store directory"), "{all}");
    assert!(!all.contains("permissions"), "{all}");
    assert!(!all.contains("damaged"), "{all}");
}

/// Every command path of the CLI (`auth wechat link`), depth first, with its long flags.
fn command_paths() -> Vec<(String, Vec<String>)> {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            let path = format!("{prefix}{}", sub.get_name()).trim().to_string();
            if sub.get_subcommands().next().is_none() {
                let flags = sub
                    .get_arguments()
                    .filter(|a| !a.is_global_set() && !a.is_hide_set())
                    .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                    .filter(|l| l != "--help" && l != "--version")
                    .collect();
                out.push((path.clone(), flags));
            }
            walk(sub, &format!("{path} "), out);
        }
    }
    let mut cmd = minifleet::cli::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "", &mut out);
    out
}

#[test]
fn the_readme_documents_every_command_and_every_global_flag_help_shows() {
    use clap::CommandFactory;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `minifleet "))
        .collect();
    let paths = command_paths();
    for (path, _) in &paths {
        assert!(
            table
                .iter()
                .any(|row| row.starts_with(&format!("{path}`"))
                    || row.starts_with(&format!("{path} "))),
            "README's CLI table has no row for `minifleet {path}`"
        );
    }
    for row in &table {
        assert!(
            paths.iter().any(|(p, _)| row.starts_with(p.as_str())),
            "README documents a command the CLI does not have: `minifleet {row}`"
        );
    }
    let cli = minifleet::cli::Cli::command();
    for arg in cli
        .get_arguments()
        .filter(|a| a.is_global_set() && !a.is_hide_set())
    {
        let Some(long) = arg.get_long() else { continue };
        assert!(
            readme.contains(&format!("--{long}")),
            "README does not mention the global flag --{long}"
        );
    }
    let missing: Vec<String> = paths
        .iter()
        .flat_map(|(path, flags)| {
            flags
                .iter()
                .filter(|flag| !readme.contains(flag.as_str()))
                .map(move |flag| format!("minifleet {path} {flag}"))
        })
        .collect();
    assert!(missing.is_empty(), "README does not mention: {missing:#?}");
}

#[test]
fn completions_and_manual_pages_cover_every_command() {
    let paths = command_paths();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = minifleet().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for verb in ["reconcile", "watch", "history", "completions"] {
            assert!(script.contains(verb), "{shell} completes `{verb}`");
        }
    }
    let bad = minifleet().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
    assert!(bad.stdout.is_empty());

    let out = minifleet().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") && page.contains(".TH minifleet 1"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = minifleet()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    for (path, flags) in &paths {
        let name = format!("minifleet-{}", path.replace(' ', "-"));
        let page = std::fs::read_to_string(dir.path().join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        assert!(page.contains(&format!(".TH {name} 1")), "{name}");
        for flag in flags {
            // roff escapes a dash as `\-`.
            let escaped = flag.replace('-', "\\-");
            assert!(page.contains(&escaped), "{name}.1 documents {flag}");
        }
    }
}

fn minifleet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_minifleet"))
}

/// On a terminal a long `reconcile` draws an N/total bar with the action under way; piped it
/// prints the same progress lines and no bar.
#[test]
fn reconcile_draws_a_progress_bar_on_a_terminal_and_none_when_piped() {
    let apps = [
        App::new("tea-house", "wx1111111111111111"),
        App::new("noodle-bar", "wx2222222222222222"),
        App::alipay("rice-shop", "2021004100000001"),
    ];
    let piped = TestFleet::new();
    piped.write(&apps);
    let out = piped.converge();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tea-house: "), "progress lines: {stderr}");
    assert!(
        !stderr.contains("apps settled") && !stderr.contains('\r'),
        "{stderr}"
    );

    // `script` (util-linux) gives the command a pseudo-terminal.
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        return;
    }
    let tty = TestFleet::new();
    tty.write(&apps);
    let command = format!(
        "{} -f {} reconcile --wait --interval 200ms --timeout 60s",
        env!("CARGO_BIN_EXE_minifleet"),
        tty.path().display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("NO_COLOR", "1")
        .env_remove("MINIFLEET_STORE")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("/3 apps settled"), "the bar: {screen}");
    assert!(screen.contains("Done:"), "{screen}");
}
