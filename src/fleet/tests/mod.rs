//! Tests of the fleet module: resolution, every validation rule, secrets, schema and display.

use std::collections::HashMap;

use crate::platform::registry::SPECS;
use std::path::Path;

use super::{Fleet, FleetError, FleetErrors, load_str};

mod alipay;
mod cases;
mod display;
mod faults;
mod inherited;
mod limits;
mod parse;
mod quota;
mod references;
mod resolve;
mod rollout;
mod rules;
mod schema;
mod secrets;

/// A small valid fleet; rule tests edit it. Line numbers matter to the tests.
pub(super) const BASE: &str = "\
version: 1
platforms:
  wechat:
    component_appid: wx0123456789abcdef
    api_base: sandbox
templates:
  shop:
    wechat: { template_id: 42 }
defaults:
  template: shop
  version: 1.4.0
  stage: experience
apps:
  - name: tea-house
    platform: wechat
    appid: wx1111111111111111
";

/// `text` with each `(from, to)` replaced once; panics when `from` is not there.
pub(super) fn edit(text: &str, edits: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in edits {
        assert!(out.contains(from), "fixture lacks {from:?}");
        out = out.replacen(from, to, 1);
    }
    out
}

/// Loads `text` as `fleet.yaml` with the given environment.
pub(super) fn load_with(text: &str, env: &[(&str, &str)]) -> Result<Fleet, FleetErrors> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.get(name).cloned();
    load_str(text, Path::new("fleet.yaml"), &lookup, SPECS)
}

/// Loads `text` on the careful path only (the position index, then the whole read), with an empty
/// environment.
pub(super) fn load_careful(text: &str) -> Result<Fleet, FleetErrors> {
    let mut fleet = super::load::load_str_careful(text, Path::new("fleet.yaml"), &|_| None, SPECS)?;
    fleet.set_revision(crate::model::Revision::of_text(text));
    Ok(fleet)
}

/// Loads `text` both ways and checks the streamed read and the careful one agree.
pub(super) fn load_both(text: &str) -> Result<Fleet, FleetErrors> {
    let streamed = load(text);
    let careful = load_careful(text);
    assert_eq!(
        format!("{streamed:?}"),
        format!("{careful:?}"),
        "the streamed and the careful read differ on:\n{text}"
    );
    streamed
}

/// Loads `text` with an empty environment.
pub(super) fn load(text: &str) -> Result<Fleet, FleetErrors> {
    load_with(text, &[])
}

/// The problems of an invalid `text`.
pub(super) fn problems(text: &str) -> Vec<FleetError> {
    match load(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(e) => e.errors,
    }
}

/// The one problem at `path`.
pub(super) fn problem_at<'e>(errors: &'e [FleetError], path: &str) -> &'e FleetError {
    let found: Vec<&FleetError> = errors.iter().filter(|e| e.yaml_path == path).collect();
    assert_eq!(
        found.len(),
        1,
        "want one problem at {path}, got {errors:#?}"
    );
    found[0]
}

/// The fleet's WeChat settings, if it has them.
pub(super) fn wechat_config(fleet: &Fleet) -> Option<crate::platform::wechat::spec::WechatConfig> {
    let config = fleet.platforms.get(crate::platform::wechat::spec::KIND)?;
    config
        .get::<crate::platform::wechat::spec::WechatConfig>()
        .cloned()
}

/// The fleet's Alipay settings, if it has them.
pub(super) fn alipay_config(fleet: &Fleet) -> Option<crate::platform::alipay::spec::AlipayConfig> {
    let config = fleet.platforms.get(crate::platform::alipay::spec::KIND)?;
    config
        .get::<crate::platform::alipay::spec::AlipayConfig>()
        .cloned()
}
