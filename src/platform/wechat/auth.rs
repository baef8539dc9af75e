//! Merchant onboarding (spec/wechat.md §1.6): pre-auth codes and authorization links, the
//! `api_query_auth` exchange (permission set 18 required), the authorizer list, and the ticket and
//! authorization records the push endpoints write.

use serde::Serialize;
use serde_json::{Value, json};

use super::WechatClient;
use super::client::decode;
use super::errors;
use crate::platform::{ErrorClass, PlatformError};

const PREAUTH_CALL: &str = "cgi-bin/component/api_create_preauthcode";
const QUERY_AUTH_CALL: &str = "cgi-bin/component/api_query_auth";
const LIST_CALL: &str = "cgi-bin/component/api_get_authorizer_list";
/// The permission set code management needs (小程序开发管理).
pub const CODE_MANAGEMENT_SET: u64 = 18;
/// `api_get_authorizer_list` pages hold at most this many apps.
const LIST_PAGE: u64 = 500;
/// WeChat's real API host; any other base is a simulator that serves the authorization page too.
const REAL_API_HOST: &str = "api.weixin.qq.com";
/// The PC authorization page (QR scan).
const PC_PAGE: &str = "https://mp.weixin.qq.com/cgi-bin/componentloginpage";
/// The mobile authorization page (opened inside WeChat).
const MOBILE_PAGE: &str = "https://open.weixin.qq.com/wxaopen/safe/bindcomponent";
/// `auth_type` for "mini programs only".
const AUTH_TYPE_MINI_PROGRAMS: &str = "2";

/// Which authorization page a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// `componentloginpage`: the admin scans a QR code on a PC.
    Pc,
    /// `bindcomponent`: the admin opens the link inside WeChat.
    Mobile,
}

/// The outcome of an authorization-code exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorization {
    /// The mini program that authorized.
    pub appid: String,
    /// The permission set ids it granted.
    pub permission_sets: Vec<u64>,
}

/// One entry of `api_get_authorizer_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AuthorizedApp {
    /// The mini program.
    pub authorizer_appid: String,
    /// Unix seconds of the authorization.
    #[serde(default)]
    pub auth_time: u64,
}

#[derive(serde::Deserialize)]
struct ListPage {
    #[serde(default)]
    total_count: u64,
    #[serde(default)]
    list: Vec<AuthorizedApp>,
}

/// Builds an authorization link: `page_base` `None` = WeChat's own pages, `Some(base)` = the
/// pages a simulator serves at the same paths. `biz_appid` pins one mini program.
pub fn authorization_url(
    page_base: Option<&str>,
    kind: LinkKind,
    component_appid: &str,
    pre_auth_code: &str,
    redirect_uri: &str,
    biz_appid: Option<&str>,
) -> String {
    let page = match (page_base, kind) {
        (None, LinkKind::Pc) => PC_PAGE.to_string(),
        (None, LinkKind::Mobile) => MOBILE_PAGE.to_string(),
        (Some(base), LinkKind::Pc) => format!("{base}/cgi-bin/componentloginpage"),
        (Some(base), LinkKind::Mobile) => format!("{base}/wxaopen/safe/bindcomponent"),
    };
    let mut params: Vec<(&str, &str)> = Vec::new();
    if kind == LinkKind::Mobile {
        params.extend([("action", "bindcomponent"), ("no_scan", "1")]);
    }
    params.extend([
        ("component_appid", component_appid),
        ("pre_auth_code", pre_auth_code),
        ("redirect_uri", redirect_uri),
        ("auth_type", AUTH_TYPE_MINI_PROGRAMS),
    ]);
    if let Some(appid) = biz_appid {
        params.push(("biz_appid", appid));
    }
    let query: String = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let fragment = if kind == LinkKind::Mobile {
        "#wechat_redirect"
    } else {
        ""
    };
    format!("{page}?{query}{fragment}")
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The permission set ids in a `func_info` list.
fn permission_sets(func_info: Option<&Value>) -> Vec<u64> {
    func_info
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|f| f.pointer("/funcscope_category/id").and_then(Value::as_u64))
                .collect()
        })
        .unwrap_or_default()
}

impl WechatClient {
    /// The component appid this client acts for.
    pub fn component_appid(&self) -> &str {
        &self.component_appid
    }

    /// Where authorization pages live: `None` for WeChat's own, or the simulator's base URL.
    pub fn page_base(&self) -> Option<&str> {
        let base = self.http.base();
        let host = base.split("://").nth(1).unwrap_or(base);
        (!host.starts_with(REAL_API_HOST)).then_some(base)
    }

    /// A fresh single-use pre-auth code.
    pub async fn pre_auth_code(&self) -> Result<String, PlatformError> {
        let body = json!({ "component_appid": self.component_appid });
        let answer = self
            .tokens
            .component_call(&self.http, PREAUTH_CALL, &body)
            .await?;
        answer
            .get("pre_auth_code")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| errors::decode(PREAUTH_CALL, "no `pre_auth_code` in the answer"))
    }

    /// An authorization link on a fresh pre-auth code (mini programs only; `biz_appid` pins one).
    pub async fn authorization_link(
        &self,
        kind: LinkKind,
        redirect_uri: &str,
        biz_appid: Option<&str>,
    ) -> Result<String, PlatformError> {
        let code = self.pre_auth_code().await?;
        Ok(authorization_url(
            self.page_base(),
            kind,
            &self.component_appid,
            &code,
            redirect_uri,
            biz_appid,
        ))
    }

    /// Exchanges an authorization code (`api_query_auth`), checks that permission set 18 was
    /// granted, and stores the refresh and access tokens (clearing any unauthorized marker).
    pub async fn exchange_code(&self, code: &str) -> Result<Authorization, PlatformError> {
        let body = json!({ "component_appid": self.component_appid, "authorization_code": code });
        let answer = self
            .tokens
            .component_call(&self.http, QUERY_AUTH_CALL, &body)
            .await?;
        let info = answer
            .get("authorization_info")
            .ok_or_else(|| errors::decode(QUERY_AUTH_CALL, "no `authorization_info`"))?;
        let field = |name: &str| info.get(name).and_then(Value::as_str).unwrap_or_default();
        let appid = field("authorizer_appid").to_string();
        let refresh = field("authorizer_refresh_token");
        if appid.is_empty() || refresh.is_empty() {
            return Err(errors::decode(
                QUERY_AUTH_CALL,
                "no authorizer appid or refresh token in the answer",
            ));
        }
        let sets = permission_sets(info.get("func_info"));
        if !sets.contains(&CODE_MANAGEMENT_SET) {
            return Err(missing_permission(&appid));
        }
        let access = field("authorizer_access_token");
        let expires_in = info.get("expires_in").and_then(Value::as_u64).unwrap_or(0);
        let access = (!access.is_empty() && expires_in > 0).then_some((access, expires_in));
        self.tokens.store_authorization(&appid, refresh, access)?;
        tracing::info!(appid = %appid, "authorization stored");
        Ok(Authorization {
            appid,
            permission_sets: sets,
        })
    }

    /// Every mini program authorized to the component (`api_get_authorizer_list`, pages of 500).
    pub async fn authorized_apps(&self) -> Result<Vec<AuthorizedApp>, PlatformError> {
        let mut all = Vec::new();
        loop {
            let body = json!({
                "component_appid": self.component_appid,
                "offset": all.len(),
                "count": LIST_PAGE,
            });
            let answer = self
                .tokens
                .component_call(&self.http, LIST_CALL, &body)
                .await?;
            let page: ListPage = decode(LIST_CALL, answer)?;
            let got = page.list.len();
            all.extend(page.list);
            if got == 0 || all.len() as u64 >= page.total_count {
                return Ok(all);
            }
        }
    }

    /// Stores a pushed verify ticket (valid 12 h), flushed before returning.
    pub fn store_ticket(&self, ticket: &str) -> Result<(), PlatformError> {
        self.tokens.store_ticket(ticket)
    }

    /// Marks `appid` unauthorized: its tokens are dropped, a marker with `reason` is kept, and
    /// observing it reports `authorized: false` until it authorizes again.
    pub fn mark_unauthorized(&self, appid: &str, reason: &str) -> Result<(), PlatformError> {
        self.tokens.mark_unauthorized(appid, reason)
    }

    /// Why `appid` is marked unauthorized, if it is.
    pub fn unauthorized_reason(&self, appid: &str) -> Result<Option<String>, PlatformError> {
        self.tokens.unauthorized_reason(appid)
    }

    /// Asks WeChat to push a verify ticket again (`api_start_push_ticket`).
    pub async fn start_push_ticket(&self) {
        self.tokens.start_push_ticket(&self.http).await;
    }
}

fn missing_permission(appid: &str) -> PlatformError {
    errors::local(
        QUERY_AUTH_CALL,
        "permission_missing",
        ErrorClass::Permanent,
        &format!("app `{appid}` authorized without permission set 18 (code management)"),
        "ask the merchant to authorize again with 小程序开发管理 (set 18) ticked: \
         `minifleet auth wechat link --app <name> --redirect-uri URL`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pc_link_pins_the_app_and_encodes_the_redirect() {
        let url = authorization_url(
            None,
            LinkKind::Pc,
            "wxc",
            "preauthcode@@@x",
            "https://ops.example.com/auth/wechat/callback?a=1",
            Some("wxa"),
        );
        assert_eq!(
            url,
            "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wxc\
             &pre_auth_code=preauthcode%40%40%40x\
             &redirect_uri=https%3A%2F%2Fops.example.com%2Fauth%2Fwechat%2Fcallback%3Fa%3D1\
             &auth_type=2&biz_appid=wxa"
        );
    }

    #[test]
    fn mobile_link_uses_bindcomponent_on_the_simulator() {
        let url = authorization_url(
            Some("http://127.0.0.1:9"),
            LinkKind::Mobile,
            "wxc",
            "p",
            "http://x/cb",
            None,
        );
        assert_eq!(
            url,
            "http://127.0.0.1:9/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1\
             &component_appid=wxc&pre_auth_code=p&redirect_uri=http%3A%2F%2Fx%2Fcb&auth_type=2\
             #wechat_redirect"
        );
    }

    #[test]
    fn permission_sets_are_read_from_func_info() {
        let info =
            json!([{ "funcscope_category": { "id": 17 } }, { "funcscope_category": { "id": 18 } }]);
        assert_eq!(permission_sets(Some(&info)), vec![17, 18]);
        assert!(permission_sets(None).is_empty());
    }
}
