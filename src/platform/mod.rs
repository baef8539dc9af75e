//! The seam between the engine and the platforms: the [`Platform`] trait (observe an app, execute
//! one action) and the error classes every platform error is sorted into (DESIGN §6).

pub mod alipay;
pub mod douyin;
pub mod http;
pub mod platforms;
pub mod rate;
pub mod registry;
pub mod relay;
pub mod replay;
pub mod token_cache;
pub mod wechat;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::model::{Action, Desired, Observed, PlatformKind};

/// How a client polls for something the platform finishes later (a privacy scan, a build): the
/// first pause, pauses doubling up to `max`, and giving up after `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollWait {
    /// The first pause.
    pub first: std::time::Duration,
    /// Pauses double up to this.
    pub max: std::time::Duration,
    /// Give up (a transient error) after this long.
    pub total: std::time::Duration,
}

/// A boxed, sendable future: what the [`Platform`] methods return, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the engine must react to a platform error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Retry with backoff and jitter.
    Transient,
    /// Refresh the token once, then retry; else the app is not authorized.
    Auth,
    /// Park the app until the quota resets.
    Quota,
    /// Re-observe, then plan again (often already converged).
    Conflict,
    /// Stop this app: the operator must act.
    Permanent,
}

impl ErrorClass {
    /// The class's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Auth => "auth",
            ErrorClass::Quota => "quota",
            ErrorClass::Conflict => "conflict",
            ErrorClass::Permanent => "permanent",
        }
    }
}

/// A failed platform call, classified, with what to do about it.
///
/// Text that came from a platform (its message, a transport error, an undecodable answer) is
/// scrubbed of tokens, keys and signatures ([`crate::scrub`]) where the error is built from the
/// answer, so it can be printed, logged and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformError {
    /// The platform.
    pub platform: PlatformKind,
    /// The call, e.g. `wxa/submit_audit`.
    pub call: String,
    /// The platform's code (`85085`, `isv.invalid-signature`), or `http` / `network` / `decode`.
    pub code: String,
    /// The platform's own message (`errmsg` / `sub_msg`), or the transport error.
    pub message: String,
    /// How to react.
    pub class: ErrorClass,
    /// What the code means, in English.
    pub explanation: String,
    /// What the error means for the engine beyond its class, where the platform says more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<ErrorEffect>,
    /// What the operator can do next.
    pub hint: String,
}

/// What an error means for the engine beyond its class: typed data the platform module sets, so
/// nothing outside `platform/` reads codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorEffect {
    /// A quota ran out; it resets at unix second `at` (the app is parked until then).
    QuotaResets {
        /// Unix seconds.
        at: u64,
    },
    /// The platform refused to roll back to the previous release: the fleet's build goes the long
    /// way, through a new audit.
    RollbackRefused,
}

impl PlatformError {
    /// When the quota this error ran into resets (unix seconds), if the platform said.
    pub fn quota_resets_at(&self) -> Option<u64> {
        match self.effect {
            Some(ErrorEffect::QuotaResets { at }) => Some(at),
            _ => None,
        }
    }
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed with {} ({})",
            self.call, self.code, self.explanation
        )?;
        if !self.message.is_empty() && self.message != self.explanation {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for PlatformError {}

impl PlatformError {
    /// The same error with its platform text (`message`, and `explanation`, which repeats the
    /// message for unknown codes) scrubbed of secrets: every constructor of an error from a
    /// platform's answer ends with this.
    pub fn scrubbed(mut self) -> PlatformError {
        if let std::borrow::Cow::Owned(clean) = crate::scrub::scrub_cow(&self.message) {
            self.message = clean;
        }
        if let std::borrow::Cow::Owned(clean) = crate::scrub::scrub_cow(&self.explanation) {
            self.explanation = clean;
        }
        self
    }

    /// An error minifleet itself detected on `platform` (no platform code).
    pub fn local(
        platform: PlatformKind,
        call: &str,
        code: &str,
        class: ErrorClass,
        explanation: &str,
        hint: &str,
    ) -> PlatformError {
        PlatformError {
            platform,
            call: call.to_string(),
            code: code.to_string(),
            message: String::new(),
            class,
            explanation: explanation.to_string(),
            effect: None,
            hint: hint.to_string(),
        }
    }

    /// The local store failed during a call: transient, code `store`.
    pub fn store(
        platform: PlatformKind,
        call: &str,
        err: crate::store::StoreError,
    ) -> PlatformError {
        PlatformError {
            message: err.to_string(),
            ..PlatformError::local(
                platform,
                call,
                "store",
                ErrorClass::Transient,
                "the local store failed",
                "check the store directory (`--store`) is writable and not full",
            )
        }
    }

    /// A non-2xx HTTP status from `who` (`WeChat`, `the Alipay gateway`): 5xx is transient
    /// (`retry` says so), anything else permanent (`check` names the setting to check).
    pub fn http_status(
        platform: PlatformKind,
        call: &str,
        status: u16,
        who: &str,
        retry: &str,
        check: &str,
    ) -> PlatformError {
        let (class, hint) = if status >= 500 {
            (ErrorClass::Transient, retry)
        } else {
            (ErrorClass::Permanent, check)
        };
        PlatformError::local(
            platform,
            call,
            &format!("http_{status}"),
            class,
            &format!("{who} answered HTTP {status}"),
            hint,
        )
    }

    /// An answer that is not what minifleet expects: transient, code `decode`.
    pub fn decode(
        platform: PlatformKind,
        call: &str,
        detail: impl fmt::Display,
        hint: &str,
    ) -> PlatformError {
        PlatformError {
            message: detail.to_string(),
            ..PlatformError::local(
                platform,
                call,
                "decode",
                ErrorClass::Transient,
                "the answer could not be decoded",
                hint,
            )
        }
        .scrubbed()
    }

    /// A transport failure (connect, timeout, reset): transient, code `network`, with the whole
    /// cause chain as the message, the URL (which may carry a token) left out and whatever a
    /// cause quotes of it scrubbed.
    pub fn network(
        platform: PlatformKind,
        call: &str,
        err: reqwest::Error,
        hint: &str,
    ) -> PlatformError {
        let err = err.without_url();
        let what = if err.is_timeout() {
            "the call timed out"
        } else {
            "the call did not complete"
        };
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        PlatformError {
            message,
            ..PlatformError::local(platform, call, "network", ErrorClass::Transient, what, hint)
        }
        .scrubbed()
    }
}

/// What a successful action taught us, for the store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Effect {
    /// Nothing to remember.
    #[default]
    None,
    /// An audit was submitted with this id.
    AuditSubmitted {
        /// The platform's audit id.
        audit_id: String,
    },
    /// A tester was bound; the platform's member id for it.
    TesterBound {
        /// WeChat id / Alipay logon id.
        tester: String,
        /// The platform's member id (WeChat userstr).
        member: String,
    },
    /// A tester was found bound already, and the platform does not tell its member id (WeChat
    /// 85004 to a verifying bind).
    TesterAlreadyBound {
        /// WeChat id.
        tester: String,
    },
    /// A tester was unbound.
    TesterUnbound {
        /// WeChat id / Alipay logon id, where known.
        tester: Option<String>,
    },
}

/// A platform's audit submission quota for the current month (WeChat `wxa/queryquota`: shared by
/// every app of the component).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AuditQuota {
    /// Submissions left this month.
    pub rest: u32,
    /// Submissions allowed a month.
    pub limit: u32,
    /// Unix seconds when the quota resets, where the platform's calendar says.
    pub resets_at: Option<u64>,
}

/// What an observation may take from an earlier one of the same app ([`Platform::observe_with`]).
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// Nothing: every read.
    Nothing,
    /// The last observation for the same wanted build, with nothing in flight: what fresh reads
    /// prove unmoved may be kept (WeChat: the audit and the gray plan, when version info shows
    /// the wanted build still live in full and in experience as then). A dry run's basis.
    Since(&'a Observed),
    /// An observation from before this process's own writes, which left the settings alone (the
    /// passes between a submission and its verdict): the testers, domains and jump rules are
    /// taken from it; what decides the next step is read, and what that read proves unmoved may
    /// be taken too (WeChat: the releases, while the latest audit is of the wanted build).
    Settings(&'a Observed),
}

/// A platform minifleet can drive: read an app's live state, and apply one action to it.
///
/// Implementations own their credentials and token caches; they never read the fleet file.
pub trait Platform: Send + Sync {
    /// Which platform this is.
    fn kind(&self) -> PlatformKind;

    /// Reads the app's live state.
    fn observe<'a>(&'a self, app: &'a Desired) -> BoxFuture<'a, Result<Observed, PlatformError>>;

    /// Reads the app's live state, taking from an earlier observation what `known` allows (see
    /// [`Known`]): a platform keeps what it can prove or trust and reads the rest. By default a
    /// full [`Platform::observe`].
    fn observe_with<'a>(
        &'a self,
        app: &'a Desired,
        known: Known<'a>,
    ) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        let _ = known;
        self.observe(app)
    }

    /// Applies one mutating action. Never called with [`Action::WaitForAudit`].
    fn execute<'a>(
        &'a self,
        app: &'a Desired,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<Effect, PlatformError>>;

    /// The platform's cheapest read of the app, as a digest ([`probe_digest`]) that equals
    /// [`Observed::probe`] of the last observation when nothing that read reveals has changed
    /// since. `None`: the platform has no cheaper read than [`Platform::observe`], or the app
    /// cannot be read (not authorized): observe it.
    fn probe<'a>(
        &'a self,
        app: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<String>, PlatformError>> {
        let _ = app;
        Box::pin(async { Ok(None) })
    }

    /// Whether what [`Platform::observe`] answers depends on the wanted version (Alipay: the
    /// experience build is the wanted version's, else the newest in development): then the last
    /// observation proves nothing for another wanted build, whatever the probe says.
    fn observes_by_version(&self) -> bool {
        false
    }

    /// The audit quota left this month, asked with `via`'s credentials; `None` where the platform
    /// does not ration audits.
    fn audit_quota<'a>(
        &'a self,
        via: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<AuditQuota>, PlatformError>> {
        let _ = via;
        Box::pin(async { Ok(None) })
    }

    /// What the platform says about the app's readiness for an audit or a release (asked only
    /// before a submission or a release); `None` where it has nothing to check.
    fn readiness<'a>(
        &'a self,
        app: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<crate::model::Readiness>, PlatformError>> {
        let _ = app;
        Box::pin(async { Ok(None) })
    }

    /// The QR code of the app's experience version, opening `path` (a page with its query,
    /// `pages/menu/index?table=3`) where the platform takes one; `None` where it has none.
    fn experience_qr<'a>(
        &'a self,
        app: &'a Desired,
        path: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<QrCode>, PlatformError>> {
        let _ = (app, path);
        Box::pin(async { Ok(None) })
    }
}

/// An experience version's QR code, as the platform gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrCode {
    /// The image itself (WeChat `wxa/get_qrcode`: a JPEG).
    Image {
        /// Its media type, e.g. `image/jpeg`.
        content_type: String,
        /// The image.
        bytes: Vec<u8>,
    },
    /// Where to fetch it (Alipay `exp_qr_code_url`, Douyin `qr_code_url`, signed and expiring).
    Url(String),
}

/// The digest of a probe's answer (see [`Platform::probe`]): 16 hex digits of the SHA-256 of its
/// JSON. Observation and probe digest the same answer type, so equal answers give equal digests.
pub fn probe_digest(answer: &impl Serialize) -> String {
    let text = serde_json::to_vec(answer).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
    hex::encode(&digest.as_ref()[..8])
}

/// Unix time in seconds (tokens, tickets and their expiry are kept in seconds).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
