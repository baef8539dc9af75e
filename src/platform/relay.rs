//! Pushes between shards (`watch --shard I/N --shard-peers …`). A platform pushes its ticket and
//! every app's events to one URL, which reaches one shard; the relay gets each push to the shards
//! that need it:
//!
//! * a **ticket** (one for the whole component) is kept by the shard that receives it and relayed
//!   to every other shard, in the background, a few tries each;
//! * an **app's event** (an audit verdict, an authorization) that another shard owns is relayed to
//!   that shard, and the platform gets that shard's answer.
//!
//! What is relayed is the platform's own request, unchanged — path, query, body — so the shard
//! that gets it checks it again exactly as the platform sent it (signature, time window, its own
//! replay window, decryption): shards trust nothing but the platform, and share no secret. A
//! relayed request carries [`RELAYED`] and is never relayed again, so a push travels at most one
//! hop even while shards disagree on N (a rollout from N to N+1).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::fleet::shard::{Shard, owner};

/// The header a relayed push carries.
pub const RELAYED: &str = "x-minifleet-relayed";

/// How long a shard may take to answer a relayed push.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per shard for a relayed ticket (a ticket also comes again in 10 minutes).
const TICKET_TRIES: u32 = 3;

/// A push as it arrived: what a relay sends on.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The path and query the platform called (the query carries WeChat's signature).
    pub path_and_query: String,
    /// The body, unchanged.
    pub body: Bytes,
    content_type: Option<HeaderValue>,
    /// Whether another shard relayed it here (it goes no further).
    pub relayed: bool,
}

impl<S: Send + Sync> FromRequest<S> for Pushed {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Pushed, Response> {
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
        let headers = request.headers();
        let content_type = headers.get(header::CONTENT_TYPE).cloned();
        let relayed = headers.contains_key(RELAYED);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Pushed {
            path_and_query,
            body,
            content_type,
            relayed,
        })
    }
}

/// This shard and where every shard is reached.
#[derive(Debug)]
pub struct Relay {
    shard: Shard,
    /// Base URL of every shard, by index (this one's included, never called).
    peers: Vec<String>,
    http: reqwest::Client,
}

impl Relay {
    /// The relay of `shard`, reaching shard `i` at `peers[i]`.
    pub fn new(shard: Shard, peers: Vec<String>) -> Result<Arc<Relay>, String> {
        if peers.len() != shard.count as usize {
            return Err(format!(
                "{} shard addresses for {} shards: give one per shard, in shard order",
                peers.len(),
                shard.count
            ));
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(PEER_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for shards: {e}"))?;
        Ok(Arc::new(Relay { shard, peers, http }))
    }

    /// The shards' base URLs from `text`: a template with `{i}` (`http://minifleet-{i}.minifleet:8680`,
    /// a StatefulSet behind a headless Service) or a comma-separated list, one per shard in order.
    pub fn parse_peers(text: &str, count: u32) -> Result<Vec<String>, String> {
        let peers: Vec<String> = if text.contains("{i}") {
            (0..count)
                .map(|i| text.trim().replace("{i}", &i.to_string()))
                .collect()
        } else {
            text.split(',').map(|p| p.trim().to_owned()).collect()
        };
        for peer in &peers {
            let url =
                reqwest::Url::parse(peer).map_err(|e| format!("`{peer}` is not a URL ({e})"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!("`{peer}` is not an http(s) address of a shard"));
            }
        }
        Ok(peers
            .into_iter()
            .map(|p| p.trim_end_matches('/').to_owned())
            .collect())
    }

    /// This process's shard.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The shard `pushed` goes to for `appid`'s sake: another shard's app, on a push that was not
    /// relayed already.
    fn owner_elsewhere(&self, pushed: &Pushed, appid: &str) -> Option<u32> {
        let owner = owner(appid, self.shard.count);
        (!pushed.relayed && owner != self.shard.index).then_some(owner)
    }

    /// Sends `pushed` to shard `to`: its status and body, or why it did not answer.
    async fn send(&self, to: u32, pushed: &Pushed) -> Result<(StatusCode, Bytes), String> {
        let url = format!("{}{}", self.peers[to as usize], pushed.path_and_query);
        let mut request = self
            .http
            .post(url)
            .header(RELAYED, self.shard.index.to_string())
            .body(pushed.body.clone());
        if let Some(content_type) = &pushed.content_type {
            request = request.header(header::CONTENT_TYPE, content_type.clone());
        }
        let response = request.send().await.map_err(|e| without_url(&e))?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = response.bytes().await.map_err(|e| without_url(&e))?;
        Ok((status, body))
    }
}

/// A reqwest error in words, without its URL (which names a shard's address only).
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("the call {kind}")
}

/// Relays `pushed` to the shard that owns `appid` when that is another shard, and answers as
/// that shard answered (503 when it did not: the platform pushes again, and the owner's polls
/// catch up anyway). `None`: this shard handles the push.
pub async fn to_owner(relay: Option<&Relay>, pushed: &Pushed, appid: &str) -> Option<Response> {
    let relay = relay?;
    let owner = relay.owner_elsewhere(pushed, appid)?;
    let shard = Shard {
        index: owner,
        count: relay.shard.count,
    };
    Some(match relay.send(owner, pushed).await {
        Ok((status, body)) => {
            tracing::info!(%appid, to = %shard, status = status.as_u16(), "push relayed to the app's shard");
            (status, body).into_response()
        }
        Err(err) => {
            tracing::warn!(%appid, to = %shard, error = %err, "the app's shard did not take a relayed push");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("shard {shard}, which owns this app, did not take the push; push again"),
            )
                .into_response()
        }
    })
}

/// Relays `pushed` (a ticket this shard kept) to every other shard in the background, a few
/// tries each; a shard that misses it gets the next one.
pub fn to_others(relay: Option<&Arc<Relay>>, pushed: &Pushed) {
    let Some(relay) = relay.filter(|_| !pushed.relayed) else {
        return;
    };
    for to in (0..relay.shard.count).filter(|i| *i != relay.shard.index) {
        let relay = Arc::clone(relay);
        let pushed = pushed.clone();
        tokio::spawn(async move {
            let shard = Shard {
                index: to,
                count: relay.shard.count,
            };
            let mut last = String::new();
            for attempt in 0..TICKET_TRIES {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
                match relay.send(to, &pushed).await {
                    Ok((status, _)) if status.is_success() => {
                        tracing::info!(to = %shard, "ticket relayed");
                        return;
                    }
                    Ok((status, _)) => last = format!("it answered {}", status.as_u16()),
                    Err(err) => last = err,
                }
            }
            tracing::warn!(to = %shard, error = %last, "a ticket was not relayed; that shard gets the next one");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_come_from_a_template_or_a_list_one_per_shard() {
        assert_eq!(
            Relay::parse_peers("http://minifleet-{i}.minifleet:8680/", 3).unwrap(),
            [
                "http://minifleet-0.minifleet:8680",
                "http://minifleet-1.minifleet:8680",
                "http://minifleet-2.minifleet:8680"
            ]
        );
        assert_eq!(
            Relay::parse_peers("http://127.0.0.1:1, http://127.0.0.1:2", 2).unwrap(),
            ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        );
        let shard = Shard { index: 0, count: 3 };
        let two = Relay::parse_peers("http://a:1,http://b:2", 3).unwrap();
        assert!(
            Relay::new(shard, two)
                .unwrap_err()
                .contains("2 shard addresses for 3")
        );
        assert!(
            Relay::parse_peers("minifleet-{i}:8680", 2)
                .unwrap_err()
                .contains("not")
        );
        assert!(
            Relay::parse_peers("ftp://a/,http://b", 2)
                .unwrap_err()
                .contains("ftp://a/")
        );
    }

    #[test]
    fn only_another_shards_app_on_a_push_not_yet_relayed_goes_elsewhere() {
        let peers: Vec<String> = (0..3).map(|i| format!("http://s{i}")).collect();
        let pushed = |relayed| Pushed {
            path_and_query: "/p".into(),
            body: Bytes::new(),
            content_type: None,
            relayed,
        };
        let appids: Vec<String> = (0..64).map(|n| format!("wx{n:016}")).collect();
        for index in 0..3 {
            let relay = Relay::new(Shard { index, count: 3 }, peers.clone()).unwrap();
            for appid in &appids {
                let owner = owner(appid, 3);
                let expected = (owner != index).then_some(owner);
                assert_eq!(relay.owner_elsewhere(&pushed(false), appid), expected);
                assert_eq!(relay.owner_elsewhere(&pushed(true), appid), None);
            }
        }
        // The 64 appids do not all hash to one shard: the check above saw both answers.
        let owners: std::collections::BTreeSet<u32> = appids.iter().map(|a| owner(a, 3)).collect();
        assert_eq!(owners.len(), 3);
    }
}
