//! Pushes like WeChat's, encrypted with WXBizMsgCrypt: the verify ticket on an interval, the
//! `authorized` / `unauthorized` events to the authorization-event URL, and audit verdicts to the
//! message-and-event URL `…/wechat/events/{appid}`.
//!
//! The sandbox's defaults for the push crypto are [`SANDBOX_TOKEN`] and [`SANDBOX_AES_KEY`]
//! (minifleet uses the same ones when the fleet sets none and `api_base` is `sandbox`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::state::{AuditState, Decision, now_ms};
use super::{Inner, Sim};
use crate::platform::wechat::crypto::{self, CryptoError, MsgCrypt};
use crate::platform::wechat::push::build_xml;
pub use crate::platform::wechat::push::{SANDBOX_AES_KEY, SANDBOX_TOKEN};
use crate::secret::Secret;

/// WeChat pushes a verify ticket every 10 minutes.
pub const DEFAULT_TICKET_INTERVAL: Duration = Duration::from_secs(600);
/// How often the pusher decides due audits and sends their verdicts.
const AUDIT_TICK: Duration = Duration::from_millis(100);
/// Timeout of one push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::sandbox::PushConfig;

/// WeChat's pushes to `url` for `component_appid` with the sandbox's default keys, every 10
/// minutes.
pub fn sandbox_defaults(url: &str, component_appid: &str) -> PushConfig {
    PushConfig {
        url: url.trim_end_matches('/').to_string(),
        component_appid: component_appid.to_string(),
        token: Secret::new(SANDBOX_TOKEN),
        aes_key: Secret::new(SANDBOX_AES_KEY),
        ticket_interval: DEFAULT_TICKET_INTERVAL,
    }
}

/// A configured pusher.
pub(super) struct Pusher {
    config: PushConfig,
    crypt: MsgCrypt,
    http: reqwest::Client,
}

impl Pusher {
    pub(super) fn new(config: PushConfig) -> Result<Pusher, CryptoError> {
        let crypt = MsgCrypt::new(&config.token, &config.aes_key, &config.component_appid)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(PUSH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Ok(Pusher {
            config,
            crypt,
            http,
        })
    }

    /// Encrypts `xml` and POSTs it to `path` as WeChat does; returns the HTTP status (0 when
    /// the receiver could not be reached).
    pub(super) async fn send(&self, path: &str, envelope_to: (&str, &str), xml: &str) -> u16 {
        let encrypt = self.crypt.encrypt(xml, fastrand::u128(..).to_le_bytes());
        let timestamp = (now_ms() / 1000).to_string();
        let nonce = fastrand::u64(..).to_string();
        let msg_signature = crypto::signature(&self.config.token, &timestamp, &nonce, &encrypt);
        let signature = crypto::plain_signature(&self.config.token, &timestamp, &nonce);
        let body = build_xml(&[envelope_to, ("Encrypt", &encrypt)]);
        let url = format!("{}{path}", self.config.url);
        let query = [
            ("signature", signature.as_str()),
            ("timestamp", &timestamp),
            ("nonce", &nonce),
            ("encrypt_type", "aes"),
            ("msg_signature", &msg_signature),
        ];
        match self.http.post(&url).query(&query).body(body).send().await {
            Ok(reply) => reply.status().as_u16(),
            Err(err) => {
                tracing::warn!(path, error = %err.without_url(), "sandbox push not delivered");
                0
            }
        }
    }

    /// Pushes a component event (`InfoType` with its fields) to the authorization-event URL.
    pub(super) async fn component_event(&self, info_type: &str, fields: &[(&str, &str)]) -> u16 {
        let now = (now_ms() / 1000).to_string();
        let mut pairs = vec![
            ("AppId", self.config.component_appid.as_str()),
            ("CreateTime", now.as_str()),
            ("InfoType", info_type),
        ];
        pairs.extend_from_slice(fields);
        let envelope = ("AppId", self.config.component_appid.as_str());
        self.send("/wechat/auth", envelope, &build_xml(&pairs))
            .await
    }

    /// Pushes an audit verdict to `…/wechat/events/{appid}`.
    async fn audit_event(&self, decision: &Decision) -> u16 {
        let now = (now_ms() / 1000).to_string();
        let user = format!("gh_{}", decision.appid);
        let (event, time_key) = match decision.status {
            AuditState::Approved => ("weapp_audit_success", "SuccTime"),
            AuditState::Delayed => ("weapp_audit_delay", "DelayTime"),
            _ => ("weapp_audit_fail", "FailTime"),
        };
        let mut pairs = vec![
            ("ToUserName", user.as_str()),
            ("FromUserName", "o_sandbox_system"),
            ("CreateTime", now.as_str()),
            ("MsgType", "event"),
            ("Event", event),
            (time_key, now.as_str()),
        ];
        if decision.status != AuditState::Approved {
            pairs.push(("Reason", decision.reason.as_str()));
        }
        let path = format!("/wechat/events/{}", decision.appid);
        self.send(&path, ("ToUserName", &user), &build_xml(&pairs))
            .await
    }

    pub(super) fn component_appid(&self) -> &str {
        &self.config.component_appid
    }
}

impl Sim {
    /// Starts pushing as WeChat does: a verify ticket now and every `ticket_interval`, audit
    /// verdicts as soon as they are reached, and `authorized` / `unauthorized` events. The pusher
    /// stops when the simulator is dropped.
    pub fn start_pushes(&self, config: PushConfig) -> Result<(), CryptoError> {
        let pusher = Arc::new(Pusher::new(config)?);
        let interval = pusher.config.ticket_interval.max(Duration::from_millis(10));
        *super::lock(&self.inner.pusher) = Some(pusher);
        self.mutate(|world| world.queue_decisions = true);
        tokio::spawn(run(Arc::downgrade(&self.inner), interval));
        Ok(())
    }

    fn pusher(&self) -> Option<Arc<Pusher>> {
        super::lock(&self.inner.pusher).clone()
    }

    /// Issues a verify ticket and pushes it now; returns the HTTP status the receiver answered
    /// (`None` when pushes are off).
    pub async fn push_ticket(&self) -> Option<u16> {
        let pusher = self.pusher()?;
        let ticket = self.issue_ticket(pusher.component_appid());
        let status = pusher
            .component_event(
                "component_verify_ticket",
                &[("ComponentVerifyTicket", &ticket)],
            )
            .await;
        tracing::debug!(status, "sandbox pushed a verify ticket");
        Some(status)
    }

    /// Pushes a ticket in the background (after `api_start_push_ticket`).
    pub(super) fn spawn_ticket_push(&self) {
        let sim = self.clone();
        tokio::spawn(async move {
            sim.push_ticket().await;
        });
    }

    /// Pushes `authorized` for `appid` with its authorization code, in the background.
    pub(super) fn spawn_authorized_push(&self, appid: &str, code: &str) {
        let Some(pusher) = self.pusher() else {
            return;
        };
        let (appid, code) = (appid.to_string(), code.to_string());
        tokio::spawn(async move {
            let expires = ((now_ms() / 1000) + 600).to_string();
            pusher
                .component_event(
                    "authorized",
                    &[
                        ("AuthorizerAppid", &appid),
                        ("AuthorizationCode", &code),
                        ("AuthorizationCodeExpiredTime", &expires),
                        ("PreAuthCode", ""),
                    ],
                )
                .await;
        });
    }

    /// The merchant revokes `appid`'s authorization (test helper): its tokens die, and an
    /// `unauthorized` push goes out when pushes are on. Returns the receiver's HTTP status.
    pub async fn unauthorize(&self, appid: &str) -> Option<u16> {
        let known = self.mutate(|world| world.revoke(appid));
        if !known {
            return None;
        }
        let pusher = self.pusher()?;
        Some(
            pusher
                .component_event("unauthorized", &[("AuthorizerAppid", appid)])
                .await,
        )
    }

    /// Decides due audits of every app and returns the verdicts queued since the last call.
    fn take_decisions(&self) -> Vec<Decision> {
        let spec = self.inner.spec.clone();
        self.mutate(|world| {
            let appids: Vec<String> = world.apps.keys().cloned().collect();
            let now = now_ms();
            for appid in appids {
                world.settle(&appid, &spec, now);
            }
            std::mem::take(&mut world.decided)
        })
    }
}

/// The pusher loop: tickets on their interval, verdicts every tick; ends with the simulator.
async fn run(inner: Weak<Inner>, ticket_interval: Duration) {
    let mut tickets = tokio::time::interval(ticket_interval);
    let mut audits = tokio::time::interval(AUDIT_TICK);
    loop {
        let ticket_due = tokio::select! {
            _ = tickets.tick() => true,
            _ = audits.tick() => false,
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let sim = Sim { inner };
        if ticket_due {
            sim.push_ticket().await;
            continue;
        }
        let Some(pusher) = sim.pusher() else {
            return;
        };
        for decision in sim.take_decisions() {
            pusher.audit_event(&decision).await;
        }
    }
}
