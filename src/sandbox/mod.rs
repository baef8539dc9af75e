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

/// Starts the sandbox on `addr` (use `127.0.0.1:0` for a free port).
pub async fn start(
    addr: SocketAddr,
    spec: &SandboxSpec,
    persist: Persist,
) -> std::io::Result<SandboxHandle> {
    todo!()
}
