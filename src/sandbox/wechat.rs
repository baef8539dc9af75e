//! The WeChat side of the sandbox: component and authorizer tokens, code management, testers,
//! audits, releases, gray plans and rollbacks, with WeChat's paths, JSON shapes and error codes.

/// The simulated WeChat Open Platform. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Sim {}

impl Sim {
    /// Pushes a fresh component_verify_ticket for `component_appid` (as WeChat does every 10 minutes)
    /// and returns it, for seeding the store in sandbox mode.
    pub fn issue_ticket(&self, component_appid: &str) -> String {
        todo!()
    }

    /// Simulates a merchant authorizing `appid` to the component; returns the authorizer refresh token.
    pub fn authorize(&self, appid: &str) -> String {
        todo!()
    }
}
