//! `minifleet sandbox`: serve the platform simulator alone, for other tools and manual testing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::fleet::{DEFAULT_TIMEOUT_AFTER_MS, FaultSpec, RejectRule, SandboxSpec};
use crate::sandbox::wechat::PushConfig;
use crate::sandbox::{self, Persist};
use crate::secret::Secret;
use crate::ui::Ui;

use super::{CliError, EXIT_OK};

/// Arguments of `sandbox`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Where to listen (keep it on loopback).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8690")]
    pub listen: SocketAddr,

    /// How long an audit takes before its verdict.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub audit_delay: Duration,

    /// How long the privacy scan after a commit runs.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub privacy_scan: Duration,

    /// The component's monthly audit quota.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub audit_quota: u32,

    /// An API the simulated template's code calls that needs a privacy declaration (WeChat's
    /// `getLocation`…): commits whose ext.json `requiredPrivateInfos` lacks it are caught by the
    /// privacy scan and their submission refused (61040); repeat for more.
    #[arg(long = "privacy-api", value_name = "API")]
    pub privacy_apis: Vec<String>,

    /// A privacy key (WeChat's `Album`, `Location`…) the privacy scan finds in every commit: a
    /// submission without a guide text for it is refused (85086); repeat for more.
    #[arg(long = "privacy-key", value_name = "KEY")]
    pub privacy_keys: Vec<String>,

    /// A domain WeChat lists as not in effect (not ICP-filed), by host or whole URL; repeat for
    /// more.
    #[arg(long = "unfiled-domain", value_name = "DOMAIN")]
    pub unfiled_domains: Vec<String>,

    /// A host where the QR-code jump rules' verification file is not hosted: adding a rule with
    /// a link there fails (85069); repeat for more.
    #[arg(long = "jump-unverified", value_name = "HOST")]
    pub jump_unverified: Vec<String>,

    /// Reject the audits of apps whose ext has this key and value, with this reason
    /// (`theme=neon:Neon breaks the content rules`); repeat for more rules. Others are approved.
    #[arg(long, value_name = "KEY=VALUE:REASON", value_parser = parse_reject)]
    pub reject: Vec<RejectRule>,

    /// Keep the simulator's state in this directory (a store) instead of in memory.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Push WeChat events to this receiver (`minifleet serve`/`watch`, e.g.
    /// `http://127.0.0.1:8680`): verify tickets, authorizations, audit verdicts.
    #[arg(long, value_name = "URL")]
    pub push_url: Option<String>,

    /// The component whose tickets are pushed.
    #[arg(long, value_name = "APPID", default_value = "wx0123456789abcdef")]
    pub component_appid: String,

    /// The Douyin third-party application whose tickets are pushed (to `/douyin/auth`, sealed
    /// with the sandbox's fixed Douyin keys).
    #[arg(long, value_name = "APPID", default_value = "tt0123456789abcdef")]
    pub douyin_component_appid: String,

    /// How often a verify ticket is pushed (WeChat: 10 minutes).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub ticket_interval: Duration,

    /// The push token [default: the sandbox's fixed `minifleet-sandbox-token`].
    #[arg(long, value_name = "TOKEN", env = "MINIFLEET_SANDBOX_TOKEN")]
    pub token: Option<String>,

    /// The 43-character encoding_aes_key [default: the sandbox's fixed key].
    #[arg(long, value_name = "KEY", env = "MINIFLEET_SANDBOX_AES_KEY")]
    pub aes_key: Option<String>,

    /// Fault injection.
    #[command(flatten)]
    pub faults: Box<FaultArgs>,
}

/// The fault-injection flags of `sandbox`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Fault injection")]
pub struct FaultArgs {
    /// Share of platform calls (0 to 1) answered with an injected error instead (WeChat -1,
    /// Alipay `isp.unknow-error`, Douyin 28001005, or one of `--fault-codes`).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,

    /// Codes injected errors carry, comma-separated: numbers are WeChat errcodes (`45011`) and
    /// Douyin `err_no`s (`11301`), text is an Alipay sub_code (`isp.unknow-error`).
    #[arg(
        long,
        value_name = "CODE,…",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub fault_codes: Vec<String>,

    /// A fixed delay before each platform call is answered.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: Duration,

    /// Share of platform calls (0 to 1) that hang for `--timeout-after`, then fail unapplied.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub timeout_rate: f64,

    /// How long an injected timeout hangs (past the clients' 30 s request timeout).
    #[arg(long, value_name = "DURATION", default_value = "35s", value_parser = humantime::parse_duration)]
    pub timeout_after: Duration,

    /// Share of mutating calls (0 to 1) that are applied but whose answer is lost (HTTP 502).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub lost_response_rate: f64,

    /// Seed of the fault generator (the same seed and calls give the same faults) [default: random].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// A share between 0 and 1.
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("a rate must be between 0 and 1, got `{text}`"))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The fault settings of the flags.
fn faults(args: &FaultArgs) -> FaultSpec {
    FaultSpec {
        error_rate: args.error_rate,
        codes: args
            .fault_codes
            .iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
        latency_ms: millis(args.latency),
        timeout_rate: args.timeout_rate,
        timeout_after_ms: if args.timeout_after.is_zero() {
            DEFAULT_TIMEOUT_AFTER_MS
        } else {
            millis(args.timeout_after)
        },
        lost_response_rate: args.lost_response_rate,
        seed: args.seed,
    }
}

fn push_config(args: &SandboxArgs, url: &str) -> PushConfig {
    let mut config = crate::sandbox::wechat::push::sandbox_defaults(url, &args.component_appid);
    config.ticket_interval = args.ticket_interval;
    if let Some(token) = &args.token {
        config.token = Secret::new(token.clone());
    }
    if let Some(key) = &args.aes_key {
        config.aes_key = Secret::new(key.clone());
    }
    config
}

/// Douyin's pushes to `url` with the sandbox's fixed Douyin keys (what `watch` opens them with
/// when `platforms.douyin` sets none and its base is the sandbox).
fn douyin_push_config(args: &SandboxArgs, url: &str) -> PushConfig {
    PushConfig {
        url: url.trim_end_matches('/').to_owned(),
        component_appid: args.douyin_component_appid.clone(),
        token: Secret::new(crate::platform::douyin::SANDBOX_PUSH_TOKEN),
        aes_key: Secret::new(crate::platform::douyin::SANDBOX_AES_KEY),
        ticket_interval: args.ticket_interval,
    }
}

fn fault_summary(f: &FaultSpec) -> String {
    let seed = f.seed.map_or("random".to_string(), |s| s.to_string());
    format!(
        "injecting faults: errors {:.0}% {:?}, latency {}ms, timeouts {:.0}% after {}ms, lost answers {:.0}%, seed {seed}",
        f.error_rate * 100.0,
        f.codes,
        f.latency_ms,
        f.timeout_rate * 100.0,
        f.timeout_after_ms,
        f.lost_response_rate * 100.0,
    )
}

/// Runs `sandbox` until SIGTERM or Ctrl-C, then stops cleanly (exit 0, state flushed, lock
/// released).
pub async fn run(ui: &Ui, args: &SandboxArgs) -> Result<i32, CliError> {
    let spec = SandboxSpec {
        audit_delay_ms: millis(args.audit_delay),
        privacy_scan_ms: millis(args.privacy_scan),
        audit_quota: args.audit_quota,
        privacy_apis: args.privacy_apis.clone(),
        privacy_keys: args.privacy_keys.clone(),
        unfiled_domains: args.unfiled_domains.clone(),
        jump_unverified: args.jump_unverified.clone(),
        faults: faults(&args.faults),
        reject: args.reject.clone(),
        ..SandboxSpec::default()
    };
    let persist = match &args.state {
        None => Persist::Memory,
        Some(dir) => {
            let store = super::common::open_store_at(dir)?;
            if let Some(old) = store.taken_over() {
                ui.warn(&old.describe());
            }
            Persist::Store(store)
        }
    };
    let handle = sandbox::start(args.listen, &spec, persist)
        .await
        .map_err(|e| {
            CliError::new(format!("cannot listen on {}: {e}", args.listen))
                .help("pick a free port, e.g. `--listen 127.0.0.1:0`")
        })?;
    if let Some(url) = &args.push_url {
        handle
            .wechat()
            .start_pushes(push_config(args, url))
            .map_err(|e| CliError::new(e.to_string()).help("pass a 43-character `--aes-key`"))?;
        handle
            .douyin()
            .start_pushes(douyin_push_config(args, url))
            .map_err(|e| CliError::new(e.to_string()))?;
        ui.status(&format!("pushing WeChat and Douyin events to {url}"));
    }
    ui.data(&format!("sandbox listening on {}", handle.base_url()));
    if spec.faults.any() {
        ui.status(&fault_summary(&spec.faults));
    }
    ui.status("stop with Ctrl-C or SIGTERM");
    super::common::stop_signal().await;
    // Requests in flight finish, the state is flushed, then the store (and its lock) is released.
    handle
        .stop()
        .await
        .map_err(|e| CliError::new(format!("the sandbox's state was not flushed: {e}")))?;
    Ok(EXIT_OK)
}

/// `--reject KEY=VALUE:REASON`: the ext value is a string (a JSON value when it parses as one,
/// e.g. `true` or `3`).
fn parse_reject(text: &str) -> Result<RejectRule, String> {
    let usage = || {
        format!(
            "write `KEY=VALUE:REASON`, e.g. `theme=neon:Neon breaks the content rules`, got `{text}`"
        )
    };
    let (rule, reason) = text.split_once(':').ok_or_else(usage)?;
    let (key, value) = rule.split_once('=').ok_or_else(usage)?;
    if key.trim().is_empty() || reason.trim().is_empty() {
        return Err(usage());
    }
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok(RejectRule {
        when_ext: [(key.trim().to_owned(), value)].into_iter().collect(),
        reason: reason.trim().to_owned(),
    })
}
