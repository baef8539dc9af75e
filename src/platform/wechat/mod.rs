//! The WeChat Open Platform client: component and authorizer tokens, observation and actions over
//! `wxa/*`, errcodes classified by the table of spec/wechat.md §7.

use crate::fleet::WechatConfig;
use crate::store::Store;

pub mod crypto;

/// Store key of the component verify ticket.
pub fn ticket_key(component_appid: &str) -> String {
    format!("wechat/ticket/{component_appid}")
}

/// Store key of the component access token.
pub fn component_token_key(component_appid: &str) -> String {
    format!("wechat/component_token/{component_appid}")
}

/// Store key of an authorizer's refresh token.
pub fn refresh_token_key(appid: &str) -> String {
    format!("wechat/refresh_token/{appid}")
}

/// Store key of an authorizer's access token.
pub fn authorizer_token_key(appid: &str) -> String {
    format!("wechat/authorizer_token/{appid}")
}

/// A WeChat third-party-platform client for one component.
pub struct WechatClient {}

impl WechatClient {
    /// A client calling `base_url` (e.g. `https://api.weixin.qq.com`) with tokens cached in `store`.
    pub fn new(config: &WechatConfig, base_url: &str, store: Store) -> WechatClient {
        todo!()
    }
}

impl crate::platform::Platform for WechatClient {
    fn kind(&self) -> crate::model::PlatformKind {
        todo!()
    }
    fn observe<'a>(
        &'a self,
        _app: &'a crate::model::Desired,
    ) -> crate::platform::BoxFuture<
        'a,
        Result<crate::model::Observed, crate::platform::PlatformError>,
    > {
        todo!()
    }
    fn execute<'a>(
        &'a self,
        _app: &'a crate::model::Desired,
        _action: &'a crate::model::Action,
    ) -> crate::platform::BoxFuture<
        'a,
        Result<crate::platform::Effect, crate::platform::PlatformError>,
    > {
        todo!()
    }
}
