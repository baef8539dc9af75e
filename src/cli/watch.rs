//! `minifleet watch`: the daemon. Watches the fleet file, keeps every app converging with a
//! per-app scheduler, and serves the push and onboarding endpoints, `/healthz`, `/readyz` and
//! `/metrics` until SIGTERM or Ctrl-C. With `api_base: sandbox` the embedded sandbox pushes its
//! tickets and audit verdicts to this daemon, as WeChat would.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::common;
use super::{Cli, CliError, EXIT_OK};
use crate::daemon::{self, WatchOptions};
use crate::engine::policy::Timing;
use crate::fleet::Fleet;
use crate::fleet::shard::Shard;
use crate::ui::Ui;

/// Arguments of `watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Where to serve pushes, onboarding, `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8680")]
    pub listen: SocketAddr,

    /// Poll the fleet file instead of waiting for filesystem events (network filesystems).
    #[arg(long)]
    pub poll: bool,

    /// With --poll: how often to look.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,

    /// Quiet time after an edit before the fleet file is loaded.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub debounce: Duration,

    /// Pass every settled app again this often (± 10% jitter), so missed changes heal.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync: Duration,

    /// Observe a settled app fully every N-th resync; the others read only what reveals most drift
    /// (one call: WeChat's version info, Alipay's version list) and observe fully when it moved.
    /// Testers, an audit submitted by hand (WeChat) and members (Alipay) are caught within N
    /// resyncs; `1` observes fully every time.
    #[arg(long, value_name = "N", default_value_t = crate::engine::probe::DEFAULT_FULL_EVERY, value_parser = clap::value_parser!(u32).range(1..))]
    pub full_observe_every: u32,

    /// First poll of an app waiting on an audit; doubles up to 20× (at most 10m). Audit pushes
    /// pass the app at once anyway [default: 30s; 500ms when every platform is the sandbox].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub audit_poll: Option<Duration>,

    /// Work on at most this many apps at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// The API's read token (status, history, plans, events), as `${env:NAME}` or
    /// `${file:PATH}`. Without tokens the API answers only on loopback.
    #[arg(long, value_name = "REF")]
    pub read_token: Option<String>,

    /// The API's admin token (also triggers passes), as `${env:NAME}` or `${file:PATH}`.
    #[arg(long, value_name = "REF")]
    pub admin_token: Option<String>,

    /// On SIGTERM / Ctrl-C: how long passes in flight get to finish.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub grace: Duration,

    /// With `api_base: sandbox`: how often the sandbox pushes a verify ticket.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub ticket_interval: Duration,
}

/// Runs `watch` until SIGTERM or Ctrl-C.
pub async fn run(cli: &Cli, ui: &Ui, args: &WatchArgs) -> Result<i32, CliError> {
    let fleet = common::load_owned_fleet(cli, ui)?;
    let store = common::open_store(cli)?;
    if let Some(old) = store.taken_over() {
        tracing::warn!(holder = %old.holder.describe(), "{}", old.describe());
    }
    let engine = common::connect(cli, &fleet, store).await?;
    engine.set_full_observe_every(args.full_observe_every);
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
    let routes = engine.platforms().routes(&url, args.ticket_interval)?;
    ui.data(&format!("listening on {url}"));
    ui.status(&format!(
        "watching `{}` ({} apps); stop with Ctrl-C or SIGTERM",
        cli.fleet.display(),
        fleet.apps.len()
    ));
    let mut opts = options(cli, args, &fleet, common::shard(cli)?);
    opts.tokens = tokens(args, &fleet)?;
    let drained = daemon::run(opts, fleet, engine, listener, routes, common::stop_signal())
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    if drained.abandoned > 0 {
        ui.warn(&format!(
            "{} passes outlasted `--grace` and were cancelled; the next run settles them from the journal",
            drained.abandoned
        ));
    }
    Ok(EXIT_OK)
}

fn options(cli: &Cli, args: &WatchArgs, fleet: &Fleet, shard: Option<Shard>) -> WatchOptions {
    let fast = super::reconcile::all_sandbox(fleet);
    let audit_poll = args.audit_poll.unwrap_or(if fast {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(30)
    });
    WatchOptions {
        fleet_path: cli.fleet.clone(),
        poll: args.poll.then_some(args.poll_interval),
        debounce: args.debounce,
        timing: Timing::new(args.resync, audit_poll, fast),
        concurrency: usize::from(args.concurrency),
        grace: args.grace,
        shard,
        tokens: daemon::api::Tokens::default(),
    }
}

/// `--read-token` and `--admin-token`, resolved (files relative to the fleet file).
fn tokens(args: &WatchArgs, fleet: &Fleet) -> Result<daemon::api::Tokens, CliError> {
    let base = fleet
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let resolve = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|text| {
                crate::fleet::resolve_secret(text, base).map_err(|err| {
                    CliError::new(format!("{flag}: {err}"))
                        .help("give the token as `${env:NAME}` or `${file:PATH}`, never as itself")
                })
            })
            .transpose()
    };
    Ok(daemon::api::Tokens {
        read: resolve("--read-token", &args.read_token)?,
        admin: resolve("--admin-token", &args.admin_token)?,
    })
}
