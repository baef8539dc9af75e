//! What the commands share: the error every command can return, loading the fleet, opening the
//! store, and choosing apps with `--only` / `--selector`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::Engine;
use crate::fleet::shard::Shard;
use crate::fleet::{self, Fleet};
use crate::model::{Desired, PlatformKind};
use crate::platform::platforms::{Options, Platforms};
use crate::platform::rate::Rate;
use crate::platform::registry::SPECS;
use crate::store::{Store, StoreError};
use crate::ui::Ui;
use crate::view::report::Report;

use super::{Cli, EXIT_ERROR};

/// A command's failure: the [`Report`] (message and `help:` line) and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// What went wrong and what to do about it.
    pub report: Report,
    /// The process exit code.
    pub exit_code: i32,
    /// Already printed (e.g. fleet errors print themselves).
    printed: bool,
}

impl From<Report> for CliError {
    fn from(report: Report) -> CliError {
        CliError {
            report,
            exit_code: EXIT_ERROR,
            printed: false,
        }
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> CliError {
        CliError::from(Report::from(&err))
    }
}

impl CliError {
    /// A failure with exit code 1.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError::from(Report::new(message))
    }

    /// Adds (or replaces) the `help:` line.
    pub fn help(mut self, help: impl Into<String>) -> CliError {
        self.report = self.report.help(help);
        self
    }

    fn printed(exit_code: i32) -> CliError {
        CliError {
            report: Report::new(String::new()),
            exit_code,
            printed: true,
        }
    }

    /// Prints the error (unless it printed itself already).
    pub fn print(&self, ui: &Ui) {
        if !self.printed {
            ui.error(&self.report.message, self.report.help.as_deref());
        }
    }
}

/// Loads and validates the fleet; on problems prints every one of them and fails with exit 1.
pub fn load_fleet(cli: &Cli, ui: &Ui) -> Result<Fleet, CliError> {
    fleet::load(&cli.fleet, SPECS).map_err(|errors| fleet_failed(&errors, ui))
}

/// `--shard`, parsed (`None`: this process owns every app).
pub fn shard(cli: &Cli) -> Result<Option<Shard>, CliError> {
    let Some(text) = &cli.shard else {
        return Ok(None);
    };
    let hostname = std::env::var("HOSTNAME").ok();
    Shard::parse(text, hostname.as_deref())
        .map(Some)
        .map_err(|err| {
            CliError::new(format!("--shard: {err}")).help(
                "`--shard 0/3` owns the first of three shards; in a StatefulSet, `--shard pod/3`",
            )
        })
}

/// [`load_fleet`] keeping only the apps this process's `--shard` owns.
pub fn load_owned_fleet(cli: &Cli, ui: &Ui) -> Result<Fleet, CliError> {
    let shard = shard(cli)?;
    let mut fleet = load_fleet(cli, ui)?;
    fleet.keep_shard(shard);
    Ok(fleet)
}

/// [`load_owned_fleet`], running `work` on each app on a second thread as soon as it is read
/// (see [`fleet::load_with`]); `work`'s results come back in the fleet's order.
pub fn load_fleet_with<R: Send>(
    cli: &Cli,
    ui: &Ui,
    work: &(dyn Fn(&Desired) -> R + Sync),
) -> Result<(Fleet, Vec<R>), CliError> {
    let shard = shard(cli)?;
    let owned = |app: &Desired| shard.is_none_or(|s| s.owns(&app.appid));
    let (mut fleet, results) =
        fleet::load_with(&cli.fleet, SPECS, &|app| owned(app).then(|| work(app)))
            .map_err(|errors| fleet_failed(&errors, ui))?;
    fleet.apps.retain(|app| owned(app));
    Ok((fleet, results.into_iter().flatten().collect()))
}

/// Prints every problem of the fleet file; the error that exits with 1.
pub fn fleet_failed(errors: &fleet::FleetErrors, ui: &Ui) -> CliError {
    if ui.json_mode() {
        ui.json(&fleet_errors_json(errors));
    } else {
        eprint!("{errors}");
        if !errors.to_string().ends_with('\n') {
            eprintln!();
        }
    }
    CliError::printed(EXIT_ERROR)
}

pub use crate::view::fleet::errors_json as fleet_errors_json;

/// The store directory: `--store`, else `.minifleet/` beside the fleet file.
pub fn store_dir(cli: &Cli) -> PathBuf {
    cli.store.clone().unwrap_or_else(|| {
        let parent = cli.fleet.parent().unwrap_or(Path::new(""));
        let base = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        base.join(".minifleet")
    })
}

/// Opens the store, with a clear message naming the holder when another process holds it.
pub fn open_store(cli: &Cli) -> Result<Store, CliError> {
    open_store_at(&store_dir(cli))
}

/// Opens the store in `dir`; a failure says what to do: wait for the holder, delete a damaged
/// store (and what that costs), or check the permissions.
pub fn open_store_at(dir: &Path) -> Result<Store, CliError> {
    Store::open(dir).map_err(|err| CliError::from(Report::from(&err)))
}

/// [`open_store`], warning when the store's lock record was left by a process that is gone.
pub fn open_store_warning(cli: &Cli, ui: &Ui) -> Result<Store, CliError> {
    let store = open_store(cli)?;
    if let Some(old) = store.taken_over() {
        ui.warn(&old.describe());
    }
    Ok(store)
}

/// `--only NAME…` and `--selector key=value`: which apps a command works on.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Selection {
    /// Work only on these apps (by name).
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub only: Vec<String>,

    /// Work only on apps whose labels match (`key=value`; repeat to require several).
    #[arg(short = 'l', long, value_name = "KEY=VALUE")]
    pub selector: Vec<String>,
}

impl Selection {
    /// The chosen apps of `fleet`, in fleet order, see [`select`].
    pub fn apps(&self, fleet: &Fleet) -> Result<Vec<Desired>, CliError> {
        Ok(select(fleet, &self.only, &self.selector)?
            .into_iter()
            .cloned()
            .collect())
    }
}

/// The apps chosen by `--only` names and `--selector key=value` labels (all of them when neither
/// is given), see [`chooser`].
pub fn select<'a>(
    fleet: &'a Fleet,
    only: &[String],
    selectors: &[String],
) -> Result<Vec<&'a Desired>, CliError> {
    let chosen = chooser(fleet, only, selectors)?;
    let apps: Vec<&Desired> = fleet.apps.iter().filter(|app| chosen(app)).collect();
    if apps.is_empty() && !selectors.is_empty() {
        return Err(nothing_selected(fleet, selectors));
    }
    Ok(apps)
}

/// The error of a `--selector` that matches no app: a command that silently does nothing would
/// let CI pass on a typo.
pub fn nothing_selected(fleet: &Fleet, selectors: &[String]) -> CliError {
    let mut keys: Vec<String> = fleet
        .apps
        .iter()
        .flat_map(|a| a.labels.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    keys.sort();
    keys.dedup();
    let help = if keys.is_empty() {
        "no app of the fleet has labels; add `labels:` to the apps, or drop `--selector`"
            .to_string()
    } else {
        let shown: Vec<&str> = keys.iter().take(12).map(String::as_str).collect();
        let more = if keys.len() > shown.len() {
            ", …"
        } else {
            ""
        };
        format!("the fleet's labels are {}{more}", shown.join(", "))
    };
    let quoted: Vec<String> = selectors.iter().map(|s| format!("`{s}`")).collect();
    CliError::new(format!(
        "no app of `{}` matches {}",
        fleet.path.display(),
        quoted.join(" and ")
    ))
    .help(help)
}

/// The error for an app `name` the fleet does not have, with the closest name it does.
pub fn unknown_app(fleet: &Fleet, name: &str) -> CliError {
    let names: Vec<&str> = fleet.apps.iter().map(|a| a.name.as_str()).collect();
    let help = match crate::fleet::kit::did_you_mean(name, &names) {
        Some(close) => format!("did you mean `{close}`? (`minifleet status` lists the apps)"),
        None => "`minifleet status` lists the fleet's apps".to_owned(),
    };
    CliError::new(format!(
        "no app named `{name}` in `{}`",
        fleet.path.display()
    ))
    .help(help)
}

/// Whether an app is chosen by `--only` names and `--selector key=value` labels (every app when
/// neither is given). Names not in `fleet` and selectors without `=` are errors.
pub fn chooser<'a>(
    fleet: &Fleet,
    only: &'a [String],
    selectors: &'a [String],
) -> Result<impl Fn(&Desired) -> bool + 'a, CliError> {
    let unknown: Vec<&String> = only
        .iter()
        .filter(|name| !fleet.apps.iter().any(|a| &a.name == *name))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|n| format!("`{n}`")).collect();
        return Err(CliError::new(format!(
            "no app named {} in `{}`",
            names.join(", "),
            fleet.path.display()
        ))
        .help("`minifleet status` lists the fleet's apps"));
    }
    let mut pairs = Vec::new();
    for selector in selectors {
        let (key, value) = selector.split_once('=').ok_or_else(|| {
            CliError::new(format!("invalid selector `{selector}`"))
                .help("write selectors as `key=value`, e.g. `--selector region=east`")
        })?;
        pairs.push((key.trim(), value.trim()));
    }
    Ok(move |app: &Desired| {
        (only.is_empty() || only.contains(&app.name))
            && pairs.iter().all(|(k, v)| app.labels.get(k) == Some(*v))
    })
}

/// Connects the fleet's platforms, each limited to its `--rate`; the engine driving them.
pub async fn connect(cli: &Cli, fleet: &Fleet, store: Store) -> Result<Arc<Engine>, CliError> {
    let options = Options {
        rates: rates(&cli.rate)?,
    };
    let platforms = Platforms::connect(fleet, store.clone(), &options).await?;
    let engine = Engine::new(store, Arc::new(platforms));
    engine.follow_fleet(fleet);
    Ok(Arc::new(engine))
}

/// Parses `--rate PLATFORM=RATE` values (every platform not named gets the default rate).
pub fn rates(values: &[String]) -> Result<BTreeMap<PlatformKind, Rate>, CliError> {
    let help = "write a rate as `PLATFORM=N/s` (or `/m`, `/h`), e.g. `--rate wechat=50/s`";
    let mut rates = BTreeMap::new();
    for value in values {
        let (name, rate) = value
            .split_once('=')
            .ok_or_else(|| CliError::new(format!("invalid `--rate` `{value}`")).help(help))?;
        let Some(spec) = crate::fleet::kit::find_spec(SPECS, name.trim()) else {
            let names: Vec<String> = SPECS
                .iter()
                .map(|s| format!("`{}`", s.kind().as_str()))
                .collect();
            return Err(
                CliError::new(format!("unknown platform `{}` in `--rate`", name.trim()))
                    .help(format!("the platforms are {}", names.join(", "))),
            );
        };
        let rate = Rate::parse(rate).map_err(|e| CliError::new(e.to_string()).help(help))?;
        rates.insert(spec.kind(), rate);
    }
    Ok(rates)
}

/// Completes on SIGTERM or Ctrl-C (SIGINT): the commands that run until stopped.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "stopping"),
                    () = ctrl_c => tracing::info!(signal = "SIGINT", "stopping"),
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; Ctrl-C still stops");
                ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
