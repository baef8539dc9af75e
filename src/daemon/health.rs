//! The daemon's own endpoints: `/healthz`, `/readyz` (fleet loaded, store answering, and what
//! each platform needs — WeChat: a fresh verify ticket) and `/metrics` (Prometheus text).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::metrics::{CONTENT_TYPE, Metrics};
use crate::store::Store;

/// What keeps the platforms from being ready at a moment (unix seconds): a line each.
pub type Unready = Arc<dyn Fn(u64) -> Vec<String> + Send + Sync>;

/// What `/readyz` and `/metrics` look at.
pub struct Health {
    metrics: Arc<Metrics>,
    store: Store,
    fleet_loaded: AtomicBool,
    /// What the platforms need (see [`crate::platform::platforms::Platforms::unready`]).
    unready: Unready,
}

impl Health {
    /// Health over `metrics`, `store` and what the platforms need.
    pub fn new(metrics: Arc<Metrics>, store: Store, unready: Unready) -> Health {
        Health {
            metrics,
            store,
            fleet_loaded: AtomicBool::new(false),
            unready,
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
        if let Err(err) = self.store.token("readyz/probe") {
            problems.push(format!("store: {err}"));
        }
        problems.extend((self.unready)(now));
        problems
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
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
        let probe = store.clone();
        let unready: Unready = Arc::new(move |now| {
            crate::platform::wechat::module::ticket_unready(&probe, component, now)
                .into_iter()
                .collect()
        });
        let health = Health::new(Arc::new(Metrics::new()), store.clone(), unready);
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
            .put_token(&crate::platform::wechat::ticket_key(component), &ticket)
            .unwrap();
        assert!(health.problems(1_000).is_empty());
        assert_eq!(health.problems(3_000).len(), 1, "the ticket went stale");
    }

    #[test]
    fn without_wechat_the_fleet_and_store_suffice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let health = Health::new(Arc::new(Metrics::new()), store, Arc::new(|_| Vec::new()));
        health.set_fleet_loaded();
        assert!(health.problems(1_000).is_empty());
    }
}
