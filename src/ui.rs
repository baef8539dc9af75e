//! The one place that prints (STYLE habit 6): data and plans to stdout; progress, warnings and
//! errors to stderr; colour only on a terminal (and never with `NO_COLOR`); JSON mode for scripts.

use std::io::{IsTerminal, Write};

use serde::Serialize;

/// Output format of data on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Human text.
    #[default]
    Text,
    /// One JSON document (stable; carries `format_version`).
    Json,
}

/// The printer every command gets.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    format: Format,
    quiet: bool,
    color_out: bool,
    color_err: bool,
}

impl Ui {
    /// A printer for `format`; `quiet` silences progress (never errors or data).
    pub fn new(format: Format, quiet: bool) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Ui {
            format,
            quiet,
            color_out: !no_color && std::io::stdout().is_terminal(),
            color_err: !no_color && std::io::stderr().is_terminal(),
        }
    }

    /// Whether data goes out as JSON.
    pub fn json_mode(&self) -> bool {
        self.format == Format::Json
    }

    /// Whether stdout takes colour.
    pub fn color(&self) -> bool {
        self.color_out
    }

    /// Whether progress lines are shown.
    pub fn shows_progress(&self) -> bool {
        !self.quiet
    }

    /// Whether stderr is a terminal (for progress bars).
    pub fn stderr_is_terminal(&self) -> bool {
        self.color_err || std::io::stderr().is_terminal()
    }

    /// Prints data (a plan, a table) to stdout.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// Prints a value as pretty JSON to stdout, written as it is encoded (a 100k-app status is
    /// never one string). A closed stdout (`| head`) ends it quietly, as [`Ui::data`] does.
    pub fn json<T: Serialize>(&self, value: &T) {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match serde_json::to_writer_pretty(&mut out, value) {
            Ok(()) => {
                let _ = out.write_all(b"\n").and_then(|()| out.flush());
            }
            Err(err) if err.is_io() => {}
            Err(err) => {
                let _ = out.write_all(b"\n").and_then(|()| out.flush());
                self.error(&format!("cannot encode JSON output: {err}"), None);
            }
        }
    }

    /// Prints a progress line to stderr (unless quiet).
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Prints a warning to stderr.
    pub fn warn(&self, text: &str) {
        eprintln!("{} {text}", self.paint_err("warning:", "33"));
    }

    /// Prints an error, with an optional `help:` line, to stderr.
    pub fn error(&self, text: &str, help: Option<&str>) {
        eprintln!("{} {text}", self.paint_err("error:", "31"));
        if let Some(help) = help {
            eprintln!("  {} {help}", self.paint_err("help:", "36"));
        }
    }

    fn paint_err(&self, text: &str, code: &str) -> String {
        if self.color_err {
            format!("\x1b[1;{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}
