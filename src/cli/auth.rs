//! `minifleet auth wechat link|list`: merchant onboarding (an authorization link on a fresh
//! pre-auth code) and authorized apps against the fleet's.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::common::{load_fleet, open_store, open_store_warning};
use super::{Cli, CliError, EXIT_OK};
use crate::fleet::{ApiBase, Fleet, WechatConfig};
use crate::model::PlatformKind;
use crate::platform::PlatformError;
use crate::platform::wechat::{LinkKind, WechatClient};
use crate::sandbox::{self, Persist, SandboxHandle};
use crate::store::Store;
use crate::ui::Ui;

/// Arguments of `auth`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// The platform.
    #[command(subcommand)]
    pub platform: AuthPlatform,
}

/// Platforms `auth` knows.
#[derive(Debug, Subcommand)]
pub enum AuthPlatform {
    /// WeChat third-party platform onboarding.
    #[command(subcommand)]
    Wechat(WechatAuth),
    /// Exchange a merchant's app_auth_code for its app_auth_token (`alipay.open.auth.token.app`)
    /// and keep the token in the store.
    Alipay(AlipayAuthArgs),
}

/// Arguments of `auth alipay`.
#[derive(Debug, Args)]
pub struct AlipayAuthArgs {
    /// The fleet app (by name) the merchant authorized.
    #[arg(long, value_name = "NAME")]
    pub app: String,
    /// The `app_auth_code` the authorization redirect delivered (single use, short-lived).
    #[arg(long, value_name = "CODE")]
    pub code: String,
}

/// `auth wechat` subcommands.
#[derive(Debug, Subcommand)]
pub enum WechatAuth {
    /// Print an authorization link for a merchant's admin (built on a fresh pre_auth_code).
    Link(LinkArgs),
    /// Authorized mini programs against the fleet's: missing authorizations, unknown apps.
    List,
}

/// Arguments of `auth wechat link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Where the page sends the admin back, e.g. `https://ops.example.com/auth/wechat/callback`
    /// (served by `minifleet serve`/`watch`; its domain must be the component's login domain).
    #[arg(long, value_name = "URL")]
    pub redirect_uri: String,
    /// Pin the link to this fleet app (`biz_appid`).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// A link to open inside WeChat (bindcomponent) instead of the PC QR page.
    #[arg(long)]
    pub mobile: bool,
}

/// A WeChat client for the fleet's component, with the embedded sandbox when `api_base` is
/// `sandbox` (started on its own port, state in the store).
pub(super) struct Connected {
    pub fleet: Fleet,
    pub config: WechatConfig,
    pub store: Store,
    pub client: Arc<WechatClient>,
    pub sandbox: Option<SandboxHandle>,
}

/// Loads the fleet, opens the store and builds the WeChat client.
pub(super) async fn connect(cli: &Cli, ui: &Ui) -> Result<Connected, CliError> {
    let fleet = load_fleet(cli, ui)?;
    let config = fleet.platforms.wechat.clone().ok_or_else(|| {
        CliError::new("the fleet file has no `platforms.wechat` section").help(
            "add `platforms.wechat` with `component_appid`, `component_secret` and `api_base`",
        )
    })?;
    let store = open_store_warning(cli, ui)?;
    let (base, sandbox) = match &config.api_base {
        ApiBase::Url(url) => (url.clone(), None),
        ApiBase::Sandbox => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let handle = sandbox::start(addr, &fleet.sandbox, Persist::Store(store.clone()))
                .await
                .map_err(|e| CliError::new(format!("cannot start the embedded sandbox: {e}")))?;
            (handle.base_url(), Some(handle))
        }
    };
    let client = Arc::new(WechatClient::new(&config, &base, store.clone()));
    Ok(Connected {
        fleet,
        config,
        store,
        client,
        sandbox,
    })
}

/// In sandbox mode nobody pushes a ticket before the first call: the sandbox issues one.
fn seed_ticket(c: &Connected) -> Result<(), CliError> {
    match &c.sandbox {
        None => Ok(()),
        Some(handle) => {
            crate::engine::seed_wechat_ticket(handle, &c.config.component_appid, &c.store)
                .map_err(|e| CliError::new(e.to_string()))
        }
    }
}

fn platform_error(err: PlatformError) -> CliError {
    CliError::new(format!("wechat: {err}")).help(err.hint)
}

/// Runs `auth`.
pub async fn run(cli: &Cli, ui: &Ui, args: &AuthArgs) -> Result<i32, CliError> {
    match &args.platform {
        AuthPlatform::Wechat(WechatAuth::Link(link)) => run_link(cli, ui, link).await,
        AuthPlatform::Wechat(WechatAuth::List) => run_list(cli, ui).await,
        AuthPlatform::Alipay(args) => run_alipay(cli, ui, args).await,
    }
}

async fn run_alipay(cli: &Cli, ui: &Ui, args: &AlipayAuthArgs) -> Result<i32, CliError> {
    let fleet = load_fleet(cli, ui)?;
    let app = fleet
        .apps
        .iter()
        .find(|a| a.name == args.app && a.platform == PlatformKind::Alipay)
        .ok_or_else(|| {
            CliError::new(format!("no Alipay app `{}` in the fleet file", args.app))
                .help("pass the `name` of an app with `platform: alipay`")
        })?;
    let store = open_store(cli)?;
    let engine = crate::engine::Engine::connect(&fleet, store)
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    let client = engine.alipay().ok_or_else(|| {
        CliError::new("the fleet file has no `platforms.alipay` section")
            .help("add `platforms.alipay` with `app_id`, `private_key`, `alipay_public_key`")
    })?;
    let (authorized, _token) = client
        .exchange_auth_code(&args.code)
        .await
        .map_err(|e| CliError::new(format!("app `{}`: {e}", app.name)).help(e.hint.clone()))?;
    if authorized != app.appid {
        return Err(CliError::new(format!(
            "the code authorizes mini program `{authorized}`, not app `{}` ({})",
            app.name, app.appid
        ))
        .help("ask the merchant who owns this app to authorize again, or fix the app's `appid`"));
    }
    if ui.json_mode() {
        ui.json(&serde_json::json!({ "format_version": 1, "app": app.name, "appid": app.appid, "authorized": true }));
    } else {
        ui.data(&format!(
            "app `{}` ({}) is authorized; its app_auth_token is kept in the store",
            app.name, app.appid
        ));
    }
    Ok(EXIT_OK)
}

async fn run_link(cli: &Cli, ui: &Ui, args: &LinkArgs) -> Result<i32, CliError> {
    let c = connect(cli, ui).await?;
    let appid = match &args.app {
        None => None,
        Some(name) => Some(
            c.fleet
                .apps
                .iter()
                .find(|a| &a.name == name && a.platform == PlatformKind::Wechat)
                .map(|a| a.appid.clone())
                .ok_or_else(|| {
                    CliError::new(format!("no WeChat app `{name}` in the fleet file"))
                        .help("pass the `name` of an app with `platform: wechat`")
                })?,
        ),
    };
    seed_ticket(&c)?;
    let kind = if args.mobile {
        LinkKind::Mobile
    } else {
        LinkKind::Pc
    };
    let url = c
        .client
        .authorization_link(kind, &args.redirect_uri, appid.as_deref())
        .await
        .map_err(platform_error)?;
    if ui.json_mode() {
        ui.json(&serde_json::json!({ "format_version": 1, "url": url, "appid": appid }));
    } else {
        ui.data(&url);
    }
    ui.status("send this link to the mini program's admin; it is single-use and expires in about 10 minutes");
    if c.sandbox.is_some() {
        ui.warn("`api_base: sandbox`: the embedded sandbox serving this page stops with this command; run `minifleet serve` (it hosts the sandbox) or `minifleet sandbox` for a live page");
    }
    Ok(EXIT_OK)
}

/// `auth wechat list` as data.
#[derive(Debug, Serialize)]
struct Listing {
    format_version: u32,
    authorized: Vec<Row>,
    not_authorized: Vec<Row>,
    not_in_fleet: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    appid: String,
}

async fn run_list(cli: &Cli, ui: &Ui) -> Result<i32, CliError> {
    let c = connect(cli, ui).await?;
    seed_ticket(&c)?;
    let live = c.client.authorized_apps().await.map_err(platform_error)?;
    let live: BTreeSet<String> = live.into_iter().map(|a| a.authorizer_appid).collect();
    let fleet_apps: Vec<Row> = c
        .fleet
        .apps
        .iter()
        .filter(|a| a.platform == PlatformKind::Wechat)
        .map(|a| Row {
            name: a.name.clone(),
            appid: a.appid.clone(),
        })
        .collect();
    let known: BTreeSet<&str> = fleet_apps.iter().map(|r| r.appid.as_str()).collect();
    let not_in_fleet = live
        .iter()
        .filter(|a| !known.contains(a.as_str()))
        .cloned()
        .collect();
    let (authorized, not_authorized) = fleet_apps
        .into_iter()
        .partition(|r| live.contains(&r.appid));
    let listing = Listing {
        format_version: 1,
        authorized,
        not_authorized,
        not_in_fleet,
    };
    if ui.json_mode() {
        ui.json(&listing);
    } else {
        ui.data(&render(&listing));
    }
    Ok(EXIT_OK)
}

fn render(l: &Listing) -> String {
    let mut out = format!("authorized ({}):\n", l.authorized.len());
    for r in &l.authorized {
        out += &format!("  {:<24} {}\n", r.name, r.appid);
    }
    out += &format!(
        "in the fleet but not authorized ({}):\n",
        l.not_authorized.len()
    );
    for r in &l.not_authorized {
        out += &format!(
            "  {:<24} {}  run `minifleet auth wechat link --app {} --redirect-uri URL`\n",
            r.name, r.appid, r.name
        );
    }
    out += &format!(
        "authorized but not in the fleet ({}):\n",
        l.not_in_fleet.len()
    );
    for appid in &l.not_in_fleet {
        out += &format!("  {appid}\n");
    }
    out
}
