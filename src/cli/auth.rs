//! `auth`: merchant onboarding, one subcommand per platform that has one,
//! each given by its platform module (WeChat: `link` and `list`; Alipay: the app_auth_code
//! exchange). This file only parses and prints.

use clap::{ArgMatches, Args, FromArgMatches, Subcommand};

use super::common::{self, load_fleet, open_store_warning};
use super::{Cli, CliError, EXIT_OK};
use crate::platform::platforms::{Options, Platforms};
use crate::platform::registry::{MODULES, Module};
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

/// The module whose onboarding command is `name`.
fn module_named(name: &str) -> Option<&'static dyn Module> {
    MODULES
        .iter()
        .copied()
        .find(|m| m.auth_command().is_some_and(|c| c.get_name() == name))
}

/// Runs `auth`: connects the fleet's platforms (the sandbox too, for `api_base: sandbox`) and
/// hands the command to its platform's module.
pub async fn run(cli: &Cli, ui: &Ui, args: &AuthArgs) -> Result<i32, CliError> {
    let module = module_named(&args.platform.name)
        .ok_or_else(|| CliError::new(format!("no platform `{}` to onboard", args.platform.name)))?;
    let fleet = load_fleet(cli, ui)?;
    let store = open_store_warning(cli, ui)?;
    let options = Options {
        rates: common::rates(&cli.rate)?,
    };
    let mut platforms = Platforms::connect(&fleet, store, &options).await?;
    let result = module
        .run_auth(&args.platform.matches, &fleet, &platforms)
        .await;
    platforms.stop().await;
    let output = result?;
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
    Ok(EXIT_OK)
}
