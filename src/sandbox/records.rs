//! The sandbox's own account of every mutating call it accepted (applied), so tests can count
//! duplicate commits and audit submissions per fingerprint from the platform's side.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One mutating call a simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The platform (`wechat`).
    pub platform: String,
    /// The mini-program's appid.
    pub app: String,
    /// The call: the WeChat path (`wxa/commit`) or the Alipay method
    /// (`alipay.open.mini.version.upload`).
    pub call: String,
    /// The fingerprint of the build the call concerns, where the sandbox can tell: WeChat commit
    /// (from `user_desc`) and submit_audit (the experience build's); Alipay calls naming an
    /// `app_version` (computed from the uploaded template, version and ext, as minifleet does).
    pub fingerprint: Option<String>,
    /// The version the call concerns, where there is one (`user_version` / `app_version`).
    pub version: Option<String>,
    /// The top-level keys of the ext.json a commit or upload carried, sorted (empty for other
    /// calls): what the platform got beside `ext`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_keys: Vec<String>,
    /// What a settings call left in place (empty for other calls): the app's domains after a
    /// domain call (`requestdomain https://api.example.com`), the keys of the guide after a
    /// privacy call (`v2 Location`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
    /// Unix milliseconds when it was applied.
    pub at_ms: u64,
}

/// An append-only list of accepted calls.
#[derive(Default)]
pub struct Records {
    list: Mutex<Vec<Accepted>>,
}

impl Records {
    /// Appends one accepted call.
    pub fn push(&self, record: Accepted) {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    /// Every accepted call so far, oldest first.
    pub fn all(&self) -> Vec<Accepted> {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Records of several simulators merged by time (stable, so calls of one platform keep their
/// order).
pub fn merged(mut all: Vec<Accepted>) -> Vec<Accepted> {
    all.sort_by_key(|r| r.at_ms);
    all
}

/// The top-level keys of an ext.json text, sorted (none when it is not a JSON object).
pub fn ext_keys(ext_json: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(ext_json) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}
