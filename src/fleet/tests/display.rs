//! Tests: the report `minifleet validate` prints.

use std::path::PathBuf;

use super::*;

#[test]
fn the_report_has_the_fixed_grammar() {
    let errors = FleetErrors {
        file: PathBuf::from("fleet.yaml"),
        errors: vec![
            FleetError {
                yaml_path: "apps[2].gray".into(),
                app: Some("tea-house".into()),
                line_col: Some((12, 11)),
                message: "gray must be between 1 and 100, got 150".into(),
                help: Some("WeChat gray releases take a percentage from 1 to 100; 100 means a full release".into()),
            },
            FleetError {
                yaml_path: "platforms.wechat.component_secre".into(),
                app: None,
                line_col: Some((3, 5)),
                message: "unknown key `component_secre`".into(),
                help: Some("did you mean `component_secret`?".into()),
            },
        ],
    };
    let want = "\
error: fleet.yaml:12:11: apps[2].gray (app `tea-house`): gray must be between 1 and 100, got 150
  help: WeChat gray releases take a percentage from 1 to 100; 100 means a full release
error: fleet.yaml:3:5: platforms.wechat.component_secre: unknown key `component_secre`
  help: did you mean `component_secret`?
2 problems in fleet.yaml";
    assert_eq!(errors.to_string(), want);
}

#[test]
fn position_app_and_path_are_left_out_when_unknown() {
    let errors = FleetErrors {
        file: PathBuf::from("conf/fleet.yaml"),
        errors: vec![FleetError {
            yaml_path: String::new(),
            app: None,
            line_col: None,
            message: "cannot read the fleet file: entity not found".into(),
            help: None,
        }],
    };
    assert_eq!(
        errors.to_string(),
        "error: conf/fleet.yaml: cannot read the fleet file: entity not found\n1 problem in conf/fleet.yaml"
    );
}

#[test]
fn a_loaded_file_reports_in_file_order() {
    let text = edit(
        BASE,
        &[
            (
                "    api_base: sandbox\n",
                "    api_base: sandbox\n    component_secre: ${env:X}\n",
            ),
            (
                "    appid: wx1111111111111111\n",
                "    appid: wx1111111111111111\n    gray: 150\n",
            ),
        ],
    );
    let want = "\
error: fleet.yaml:6:5: platforms.wechat.component_secre: unknown key `component_secre`
  help: did you mean `component_secret`?
error: fleet.yaml:18:11: apps[0].gray (app `tea-house`): gray must be between 1 and 100, got 150
  help: WeChat gray releases take a percentage from 1 to 100; 100 means a full release
2 problems in fleet.yaml";
    assert_eq!(load(&text).unwrap_err().to_string(), want);
}

#[test]
fn an_unreadable_fleet_file_is_one_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.yaml");
    let errors = crate::fleet::load(&path, crate::platform::registry::SPECS).unwrap_err();
    assert_eq!(errors.file, path);
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(
        errors.errors[0].message,
        "cannot read the fleet file: entity not found"
    );
}

#[test]
fn load_reads_the_file_and_resolves_relative_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "tok\n").unwrap();
    let text = edit(
        BASE,
        &[(
            "    api_base: sandbox\n",
            "    api_base: sandbox\n    token: ${file:token}\n",
        )],
    );
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, text).unwrap();
    let fleet = crate::fleet::load(&path, crate::platform::registry::SPECS).unwrap();
    assert_eq!(
        wechat_config(&fleet).unwrap().token.unwrap().expose(),
        "tok"
    );
    assert_eq!(fleet.apps.len(), 1);
}
