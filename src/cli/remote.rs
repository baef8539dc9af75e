//! The CLI as the daemon's client: `--server URL` (env `MINIFLEET_SERVER`), or, when a daemon on
//! this machine holds the store, the address it records beside it (`daemon.addr`). The bearer
//! token comes from `--token-file` or `MINIFLEET_TOKEN`. `plan`, `status` and `history` ask the
//! daemon and print its answer with the same views as on the store.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{Cli, CliError};
use crate::daemon::ADDR_FILE;
use crate::secret::Secret;

/// How long the CLI waits for the daemon (a proposed plan reads every app once).
const TIMEOUT: Duration = Duration::from_secs(600);

/// A daemon's API.
pub struct Remote {
    base: String,
    token: Option<Secret>,
    http: reqwest::Client,
    /// Found beside the store rather than named by `--server`.
    pub discovered: bool,
}

impl Remote {
    /// The daemon named by `--server`, if one is.
    pub fn named(cli: &Cli) -> Result<Option<Remote>, CliError> {
        let Some(url) = cli.server.as_deref() else {
            return Ok(None);
        };
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(
                CliError::new(format!("--server `{url}` is not an http(s) URL"))
                    .help("e.g. `--server http://127.0.0.1:8680` (the daemon's `--listen`)"),
            );
        }
        Remote::new(cli, url, false).map(Some)
    }

    /// The daemon that holds the store in `store_dir`, from the address it recorded there.
    pub fn beside(cli: &Cli, store_dir: &Path) -> Result<Option<Remote>, CliError> {
        let Ok(text) = std::fs::read_to_string(store_dir.join(ADDR_FILE)) else {
            return Ok(None);
        };
        let url = text.trim();
        if url.is_empty() {
            return Ok(None);
        }
        Remote::new(cli, url, true).map(Some)
    }

    fn new(cli: &Cli, base: &str, discovered: bool) -> Result<Remote, CliError> {
        let token = match &cli.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    CliError::new(format!(
                        "cannot read --token-file `{}`: {err}",
                        path.display()
                    ))
                })?;
                Some(Secret::new(text.trim().to_string()))
            }
            None => std::env::var("MINIFLEET_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(|t| Secret::new(t.trim().to_string())),
        };
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|err| CliError::new(format!("cannot set up HTTP: {err}")))?;
        Ok(Remote {
            base: base.to_string(),
            token,
            http,
            discovered,
        })
    }

    /// Where the daemon answers.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (with its query), the JSON answer.
    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(self.http.get(format!("{}{path}", self.base)), path)
            .await
    }

    /// `GET path` of a QR code: the image the daemon answers, or the URL of its `{"url"}`.
    pub async fn qr(&self, path: &str) -> Result<crate::platform::QrCode, CliError> {
        let request = self.http.get(format!("{}{path}", self.base));
        let response = self
            .authorized(request)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let content_type = crate::platform::http::content_type(&response);
        if response.status().is_success() && content_type.starts_with("image/") {
            let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
            return Ok(crate::platform::QrCode::Image {
                content_type,
                bytes: bytes.to_vec(),
            });
        }
        let status = response.status().as_u16();
        let value = self.json(response, path).await?;
        match value["url"].as_str() {
            Some(url) if (200..300).contains(&status) => {
                Ok(crate::platform::QrCode::Url(url.to_owned()))
            }
            _ => Err(self.refused(status, &value)),
        }
    }

    /// `POST path` with `body`, the JSON answer; `accept` lists statuses besides 2xx whose JSON
    /// body is the answer (422: a proposal's problems).
    pub async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(u16, Value), CliError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        let response = self
            .authorized(request)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let value = self.json(response, path).await?;
        Ok((status, value))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> Result<Value, CliError> {
        let response = self
            .authorized(request)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let value = self.json(response, path).await?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(self.refused(status.as_u16(), &value))
        }
    }

    async fn json(&self, response: reqwest::Response, path: &str) -> Result<Value, CliError> {
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&bytes).map_err(|_| {
            CliError::new(format!(
                "the daemon at {} answered {path} with HTTP {status} and no JSON",
                self.base
            ))
            .help("is `--server` the daemon's `--listen` address?")
        })
    }

    /// The error of an answer that is not a success, with the daemon's own `help`.
    pub fn refused(&self, status: u16, body: &Value) -> CliError {
        let error = body["error"].as_str().unwrap_or("refused");
        let mut err = CliError::new(format!(
            "the daemon at {} answered {status}: {error}",
            self.base
        ));
        if let Some(help) = body["help"].as_str() {
            err = err.help(help.to_string());
        }
        err
    }

    fn unreachable(&self, err: reqwest::Error) -> CliError {
        let what = if err.is_timeout() {
            "did not answer in time"
        } else {
            "cannot be reached"
        };
        let help = if self.discovered {
            format!(
                "a daemon recorded this address beside the store; if it was killed, delete `{ADDR_FILE}` there"
            )
        } else {
            "check `--server` (or MINIFLEET_SERVER) and that `minifleet watch` runs there"
                .to_string()
        };
        CliError::new(format!("the daemon at {} {what}", self.base)).help(help)
    }
}

pub use crate::platform::http::query_value;
