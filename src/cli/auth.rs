//! `auth`: merchant onboarding, one subcommand per platform that has one,
//! each given by its platform module (WeChat: `link` and `list`; Alipay: the app_auth_code
//! exchange). This file only parses and prints.

use clap::{ArgMatches, Args, FromArgMatches, Subcommand};

use super::common::{self, load_fleet, open_store_warning};
use super::remote::Remote;
use super::{Cli, CliError, EXIT_OK};
use crate::platform::platforms::{Options, Platforms};
use crate::platform::registry::{MODULES, Module, Output};
use crate::ui::Ui;

/// Arguments of `auth`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// The platform.
    #[command(subcommand)]
    pub platform: AuthPlatform,
}

/// The platform's onboarding command, as parsed: its name and its arguments.
#[derive(Debug)]
pub struct AuthPlatform {
    name: String,
    matches: ArgMatches,
}

impl FromArgMatches for AuthPlatform {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        match matches.subcommand() {
            Some((name, sub)) => Ok(AuthPlatform {
                name: name.to_owned(),
                matches: sub.clone(),
            }),
            None => Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand)),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = AuthPlatform::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for AuthPlatform {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        MODULES
            .iter()
            .filter_map(|m| m.auth_command())
            .fold(cmd.subcommand_required(true), clap::Command::subcommand)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        module_named(name).is_some()
    }
}

use crate::platform::registry::auth_module as module_named;

/// Runs `auth`: connects the fleet's platforms (the sandbox too, for `api_base: sandbox`) and
/// hands the command to its platform's module.
pub async fn run(cli: &Cli, ui: &Ui, args: &AuthArgs) -> Result<i32, CliError> {
    let module = module_named(&args.platform.name)
        .ok_or_else(|| CliError::new(format!("no platform `{}` to onboard", args.platform.name)))?;
    if let Some(remote) = Remote::named(cli)? {
        return through_daemon(ui, &remote, module, &args.platform).await;
    }
    let fleet = load_fleet(cli, ui)?;
    let store = match open_store_warning(cli, ui) {
        Ok(store) => store,
        // A daemon on this machine holds the store: it runs the command.
        Err(err) => match Remote::beside(cli, &common::store_dir(cli))? {
            Some(remote) => return through_daemon(ui, &remote, module, &args.platform).await,
            None => return Err(err),
        },
    };
    let options = Options {
        rates: common::rates(&cli.rate)?,
    };
    let mut platforms = Platforms::connect(&fleet, store, &options).await?;
    let result = module
        .run_auth(&args.platform.matches, &fleet, &platforms)
        .await;
    platforms.stop().await;
    let mut output = result?;
    if output.sandbox_page {
        output.warnings.push("`api_base: sandbox`: the embedded sandbox serving this page stops with this command; run `minifleet watch` or `serve` (they host the sandbox) for a live page".into());
    }
    print(ui, &output);
    Ok(EXIT_OK)
}

/// Prints an onboarding command's output.
fn print(ui: &Ui, output: &Output) {
    if ui.json_mode() {
        ui.json(&output.json);
    } else {
        ui.data(&output.text);
    }
    for note in &output.notes {
        ui.status(note);
    }
    for warning in &output.warnings {
        ui.warn(warning);
    }
}

/// The onboarding command run by the daemon (`POST /api/v1/auth/{platform}`, admin token): it
/// holds the store and the platforms' tokens.
async fn through_daemon(
    ui: &Ui,
    remote: &Remote,
    module: &'static dyn Module,
    parsed: &AuthPlatform,
) -> Result<i32, CliError> {
    let mut command = module
        .auth_command()
        .ok_or_else(|| CliError::new(format!("no platform `{}` to onboard", parsed.name)))?;
    command.build(); // so each argument says whether it takes a value
    let args = argv(&command, &parsed.matches);
    ui.status(&super::status::from_daemon(remote));
    let body = serde_json::to_vec(&serde_json::json!({ "args": args }))
        .map_err(|e| CliError::new(e.to_string()))?;
    let path = format!("/api/v1/auth/{}", parsed.name);
    let (status, doc) = remote.post(&path, body, "application/json").await?;
    if !(200..300).contains(&status) {
        return Err(remote.refused(status, &doc));
    }
    let output: Output = serde_json::from_value(doc).map_err(|err| {
        CliError::new(format!(
            "the daemon sent an answer this minifleet cannot read: {err}"
        ))
        .help("run the same minifleet version as the daemon")
    })?;
    print(ui, &output);
    Ok(EXIT_OK)
}

/// The command line that parses into `matches` for `command` (its arguments given on the command
/// line, then its subcommand's), to be parsed again where the command runs.
fn argv(command: &clap::Command, matches: &ArgMatches) -> Vec<String> {
    let mut out = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
        match (arg.get_long(), takes_value) {
            (Some(long), true) => {
                for value in matches.get_raw(id).into_iter().flatten() {
                    out.push(format!("--{long}"));
                    out.push(value.to_string_lossy().into_owned());
                }
            }
            (Some(long), false) => out.push(format!("--{long}")),
            (None, _) => out.extend(
                matches
                    .get_raw(id)
                    .into_iter()
                    .flatten()
                    .map(|v| v.to_string_lossy().into_owned()),
            ),
        }
    }
    if let Some((name, sub)) = matches.subcommand()
        && let Some(sub_command) = command.find_subcommand(name)
    {
        out.push(name.to_string());
        out.extend(argv(sub_command, sub));
    }
    out
}
