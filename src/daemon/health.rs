//! The daemon's own endpoints: `/healthz`, `/readyz` and `/metrics` (OpenMetrics text).
//!
//! Ready means ready to serve: the fleet is loaded and the store answers. What a platform needs
//! besides (WeChat: a fresh verify ticket, which only WeChat's own push brings — behind a
//! Kubernetes Service before the first push arrives it cannot) is a *condition*: `/readyz` lists
//! it under the verdict but does not fail for it, so the orchestrator routes the pushes that heal it.

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

    /// What keeps the daemon from being ready to serve; empty when ready.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.fleet_loaded.load(Ordering::Relaxed) {
            problems.push("fleet: not loaded yet".to_string());
        }
        if let Err(err) = self.store.token("readyz/probe") {
            problems.push(format!("store: {err}"));
        }
        problems
    }

    /// The platforms' conditions not met at `now` (unix seconds): reported, not failing readiness.
    pub fn conditions(&self, now: u64) -> Vec<String> {
        (self.unready)(now)
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

/// 200 `ready` (then a `condition not met:` line per unmet platform condition), or 503
/// `not ready:` with the problems and the conditions.
async fn readyz(State(health): State<Arc<Health>>) -> Response {
    let problems = health.problems();
    let conditions = health.conditions(crate::engine::now_ms() / 1000);
    let mut body = if problems.is_empty() {
        "ready".to_string()
    } else {
        format!("not ready:\n{}", problems.join("\n"))
    };
    for condition in &conditions {
        body.push_str("\ncondition not met: ");
        body.push_str(condition);
    }
    if problems.is_empty() {
        body.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body + "\n").into_response()
    }
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
    fn ready_needs_the_fleet_and_a_fresh_ticket_is_a_condition() {
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
        let problems = health.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("fleet:"));
        let conditions = health.conditions(1_000);
        assert_eq!(conditions.len(), 1, "{conditions:?}");
        assert!(conditions[0].starts_with("tokens:"));
        health.set_fleet_loaded();
        assert!(health.problems().is_empty(), "ready without a ticket");
        let ticket = Token {
            value: Secret::new("ticket"),
            expires_at: Some(2_000),
            obtained_at: 900,
        };
        store
            .put_token(&crate::platform::wechat::ticket_key(component), &ticket)
            .unwrap();
        assert!(health.conditions(1_000).is_empty());
        assert_eq!(health.conditions(3_000).len(), 1, "the ticket went stale");
        assert!(health.problems().is_empty());
    }

    async fn get_readyz(health: &Arc<Health>) -> (StatusCode, String) {
        let response = readyz(State(health.clone())).await;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_answers_200_without_a_ticket_and_names_the_condition() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let unready: Unready = Arc::new(|_| vec!["tokens: no fresh verify ticket".into()]);
        let health = Arc::new(Health::new(Arc::new(Metrics::new()), store, unready));
        let (status, body) = get_readyz(&health).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "not ready:\nfleet: not loaded yet\ncondition not met: tokens: no fresh verify ticket\n"
        );
        health.set_fleet_loaded();
        let (status, body) = get_readyz(&health).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            "ready\ncondition not met: tokens: no fresh verify ticket"
        );
    }

    #[tokio::test]
    async fn metrics_answer_in_the_openmetrics_text_format() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let health = Health::new(Arc::new(Metrics::new()), store, Arc::new(|_| Vec::new()));
        let response = metrics(State(Arc::new(health))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.ends_with("\n# EOF\n"), "{body}");
    }

    #[test]
    fn without_wechat_the_fleet_and_store_suffice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let health = Health::new(Arc::new(Metrics::new()), store, Arc::new(|_| Vec::new()));
        health.set_fleet_loaded();
        assert!(health.problems().is_empty());
        assert!(health.conditions(1_000).is_empty());
    }
}
