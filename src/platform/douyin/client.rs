//! HTTP plumbing: one call to Douyin through the shared transport, the v2 envelope
//! `{err_no, err_msg, log_id, data}` checked (errors come with HTTP 200), and the unwrapped
//! answer of the component-token call (`{errno, message}` on error).

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::errors;
use crate::platform::PlatformError;
use crate::platform::http::{self, Transport};
use crate::secret::Secret;

/// The HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET, query only.
    Get,
    /// POST with a JSON body.
    Post,
}

/// One Douyin API: its short name (in errors, history and logs) and its documented path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Api {
    /// E.g. `package_version/upload`.
    pub name: &'static str,
    /// E.g. `/api/apps/v1/package_version/upload/` (the documented form, with its slash).
    pub path: &'static str,
    /// GET or POST.
    pub method: Method,
}

const fn api(name: &'static str, path: &'static str, method: Method) -> Api {
    Api { name, path, method }
}

/// The component token (unwrapped answer).
pub const COMPONENT_TOKEN: Api = api("auth/tp/token", "/openapi/v2/auth/tp/token/", Method::Get);
/// Authorizer tokens, from a code or a refresh token.
pub const AUTH_TOKEN: Api = api(
    "auth/get_auth_token",
    "/api/tpapp/v2/auth/get_auth_token/",
    Method::Get,
);
/// A new authorization code for an authorized app (lost refresh token).
pub const RETRIEVE_CODE: Api = api(
    "auth/retrieve_auth_code",
    "/api/tpapp/v2/auth/retrieve_auth_code/",
    Method::Post,
);
/// Upload the template with ext_json as the test version.
pub const UPLOAD: Api = api(
    "package_version/upload",
    "/api/apps/v1/package_version/upload/",
    Method::Post,
);
/// The host apps a submission may name.
pub const AUDIT_HOSTS: Api = api(
    "package_version/get_audit_hosts",
    "/api/apps/v1/package_version/get_audit_hosts/",
    Method::Get,
);
/// Submit the test version for review.
pub const AUDIT: Api = api(
    "package_version/audit",
    "/api/apps/v2/package_version/audit/",
    Method::Post,
);
/// Withdraw the version in review.
pub const REVOKE: Api = api(
    "package_version/revoke_audit",
    "/api/apps/v1/package_version/revoke_audit/",
    Method::Post,
);
/// Publish the approved version.
pub const RELEASE: Api = api(
    "package_version/release",
    "/api/apps/v1/package_version/release/",
    Method::Post,
);
/// Roll the live version back to the previous release.
pub const ROLLBACK: Api = api(
    "package_version/rollback",
    "/api/apps/v1/package_version/rollback/",
    Method::Post,
);
/// The test, audit and live versions in one read.
pub const VERSIONS: Api = api(
    "package_version/versions",
    "/api/apps/v1/package_version/versions/",
    Method::Get,
);

/// The QR code of a version (`latest`: the test version), as a signed URL.
pub const QR_CODE: Api = api(
    "basic_info/get_qr_code",
    "/api/apps/v2/basic_info/get_qr_code/",
    Method::Post,
);

/// A JSON-over-HTTP caller of one base URL, through the shared transport.
pub struct Http {
    transport: Transport,
    base: String,
}

impl Http {
    /// A caller of `base` (trailing slash ignored).
    pub fn new(base: &str) -> Http {
        Http {
            transport: Transport::new(super::spec::KIND, base, http::Options::default()),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The same caller with transport `options` (the platform's proxy).
    pub fn with_options(self, options: http::Options) -> Http {
        Http {
            transport: self.transport.reconfigured(&self.base, options),
            base: self.base,
        }
    }

    /// Sends one call; the answer's JSON whatever it says.
    async fn send(
        &self,
        api: Api,
        token: Option<&Secret>,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, PlatformError> {
        let url = format!("{}{}", self.base, api.path);
        let client = self.transport.client();
        let mut request = match api.method {
            Method::Get => client.get(url),
            // POSTs without a body of their own (release, rollback, revoke) send `{}`.
            Method::Post => client
                .post(url)
                .json(body.unwrap_or(&Value::Object(Default::default()))),
        };
        if let Some(token) = token {
            request = request.header("access-token", token.expose());
        }
        let response = self
            .transport
            .send(api.name, request.query(query), errors::NETWORK_HINT)
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(errors::http_status(api.name, status.as_u16()));
        }
        let bytes = response.bytes().await.map_err(|e| {
            PlatformError::network(super::spec::KIND, api.name, e, errors::NETWORK_HINT)
        })?;
        serde_json::from_slice(&bytes).map_err(|e| errors::decode(api.name, e))
    }

    /// Calls a v2 API; its `data` (`null` when it has none) when `err_no` is 0.
    pub async fn call(
        &self,
        api: Api,
        token: &Secret,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, PlatformError> {
        let answer = self.send(api, Some(token), query, body).await?;
        let code = answer.get("err_no").map_or(0, code_of);
        if code != 0 {
            let text = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or_default();
            return Err(errors::api_error(
                api.name,
                code,
                text("err_msg"),
                Some(text("log_id")),
            ));
        }
        Ok(answer.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Calls the component-token API, which answers unwrapped (`{errno, message}` on error).
    pub async fn unwrapped(
        &self,
        api: Api,
        query: &[(&str, &str)],
    ) -> Result<Value, PlatformError> {
        let answer = self.send(api, None, query, None).await?;
        let code = answer
            .get("errno")
            .or_else(|| answer.get("err_no"))
            .map_or(0, code_of);
        if code != 0 {
            let message = answer
                .get("message")
                .or_else(|| answer.get("err_msg"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(errors::api_error(api.name, code, message, None));
        }
        Ok(answer)
    }
}

/// A code sent as a number or as text (the docs type `errno` as a string).
fn code_of(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => s
            .trim()
            .parse()
            .unwrap_or(if s.trim().is_empty() { 0 } else { -1 }),
        _ => 0,
    }
}

/// Decodes an answer into the shape a call returns.
pub fn decode<T: DeserializeOwned>(api: Api, value: Value) -> Result<T, PlatformError> {
    serde_json::from_value(value).map_err(|e| errors::decode(api.name, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_as_numbers_or_text() {
        assert_eq!(code_of(&serde_json::json!(40037)), 40037);
        assert_eq!(code_of(&serde_json::json!("40037")), 40037);
        assert_eq!(code_of(&serde_json::json!("")), 0);
        assert_eq!(code_of(&serde_json::json!(null)), 0);
        assert_eq!(code_of(&serde_json::json!("oops")), -1);
    }
}
