//! `minifleet sandbox`: serve the platform simulator alone, for other tools and manual testing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::fleet::SandboxSpec;
use crate::sandbox::{self, Persist};
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
    ui.data(&format!("sandbox listening on {}", handle.base_url()));
    ui.status("press Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::new(format!("cannot wait for Ctrl-C: {e}")))?;
    drop(handle);
    Ok(EXIT_OK)
}
