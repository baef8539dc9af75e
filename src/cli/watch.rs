//! `minifleet watch`: the daemon. Watches the fleet file, keeps every app converging with a
//! per-app scheduler, and serves the push and onboarding endpoints, `/healthz`, `/readyz` and
//! `/metrics` until SIGTERM or Ctrl-C. With `api_base: sandbox` the embedded sandbox pushes its
//! tickets and audit verdicts to this daemon, as WeChat would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::common;
use super::{Cli, CliError, EXIT_OK};
use std::path::{Path, PathBuf};

use crate::daemon::{self, GitFollow, WatchOptions};
use crate::engine::policy::Timing;
use crate::fleet::Fleet;
use crate::fleet::shard::Shard;
use crate::gitsource::{GitAuth, GitSource};
use crate::platform::registry::SPECS;
use crate::platform::relay::Relay;
use crate::secret::Secret;
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

    /// With --shard: where every shard serves, so pushes reach the shards that need them — a
    /// template with `{i}` for the shard index (`http://minifleet-{i}.minifleet:8680`, a
    /// StatefulSet's pods behind a headless Service) or one URL per shard, comma-separated, in
    /// shard order. The shard a push reaches keeps a ticket and relays it to the others, and
    /// relays an app's event to the app's shard, unchanged (each shard checks it itself).
    #[arg(long, value_name = "URLS", env = "MINIFLEET_SHARD_PEERS")]
    pub shard_peers: Option<String>,

    /// On SIGTERM / Ctrl-C: how long passes in flight get to finish.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub grace: Duration,

    /// With `api_base: sandbox`: how often the sandbox pushes a verify ticket.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub ticket_interval: Duration,

    /// Follow a git branch instead of the fleet file: `https://…`, `ssh://…`, `git@host:path`
    /// or `file://…`. Fetched with a git library (no git binary; nothing from the repository
    /// is run) into `<store>/git/`; each new commit is loaded as an edit would be, and a commit
    /// whose fleet is invalid is reported (id, author) while the last good one keeps running.
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,

    /// With --git: the branch to follow.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub branch: String,

    /// With --git: the fleet file's path in the repository. Its `${file:…}` secrets must stay
    /// inside the commit; give others as `${env:…}`.
    #[arg(long, value_name = "PATH", default_value = "fleet.yaml")]
    pub path: std::path::PathBuf,

    /// With --git: how often to fetch (a signed push webhook to `/git/webhook` fetches at once).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// With --git over HTTPS: the user name for --git-token [default: git].
    #[arg(long, value_name = "USER")]
    pub git_user: Option<String>,

    /// With --git over HTTPS: the password or access token, as `${env:NAME}` or `${file:PATH}`.
    #[arg(long, value_name = "REF")]
    pub git_token: Option<String>,

    /// With --git over SSH: the private key, as `${file:PATH}` (used in place) or `${env:NAME}`
    /// (written to `<store>/git/ssh-key`, mode 0600). Runs the system's `ssh`.
    #[arg(long, value_name = "REF")]
    pub git_ssh_key: Option<String>,

    /// With --git: the secret GitHub (`X-Hub-Signature-256`), Gitea (`X-Gitea-Signature`) and
    /// GitLab (`X-Gitlab-Token`) push webhooks to `/git/webhook` are checked with, as
    /// `${env:NAME}` or `${file:PATH}`. Without it webhooks are refused.
    #[arg(long, value_name = "REF")]
    pub git_webhook_secret: Option<String>,
}

/// Runs `watch` until SIGTERM or Ctrl-C.
pub async fn run(cli: &Cli, ui: &Ui, args: &WatchArgs) -> Result<i32, CliError> {
    let store = common::open_store(cli)?;
    let (fleet, git) = match &args.git {
        Some(url) => {
            let (fleet, follow) = first_commit(cli, ui, args, url, store.dir()).await?;
            (fleet, Some(follow))
        }
        None => (common::load_owned_fleet(cli, ui)?, None),
    };
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
    let shard = common::shard(cli)?;
    let routes = engine
        .platforms()
        .routes(&url, args.ticket_interval, relay(args, shard)?)?;
    ui.data(&format!("listening on {url}"));
    let watching = match &git {
        Some(follow) => format!(
            "{} on {} of {}",
            follow.source.path.display(),
            follow.source.branch,
            follow.source.shown_url()
        ),
        None => cli.fleet.display().to_string(),
    };
    ui.status(&format!(
        "watching `{watching}` ({} apps); stop with Ctrl-C or SIGTERM",
        fleet.apps.len()
    ));
    let mut opts = options(cli, args, &fleet, shard);
    opts.tokens = tokens(args, &fleet)?;
    if let Some(follow) = git {
        opts.fleet_path = follow.start.fleet.clone();
        opts.git = Some(follow);
    }
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

/// The relay of pushes between shards, from `--shard-peers`.
fn relay(args: &WatchArgs, shard: Option<Shard>) -> Result<Option<Arc<Relay>>, CliError> {
    let help = "`--shard-peers 'http://minifleet-{i}.minifleet:8680'` in a StatefulSet, or one URL per shard: `http://10.0.0.1:8680,http://10.0.0.2:8680`";
    match (shard, &args.shard_peers) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(CliError::new("--shard-peers needs --shard")
            .help("give this process its shard, e.g. `--shard pod/3`")),
        (Some(shard), None) => {
            if shard.count > 1 {
                tracing::warn!(%shard, "without --shard-peers, pushes reaching this shard for other shards' apps are not relayed (their polls catch up), and a ticket reaches only the shard it is pushed to");
            }
            Ok(None)
        }
        (Some(shard), Some(text)) => Relay::parse_peers(text, shard.count)
            .and_then(|peers| Relay::new(shard, peers))
            .map(Some)
            .map_err(|e| CliError::new(format!("--shard-peers: {e}")).help(help)),
    }
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
        git: None,
    }
}

/// A secret flag, `what` in words (`${env:NAME}` / `${file:PATH}`, files relative to `base`).
fn secret_flag(
    flag: &str,
    what: &str,
    text: Option<&str>,
    base: &Path,
) -> Result<Option<Secret>, CliError> {
    text.map(|text| {
        crate::fleet::resolve_secret(text, base).map_err(|err| {
            CliError::new(format!("{flag}: {err}")).help(format!(
                "give {what} as `${{env:NAME}}` or `${{file:PATH}}`, never as itself"
            ))
        })
    })
    .transpose()
}

/// `--git-ssh-key`: a `${file:…}` key is used where it is; an `${env:…}` one is written beside
/// the store (0600), since `ssh` reads keys from files.
fn ssh_key(args: &WatchArgs, git_dir: &Path) -> Result<Option<PathBuf>, CliError> {
    let Some(text) = args.git_ssh_key.as_deref() else {
        return Ok(None);
    };
    if let Some(path) = crate::fleet::secret_file(text) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(CliError::new(format!(
                "--git-ssh-key: `{}` is not a file",
                path.display()
            ))
            .help("point it at the deploy key's private key file"));
        }
        return Ok(Some(path));
    }
    let key = secret_flag("--git-ssh-key", "the key", Some(text), Path::new("."))?
        .unwrap_or_else(|| Secret::new(""));
    let path = git_dir.join("ssh-key");
    let written = std::fs::create_dir_all(git_dir).and_then(|()| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(key.expose().as_bytes())?;
        file.write_all(b"\n")
    });
    written.map_err(|e| {
        CliError::new(format!(
            "--git-ssh-key: cannot write {}: {e}",
            path.display()
        ))
    })?;
    Ok(Some(path))
}

/// `--git`: fetches the branch and loads its newest commit's fleet (the daemon's first fleet).
async fn first_commit(
    cli: &Cli,
    ui: &Ui,
    args: &WatchArgs,
    url: &str,
    store_dir: &Path,
) -> Result<(Fleet, GitFollow), CliError> {
    let git_dir = store_dir.join("git");
    let source = GitSource {
        url: url.to_owned(),
        branch: args.branch.clone(),
        path: args.path.clone(),
        auth: GitAuth {
            user: args.git_user.clone(),
            token: secret_flag(
                "--git-token",
                "the token",
                args.git_token.as_deref(),
                Path::new("."),
            )?,
            ssh_key: ssh_key(args, &git_dir)?,
        },
        dir: git_dir,
    };
    let fetching = source.clone();
    let start = tokio::task::spawn_blocking(move || fetching.fetch(None))
        .await
        .map_err(|e| CliError::new(format!("the git fetch task died: {e}")))?
        .map_err(|err| {
            CliError::new(err.to_string())
                .help("check --git, --branch and --path, and the credentials (--git-token, --git-ssh-key)")
        })?
        .ok_or_else(|| CliError::new("the branch has no commit"))?;
    let mut fleet = crate::fleet::load_commit(&start.fleet, &start.root, &start.sha, SPECS)
        .map_err(|errors| {
            ui.warn(&format!("commit {} is invalid:", start.describe()));
            common::fleet_failed(&errors, ui)
        })?;
    fleet.keep_shard(common::shard(cli)?);
    ui.status(&format!("following commit {}", start.describe()));
    let follow = GitFollow {
        source,
        interval: args.interval,
        webhook_secret: secret_flag(
            "--git-webhook-secret",
            "the secret",
            args.git_webhook_secret.as_deref(),
            Path::new("."),
        )?,
        start,
    };
    Ok((fleet, follow))
}

/// `--read-token` and `--admin-token`, resolved (files relative to the fleet file).
fn tokens(args: &WatchArgs, fleet: &Fleet) -> Result<daemon::api::Tokens, CliError> {
    let base = fleet
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let token =
        |flag: &str, text: &Option<String>| secret_flag(flag, "the token", text.as_deref(), base);
    Ok(daemon::api::Tokens {
        read: token("--read-token", &args.read_token)?,
        admin: token("--admin-token", &args.admin_token)?,
    })
}
