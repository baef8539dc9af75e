//! Gateway plumbing: the common params (GMT+8 timestamp, `app_auth_token` at the top level), the
//! RSA2 request signature over the exact bytes sent, urlencoded and multipart transports, and the
//! response check: every answer is verified with Alipay's public key before anything in it is read,
//! and a failure is classified by the one table in [`super::errors`].

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::errors;
use super::sign::{PrivateKey, PublicKey, sign_content, verify_response};
use super::spec::AlipayConfig;
use super::types::format_timestamp;
use crate::platform::PlatformError;
use crate::platform::http::{self, Transport};
use crate::secret::Secret;

/// The parsed keys a client signs and verifies with.
#[derive(Clone)]
pub struct Keys {
    /// The ISV app's private key: signs requests.
    pub private: PrivateKey,
    /// Alipay's public key: verifies responses.
    pub alipay_public: PublicKey,
}

impl Keys {
    /// Parses the configured keys once; a missing or bad key becomes the error every call returns.
    pub fn from_config(config: &AlipayConfig) -> Result<Keys, PlatformError> {
        let private = parse(
            config.private_key.as_ref(),
            "private_key",
            PrivateKey::parse,
        )?;
        let alipay_public = parse(
            config.alipay_public_key.as_ref(),
            "alipay_public_key",
            PublicKey::parse,
        )?;
        Ok(Keys {
            private,
            alipay_public,
        })
    }
}

fn parse<K>(
    text: Option<&Secret>,
    what: &str,
    parse: fn(&str) -> Result<K, super::sign::SignError>,
) -> Result<K, PlatformError> {
    let Some(text) = text else {
        return Err(errors::local(
            "config",
            "missing_key",
            crate::platform::ErrorClass::Permanent,
            &format!("`platforms.alipay.{what}` is not set"),
            "set it in the fleet file with `${file:…}` or `${env:…}`",
        ));
    };
    parse(text.expose()).map_err(|err| errors::bad_key("config", what, &err))
}

/// One request's business params.
#[derive(Clone, Copy)]
pub enum Biz<'a> {
    /// None at all.
    None,
    /// A `biz_content` JSON object (serialized once; those exact bytes are signed and sent).
    Content(&'a Value),
    /// Flat text fields sent as `multipart/form-data` (upload APIs such as `audit.apply`).
    Multipart(&'a [(&'a str, String)]),
}

/// A signing gateway caller for one ISV app.
pub struct Gateway {
    transport: Transport,
    url: String,
    app_id: String,
    keys: Result<Keys, PlatformError>,
}

impl Gateway {
    /// A caller of `url` (the full `…/gateway.do`) as ISV app `app_id`.
    pub fn new(url: &str, app_id: &str, keys: Result<Keys, PlatformError>) -> Gateway {
        Gateway {
            transport: Transport::new(
                crate::platform::alipay::spec::KIND,
                url,
                http::Options::default(),
            ),
            url: url.to_string(),
            app_id: app_id.to_string(),
            keys,
        }
    }

    /// The same caller with transport `options` (the platform's proxy).
    pub fn with_options(self, options: http::Options) -> Gateway {
        Gateway {
            transport: self.transport.reconfigured(&self.url, options),
            ..self
        }
    }

    /// Calls `method`; returns the verified response node when `code` is 10000.
    pub async fn call(
        &self,
        method: &str,
        token: Option<&Secret>,
        biz: Biz<'_>,
    ) -> Result<Map<String, Value>, PlatformError> {
        let keys = self.keys.as_ref().map_err(|err| PlatformError {
            call: method.to_string(),
            ..err.clone()
        })?;
        let body = self.send(keys, method, token, &biz).await?;
        check(method, &body, &keys.alipay_public)
    }

    /// A read-only call: like [`Gateway::call`], and transient errors are retried up to 3 times
    /// with a short backoff, since repeating a query is harmless.
    pub async fn read(
        &self,
        method: &str,
        token: Option<&Secret>,
        biz: Biz<'_>,
    ) -> Result<Map<String, Value>, PlatformError> {
        http::READS
            .run(
                || self.call(method, token, biz),
                |err| err.class == crate::platform::ErrorClass::Transient,
            )
            .await
    }

    /// Signs and sends one request; returns the raw response body.
    async fn send(
        &self,
        keys: &Keys,
        method: &str,
        token: Option<&Secret>,
        biz: &Biz<'_>,
    ) -> Result<String, PlatformError> {
        let mut params = self.common_params(method, token);
        let mut body_params: BTreeMap<String, String> = BTreeMap::new();
        match biz {
            Biz::None => {}
            Biz::Content(value) => {
                body_params.insert("biz_content".into(), value.to_string());
            }
            Biz::Multipart(fields) => {
                for (name, value) in fields.iter() {
                    body_params.insert((*name).to_string(), value.clone());
                }
            }
        }
        let mut all = params.clone();
        all.extend(body_params.clone());
        params.insert("sign".into(), keys.private.sign(&sign_content(&all)));
        let request = self.transport.client().post(&self.url).query(&params);
        let request = match biz {
            Biz::Multipart(_) => {
                let form = body_params
                    .into_iter()
                    .fold(reqwest::multipart::Form::new(), |form, (k, v)| {
                        form.text(k, v)
                    });
                request.multipart(form)
            }
            _ => request.form(&body_params),
        };
        let response = self
            .transport
            .send(method, request, errors::NETWORK_HINT)
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(errors::http_status(method, status.as_u16()));
        }
        response
            .text()
            .await
            .map_err(|e| errors::network(method, e))
    }

    /// The protocol params of spec §1.3.
    fn common_params(&self, method: &str, token: Option<&Secret>) -> BTreeMap<String, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut params: BTreeMap<String, String> = [
            ("app_id", self.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        params.insert("timestamp".into(), format_timestamp(now));
        if let Some(token) = token {
            params.insert("app_auth_token".into(), token.expose().to_string());
        }
        params
    }
}

/// Verifies `body` and returns its node when it is a signed success; otherwise the classified
/// failure (an unsigned failure is classified but never trusted for state).
pub fn check(
    method: &str,
    body: &str,
    alipay_public: &PublicKey,
) -> Result<Map<String, Value>, PlatformError> {
    let verified =
        verify_response(body, method, alipay_public).map_err(|e| errors::signature(method, &e))?;
    let node: Map<String, Value> =
        serde_json::from_str(verified.node_text).map_err(|e| errors::decode(method, e))?;
    let field = |name: &str| match node.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let code = field("code");
    if code == "10000" && verified.signed {
        return Ok(node);
    }
    Err(errors::api_error(
        method,
        &code,
        &field("msg"),
        &field("sub_code"),
        &field("sub_msg"),
    ))
}

/// Decodes a verified node into the shape a call returns.
pub fn decode<T: DeserializeOwned>(
    method: &str,
    node: Map<String, Value>,
) -> Result<T, PlatformError> {
    serde_json::from_value(Value::Object(node)).map_err(|e| errors::decode(method, e))
}
