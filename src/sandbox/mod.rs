//! A faithful simulator of the platforms' HTTP APIs on loopback (DESIGN §7), one module per
//! platform. Started in-process when a platform's base is `sandbox`, or alone by `minifleet sandbox`.

pub mod wechat;

use std::net::SocketAddr;

use crate::fleet::SandboxSpec;
use crate::store::Store;

/// Where the sandbox keeps its state.
#[derive(Clone)]
pub enum Persist {
    /// In memory only (lost when the process ends).
    Memory,
    /// In the store's `sandbox` tree, so repeated runs continue where the last one stopped.
    Store(Store),
}

/// A running sandbox.
pub struct SandboxHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The WeChat side's state, for seeding credentials and for tests.
    pub wechat: wechat::Sim,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SandboxHandle {
    /// The base URL, e.g. `http://127.0.0.1:38211`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Largest request body the sandbox accepts (1 MiB); larger ones get HTTP 413.
const MAX_BODY: usize = 1 << 20;

/// Starts the sandbox on `addr` (use `127.0.0.1:0` for a free port).
pub async fn start(
    addr: SocketAddr,
    spec: &SandboxSpec,
    persist: Persist,
) -> std::io::Result<SandboxHandle> {
    let wechat = wechat::Sim::new(spec, persist).map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = router(&wechat);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %err, "sandbox server stopped");
        }
    });
    tracing::debug!(%addr, "sandbox listening");
    Ok(SandboxHandle {
        addr,
        wechat,
        shutdown: Some(tx),
    })
}

/// Every simulated platform's routes, with the body limit.
fn router(wechat: &wechat::Sim) -> axum::Router {
    wechat
        .router()
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}
