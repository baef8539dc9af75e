//! `minifleet serve`: the push endpoints alone (authorization events, audit events, the
//! onboarding callback), until SIGTERM or Ctrl-C. With `api_base: sandbox` it hosts the sandbox
//! too, which pushes its tickets and events to these endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::auth::connect;
use super::{Cli, CliError, EXIT_OK, common};
use crate::daemon::{self, CALLBACK_PATH, Callbacks};
use crate::fleet::ApiBase;
use crate::sandbox::wechat::PushConfig;
use crate::ui::Ui;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8680")]
    pub listen: SocketAddr,
    /// With `api_base: sandbox`: how often the sandbox pushes a verify ticket.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub ticket_interval: Duration,
}

/// Runs `serve` until SIGTERM or Ctrl-C, then stops cleanly (exit 0, store flushed, lock
/// released).
pub async fn run(cli: &Cli, ui: &Ui, args: &ServeArgs) -> Result<i32, CliError> {
    let c = connect(cli, ui).await?;
    let sandboxed = c.config.api_base == ApiBase::Sandbox;
    let (token, aes_key, crypt) = super::common::push_keys(&c.config, sandboxed)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            CliError::new(format!("cannot listen on {}: {e}", args.listen))
                .help("pick a free port, e.g. `--listen 127.0.0.1:0`")
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::new(format!("cannot read the listening address: {e}")))?;
    let url = format!("http://{addr}");
    if let Some(handle) = &c.sandbox {
        let push = PushConfig {
            ticket_interval: args.ticket_interval,
            token,
            aes_key,
            ..PushConfig::sandbox_defaults(&url, &c.config.component_appid)
        };
        handle
            .wechat
            .start_pushes(push)
            .map_err(|e| CliError::new(e.to_string()))?;
        ui.status(&format!(
            "embedded sandbox on {} pushing to {url}",
            handle.base_url()
        ));
    }
    let callbacks = Callbacks::new(c.client.clone(), crypt);
    ui.data(&format!(
        "serving on {url}: POST /wechat/auth, POST /wechat/events/{{appid}}, GET {CALLBACK_PATH}"
    ));
    ui.status("stop with Ctrl-C or SIGTERM");
    let served = daemon::serve(listener, daemon::router(callbacks), common::stop_signal()).await;
    // Stopping: the embedded sandbox's state and every push stored are flushed, then the store
    // (and its lock) is released as `c` is dropped.
    if let Some(handle) = c.sandbox {
        if let Err(err) = handle.stop().await {
            ui.warn(&format!(
                "the embedded sandbox's state was not flushed: {err}"
            ));
        }
    }
    c.store
        .flush_async()
        .await
        .map_err(|e| CliError::new(format!("cannot flush the store: {e}")))?;
    served.map_err(|e| CliError::new(format!("the server stopped: {e}")))?;
    Ok(EXIT_OK)
}
