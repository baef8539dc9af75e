//! Pushes like Douyin's (spec/douyin.md §1.2–1.4): sealed JSON envelopes of the component ticket
//! on an interval to `{url}/douyin/auth`, `UNAUTHORIZED` there too, and audit verdicts
//! (`PACKAGE_AUDIT`) to `{url}/douyin/events`. The pusher stops when the simulator is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use super::state::{Verdict, display, now_ms};
use super::{Inner, Sim, lock};
use crate::platform::douyin::crypto::{CryptoError, PushCrypt};

/// How often the pusher decides due audits and sends their verdicts.
const AUDIT_TICK: Duration = Duration::from_millis(100);
/// Timeout of one push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::sandbox::PushConfig;

pub(super) struct Pusher {
    config: PushConfig,
    crypt: PushCrypt,
    http: reqwest::Client,
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time (UNCONFIRMED: Douyin's `EventTime` zone).
fn beijing_time(ms: u64) -> String {
    let secs = ms / 1000;
    let day = crate::model::beijing_day(secs);
    let (year, month, date) =
        crate::model::calendar::civil_from_days(i64::try_from(day).unwrap_or_default());
    let rem = (secs + 8 * 3600) % 86_400;
    format!(
        "{year:04}-{month:02}-{date:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Pusher {
    /// Seals `message` and POSTs it to `path`; the HTTP status (0 when unreachable).
    async fn send(&self, path: &str, message: &Value) -> u16 {
        let mut random = [0u8; 32];
        random[..16].copy_from_slice(&fastrand::u128(..).to_le_bytes());
        random[16..].copy_from_slice(&fastrand::u128(..).to_le_bytes());
        let nonce = fastrand::u32(..).to_string();
        let envelope = self
            .crypt
            .seal(&message.to_string(), random, now_ms() / 1000, &nonce);
        let url = format!("{}{path}", self.config.url);
        match self.http.post(&url).json(&envelope).send().await {
            Ok(reply) => reply.status().as_u16(),
            Err(err) => {
                tracing::warn!(path, error = %err.without_url(), "sandbox push not delivered");
                0
            }
        }
    }

    async fn verdict(&self, v: &Verdict) -> u16 {
        let results: Vec<Value> = v
            .hosts
            .iter()
            .map(|h| {
                let reasons: Vec<&str> = if v.approved {
                    Vec::new()
                } else {
                    vec![v.reason.as_str()]
                };
                json!({ "hostName": h, "status": if v.approved { 0 } else { 1 }, "reason": reasons,
                        "auditDetail": [], "displayName": display(h) })
            })
            .collect();
        let message = json!({
            "AppId": v.appid,
            "TpAppId": self.config.component_appid,
            "EventTime": beijing_time(now_ms()),
            "Event": "PACKAGE_AUDIT",
            "AuditResults": results,
        });
        self.send("/douyin/events", &message).await
    }
}

impl Sim {
    /// Starts pushing as Douyin does: a ticket now and every `ticket_interval`, audit verdicts
    /// as soon as they are reached, `UNAUTHORIZED` when a merchant revokes.
    pub fn start_pushes(&self, config: PushConfig) -> Result<(), CryptoError> {
        let crypt = PushCrypt::new(&config.token, &config.aes_key, &config.component_appid)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(PUSH_TIMEOUT)
            .build()
            .unwrap_or_default();
        let interval = config.ticket_interval.max(Duration::from_millis(10));
        *lock(&self.inner.pusher) = Some(Arc::new(Pusher {
            config,
            crypt,
            http,
        }));
        self.mutate(|w| w.queue_verdicts = true);
        tokio::spawn(run(Arc::downgrade(&self.inner), interval));
        Ok(())
    }

    fn pusher(&self) -> Option<Arc<Pusher>> {
        lock(&self.inner.pusher).clone()
    }

    /// Issues a ticket and pushes it now; the receiver's HTTP status (`None` when pushes are off).
    pub async fn push_ticket(&self) -> Option<u16> {
        let pusher = self.pusher()?;
        let ticket = self.issue_ticket(&pusher.config.component_appid);
        let message = json!({
            "Ticket": ticket,
            "FromUserName": "ByteDanceMicroApp",
            "CreateTime": beijing_time(now_ms()),
            "MsgType": "Ticket",
            "Event": "PUSH",
        });
        Some(pusher.send("/douyin/auth", &message).await)
    }

    pub(super) fn spawn_unauthorized_push(&self, appid: &str) {
        let Some(pusher) = self.pusher() else {
            return;
        };
        let message = json!({
            "AppId": appid,
            "TpAppId": pusher.config.component_appid,
            "EventTime": beijing_time(now_ms()),
            "Event": "UNAUTHORIZED",
        });
        tokio::spawn(async move {
            pusher.send("/douyin/auth", &message).await;
        });
    }

    /// Decides due audits and pushes their verdicts.
    async fn push_verdicts(&self) {
        let spec = self.inner.spec.clone();
        let verdicts = self.mutate(|w| {
            let now = now_ms();
            let due: Vec<String> = w
                .apps
                .iter()
                .filter(|(_, a)| {
                    a.audit.as_ref().is_some_and(|s| s.status == 0) || a.rollback_at_ms.is_some()
                })
                .map(|(id, _)| id.clone())
                .collect();
            for appid in due {
                w.settle(&appid, &spec, now);
            }
            std::mem::take(&mut w.verdicts)
        });
        let Some(pusher) = self.pusher() else {
            return;
        };
        for verdict in &verdicts {
            let status = pusher.verdict(verdict).await;
            tracing::debug!(appid = %verdict.appid, status, "sandbox pushed an audit verdict");
        }
    }
}

async fn run(inner: Weak<Inner>, ticket_interval: Duration) {
    let mut next_ticket = tokio::time::Instant::now();
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let sim = Sim { inner };
        if tokio::time::Instant::now() >= next_ticket {
            sim.push_ticket().await;
            next_ticket = tokio::time::Instant::now() + ticket_interval;
        }
        sim.push_verdicts().await;
        drop(sim);
        tokio::time::sleep(AUDIT_TICK).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_times_are_beijing_wall_clock() {
        // 2024-02-21 00:00:00 UTC is 08:00 in Beijing.
        assert_eq!(
            super::beijing_time(1_708_473_600_000),
            "2024-02-21 08:00:00"
        );
        assert_eq!(super::beijing_time(0), "1970-01-01 08:00:00");
    }
}
