//! The platform registry: every platform minifleet drives, one line each. A platform is one
//! folder under `platform/` with a [`Module`]: what the fleet file and the planner know of it
//! (its [`PlatformSpec`]), building its client, seeding its simulator, the HTTP endpoints it
//! pushes to, what keeps a daemon from being ready, and its onboarding commands.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use axum::Router;

use super::platforms::{Notices, Platforms};
use super::{BoxFuture, Platform};
use crate::fleet::{Fleet, PlatformConfig, PlatformSpec, Specs};
use crate::model::{Desired, PlatformKind};
use crate::sandbox::access::Access;
use crate::secret::Secret;
use crate::store::Store;
use crate::view::report::Report;

/// Lists the platforms once: each is a folder under `platform/` with a `module::MODULE` and a
/// `spec::SPEC`.
macro_rules! platforms {
    ($($platform:ident),+ $(,)?) => {
        /// Every platform minifleet drives.
        pub static MODULES: &[&dyn Module] = &[$(&super::$platform::module::MODULE),+];

        /// What the fleet file and the planner know of each platform (in [`MODULES`]' order).
        pub static SPECS: Specs = &[$(&super::$platform::spec::SPEC as &dyn PlatformSpec),+];
    };
}

platforms!(wechat, alipay, douyin);

/// The module of `kind`.
pub fn module(kind: PlatformKind) -> Option<&'static dyn Module> {
    MODULES.iter().copied().find(|m| m.spec().kind() == kind)
}

/// A built client: the seam the engine drives, and the client itself for the module's own uses
/// (its endpoints and onboarding).
pub struct Connected {
    /// What the engine calls.
    pub client: Arc<dyn Platform>,
    /// The concrete client, for [`Platforms::concrete`].
    pub concrete: Arc<dyn std::any::Any + Send + Sync>,
}

impl Connected {
    /// A connection of `client`.
    pub fn of<C: Platform + Send + Sync + 'static>(client: C) -> Connected {
        let client = Arc::new(client);
        Connected {
            client: client.clone(),
            concrete: client,
        }
    }
}

/// `config`'s settings as `spec`'s platform's own type `T`.
pub fn settings<'c, T: std::any::Any>(
    config: &'c PlatformConfig,
    spec: &dyn PlatformSpec,
) -> Result<&'c T, Report> {
    config.get::<T>().ok_or_else(|| {
        Report::new(format!(
            "the `platforms.{}` settings are not {}'s",
            spec.kind(),
            spec.title()
        ))
    })
}

/// What an onboarding command that exchanged a code for `app` prints, once the code proved to
/// authorize `authorized`: an error when that is another mini-program.
pub fn exchanged(app: &Desired, authorized: &str, kept: &str) -> Result<Output, Report> {
    if authorized != app.appid {
        return Err(Report::new(format!(
            "the code authorizes mini program `{authorized}`, not app `{}` ({})",
            app.name, app.appid
        ))
        .help("ask the merchant who owns this app to authorize again, or fix the app's `appid`"));
    }
    Ok(Output {
        json: serde_json::json!({ "format_version": 1, "app": app.name, "appid": app.appid, "authorized": true }),
        text: format!(
            "app `{}` ({}) is authorized; {kept} kept in the store",
            app.name, app.appid
        ),
        ..Output::default()
    })
}

/// The push token and EncodingAESKey a platform's pushes are opened with (`token`,
/// `encoding_aes_key` of `platforms.<kind>`); with the sandbox, a missing one is its fixed test
/// key (`defaults`); `help` says where to copy them from.
pub fn push_secrets(
    kind: PlatformKind,
    (token, aes_key): (&Option<Secret>, &Option<Secret>),
    sandboxed: bool,
    defaults: (&str, &str),
    help: &str,
) -> Result<(Secret, Secret), Report> {
    let pick = |value: &Option<Secret>, default: &str, key: &str| match value {
        Some(v) => Ok(v.clone()),
        None if sandboxed => Ok(Secret::new(default)),
        None => Err(
            Report::new(format!("`platforms.{kind}.{key}` is needed to open pushes")).help(help),
        ),
    };
    Ok((
        pick(token, defaults.0, "token")?,
        pick(aes_key, defaults.1, "encoding_aes_key")?,
    ))
}

/// What a module's HTTP endpoints are served with.
pub struct ServeCx<'a> {
    /// The platforms of the process (clients, store, sandbox).
    pub platforms: &'a Platforms,
    /// Where the endpoints are served, e.g. `http://127.0.0.1:8680` (the sandbox pushes there).
    pub url: &'a str,
    /// With the sandbox: how often it pushes a WeChat verify ticket (and the like).
    pub ticket_interval: std::time::Duration,
    /// Where pushes that make an app due go.
    pub notices: Notices,
    /// On a shard with `--shard-peers`: where pushes of the other shards go.
    pub relay: Option<std::sync::Arc<super::relay::Relay>>,
}

/// What an onboarding command prints: data for stdout (text or JSON) and notes for stderr.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Output {
    /// The data as text.
    pub text: String,
    /// The data as JSON (with its `format_version`).
    pub json: serde_json::Value,
    /// Progress notes.
    pub notes: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The data is a link to a page the embedded sandbox serves: a one-shot command that hosts
    /// the sandbox should say the page goes when it ends (a daemon keeps serving it).
    #[serde(default)]
    pub sandbox_page: bool,
}

/// What a module's seeding does for each app: when the store has no token under `key(appid)`,
/// asks `issue(appid)` (the sandbox, playing the merchant) for one and keeps it, obtained `now`,
/// without a stated expiry.
pub async fn seed_app_tokens<Fut>(
    store: &Store,
    apps: &[&Desired],
    now: u64,
    key: impl Fn(&str) -> String,
    issue: impl Fn(String) -> Fut,
) -> Result<(), Report>
where
    Fut: std::future::Future<Output = Result<String, crate::sandbox::RemoteError>>,
{
    for app in apps {
        let key = key(&app.appid);
        if store.token(&key)?.is_none() {
            let value = issue(app.appid.clone()).await?;
            let token = crate::store::Token {
                value: crate::secret::Secret::new(value),
                expires_at: None,
                obtained_at: now,
            };
            store.put_token(&key, &token)?;
        }
    }
    Ok(())
}

/// The app named `name` on `spec`'s platform, for an onboarding command.
pub fn app_named<'f>(
    fleet: &'f Fleet,
    spec: &dyn PlatformSpec,
    name: &str,
) -> Result<&'f Desired, Report> {
    let kind = spec.kind();
    fleet
        .apps
        .iter()
        .find(|a| a.name == name && a.platform == kind)
        .ok_or_else(|| {
            Report::new(format!(
                "no {} app `{name}` in the fleet file",
                spec.title()
            ))
            .help(format!("pass the `name` of an app with `platform: {kind}`"))
        })
}

/// What a module's seeding does for the platform's ticket: when the store has no fresh one under
/// `key`, asks `issue()` (the sandbox, playing the platform's push) for one and keeps it, valid
/// `ttl` seconds from `now`.
pub async fn seed_ticket<Fut>(
    store: &Store,
    key: &str,
    ttl: u64,
    now: u64,
    issue: impl FnOnce() -> Fut,
) -> Result<(), Report>
where
    Fut: std::future::Future<Output = Result<String, crate::sandbox::RemoteError>>,
{
    if store.token(key)?.is_none_or(|t| !t.fresh(now, 0)) {
        let token = crate::store::Token {
            value: crate::secret::Secret::new(issue().await?),
            expires_at: Some(now + ttl),
            obtained_at: now,
        };
        store.put_token(key, &token)?;
    }
    Ok(())
}

/// A platform minifleet drives.
pub trait Module: Send + Sync {
    /// What the fleet file and the planner know of it.
    fn spec(&self) -> &'static dyn PlatformSpec;

    /// Gives the sandbox what the platform and its merchants would — tickets, authorizations of
    /// `apps`, keys — and returns the settings to connect with (a module may fill in what the
    /// sandbox hands out, e.g. test keys).
    fn seed<'a>(
        &'a self,
        sandbox: &'a Access<'a>,
        config: &'a PlatformConfig,
        apps: &'a [&'a Desired],
        store: &'a Store,
    ) -> BoxFuture<'a, Result<PlatformConfig, Report>>;

    /// The path under the sandbox's base URL where the platform's API lives (`/gateway.do`).
    fn sandbox_path(&self) -> &'static str {
        ""
    }

    /// Builds the client for `config` against `base` (the real API, or the sandbox's).
    fn connect(
        &self,
        config: &PlatformConfig,
        base: &str,
        fleet: &Fleet,
        store: &Store,
    ) -> Connected;

    /// The HTTP endpoints the platform pushes to, if it pushes (WeChat: tickets, authorizations,
    /// audit results, the onboarding callback); with the sandbox, it is told to push there.
    fn routes(&self, cx: &ServeCx<'_>) -> Result<Option<Router>, Report> {
        let _ = cx;
        Ok(None)
    }

    /// Why a daemon is not ready for this platform yet (WeChat: no fresh verify ticket), if not.
    fn unready(&self, platforms: &Platforms, now: u64) -> Option<String> {
        let _ = (platforms, now);
        None
    }

    /// The platform's onboarding command (a subcommand of `auth`), if it has one.
    fn auth_command(&self) -> Option<clap::Command> {
        None
    }

    /// Runs the onboarding command parsed into `matches`.
    fn run_auth<'a>(
        &'a self,
        matches: &'a clap::ArgMatches,
        fleet: &'a Fleet,
        platforms: &'a Platforms,
    ) -> BoxFuture<'a, Result<Output, Report>> {
        let _ = (matches, fleet, platforms);
        Box::pin(async { Err(Report::new("this platform has no onboarding command")) })
    }
}

/// The module whose onboarding command (`auth NAME`) is `name`.
pub fn auth_module(name: &str) -> Option<&'static dyn Module> {
    MODULES
        .iter()
        .copied()
        .find(|m| m.auth_command().is_some_and(|c| c.get_name() == name))
}
