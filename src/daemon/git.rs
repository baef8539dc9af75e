//! `watch --git`: following a branch ([`crate::gitsource`]) and the push webhooks that make the
//! daemon fetch at once.
//!
//! `POST /git/webhook` takes GitHub's, GitLab's and Gitea's push events, each checked as its
//! forge signs it (all against `--git-webhook-secret`):
//!
//! * GitHub: `X-Hub-Signature-256: sha256=hex(HMAC-SHA256(secret, body))`;
//! * Gitea (and Forgejo): `X-Gitea-Signature: hex(HMAC-SHA256(secret, body))`;
//! * GitLab: `X-Gitlab-Token: secret`, compared in constant time.
//!
//! A valid push to the followed branch wakes the follower (202); a push to another branch or
//! another event is taken and ignored (202, `ignored`); a missing or bad signature is refused
//! (401) and changes nothing. Without `--git-webhook-secret` every webhook is refused (403).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::Notify;

use crate::secret::Secret;

/// The forge a webhook came from, by its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// GitHub (`X-Hub-Signature-256`).
    Github,
    /// Gitea or Forgejo (`X-Gitea-Signature`).
    Gitea,
    /// GitLab (`X-Gitlab-Token`).
    Gitlab,
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No signature header of a known forge.
    #[error("no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header")]
    Unsigned,
    /// The signature does not match the body and the secret.
    #[error("the {0:?} signature does not match")]
    BadSignature(Forge),
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Checks `body`'s signature as its forge signs it, against `secret`.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<Forge, Refused> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let hmac_ok = |hex_tag: &str| {
        hex::decode(hex_tag).is_ok_and(|tag| aws_lc_rs::hmac::verify(&key, body, &tag).is_ok())
    };
    if let Some(signature) = header(headers, "x-hub-signature-256") {
        let tag = signature.strip_prefix("sha256=").unwrap_or("");
        return hmac_ok(tag)
            .then_some(Forge::Github)
            .ok_or(Refused::BadSignature(Forge::Github));
    }
    if let Some(signature) = header(headers, "x-gitea-signature") {
        return hmac_ok(signature)
            .then_some(Forge::Gitea)
            .ok_or(Refused::BadSignature(Forge::Gitea));
    }
    if let Some(token) = header(headers, "x-gitlab-token") {
        let same =
            aws_lc_rs::constant_time::verify_slices_are_equal(token.as_bytes(), secret.as_bytes());
        return same
            .is_ok()
            .then_some(Forge::Gitlab)
            .ok_or(Refused::BadSignature(Forge::Gitlab));
    }
    Err(Refused::Unsigned)
}

/// Whether a verified webhook is a push to `branch` (`ref: refs/heads/<branch>`, as all three
/// forges send it).
pub fn pushes_to(body: &[u8], branch: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["ref"]
                .as_str()
                .map(|r| r == format!("refs/heads/{branch}"))
        })
        .unwrap_or(false)
}

/// What the webhook route needs.
struct Hook {
    secret: Option<Secret>,
    branch: String,
    wake: Arc<Notify>,
}

/// `POST /git/webhook`.
pub fn router(secret: Option<Secret>, branch: String, wake: Arc<Notify>) -> Router {
    let hook = Arc::new(Hook {
        secret,
        branch,
        wake,
    });
    Router::new()
        .route("/git/webhook", post(webhook))
        .with_state(hook)
}

async fn webhook(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &hook.secret else {
        return (
            StatusCode::FORBIDDEN,
            "webhooks are off: start `watch --git` with `--git-webhook-secret ${env:NAME}`\n",
        )
            .into_response();
    };
    match verify(&headers, &body, secret.expose()) {
        Err(refused) => {
            tracing::warn!(reason = %refused, "a git webhook was refused");
            (StatusCode::UNAUTHORIZED, format!("{refused}\n")).into_response()
        }
        Ok(forge) if pushes_to(&body, &hook.branch) => {
            tracing::info!(?forge, branch = %hook.branch, "a push webhook: fetching now");
            hook.wake.notify_one();
            (StatusCode::ACCEPTED, "fetching\n").into_response()
        }
        Ok(_) => (
            StatusCode::ACCEPTED,
            "ignored: not a push to the followed branch\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(name: &'static str, value: String) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    fn hmac_hex(secret: &str, body: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        hex::encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
    }

    #[test]
    fn each_forge_is_checked_as_it_signs() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = hmac_hex("s3cret", body);
        let github = signed("x-hub-signature-256", format!("sha256={good}"));
        assert_eq!(verify(&github, body, "s3cret"), Ok(Forge::Github));
        assert_eq!(
            verify(&github, b"{}", "s3cret"),
            Err(Refused::BadSignature(Forge::Github)),
            "another body"
        );
        let bare = signed("x-hub-signature-256", good.clone());
        assert!(
            verify(&bare, body, "s3cret").is_err(),
            "GitHub's prefix is required"
        );
        let gitea = signed("x-gitea-signature", good);
        assert_eq!(verify(&gitea, body, "s3cret"), Ok(Forge::Gitea));
        assert!(verify(&gitea, body, "other").is_err());
        let gitlab = signed("x-gitlab-token", "s3cret".into());
        assert_eq!(verify(&gitlab, body, "s3cret"), Ok(Forge::Gitlab));
        assert!(verify(&gitlab, body, "s3cre").is_err());
        assert_eq!(
            verify(&HeaderMap::new(), body, "s3cret"),
            Err(Refused::Unsigned)
        );
    }

    #[test]
    fn only_a_push_to_the_branch_counts() {
        assert!(pushes_to(br#"{"ref":"refs/heads/main"}"#, "main"));
        assert!(!pushes_to(br#"{"ref":"refs/heads/dev"}"#, "main"));
        assert!(!pushes_to(br#"{"zen":"ping"}"#, "main"));
        assert!(!pushes_to(b"not json", "main"));
    }
}
