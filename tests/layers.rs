//! The layers ARCHITECTURE.md draws, checked on the source: the pure core (`fleet`, `model`,
//! `plan`) imports no I/O layer, the engine does not know the simulator, and nothing outside
//! `platform/` and the sandbox names a platform or one of its error codes. Test code is left out:
//! tests may build any platform's apps.

use std::path::{Path, PathBuf};

/// A source file's path (relative to `src/`) and its code without tests and comments.
struct Source {
    path: String,
    code: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether the file holds tests only (a `tests` module, test fixtures).
fn is_test_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path.contains("/tests/")
        || path.starts_with("tests/")
        || name == "tests.rs"
        || name.ends_with("_tests.rs")
        || name == "fixtures.rs"
}

/// `code` without comments and without the items marked `#[cfg(test)]` (by brace matching: a
/// marked item ends at its `;` or at the `}` that closes its first `{`).
fn strip(code: &str) -> String {
    let lines: Vec<&str> = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            i += 1;
            let mut depth = 0i64;
            let mut opened = false;
            while i < lines.len() {
                let line = lines[i];
                i += 1;
                for c in line.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    out
}

fn sources() -> Vec<Source> {
    let root = src();
    let mut paths = Vec::new();
    files(&root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let path = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if is_test_file(&path) {
                return None;
            }
            let code = strip(&std::fs::read_to_string(&p).unwrap());
            Some(Source { path, code })
        })
        .collect()
}

/// The places in `sources` under one of `dirs` whose code contains one of `needles`.
fn offences(sources: &[Source], dirs: &[&str], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for source in sources
        .iter()
        .filter(|s| dirs.iter().any(|d| s.path.starts_with(d)))
    {
        for (n, line) in source.code.lines().enumerate() {
            for needle in needles.iter().filter(|needle| line.contains(*needle)) {
                found.push(format!(
                    "{} (code line {}): `{needle}` in {line:?}",
                    source.path,
                    n + 1
                ));
            }
        }
    }
    found
}

#[test]
fn stripping_leaves_code_and_drops_tests_and_comments() {
    let code = "// a comment naming wechat\nfn kept() {}\n#[cfg(test)]\nmod tests {\n    fn gone() { if x { y } }\n}\n#[cfg(test)]\nmod other;\nfn also_kept() {}\n";
    assert_eq!(strip(code), "fn kept() {}\nfn also_kept() {}\n");
    assert!(is_test_file("engine/tests.rs"));
    assert!(is_test_file("plan/tests/mod.rs"));
    assert!(is_test_file("platform/wechat/lifecycle_tests.rs"));
    assert!(!is_test_file("engine/pass.rs"));
}

#[test]
fn the_pure_core_imports_no_io_layer() {
    let sources = sources();
    assert!(sources.iter().any(|s| s.path.starts_with("plan/")));
    let found = offences(
        &sources,
        &["fleet/", "model/", "plan/"],
        &[
            "crate::platform",
            "crate::engine",
            "crate::store",
            "crate::sandbox",
            "crate::daemon",
            "crate::cli",
            "crate::view",
            "crate::ui",
            "tokio",
            "sled",
            "reqwest",
            "axum",
            "hyper",
            "SystemTime",
            "Instant::now",
        ],
    );
    assert!(
        found.is_empty(),
        "the pure core reaches out:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_engine_does_not_know_the_simulator_or_a_platform() {
    let found = offences(
        &sources(),
        &["engine/"],
        &[
            "crate::sandbox",
            "platform::wechat",
            "platform::alipay",
            "platform::douyin",
        ],
    );
    assert!(
        found.is_empty(),
        "the engine reaches past the seam:\n{}",
        found.join("\n")
    );
}

/// Every error code of the platforms' tables: WeChat's errcodes, Alipay's codes and sub_codes,
/// Douyin's codes.
fn platform_codes() -> Vec<String> {
    let mut codes = Vec::new();
    let platform = src().join("platform");
    for entry in std::fs::read_dir(&platform).unwrap() {
        let errors = entry.unwrap().path().join("errors.rs");
        let Ok(text) = std::fs::read_to_string(&errors) else {
            continue;
        };
        // Table rows are `e(CODE, …` with CODE a number or a string literal, or
        // `e(&[CODE, CODE…], …` for codes that share a meaning.
        let row_codes = text.split("e(").skip(1).flat_map(|row| {
            let row = row.trim_start();
            match row.strip_prefix("&[") {
                Some(list) => list.split(']').next().unwrap_or("").split(',').collect(),
                None => vec![row.split(',').next().unwrap_or("")],
            }
        });
        for code in row_codes {
            let code = code.trim().trim_matches('"');
            let plausible = !code.is_empty()
                && code.len() <= 64
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if plausible
                && code
                    .chars()
                    .any(|c| c.is_ascii_digit() || c == '.' || c == '_')
            {
                codes.push(code.to_owned());
            }
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn nothing_outside_the_platforms_names_a_platform_or_its_error_codes() {
    let codes = platform_codes();
    for known in [
        "85085",
        "87012",
        "45009",
        "isv.invalid-signature",
        "isp.unknow-error",
        "11301",
        "28001008",
    ] {
        assert!(
            codes.iter().any(|c| c == known),
            "{known} is read from the tables"
        );
    }
    let mut needles: Vec<String> = codes.iter().map(|c| format!("\"{c}\"")).collect();
    // Five-digit WeChat errcodes written as numbers, too.
    needles.extend(
        codes
            .iter()
            .filter(|c| c.len() == 5 && c.bytes().all(|b| b.is_ascii_digit()))
            .map(|c| format!(" {c} ")),
    );
    needles.extend(
        [
            "\"wechat\"",
            "\"alipay\"",
            "\"douyin\"",
            "::wechat::",
            "::alipay::",
            "::douyin::",
            "PlatformKind::new(",
        ]
        .map(String::from),
    );
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let sources: Vec<Source> = sources()
        .into_iter()
        .filter(|s| !s.path.starts_with("platform/") && !s.path.starts_with("sandbox/"))
        // The simulator's own command: it serves the sandbox and pushes WeChat's events.
        .filter(|s| s.path != "cli/sandbox.rs")
        .collect();
    let dirs: Vec<&str> = vec![""];
    let mut found = offences(&sources, &dirs, &needles);
    // `PlatformKind::new(` defines the type itself.
    found.retain(|f| !f.starts_with("model/platform.rs") || !f.contains("PlatformKind::new("));
    assert!(
        found.is_empty(),
        "platform facts outside platform/ (move them into the platform's module):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_simulator_borrows_only_the_platforms_crypto_and_push_helpers() {
    let mut found = Vec::new();
    for source in sources().iter().filter(|s| s.path.starts_with("sandbox/")) {
        for line in source.code.lines() {
            for (at, _) in line.match_indices("crate::platform::") {
                let rest = &line[at + "crate::platform::".len()..];
                let mut parts = rest.split("::");
                let (platform, module) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let module: String = module
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !matches!(module.as_str(), "sign" | "crypto" | "push") {
                    found.push(format!(
                        "{}: crate::platform::{platform}::{module} in {line:?}",
                        source.path
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a simulator that shares the client's wire types cannot catch the client's mistakes:\n{}",
        found.join("\n")
    );
}
