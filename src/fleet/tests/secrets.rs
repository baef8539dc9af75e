//! Tests: secrets come only from the environment or files, and never show up in messages.

use super::*;

/// [`BASE`] with the given secret lines in `platforms.wechat`.
fn with_secrets(lines: &str) -> String {
    edit(
        BASE,
        &[(
            "    api_base: sandbox\n",
            &format!("    api_base: sandbox\n{lines}"),
        )],
    )
}

#[test]
fn secrets_resolve_from_env_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = "k".repeat(43);
    std::fs::write(dir.path().join("aes.key"), format!("{key}\n")).unwrap();
    let text = with_secrets(
        "    component_secret: ${env:SECRET}\n    encoding_aes_key: ${file:aes.key}\n",
    );
    let env = |n: &str| (n == "SECRET").then(|| "from-env".to_owned());
    let fleet = load_str(
        &text,
        &dir.path().join("fleet.yaml"),
        &env,
        crate::platform::registry::SPECS,
    )
    .unwrap();
    let wechat = wechat_config(&fleet).unwrap();
    assert_eq!(wechat.component_secret.unwrap().expose(), "from-env");
    assert_eq!(
        wechat.encoding_aes_key.unwrap().expose(),
        key,
        "one trailing newline trimmed"
    );
}

#[test]
fn a_literal_secret_is_rejected_and_not_repeated() {
    let text = with_secrets("    token: hunter2\n");
    let errors = load(&text).unwrap_err();
    let e = problem_at(&errors.errors, "platforms.wechat.token");
    assert_eq!(
        e.message,
        "secrets must come from `${env:NAME}` or `${file:PATH}`, never from the fleet file itself"
    );
    assert!(!errors.to_string().contains("hunter2"), "{errors}");
}

#[test]
fn a_missing_env_var_is_named() {
    let errors = problems(&with_secrets(
        "    component_secret: ${env:WECHAT_COMPONENT_SECRET}\n",
    ));
    let e = problem_at(&errors, "platforms.wechat.component_secret");
    assert_eq!(
        e.message,
        "environment variable `WECHAT_COMPONENT_SECRET` is not set"
    );
    assert_eq!(e.line_col, Some((6, 23)));
    assert!(
        e.help
            .as_deref()
            .is_some_and(|h| h.contains("WECHAT_COMPONENT_SECRET"))
    );
}

#[test]
fn a_missing_file_is_named() {
    let errors = problems(&with_secrets("    token: ${file:secrets/token.txt}\n"));
    let e = problem_at(&errors, "platforms.wechat.token");
    assert_eq!(
        e.message,
        "cannot read secret file `secrets/token.txt`: entity not found"
    );
}

#[test]
fn a_wrong_length_aes_key_is_reported_without_its_value() {
    let text = with_secrets("    encoding_aes_key: ${env:AES}\n");
    let errors = load_with(&text, &[("AES", "short-secret-value")]).unwrap_err();
    let e = problem_at(&errors.errors, "platforms.wechat.encoding_aes_key");
    assert_eq!(
        e.message,
        "`encoding_aes_key` must be 43 characters, got 18"
    );
    assert!(
        !errors.to_string().contains("short-secret-value"),
        "{errors}"
    );
    assert!(!format!("{errors:?}").contains("short-secret-value"));
}

#[test]
fn resolved_secrets_never_print() {
    let text = with_secrets("    component_secret: ${env:S}\n    token: ${env:T}\n");
    let fleet = load_with(&text, &[("S", "sup3r-secret"), ("T", "t0ken-secret")]).unwrap();
    let debug = format!("{fleet:?}");
    assert!(
        !debug.contains("sup3r-secret") && !debug.contains("t0ken-secret"),
        "{debug}"
    );
    assert!(debug.contains("***"));
}

#[test]
fn alipay_secrets_are_resolved_and_never_echoed() {
    let alipay = "  alipay:\n    app_id: \"2021000000000000\"\n    private_key: ${file:nowhere.pem}\n    alipay_public_key: -----BEGIN PUBLIC KEY-----\n    gateway: sandbox\n";
    let text = edit(BASE, &[("templates:\n", &format!("{alipay}templates:\n"))]);
    let errors = problems(&text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let e = problem_at(&errors, "platforms.alipay.alipay_public_key");
    assert!(e.message.starts_with("secrets must come from"));
    let file = problem_at(&errors, "platforms.alipay.private_key");
    assert_eq!(
        file.message,
        "cannot read secret file `nowhere.pem`: entity not found"
    );
    assert_eq!(file.line_col, Some((8, 18)));
    assert!(!errors.iter().any(|e| e.message.contains("BEGIN")));
}

#[test]
fn a_mistyped_literal_secret_is_not_echoed() {
    let errors = load(&with_secrets("    component_secret: 987654321\n")).unwrap_err();
    let e = problem_at(&errors.errors, "platforms.wechat.component_secret");
    assert!(e.message.starts_with("secrets must come from"), "{e:?}");
    assert!(!errors.to_string().contains("987654321"), "{errors}");
}

/// The problem at `platforms.wechat.token` when it is `${file:PATH}`, in a fleet in `dir`.
fn token_file_problem(dir: &Path, path: &str) -> FleetError {
    let text = with_secrets(&format!("    token: ${{file:{path}}}\n"));
    let errors = load_str(
        &text,
        &dir.join("fleet.yaml"),
        &|_| None,
        crate::platform::registry::SPECS,
    )
    .unwrap_err();
    assert_eq!(errors.errors.len(), 1, "{errors}");
    problem_at(&errors.errors, "platforms.wechat.token").clone()
}

#[cfg(unix)]
#[test]
fn a_device_as_a_secret_file_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let e = token_file_problem(dir.path(), "/dev/zero");
    assert_eq!(e.message, "secret file `/dev/zero` is not a regular file");
    assert!(
        e.help
            .as_deref()
            .is_some_and(|h| h.contains("regular file"))
    );
    let e = token_file_problem(dir.path(), ".");
    assert_eq!(e.message, "secret file `.` is not a regular file");
}

#[test]
fn a_secret_file_larger_than_64_kib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let max = usize::try_from(crate::fleet::secrets::MAX_SECRET_BYTES).unwrap();
    std::fs::write(dir.path().join("large"), "k".repeat(max + 1)).unwrap();
    let e = token_file_problem(dir.path(), "large");
    assert_eq!(e.message, "secret file `large` is larger than 64 KiB");
    assert!(
        e.help
            .as_deref()
            .is_some_and(|h| h.contains("check the path"))
    );
    // At the bound it is read.
    std::fs::write(dir.path().join("at-bound"), "k".repeat(max)).unwrap();
    let text = with_secrets("    token: ${file:at-bound}\n");
    let fleet = load_str(
        &text,
        &dir.path().join("fleet.yaml"),
        &|_| None,
        crate::platform::registry::SPECS,
    )
    .unwrap();
    assert_eq!(
        wechat_config(&fleet).unwrap().token.unwrap().expose().len(),
        max
    );
}

#[test]
fn a_secret_file_that_is_not_utf8_is_refused_without_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("binary"), [0x30, 0x82, 0xff, 0x01]).unwrap();
    let e = token_file_problem(dir.path(), "binary");
    assert_eq!(e.message, "secret file `binary` is not UTF-8 text");
}

#[test]
fn every_platform_section_takes_a_proxy_url_and_refuses_anything_else() {
    let with = |proxy: &str| {
        super::edit(
            super::BASE,
            &[(
                "    api_base: sandbox\n",
                &format!("    api_base: sandbox\n    proxy: {proxy}\n"),
            )],
        )
    };
    let fleet = super::load(&with("http://egress.internal:3128")).expect("valid");
    let config = fleet
        .platforms
        .get(crate::platform::wechat::spec::KIND)
        .unwrap();
    assert_eq!(config.proxy.as_deref(), Some("http://egress.internal:3128"));
    assert!(
        super::wechat_config(&fleet).is_some(),
        "the platform's own keys still read"
    );
    let none = super::load(super::BASE).expect("valid");
    assert_eq!(
        none.platforms
            .get(crate::platform::wechat::spec::KIND)
            .unwrap()
            .proxy,
        None
    );
    for bad in [
        "ftp://egress:21",
        "socks5://egress:1080",
        "egress.internal:3128",
        "\"http:// x\"",
    ] {
        let errors = super::problems(&with(bad));
        let e = super::problem_at(&errors, "platforms.wechat.proxy");
        assert!(
            e.message.contains("http:// or https://"),
            "{bad}: {}",
            e.message
        );
    }
    let schema = crate::fleet::json_schema(crate::platform::registry::SPECS);
    for platform in ["WechatPlatform", "AlipayPlatform", "DouyinPlatform"] {
        assert_eq!(
            schema["$defs"][platform]["properties"]["proxy"]["type"], "string",
            "{platform}"
        );
    }
}
