//! `minifleet completions SHELL` and `minifleet man`: generated from the clap definitions, so they
//! never disagree with `--help`.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, CliError, EXIT_OK};
use crate::ui::Ui;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<i32, CliError> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "minifleet", &mut out);
    write_stdout(&out)
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `minifleet.1` and a `minifleet-COMMAND.1` page per command into this directory
    /// instead of printing `minifleet.1` on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints minifleet(1) in roff, or writes every page into `args.dir`.
pub fn man(ui: &Ui, args: &ManArgs) -> Result<i32, CliError> {
    let mut command = Cli::command();
    command.build(); // propagates the version to every subcommand's page
    let Some(dir) = &args.dir else {
        let mut out = Vec::new();
        page(&command, &mut out)?;
        return write_stdout(&out);
    };
    let mut pages = Vec::new();
    collect(&command, command.get_name(), &mut pages);
    std::fs::create_dir_all(dir)
        .map_err(|err| CliError::new(format!("cannot create `{}`: {err}", dir.display())))?;
    for (name, command) in &pages {
        let mut out = Vec::new();
        page(command, &mut out)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, out)
            .map_err(|err| CliError::new(format!("cannot write `{}`: {err}", path.display())))?;
    }
    ui.status(&format!(
        "{} manual pages written to {}",
        pages.len(),
        dir.display()
    ));
    Ok(EXIT_OK)
}

/// `command` and its visible subcommands, depth first, each named by its path
/// (`minifleet-auth-wechat`).
fn collect(command: &clap::Command, name: &str, pages: &mut Vec<(String, clap::Command)>) {
    pages.push((
        name.to_string(),
        command.clone().display_name(name.to_string()),
    ));
    // (`help` is clap's own subcommand, not a page.)
    for sub in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let sub_name = format!("{name}-{}", sub.get_name());
        collect(sub, &sub_name, pages);
    }
}

fn page(command: &clap::Command, out: &mut Vec<u8>) -> Result<(), CliError> {
    clap_mangen::Man::new(command.clone())
        .render(out)
        .map_err(|err| CliError::new(format!("cannot render the manual page: {err}")))
}

fn write_stdout(bytes: &[u8]) -> Result<i32, CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|err| CliError::new(format!("cannot write to stdout: {err}")))?;
    Ok(EXIT_OK)
}
