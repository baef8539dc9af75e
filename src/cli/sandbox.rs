//! `minifleet sandbox`: serve the platform simulator alone, for other tools and manual testing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::fleet::SandboxSpec;
use crate::sandbox::wechat::PushConfig;
use crate::sandbox::{self, Persist};
use crate::secret::Secret;
use crate::store::Store;
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

    /// How often a verify ticket is pushed (WeChat: 10 minutes).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub ticket_interval: Duration,

    /// The push token [default: the sandbox's fixed `minifleet-sandbox-token`].
    #[arg(long, value_name = "TOKEN", env = "MINIFLEET_SANDBOX_TOKEN")]
    pub token: Option<String>,

    /// The 43-character encoding_aes_key [default: the sandbox's fixed key].
    #[arg(long, value_name = "KEY", env = "MINIFLEET_SANDBOX_AES_KEY")]
    pub aes_key: Option<String>,
}

fn push_config(args: &SandboxArgs, url: &str) -> PushConfig {
    let mut config = PushConfig::sandbox_defaults(url, &args.component_appid);
    config.ticket_interval = args.ticket_interval;
    if let Some(token) = &args.token {
        config.token = Secret::new(token.clone());
    }
    if let Some(key) = &args.aes_key {
        config.aes_key = Secret::new(key.clone());
    }
    config
}

/// Runs `sandbox` until Ctrl-C.
pub async fn run(ui: &Ui, args: &SandboxArgs) -> Result<i32, CliError> {
    let spec = SandboxSpec {
        audit_delay_ms: args.audit_delay.as_millis() as u64,
        privacy_scan_ms: args.privacy_scan.as_millis() as u64,
        audit_quota: args.audit_quota,
        ..SandboxSpec::default()
    };
    let persist = match &args.state {
        None => Persist::Memory,
        Some(dir) => Persist::Store(Store::open(dir).map_err(|e| CliError::new(e.to_string()))?),
    };
    let handle = sandbox::start(args.listen, &spec, persist)
        .await
        .map_err(|e| {
            CliError::new(format!("cannot listen on {}: {e}", args.listen))
                .help("pick a free port, e.g. `--listen 127.0.0.1:0`")
        })?;
    if let Some(url) = &args.push_url {
        handle
            .wechat
            .start_pushes(push_config(args, url))
            .map_err(|e| CliError::new(e.to_string()).help("pass a 43-character `--aes-key`"))?;
        ui.status(&format!("pushing WeChat events to {url}"));
    }
    ui.data(&format!("sandbox listening on {}", handle.base_url()));
    ui.status("press Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::new(format!("cannot wait for Ctrl-C: {e}")))?;
    drop(handle);
    Ok(EXIT_OK)
}
