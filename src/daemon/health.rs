//! The daemon's own endpoints: `/readyz` (fleet loaded, store answering, tokens fresh) and
//! `/metrics` (Prometheus text), plus `/healthz` when no push endpoints are hosted (the push
//! router has its own).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::metrics::{CONTENT_TYPE, Metrics};
use crate::platform::wechat;
use crate::store::Store;

/// What `/readyz` and `/metrics` look at.
pub struct Health {
    metrics: Arc<Metrics>,
    store: Store,
    fleet_loaded: AtomicBool,
    /// The WeChat component whose verify ticket must be fresh, when the fleet uses WeChat.
    component_appid: Option<String>,
}

impl Health {
    /// Health over `metrics` and `store`; `component_appid` when WeChat is configured.
    pub fn new(metrics: Arc<Metrics>, store: Store, component_appid: Option<String>) -> Health {
        Health {
            metrics,
            store,
            fleet_loaded: AtomicBool::new(false),
            component_appid,
        }
    }

    /// Marks the fleet as loaded (a good fleet runs, whatever later edits did).
    pub fn set_fleet_loaded(&self) {
        self.fleet_loaded.store(true, Ordering::Relaxed);
    }

    /// What keeps the daemon from being ready at `now` (unix seconds); empty when ready.
    pub fn problems(&self, now: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.fleet_loaded.load(Ordering::Relaxed) {
            problems.push("fleet: not loaded yet".to_string());
        }
        if let Some(component) = &self.component_appid {
            match self.store.token(&wechat::ticket_key(component)) {
                Err(err) => problems.push(format!("store: {err}")),
                Ok(Some(ticket)) if ticket.fresh(now, 0) => {}
                Ok(_) => problems.push(format!(
                    "tokens: no fresh verify ticket for component `{component}` (WeChat pushes one every 10 minutes)"
                )),
            }
        } else if let Err(err) = self.store.token("readyz/probe") {
            problems.push(format!("store: {err}"));
        }
        problems
    }
}

/// `/readyz`, `/metrics`, and with `healthz` also `/healthz`.
pub fn router(health: Arc<Health>, healthz: bool) -> Router {
    let mut router = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if healthz {
        router = router.route("/healthz", get(|| async { "ok" }));
    }
    router.with_state(health)
}

async fn readyz(State(health): State<Arc<Health>>) -> Response {
    let problems = health.problems(crate::engine::now_ms() / 1000);
    if problems.is_empty() {
        return "ready".into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready:\n{}\n", problems.join("\n")),
    )
        .into_response()
}

async fn metrics(State(health): State<Arc<Health>>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        health.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::Token;

    #[test]
    fn ready_needs_the_fleet_and_a_fresh_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let component = "wx00000000000000aa";
        let health = Health::new(
            Arc::new(Metrics::new()),
            store.clone(),
            Some(component.into()),
        );
        let problems = health.problems(1_000);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("fleet:"));
        assert!(problems[1].starts_with("tokens:"));
        health.set_fleet_loaded();
        let ticket = Token {
            value: Secret::new("ticket"),
            expires_at: Some(2_000),
            obtained_at: 900,
        };
        store
            .put_token(&wechat::ticket_key(component), &ticket)
            .unwrap();
        assert!(health.problems(1_000).is_empty());
        assert_eq!(health.problems(3_000).len(), 1, "the ticket went stale");
    }

    #[test]
    fn without_wechat_the_fleet_and_store_suffice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let health = Health::new(Arc::new(Metrics::new()), store, None);
        health.set_fleet_loaded();
        assert!(health.problems(1_000).is_empty());
    }
}
