//! Douyin (抖音开放平台) third-party mini-programs (spec/douyin.md): component and authorizer
//! tokens, code management (upload with ext_json, audits per host app, release, rollback), the
//! pushes, and Douyin's place in the fleet file and the planner.
//!
//! Facts the spec marks **unconfirmed** are built conservatively and flagged where they are used
//! (`UNCONFIRMED:` in the comments).

pub mod crypto;

/// The push token the sandbox seals its pushes with when the fleet sets none.
pub const SANDBOX_PUSH_TOKEN: &str = "minifleet-douyin-sandbox";
/// The EncodingAESKey the sandbox seals its pushes with when the fleet sets none.
pub const SANDBOX_AES_KEY: &str = "bWluaWZsZWV0LWRvdXlpbi1zYW5kYm94LWtleS0wMDA";
