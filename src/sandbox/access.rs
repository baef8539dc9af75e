//! One way to reach a sandbox, wherever it runs: the one started in this process, or a standalone
//! `minifleet sandbox` at `sandbox.url` (through its admin endpoints). The platform modules seed
//! their simulators through it: tickets, authorizations, keys and tokens, as the platforms and
//! the merchants would hand them out (each simulator's folder adds its own methods).

use super::{RemoteSandbox, SandboxHandle};

/// A sandbox to seed.
pub enum Access<'a> {
    /// Started in this process.
    Local(&'a SandboxHandle),
    /// Running elsewhere (`sandbox.url`).
    Remote(&'a RemoteSandbox),
}

impl Access<'_> {
    /// Its base URL.
    pub fn base_url(&self) -> String {
        match self {
            Access::Local(h) => h.base_url(),
            Access::Remote(r) => r.base_url().to_string(),
        }
    }
}
