//! Desired state: the fleet file's serde model, loading (YAML, `${env:…}` / `${file:…}` secrets,
//! defaults merged into apps) and validation that reports every problem at once (DESIGN §4).
//! What is a platform's own — its section, its templates, its apps' checks — is asked of the
//! [`PlatformSpec`]s the loader is handed (the platform registry's).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{Desired, PlatformKind};

/// A mapping of the fleet file as read: text keys, JSON values (see `doc`).
pub(crate) type Mapping = serde_json::Map<String, Value>;
use crate::secret::Secret;

pub use spec::{PlatformConfig, PlatformSpec, SectionCx, Specs, TemplateRef};

mod aliases;
mod app_rules;
mod apps;
mod doc;
pub mod ext_json;
mod file;
mod inherit;
mod keys;
mod load;
mod locate;
mod merge;
pub mod notify_spec;
mod partial;
mod path;
mod platforms;
mod problems;
mod quota_spec;
mod raw;
mod rollout_spec;
mod rules;
mod sandbox_spec;
mod scalar;
mod schema;
mod secrets;
mod settings_spec;
pub mod shard;
mod spec;
mod templates;
mod typed;

/// What platform modules read and check their parts of the fleet file with.
pub mod kit {
    pub(crate) use super::app_rules::require_in_audit;
    pub(crate) use super::ext_json::{Holds, canonical as ext_json_text, check as check_ext_json};
    pub(crate) use super::inherit::AppAt;
    pub(crate) use super::keys::did_you_mean;
    pub(crate) use super::partial::read as read_section;
    pub(crate) use super::path::YamlPath;
    pub(crate) use super::problems::{MaybeHelp, Problems};
    pub(crate) use super::raw::{RawApp, RawGray, SECRET_PATTERN, VERSION_PATTERN};
    pub(crate) use super::rules::{is_email, is_phone, is_version};
    pub(crate) use super::settings_spec::{check as check_settings, refuse as refuse_settings};
    pub(crate) use super::spec::find as find_spec;
}
#[cfg(test)]
mod tests;

/// Resolves a secret reference given outside the fleet file (a flag): `${env:NAME}` from the
/// environment, `${file:PATH}` relative to `base_dir`; a literal is refused, so a secret never
/// sits in a command line or a unit file.
pub fn resolve_secret(
    text: &str,
    base_dir: &std::path::Path,
) -> Result<crate::secret::Secret, String> {
    secrets::resolve(text, base_dir, &|name| std::env::var(name).ok()).map_err(|e| e.to_string())
}

/// The path a `${file:PATH}` reference names (`None` for anything else), for a secret a tool
/// must read from a file itself (an SSH key).
pub fn secret_file(text: &str) -> Option<&str> {
    match secrets::parse(text) {
        Ok(secrets::SecretRef::File(path)) => Some(path),
        _ => None,
    }
}

/// A loaded, validated fleet file.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The fleet file's path.
    pub path: PathBuf,
    /// The platforms' credentials and endpoints.
    pub platforms: Platforms,
    /// Every app, resolved (defaults merged, template looked up, fingerprint computed), in file order.
    pub apps: Vec<Desired>,
    /// Settings of the embedded sandbox (used when a platform's base is `sandbox`).
    pub sandbox: SandboxSpec,
    /// The platform tokens apps give themselves (`app_auth_token`), by appid.
    pub app_tokens: BTreeMap<String, Secret>,
    /// The `rollout` section: waves and the halt rule, if the file has one.
    pub rollout: Option<crate::model::Rollout>,
    /// The `quota` section: slots kept for new merchants (the apps carry their priorities).
    pub quota: crate::model::QuotaPolicy,
    /// The `notify` section: who is told what happened.
    pub notify: Option<notify_spec::NotifySpec>,
    /// Where the fleet came from: the git commit, else the digest of the file's text. Every
    /// app carries it too ([`Desired::revision`]).
    pub revision: crate::model::Revision,
}

/// The `platforms` section: each platform's settings, read by its platform module.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Platforms {
    configs: BTreeMap<PlatformKind, PlatformConfig>,
}

impl Platforms {
    /// The settings of `kind`, if the file has its section.
    pub fn get(&self, kind: PlatformKind) -> Option<&PlatformConfig> {
        self.configs.get(&kind)
    }

    /// Every platform's settings, by platform.
    pub fn iter(&self) -> impl Iterator<Item = (PlatformKind, &PlatformConfig)> {
        self.configs.iter().map(|(k, c)| (*k, c))
    }

    /// Whether every platform of the file is the sandbox (the demo and the tests: short
    /// intervals and backoffs).
    pub fn all_sandbox(&self) -> bool {
        self.configs.values().all(PlatformConfig::is_sandbox)
    }

    /// Keeps `config` as `kind`'s settings.
    pub(crate) fn insert(&mut self, kind: PlatformKind, config: PlatformConfig) {
        self.configs.insert(kind, config);
    }
}

/// Where a platform's API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiBase {
    /// The embedded simulator, started in-process on 127.0.0.1:0.
    Sandbox,
    /// A real base URL, e.g. `https://api.weixin.qq.com`.
    Url(String),
}

/// A rule making the sandbox reject audits of matching apps.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectRule {
    /// The audit is rejected when the app's ext contains every one of these key/value pairs.
    pub when_ext: BTreeMap<String, Value>,
    /// The rejection reason the sandbox reports.
    pub reason: String,
}

/// The top-level `sandbox` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSpec {
    /// How long an audit takes before its verdict, in milliseconds (default 2000).
    pub audit_delay_ms: u64,
    /// How long the privacy scan after a commit runs, in milliseconds (default 1000).
    pub privacy_scan_ms: u64,
    /// The component's monthly audit quota (default 100).
    pub audit_quota: u32,
    /// APIs the simulated template's code calls that need a privacy declaration (WeChat API
    /// names such as `getLocation`): the privacy scan reports the ones a commit's ext.json does
    /// not list in `requiredPrivateInfos`, and a submission of it is refused (61040).
    pub privacy_apis: Vec<String>,
    /// Privacy keys (WeChat's `Album`, `Location`…) the simulated privacy scan finds in every
    /// commit, beside `Location` for a commit declaring a location API: a submission without a
    /// guide text for each is refused (85086).
    pub privacy_keys: Vec<String>,
    /// Domains WeChat lists as not in effect (`invalid_requestdomain` …: not ICP-filed), by host
    /// (`api.unfiled.example.com`) or the whole URL.
    pub unfiled_domains: Vec<String>,
    /// Hosts where the QR-code jump rules' verification file is not hosted: adding a rule with
    /// such a link fails (85069).
    pub jump_unverified: Vec<String>,
    /// Audits matching a rule are rejected with its reason; others are approved.
    pub reject: Vec<RejectRule>,
    /// Faults the sandbox injects into the platform calls it answers (none by default).
    pub faults: FaultSpec,
    /// A sandbox already running elsewhere (`minifleet sandbox --listen …`), e.g.
    /// `http://127.0.0.1:8690`: platforms whose base is `sandbox` use it instead of starting one
    /// in-process, and its own settings apply (the other keys of this section are not sent to it).
    pub url: Option<String>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        SandboxSpec {
            audit_delay_ms: 2000,
            privacy_scan_ms: 1000,
            audit_quota: 100,
            privacy_apis: Vec::new(),
            privacy_keys: Vec::new(),
            unfiled_domains: Vec::new(),
            jump_unverified: Vec::new(),
            reject: Vec::new(),
            faults: FaultSpec::default(),
            url: None,
        }
    }
}

/// How long an injected timeout hangs by default: 35 s, past the clients' 30 s request timeout.
pub const DEFAULT_TIMEOUT_AFTER_MS: u64 = 35_000;

/// `sandbox.faults`: what goes wrong on purpose, and how often (DESIGN §7). Rates are
/// probabilities per call, between 0 and 1.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Share of calls answered with an error instead (WeChat errcode -1 "system busy", Alipay
    /// 20000 `isp.unknow-error`, or one of `codes`); nothing is applied.
    pub error_rate: f64,
    /// The codes an injected error carries, one chosen at random per error: numbers are WeChat
    /// errcodes (e.g. `45011`, `85085`) and Douyin `err_no`s, other text is an Alipay `sub_code`. Empty: the transient
    /// "system busy" of each platform.
    pub codes: Vec<String>,
    /// A fixed delay before every call is answered, in milliseconds.
    pub latency_ms: u64,
    /// Share of calls that hang for `timeout_after_ms`, then fail unapplied (never the token calls).
    pub timeout_rate: f64,
    /// How long an injected timeout hangs, in milliseconds (default 35 000).
    pub timeout_after_ms: u64,
    /// Share of mutating calls that are applied but whose answer is lost (HTTP 502, no body).
    pub lost_response_rate: f64,
    /// Seed of the fault generator; the same seed and the same calls give the same faults.
    /// `None`: a random seed.
    pub seed: Option<u64>,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            error_rate: 0.0,
            codes: Vec::new(),
            latency_ms: 0,
            timeout_rate: 0.0,
            timeout_after_ms: DEFAULT_TIMEOUT_AFTER_MS,
            lost_response_rate: 0.0,
            seed: None,
        }
    }
}

impl FaultSpec {
    /// Whether any fault is switched on.
    pub fn any(&self) -> bool {
        self.error_rate > 0.0
            || self.latency_ms > 0
            || self.timeout_rate > 0.0
            || self.lost_response_rate > 0.0
    }
}

/// One problem in a fleet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetError {
    /// The YAML path, e.g. `apps[2].gray` (empty for the whole file).
    pub yaml_path: String,
    /// The app the problem is in, by name, where there is one.
    pub app: Option<String>,
    /// 1-based line and column, where known.
    pub line_col: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, where there is more to say.
    pub help: Option<String>,
}

impl Fleet {
    /// Marks the fleet and every app as coming from `revision` (a git commit).
    pub fn set_revision(&mut self, revision: crate::model::Revision) {
        for app in &mut self.apps {
            app.revision = revision.clone();
        }
        self.revision = revision;
    }

    /// Keeps only the apps `shard` owns; all of them without a shard.
    pub fn keep_shard(&mut self, shard: Option<shard::Shard>) {
        if let Some(shard) = shard {
            self.apps.retain(|app| shard.owns(&app.appid));
        }
    }
}

/// Every problem found in a fleet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetErrors {
    /// The fleet file.
    pub file: PathBuf,
    /// The problems, in file order.
    pub errors: Vec<FleetError>,
}

impl fmt::Display for FleetErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_report(f)
    }
}

impl std::error::Error for FleetErrors {}

/// Loads and validates the fleet file at `path`, resolving secrets from the environment and from
/// files relative to the fleet file.
pub fn load(path: &Path, specs: Specs) -> Result<Fleet, FleetErrors> {
    load_str(&read(path)?, path, &|name| std::env::var(name).ok(), specs)
}

/// Loads and validates the fleet file at `path` as [`load`] does, while a second thread runs
/// `work` on each app as soon as it is read — so work on the apps (planning them from the store,
/// say) overlaps reading the rest of the file. Returns the fleet and `work`'s result for each of
/// its apps, in order; when the file has problems, the results are dropped.
pub fn load_with<R: Send>(
    path: &Path,
    specs: Specs,
    work: &(dyn Fn(&Desired) -> R + Sync),
) -> Result<(Fleet, Vec<R>), FleetErrors> {
    let env = |name: &str| std::env::var(name).ok();
    let text = read(path)?;
    let (mut fleet, results) = load::load_str_with(&text, path, &env, specs, work)?;
    fleet.set_revision(crate::model::Revision::of_text(&text));
    Ok((fleet, results))
}

/// The fleet file's text (see [`file::read`]).
fn read(path: &Path) -> Result<String, FleetErrors> {
    file::read(path).map_err(|e| FleetErrors {
        file: path.to_path_buf(),
        errors: vec![e],
    })
}

/// Loads and validates a fleet file from its text. `file` is the fleet file's path, shown in
/// messages and the base directory of `${file:…}` secrets; `env` looks up `${env:…}` secrets.
pub fn load_str(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    specs: Specs,
) -> Result<Fleet, FleetErrors> {
    let mut fleet = load::load_str(text, file, None, env, specs)?;
    fleet.set_revision(crate::model::Revision::of_text(text));
    Ok(fleet)
}

/// Loads the fleet file `path` of a git commit written out at `root` (see
/// [`crate::gitsource`]): as [`load`], but a `${file:…}` secret must stay inside `root`, and the
/// fleet's revision is the commit `sha`.
pub fn load_commit(
    path: &Path,
    root: &Path,
    sha: &str,
    specs: Specs,
) -> Result<Fleet, FleetErrors> {
    let text = read(path)?;
    let env = |name: &str| std::env::var(name).ok();
    let mut fleet = load::load_str(&text, path, Some(root), &env, specs)?;
    fleet.set_revision(crate::model::Revision(sha.into()));
    Ok(fleet)
}

/// The fleet file's JSON Schema (draft 2020-12): doc comments as descriptions, unknown keys
/// forbidden where keys are fixed, secret fields constrained to `${env:…}` / `${file:…}`.
pub fn json_schema(specs: Specs) -> Value {
    schema::fleet_schema(specs).clone()
}
