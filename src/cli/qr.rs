//! `minifleet qr APP [--path PAGE] [--out FILE]`: the experience version's QR code, for the
//! people who try a build before its audit. WeChat answers the image (a JPEG), which is written to
//! a file; Alipay and Douyin answer a signed, expiring URL, which is printed. Asked of the
//! platform with the store's credentials, or through the daemon while `minifleet watch` holds the
//! store.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::platform::QrCode;
use crate::ui::Ui;

use super::remote::query_value;
use super::status::{self, Source};
use super::{Cli, CliError, EXIT_OK, Format, common};

/// Arguments of `qr`.
#[derive(Debug, Clone, Args)]
pub struct QrArgs {
    /// The app, by its `name` in the fleet file.
    pub app: String,

    /// The page the code opens, with its query (`pages/menu/index?table=3`); the home page when
    /// omitted. WeChat and Douyin take one; Alipay's code always opens the home page.
    #[arg(long, value_name = "PAGE")]
    pub path: Option<String>,

    /// Where to write an image (`-`: stdout); `<APP>-experience.jpg` by default. (`-o` is the
    /// output format, as everywhere: `-o json` prints where the code went, or its URL.)
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs `qr`.
pub async fn run(cli: &Cli, ui: &Ui, args: &QrArgs) -> Result<i32, CliError> {
    let code = match status::open(cli)? {
        Source::Store(store) => {
            let fleet = common::load_fleet(cli, ui)?;
            let Some(app) = fleet.apps.iter().find(|a| a.name == args.app) else {
                return Err(common::unknown_app(&fleet, &args.app));
            };
            let engine = common::connect(cli, &fleet, store).await?;
            match engine.experience_qr(app, args.path.as_deref()).await {
                Ok(Some(code)) => code,
                Ok(None) => {
                    return Err(CliError::new(format!(
                        "{} has no experience QR code",
                        app.platform
                    )));
                }
                Err(err) => {
                    let mut report = crate::view::report::Report::from(&err);
                    report.message = format!("app `{}`: {}", app.name, report.message);
                    return Err(CliError::from(report));
                }
            }
        }
        Source::Daemon(remote) => {
            ui.status(&status::from_daemon(&remote));
            let mut path = format!("/api/v1/apps/{}/qr", query_value(&args.app));
            if let Some(page) = &args.path {
                path.push_str(&format!("?path={}", query_value(page)));
            }
            remote.qr(&path).await?
        }
    };
    deliver(cli, ui, args, code)
}

/// Writes the image (or prints the URL) and says where it went.
fn deliver(cli: &Cli, ui: &Ui, args: &QrArgs, code: QrCode) -> Result<i32, CliError> {
    let json = cli.output == Format::Json;
    match code {
        QrCode::Url(url) => {
            if json {
                ui.data(&json!({ "app": args.app, "url": url }).to_string());
            } else {
                ui.data(&url);
            }
        }
        QrCode::Image {
            content_type,
            bytes,
        } => {
            let to = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}-experience.jpg", args.app)));
            if to.as_os_str() == "-" {
                std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| CliError::new(format!("cannot write the image: {e}")))?;
                return Ok(EXIT_OK);
            }
            std::fs::write(&to, &bytes).map_err(|e| {
                CliError::new(format!("cannot write `{}`: {e}", to.display()))
                    .help("choose another place with `--out FILE` (`-` for stdout)")
            })?;
            if json {
                let out = json!({
                    "app": args.app,
                    "file": to.display().to_string(),
                    "content_type": content_type,
                    "bytes": bytes.len(),
                });
                ui.data(&out.to_string());
            } else {
                ui.data(&format!(
                    "wrote {} ({} bytes, {content_type})",
                    to.display(),
                    bytes.len()
                ));
            }
        }
    }
    Ok(EXIT_OK)
}
