//! A client of a standalone sandbox's admin endpoints (`/sandbox/…`): what another minifleet
//! process (or a test) uses to seed credentials and read the accepted-call records over HTTP.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::admin::Calls;
use super::records::Accepted;

/// How long one admin call may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an admin call to a standalone sandbox failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The sandbox could not be reached or answered garbage.
    #[error("sandbox `{url}`: {call} failed: {source}")]
    Http {
        /// The sandbox's base URL.
        url: String,
        /// The admin path.
        call: String,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// The sandbox answered without the expected field.
    #[error("sandbox `{url}`: {call} answered without `{field}`")]
    Missing {
        /// The sandbox's base URL.
        url: String,
        /// The admin path.
        call: String,
        /// The missing field.
        field: String,
    },
}

impl From<RemoteError> for crate::view::report::Report {
    fn from(err: RemoteError) -> Self {
        crate::view::report::Report::new(err.to_string())
            .help("is `minifleet sandbox` running at `sandbox.url`?")
    }
}

/// A standalone sandbox at a base URL such as `http://127.0.0.1:8690`.
#[derive(Debug, Clone)]
pub struct RemoteSandbox {
    url: String,
    http: reqwest::Client,
}

impl RemoteSandbox {
    /// A client of the sandbox at `url` (trailing slash ignored).
    pub fn new(url: &str) -> RemoteSandbox {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(ADMIN_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        RemoteSandbox {
            url: url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// The base URL, where the platform paths live too.
    pub fn base_url(&self) -> &str {
        &self.url
    }

    /// Every mutating call the sandbox accepted, by time.
    pub async fn accepted(&self) -> Result<Vec<Accepted>, RemoteError> {
        self.send("/sandbox/records", None::<&Value>).await
    }

    /// How many platform calls the sandbox has answered so far, by platform and kind.
    pub async fn calls(&self) -> Result<Calls, RemoteError> {
        self.send("/sandbox/calls", None::<&Value>).await
    }

    /// POSTs `body` to `path` (GET without one); the answer's string `field`.
    pub(crate) async fn field(
        &self,
        path: &str,
        body: Option<&Value>,
        field: &str,
    ) -> Result<String, RemoteError> {
        let answer: Value = self.send(path, body).await?;
        answer
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| RemoteError::Missing {
                url: self.url.clone(),
                call: path.to_string(),
                field: field.to_string(),
            })
    }

    /// GET without a body, POST with one; the answer as JSON.
    pub(crate) async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, RemoteError> {
        let url = format!("{}{path}", self.url);
        let request = match body {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        let result = async { request.send().await?.error_for_status()?.json::<T>().await }.await;
        result.map_err(|source| RemoteError::Http {
            url: self.url.clone(),
            call: path.to_string(),
            source,
        })
    }
}
