//! What CI and operators read must be true: exit codes of incomplete plans, selectors that match
//! nothing, status rows that say what is live and how far an app should go, history of removed
//! apps, and hints whose command lines parse.

mod common;

use clap::Parser;
use common::{App, TestFleet, app_plan, code, text};

fn rejecting_fleet() -> (TestFleet, Vec<App>) {
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra =
        "  reject:\n    - when_ext: { theme: neon }\n      reason: Neon theme breaks the content rules\n"
            .into();
    let apps = vec![
        App {
            ext: "{ shopId: \"9\", theme: neon }",
            ..App::new("neon-bar", "wx9999999999999999")
        },
        App::new("calm-cafe", "wx8888888888888888"),
    ];
    fleet.write(&apps);
    (fleet, apps)
}

#[test]
fn plan_detailed_exitcode_exits_1_when_an_app_failed() {
    let (fleet, _) = rejecting_fleet();
    let out = fleet.run(&["reconcile", "--wait", "--interval", "200ms"]);
    assert_eq!(code(&out), 1, "{}", text(&out));

    let out = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        code(&out),
        1,
        "a failed app is not 'no changes'\n{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Plan incomplete: no changes · 1 in sync · 1 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Incomplete: 1 of 2 apps is not planned through (1 failed)"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("app `neon-bar`"),
        "{}",
        text(&out)
    );
    // Without the flag too: CI must not read a failed app as success.
    assert_eq!(code(&fleet.run(&["plan"])), 1);
    // The healthy app alone plans clean.
    let out = fleet.run(&["plan", "--detailed-exitcode", "--only", "calm-cafe"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
}

#[test]
fn a_selector_that_matches_no_app_is_an_error() {
    let fleet = TestFleet::new();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    for command in [
        &["plan", "--selector", "region=mars"][..],
        &["plan", "--detailed-exitcode", "-l", "region=mars"],
        &["reconcile", "--selector", "region=mars"],
        &["status", "--selector", "region=mars"],
    ] {
        let out = fleet.run(command);
        assert_eq!(code(&out), 1, "{command:?}\n{}", text(&out));
        assert!(
            text(&out).contains("matches `region=mars`"),
            "{command:?}\n{}",
            text(&out)
        );
    }
}

#[test]
fn apps_that_cannot_be_observed_make_the_plan_incomplete() {
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = "  faults: { error_rate: 1.0, seed: 7 }\n".into();
    fleet.write(&[
        App::new("tea-house", "wx1111111111111111"),
        App::new("noodle-bar", "wx2222222222222222"),
    ]);
    let out = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Plan incomplete: no changes · 2 not observed"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Plan: no changes"),
        "stdout must not read as a clean plan: {stdout}"
    );
    let out = fleet.run(&["plan", "-o", "json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["incomplete"], true);
    assert_eq!(plan["summary"]["not_observed"], 2);
    assert_eq!(
        plan["unobserved"],
        serde_json::json!(["tea-house", "noodle-bar"])
    );
}

#[test]
fn status_shows_a_full_release_without_gray_and_the_audit_stage() {
    let fleet = TestFleet::new();
    fleet.write(&[
        App::new("tea-house", "wx1111111111111111"),
        App {
            stage: "audit",
            ..App::new("hotpot-garden", "wx4444444444444444")
        },
    ]);
    fleet.converge();
    let out = fleet.run(&["status"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        !table.contains("gray 100%"),
        "a full release is not a gray: {table}"
    );
    let hotpot = table
        .lines()
        .find(|l| l.starts_with("hotpot-garden"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(hotpot.contains("(stage audit)"), "{hotpot}");
    assert!(hotpot.contains("approved 1.0.0 [mf:"), "{hotpot}");

    let status = fleet.status_json();
    assert_eq!(status["format_version"], 2);
    let tea = app_plan(&status, "tea-house");
    assert_eq!(tea["wanted"]["version"], "1.0.0");
    assert_eq!(tea["wanted"]["gray"], 100);
    assert_eq!(tea["wanted"]["stage"], "release");
    assert_eq!(tea["live"]["build"]["version"], "1.0.0");
    assert_eq!(
        tea["live"]["build"]["fingerprint"],
        tea["wanted"]["fingerprint"]
    );
    assert_eq!(tea["live"]["gray"], serde_json::Value::Null);
    let hotpot = app_plan(&status, "hotpot-garden");
    assert_eq!(hotpot["wanted"]["stage"], "audit");
    assert_eq!(hotpot["audit"]["status"], "approved");
    assert_eq!(hotpot["live"], serde_json::Value::Null);
}

#[test]
fn history_of_an_app_removed_from_the_fleet_shows_its_events() {
    let fleet = TestFleet::new();
    let apps = [
        App::new("tea-house", "wx1111111111111111"),
        App::new("noodle-bar", "wx2222222222222222"),
    ];
    fleet.write(&apps);
    fleet.converge();
    fleet.write(&apps[..1]);
    let out = fleet.run(&["history", "noodle-bar"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("noodle-bar") && stdout.contains("commit"),
        "{stdout}"
    );
    assert!(!stdout.contains("tea-house"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no longer in"),
        "{}",
        text(&out)
    );

    let out = fleet.run(&["history", "never-was"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("no app named `never-was`"),
        "{}",
        text(&out)
    );
}

#[test]
fn history_limit_0_does_not_say_no_history() {
    let fleet = TestFleet::new();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    fleet.converge();
    let out = fleet.run(&["history", "--limit", "0"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains("no history yet"), "{all}");
    assert!(all.contains("showing the last 0 of"), "{all}");
    assert!(out.stdout.is_empty(), "{all}");
}

/// Placeholders hints use, and values that parse in their place.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("<name>", "tea-house"),
    ("{}", "tea-house"),
    ("<app_auth_code>", "code"),
    ("APP_AUTH_CODE", "code"),
    ("ADDR", "127.0.0.1:0"),
    ("URL", "http://127.0.0.1:9/x"),
    ("NAME", "tea-house"),
    ("CODE", "code"),
    ("APP", "tea-house"),
    ("DIR", "state"),
    ("PATH", "fleet.yaml"),
];

/// The `minifleet …` command lines quoted in `text` (in backticks or string literals), with
/// placeholders filled in, optional parts taken, alternatives split and `…` cut off.
fn quoted_commands(text: &str) -> Vec<String> {
    const SUBCOMMANDS: &[&str] = &[
        "validate",
        "reconcile",
        "plan",
        "status",
        "history",
        "sandbox",
        "serve",
        "watch",
        "auth",
        "schema",
    ];
    let mut found = Vec::new();
    for (at, _) in text.match_indices("minifleet ") {
        let rest = &text[at + "minifleet ".len()..];
        // A command ends at its quote, at the end of the line, or where a description starts
        // (two spaces, as in `--help`'s examples).
        let end = rest
            .find(['`', '"', '\n', '\\', ';', ')', ','])
            .unwrap_or(rest.len());
        let end = rest[..end].find("  ").unwrap_or(end);
        let end = rest[..end].find("</").unwrap_or(end);
        let line = rest[..end].trim();
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if !SUBCOMMANDS.contains(&first) {
            continue;
        }
        let mut line = line.replace(['[', ']'], "");
        for (placeholder, value) in PLACEHOLDERS {
            line = line.replace(placeholder, value);
        }
        let mut line = line
            .split('…')
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_string();
        if line.len() < end && line.rsplit(' ').next().is_some_and(|w| w.starts_with('-')) {
            // `--listen …`: a flag whose value was left out on purpose.
            line.truncate(line.rfind(' ').unwrap_or(0));
        }
        for alternative in expand_alternatives(&line) {
            found.push(alternative);
        }
    }
    found
}

/// `auth wechat link|list` → `auth wechat link`, `auth wechat list`.
fn expand_alternatives(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.iter().position(|w| w.contains('|')) {
        None => vec![words.join(" ")],
        Some(i) => words[i]
            .split('|')
            .flat_map(|alt| {
                let mut w = words.clone();
                w[i] = alt;
                expand_alternatives(&w.join(" "))
            })
            .collect(),
    }
}

/// The Rust files under `dir`, but for unit-test files (their strings are assertions, not hints).
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name == "tests" || name.ends_with("tests.rs") {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_hint_names_a_command_that_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.push(root.join("README.md"));
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for command in quoted_commands(&source) {
            let args: Vec<&str> = command.split_whitespace().collect();
            let argv = std::iter::once("minifleet").chain(args.iter().copied());
            checked += 1;
            let Err(err) = minifleet::cli::Cli::try_parse_from(argv) else {
                continue;
            };
            use clap::error::ErrorKind;
            // A bare command name (`minifleet auth alipay`) names a command; a command line
            // with flags or values is something to run, and must run as written.
            let bare = args
                .iter()
                .all(|a| a.chars().all(|c| c.is_ascii_lowercase()));
            let ok = match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    true
                }
                ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand => bare,
                _ => false,
            };
            if !ok {
                broken.push(format!(
                    "{}: `minifleet {command}`: {}",
                    file.display(),
                    err.kind()
                ));
            }
        }
    }
    assert!(checked > 30, "only {checked} command lines found");
    assert!(
        broken.is_empty(),
        "hints that do not parse:\n{}",
        broken.join("\n")
    );
}

#[test]
fn a_held_app_says_which_hold_with_the_last_code_and_until_when() {
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = "  faults: { error_rate: 1.0, codes: [-1], seed: 3 }\n".into();
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "100ms",
        "--timeout",
        "4s",
    ]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("app `tea-house` cannot converge within `--timeout`"))
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(line.contains("backing off after"), "which hold: {line}");
    assert!(line.contains("failed with -1"), "the last code: {line}");
    assert!(line.contains("next try after 20"), "until when: {line}");
    assert!(
        !stderr.contains("waiting for a quota to reset or backing off"),
        "{stderr}"
    );
    assert!(stderr.contains("edit the app's fleet entry"), "{stderr}");
}

/// A host that accepts connections and never answers, for as long as the test runs.
fn silent_host() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming().flatten() {
            held.push(socket); // never answered
        }
    });
    addr
}

#[test]
fn an_unreachable_platform_fails_fast_and_says_how_many_apps_were_not_observed() {
    let fleet = TestFleet::new();
    let (_, private_pem, _, public_pem) = minifleet::platform::alipay::sign::generate_keypair();
    std::fs::write(fleet.dir().join("private.pem"), private_pem).unwrap();
    std::fs::write(fleet.dir().join("public.pem"), public_pem).unwrap();
    std::fs::write(fleet.dir().join("token.txt"), "a-merchant-token").unwrap();
    let addr = silent_host();
    let mut yaml = format!(
        "version: 1\n\
         platforms:\n  alipay:\n    app_id: \"2021000000000000\"\n    gateway: http://{addr}/gateway.do\n    \
         private_key: ${{file:private.pem}}\n    alipay_public_key: ${{file:public.pem}}\n\
         templates:\n  shop:\n    alipay: {{ template_id: \"2021000000000100\", template_version: 0.0.3 }}\n\
         defaults:\n  template: shop\n  version: 1.0.0\n  description: A template build for a merchant shop\n\
         apps:\n"
    );
    for i in 0..16 {
        yaml.push_str(&format!(
            "  - {{ name: shop-{i:02}, platform: alipay, appid: \"20210041000000{i:02}\", \
             app_auth_token: \"${{file:token.txt}}\" }}\n"
        ));
    }
    fleet.write_raw(&yaml);
    let started = std::time::Instant::now();
    let out = fleet.run(&["plan", "--concurrency", "8"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("could not reach alipay"))
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(line.contains("16 apps not observed"), "{line}");
    assert!(line.contains("and 13 more"), "{line}");
    assert_eq!(
        stderr.matches("error:").count(),
        1,
        "one error for the platform, not one per app: {stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("16 not observed"),
        "{}",
        text(&out)
    );
    // One request timeout for the first wave, not 30 s × 3 tries per app (~3 min before).
    assert!(took < std::time::Duration::from_secs(90), "took {took:?}");
    assert!(line.contains("timed out"), "it says why: {line}");
}
