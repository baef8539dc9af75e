//! The command line (DESIGN §3): clap definitions, one file per subcommand, no business logic.
//! Every command returns an exit code or a [`CliError`], which `main` prints in one grammar.

mod apply;
mod auth;
mod common;
mod completions;
mod history;
mod progress;
mod qr;
mod reconcile;
mod remote;
mod rollout;
mod sandbox;
mod schema;
mod serve;
mod status;
mod validate;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ui::{Format, Ui};

pub use common::CliError;

/// Exit code: success, or nothing to change.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error, an invalid fleet, or an app that failed.
pub const EXIT_ERROR: i32 = 1;
/// Exit code of `reconcile --dry-run --detailed-exitcode` when changes are pending.
pub const EXIT_CHANGES: i32 = 2;
/// Exit code of `reconcile --wait` when `--timeout` passed before every app converged.
pub const EXIT_TIMEOUT: i32 = 3;

/// Declarative GitOps for fleets of mini-programs: one template, many merchant apps.
///
/// Keep the wanted state of every mini-program in `fleet.yaml` (template, version, ext config,
/// testers, gray percentage); minifleet reads each app's live state from the platform, plans the
/// commits, audits and releases that close the gap, applies them, and records progress in an
/// embedded store.
#[derive(Debug, Parser)]
#[command(name = "minifleet", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    minifleet validate                          check fleet.yaml, print every problem\n  \
    minifleet plan --detailed-exitcode          in CI: 0 nothing to do, 2 changes pending, 1 error\n  \
    minifleet plan --group                      apps with the same steps told once (fits a review)\n  \
    minifleet reconcile --wait                  apply, and keep going until every app converged\n  \
    minifleet reconcile --only tea-house        work on one app\n  \
    minifleet status                            wanted vs live, from the store\n  \
    minifleet history tea-house                 what was done to an app\n  \
    minifleet watch --listen 0.0.0.0:8680       the daemon: converge on every edit, serve pushes")]
pub struct Cli {
    /// The fleet file.
    #[arg(
        short = 'f',
        long,
        global = true,
        env = "MINIFLEET_FLEET",
        default_value = "fleet.yaml"
    )]
    pub fleet: PathBuf,

    /// The store directory [default: `.minifleet/` beside the fleet file].
    #[arg(long, global = true, env = "MINIFLEET_STORE")]
    pub store: Option<PathBuf>,

    /// Output format of data on stdout.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,

    /// Print no progress (errors and data still print).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More logging on stderr (-v info, -vv debug; `watch` logs info already); `MINIFLEET_LOG`
    /// takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log lines on stderr as text or as JSON objects (one per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Limit the calls to a platform, e.g. `wechat=50/s` or `alipay=600/m` (repeatable); every
    /// command that calls a platform honours it [default: 100/s per platform].
    #[arg(long, global = true, value_name = "PLATFORM=RATE")]
    pub rate: Vec<String>,

    /// Ask the daemon at this URL (its `watch --listen`) instead of the store: `plan` sends the
    /// fleet file to be planned there, `status` and `history` read the daemon's. Without it, a
    /// daemon holding the store on this machine is found through the address it records there.
    #[arg(long, global = true, env = "MINIFLEET_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// A file holding the daemon API's bearer token [default: the MINIFLEET_TOKEN variable].
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Own only the apps whose appid hashes to shard I of N (0-based), for a fleet split over N
    /// processes with a store each; `pod/N` takes I from the StatefulSet ordinal ending
    /// $HOSTNAME. Rendezvous hashing: going from N to N+1 shards moves about 1/(N+1) of the apps.
    /// `reconcile`, `plan`, `status` and `watch` work on the shard's apps only.
    #[arg(long, global = true, env = "MINIFLEET_SHARD", value_name = "I/N")]
    pub shard: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with stable field names.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate the fleet file; print every problem with its place.
    ///
    /// Exit codes: 0 valid, 1 invalid.
    Validate,
    /// Observe every app, plan, and apply what can be applied now.
    ///
    /// Exit codes: 0 done or progressing; 1 some app failed (every app is still processed);
    /// 3 `--wait` timed out. With `--dry-run --detailed-exitcode`: 0 no changes, 2 changes
    /// pending, 1 error.
    Reconcile(reconcile::ReconcileArgs),
    /// Observe and print the plan, change nothing (= `reconcile --dry-run`); `--out FILE` saves
    /// it for `apply`.
    Plan(reconcile::PlanArgs),
    /// Apply a plan saved by `plan --out FILE`: exactly its steps, for the apps whose live state
    /// and fleet entry did not move since; the others are refused as stale, with what moved.
    ///
    /// Exit codes: 0 every app applied, 1 an app refused or failed, or the plan refused whole
    /// (another store, applied before).
    Apply(apply::ApplyArgs),
    /// Wanted vs live state of every app, from the store (`--refresh` observes again).
    Status(status::StatusArgs),
    /// What minifleet did to an app (or to every app), oldest first.
    History(history::HistoryArgs),
    /// Serve the platform simulator alone on loopback, for other tools and manual testing.
    Sandbox(sandbox::SandboxArgs),
    /// Serve the WeChat push endpoints (tickets, authorizations, audit events, the onboarding
    /// callback) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// The daemon: watch the fleet file and keep every app converging; serve pushes, onboarding,
    /// `/healthz`, `/readyz` and `/metrics` until SIGTERM or Ctrl-C (then exit 0).
    ///
    /// Serves the HTTP API (`/api/v1/…`) that `plan`, `status` and `history` ask while it holds
    /// the store (or with `--server`), and CI asks for the plan of a proposed fleet file.
    Watch(watch::WatchArgs),
    /// Merchant onboarding: authorization links, authorized apps against the fleet.
    Auth(auth::AuthArgs),
    /// Open a rollout wave's manual gate (`max_update: 0`) for the builds its apps want now.
    ///
    /// Through the daemon while `minifleet watch` holds the store (it passes the wave's apps at
    /// once), else in the store for the next `reconcile`.
    Promote(rollout::PromoteArgs),
    /// Resume a release the rollout halted after audit rejections, as it is.
    ///
    /// A fixed build (a new version, or a changed ext for the rejected apps) lifts a halt by
    /// itself; `resume` goes on without a fix, and the rejections it forgives do not halt again.
    Resume(rollout::ResumeArgs),
    /// Get the QR code of an app's experience version: WeChat's image is written to a file
    /// (`--out`), Alipay's and Douyin's URL is printed.
    Qr(qr::QrArgs),
    /// Print the fleet file's JSON Schema (for editors and CI linters).
    Schema,
    /// Print a shell completion script, e.g. `minifleet completions bash > /etc/bash_completion.d/minifleet`.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), e.g. `minifleet man | man -l -`; `--dir` writes one per command.
    Man(completions::ManArgs),
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Command::Watch(_));
    init_logging(cli.verbose, cli.log_format, daemon);
    let ui = Ui::new(cli.output, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            ui.error(&format!("cannot start the async runtime: {err}"), None);
            return EXIT_ERROR;
        }
    };
    match runtime.block_on(run(&cli, &ui)) {
        Ok(code) => code,
        Err(err) => {
            err.print(&ui);
            err.exit_code
        }
    }
}

async fn run(cli: &Cli, ui: &Ui) -> Result<i32, CliError> {
    match &cli.command {
        Command::Validate => validate::run(cli, ui),
        Command::Reconcile(args) => reconcile::run(cli, ui, args).await,
        Command::Plan(args) => reconcile::run(cli, ui, &args.as_dry_run()).await,
        Command::Apply(args) => apply::run(cli, ui, args).await,
        Command::Status(args) => status::run(cli, ui, args).await,
        Command::History(args) => history::run(cli, ui, args).await,
        Command::Sandbox(args) => sandbox::run(ui, args).await,
        Command::Serve(args) => serve::run(cli, ui, args).await,
        Command::Watch(args) => watch::run(cli, ui, args).await,
        Command::Auth(args) => auth::run(cli, ui, args).await,
        Command::Promote(args) => rollout::promote(cli, ui, args).await,
        Command::Resume(args) => rollout::resume(cli, ui, args).await,
        Command::Qr(args) => qr::run(cli, ui, args).await,
        Command::Schema => schema::run(ui),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(ui, args),
    }
}

/// Logs to stderr: warnings by default (info for the daemon, whose log is its output), more
/// with `-v`, any filter with `MINIFLEET_LOG`.
fn init_logging(verbose: u8, format: LogFormat, daemon: bool) {
    let default = match verbose {
        0 if !daemon => "warn",
        0 | 1 => "minifleet=info",
        _ => "minifleet=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MINIFLEET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
