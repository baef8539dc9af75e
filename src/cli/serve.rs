//! `minifleet serve`: the platforms' push endpoints alone (WeChat: authorization events, audit
//! events, the onboarding callback), until SIGTERM or Ctrl-C. With `api_base: sandbox` it hosts
//! the sandbox too, which pushes its tickets and events to these endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::{Cli, CliError, EXIT_OK, common};
use crate::daemon;
use crate::platform::platforms::{Options, Platforms};
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
    let fleet = common::load_fleet(cli, ui)?;
    let store = common::open_store_warning(cli, ui)?;
    let options = Options {
        rates: common::rates(&cli.rate)?,
    };
    let mut platforms = Platforms::connect(&fleet, store.clone(), &options).await?;
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
    let routes = platforms
        .routes(&url, args.ticket_interval, None)?
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    if let Some(handle) = platforms.sandbox() {
        ui.status(&format!(
            "embedded sandbox on {} pushing to {url}",
            handle.base_url()
        ));
    }
    ui.data(&format!("serving on {url}: the platforms' push endpoints"));
    ui.status("stop with Ctrl-C or SIGTERM");
    let served = daemon::serve(listener, routes, common::stop_signal()).await;
    // Stopping: the embedded sandbox's state and every push stored are flushed, then the store
    // (and its lock) is released as it is dropped.
    platforms.stop().await;
    store
        .flush_async()
        .await
        .map_err(|e| CliError::new(format!("cannot flush the store: {e}")))?;
    served.map_err(|e| CliError::new(format!("the server stopped: {e}")))?;
    Ok(EXIT_OK)
}
