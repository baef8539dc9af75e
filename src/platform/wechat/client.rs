//! HTTP plumbing: one JSON call to WeChat with errcode checking, and the authorized `wxa/*` call
//! that refreshes a rejected authorizer token once and retries.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::WechatClient;
use super::errors;
use crate::platform::PlatformError;
use crate::platform::http::{self, Transport};
/// Errcodes that mean "this access token is no good": refresh once and retry.
const TOKEN_REJECTED: [&str; 3] = ["40001", "40014", "42001"];

/// The HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET, no body.
    Get,
    /// POST with a JSON body.
    Post,
}

/// A JSON-over-HTTP caller bound to one base URL, through the shared transport (bounded times,
/// a breaker for a host that does not answer).
pub struct Http {
    transport: Transport,
    base: String,
}

impl Http {
    /// A caller of `base` (no trailing slash needed), with minifleet's timeouts and no proxy.
    pub fn new(base: &str) -> Http {
        Http {
            transport: Transport::new(
                crate::platform::wechat::spec::KIND,
                base,
                http::Options::default(),
            ),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The base URL calls go to (no trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same caller with transport `options` (the platform's proxy).
    pub fn with_options(self, options: http::Options) -> Http {
        Http {
            transport: self.transport.reconfigured(&self.base, options),
            base: self.base,
        }
    }

    /// Calls `call` (a path like `wxa/commit`); returns the JSON answer when errcode is 0.
    pub async fn call(
        &self,
        method: Method,
        call: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, PlatformError> {
        let url = format!("{}/{call}", self.base);
        let client = self.transport.client();
        let request = match method {
            Method::Get => client.get(url),
            Method::Post => client.post(url).json(body.unwrap_or(&Value::Null)),
        };
        let response = self
            .transport
            .send(call, request.query(query), errors::NETWORK_HINT)
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(errors::http_status(call, status.as_u16()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| errors::network(call, e))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| errors::decode(call, e))?;
        check_errcode(call, value)
    }

    /// GETs `call`, which answers an image on success and a JSON errcode on failure (WeChat's
    /// `wxa/get_qrcode`); an image over [`MAX_IMAGE`] bytes is refused.
    pub async fn image(
        &self,
        call: &str,
        query: &[(&str, &str)],
    ) -> Result<crate::platform::QrCode, PlatformError> {
        let url = format!("{}/{call}", self.base);
        let request = self.transport.client().get(url).query(query);
        let response = self
            .transport
            .send(call, request, errors::NETWORK_HINT)
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(errors::http_status(call, status.as_u16()));
        }
        let content_type = http::content_type(&response);
        if response.content_length().is_some_and(|n| n > MAX_IMAGE) {
            return Err(errors::decode(call, "the image is over 4 MiB"));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| errors::network(call, e))?;
        if !content_type.starts_with("image/") {
            let value: Value =
                serde_json::from_slice(&bytes).map_err(|e| errors::decode(call, e))?;
            check_errcode(call, value)?;
            return Err(errors::decode(
                call,
                "the answer is neither an image nor an error",
            ));
        }
        if bytes.len() as u64 > MAX_IMAGE {
            return Err(errors::decode(call, "the image is over 4 MiB"));
        }
        Ok(crate::platform::QrCode::Image {
            content_type,
            bytes: bytes.to_vec(),
        })
    }
}

/// The largest image minifleet takes from a platform.
pub const MAX_IMAGE: u64 = 4 << 20;

/// Passes a successful answer through; turns a non-zero errcode into a classified error.
fn check_errcode(call: &str, value: Value) -> Result<Value, PlatformError> {
    let code = value.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    if code == 0 {
        return Ok(value);
    }
    let msg = value
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(errors::api_error(call, code, msg))
}

/// The strings of the list `value[key]`, in its order; empty when there is none.
pub fn strings_at(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes an answer into the shape a call returns.
pub fn decode<T: DeserializeOwned>(call: &str, value: Value) -> Result<T, PlatformError> {
    serde_json::from_value(value).map_err(|e| errors::decode(call, e))
}

/// Whether a transient error is worth an immediate retry: not the verify-ticket ones, which only
/// a new push (minutes away) or `api_start_push_ticket` fixes (spec/wechat.md §7).
pub(super) fn retry_now(err: &PlatformError) -> bool {
    const TICKET: [&str; 4] = ["61005", "61006", "61058", "verify_ticket_expired"];
    err.class == crate::platform::ErrorClass::Transient && !TICKET.contains(&err.code.as_str())
}

/// Whether an error means the access token used was rejected.
pub fn token_rejected(err: &PlatformError) -> bool {
    TOKEN_REJECTED.contains(&err.code.as_str())
}

impl WechatClient {
    /// Calls a `wxa/*` API for `appid` with its authorizer token; when WeChat rejects the token
    /// (40001/40014/42001) the cached token is dropped, refreshed once and the call retried once.
    pub(super) async fn wxa(
        &self,
        appid: &str,
        method: Method,
        call: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, PlatformError> {
        self.with_token(appid, call, |token| async move {
            self.send_with(&token, method, call, query, body).await
        })
        .await
    }

    /// Runs `send` with `appid`'s authorizer token; when WeChat rejects the token, drops it,
    /// refreshes it once and runs `send` again.
    async fn with_token<T, F, Fut>(
        &self,
        appid: &str,
        call: &str,
        send: F,
    ) -> Result<T, PlatformError>
    where
        F: Fn(crate::secret::Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, PlatformError>>,
    {
        let token = self.tokens.authorizer(&self.http, appid).await?;
        match send(token.clone()).await {
            Err(err) if token_rejected(&err) => {
                tracing::debug!(appid, call, code = %err.code, "authorizer token rejected; refreshing");
                self.tokens.drop_authorizer(appid, &token).await;
                let token = self.tokens.authorizer(&self.http, appid).await?;
                send(token).await
            }
            other => other,
        }
    }

    /// The experience version's QR code (`wxa/get_qrcode`, a JPEG), opening `path` if given.
    pub(super) async fn qr_code(
        &self,
        appid: &str,
        path: Option<&str>,
    ) -> Result<crate::platform::QrCode, PlatformError> {
        const QR: &str = "wxa/get_qrcode";
        self.with_token(appid, QR, |token| async move {
            let mut query = vec![("access_token", token.expose())];
            query.extend(path.map(|p| ("path", p)));
            self.http.image(QR, &query).await
        })
        .await
    }

    /// A read-only `wxa/*` call: like [`WechatClient::wxa`], and transient errors (WeChat busy,
    /// network) are retried up to 3 times with a short backoff, since repeating a read is harmless
    /// and one flaky read must not fail a whole observation.
    pub(super) async fn read(
        &self,
        appid: &str,
        method: Method,
        call: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, PlatformError> {
        http::READS
            .run(|| self.wxa(appid, method, call, query, body), retry_now)
            .await
    }

    async fn send_with(
        &self,
        token: &crate::secret::Secret,
        method: Method,
        call: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, PlatformError> {
        let mut full: Vec<(&str, &str)> = vec![("access_token", token.expose())];
        full.extend_from_slice(query);
        self.http.call(method, call, &full, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ErrorClass;

    #[test]
    fn errcodes_become_classified_errors() {
        assert!(check_errcode("wxa/x", serde_json::json!({"errcode": 0, "a": 1})).is_ok());
        assert!(check_errcode("wxa/x", serde_json::json!({"a": 1})).is_ok());
        let err = check_errcode(
            "wxa/submit_audit",
            serde_json::json!({"errcode": 85085, "errmsg": "quota"}),
        )
        .unwrap_err();
        assert_eq!(
            (err.call.as_str(), err.code.as_str()),
            ("wxa/submit_audit", "85085")
        );
        assert_eq!(
            (err.class, err.message.as_str()),
            (ErrorClass::Quota, "quota")
        );
        assert!(token_rejected(&errors::api_error("c", 42001, "")));
        assert!(!token_rejected(&errors::api_error("c", 41001, "")));
    }
}
