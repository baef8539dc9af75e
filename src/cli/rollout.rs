//! `minifleet promote [WAVE]` and `minifleet resume [RELEASE]`: a person's two acts on the
//! fleet's rollout — open a wave's manual gate, lift a halted release. In the store, or through
//! the daemon's API while `minifleet watch` holds it (which then passes the freed apps at once).

use clap::Args;
use serde_json::json;

use crate::engine::rollout::{Act, Board, act};
use crate::ui::Ui;

use super::status::{self, Source};
use super::{Cli, CliError, EXIT_OK, common};

/// Arguments of `promote`.
#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    /// The wave whose gate (`max_update: 0`) to open; the first closed gate when omitted. It
    /// opens for the builds its apps want now: a new rollout of the wave closes it again.
    pub wave: Option<String>,
}

/// Arguments of `resume`.
#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The halted release (`template@version`, as `plan` shows it); the only halted one when
    /// omitted. Its rejections are forgiven: they do not halt it again.
    pub release: Option<String>,
}

/// Runs `promote`.
pub async fn promote(cli: &Cli, ui: &Ui, args: &PromoteArgs) -> Result<i32, CliError> {
    let body = json!({ "wave": args.wave });
    run(cli, ui, Act::Promote(args.wave.as_deref()), "promote", body).await
}

/// Runs `resume`.
pub async fn resume(cli: &Cli, ui: &Ui, args: &ResumeArgs) -> Result<i32, CliError> {
    let body = json!({ "release": args.release });
    run(
        cli,
        ui,
        Act::Resume(args.release.as_deref()),
        "resume",
        body,
    )
    .await
}

async fn run(
    cli: &Cli,
    ui: &Ui,
    what: Act<'_>,
    route: &str,
    body: serde_json::Value,
) -> Result<i32, CliError> {
    let help = "`minifleet plan` shows the rollout's waves and halted releases";
    let (done, apps, daemon) = match status::open(cli)? {
        Source::Store(store) => {
            let fleet = common::load_owned_fleet(cli, ui)?;
            let Some(rollout) = &fleet.rollout else {
                return Err(CliError::new(format!(
                    "`{}` has no `rollout` section",
                    fleet.path.display()
                ))
                .help("add `rollout: { waves: [...] }` to the fleet file (`minifleet schema` describes it)"));
            };
            let board = Board::new(rollout, &fleet.apps);
            let acted = act(&store, &board, what).map_err(|why| CliError::new(why).help(help))?;
            (acted.what, acted.apps, false)
        }
        Source::Daemon(remote) => {
            ui.status(&status::from_daemon(&remote));
            let path = format!("/api/v1/rollout/{route}");
            let (code, answer) = remote
                .post(&path, body.to_string().into_bytes(), "application/json")
                .await?;
            if !(200..300).contains(&code) {
                return Err(remote.refused(code, &answer));
            }
            let names = answer["passing"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let done = answer["done"].as_str().unwrap_or_default().to_owned();
            (done, names, true)
        }
    };
    if ui.json_mode() {
        ui.json(&json!({ "done": done, "apps": apps }));
        return Ok(EXIT_OK);
    }
    let next = if daemon {
        "the daemon passes them now"
    } else {
        "the next `minifleet reconcile` (or the daemon's next pass) goes on"
    };
    let message = match what {
        Act::Promote(_) => format!(
            "opened the gate of wave `{done}` ({} app{}); {next}",
            apps.len(),
            crate::plan::plural(apps.len())
        ),
        Act::Resume(_) => format!(
            "resumed the rollout of {done} ({} app{} want it); its rejections will not halt it again; {next}",
            apps.len(),
            crate::plan::plural(apps.len())
        ),
    };
    ui.data(&message);
    Ok(EXIT_OK)
}
