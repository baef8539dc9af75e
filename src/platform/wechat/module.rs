//! WeChat in the platform registry: building its client, seeding the sandbox (a verify ticket,
//! and the merchants' authorizations), its push endpoints (with the sandbox told to push to
//! them), readiness (a fresh verify ticket), and onboarding (`minifleet auth wechat link|list`).

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use super::crypto::MsgCrypt;
use super::endpoints::{self, Callbacks};
use super::push::{SANDBOX_AES_KEY, SANDBOX_TOKEN};
use super::spec::{self, WechatConfig};
use super::{LinkKind, WechatClient, refresh_token_key, ticket_key};
use crate::fleet::{Fleet, PlatformConfig, PlatformSpec};
use crate::model::Desired;
use crate::platform::BoxFuture;
use crate::platform::http;
use crate::platform::platforms::Platforms;
use crate::platform::registry::{Connected, Module, Output, ServeCx, seed_app_tokens, seed_ticket};
use crate::sandbox::access::Access;
use crate::sandbox::wechat::PushConfig;
use crate::secret::Secret;
use crate::store::Store;
use crate::view::report::Report;

/// WeChat's [`Module`].
pub struct WechatModule;

/// The one instance the registry lists.
pub static MODULE: WechatModule = WechatModule;

/// The settings of a config the WeChat spec made.
fn settings(config: &PlatformConfig) -> Result<&WechatConfig, Report> {
    crate::platform::registry::settings(config, &spec::SPEC)
}

use crate::platform::now_secs as now;

/// What fixes a push configuration the crypto refuses.
const AES_KEY_HELP: &str = "copy the 43-character EncodingAESKey from the open platform's settings page into `encoding_aes_key`";

impl Module for WechatModule {
    fn spec(&self) -> &'static dyn PlatformSpec {
        &spec::SPEC
    }

    /// Nobody pushes a verify ticket and no merchant authorizes anything: the sandbox plays both
    /// parts, issuing a ticket when the stored one is missing or stale and authorizing every app
    /// that has no refresh token.
    fn seed<'a>(
        &'a self,
        sandbox: &'a Access<'a>,
        config: &'a PlatformConfig,
        apps: &'a [&'a Desired],
        store: &'a Store,
    ) -> BoxFuture<'a, Result<PlatformConfig, Report>> {
        Box::pin(async move {
            let wechat = settings(config)?;
            let now = now();
            let component = &wechat.component_appid;
            let ttl = super::TICKET_TTL_SECS;
            seed_ticket(store, &ticket_key(component), ttl, now, || {
                sandbox.issue_ticket(component)
            })
            .await?;
            seed_app_tokens(store, apps, now, refresh_token_key, |appid| async move {
                sandbox.authorize(&appid).await
            })
            .await?;
            Ok(config.clone())
        })
    }

    fn connect(
        &self,
        config: &PlatformConfig,
        base: &str,
        _fleet: &Fleet,
        store: &Store,
    ) -> Connected {
        // The spec (or the seeding) made this config: it holds the platform's settings.
        let settings = settings(config).unwrap_or_else(|e| unreachable!("{e}"));
        Connected::of(
            WechatClient::new(settings, base, store.clone())
                .with_transport(http::Options::for_config(config)),
        )
    }

    fn routes(&self, cx: &ServeCx<'_>) -> Result<Option<axum::Router>, Report> {
        let Some(client) = cx.platforms.concrete::<WechatClient>(spec::KIND) else {
            return Ok(None);
        };
        let config = cx
            .platforms
            .config(spec::KIND)
            .ok_or_else(|| Report::new("no `platforms.wechat` settings"))?;
        let wechat = settings(config)?;
        let (token, aes_key, crypt) = push_keys(wechat, config.is_sandbox())?;
        if let Some(sandbox) = cx.platforms.sandbox().filter(|_| config.is_sandbox()) {
            let push = PushConfig {
                ticket_interval: cx.ticket_interval,
                token,
                aes_key,
                ..crate::sandbox::wechat::push::sandbox_defaults(cx.url, &wechat.component_appid)
            };
            sandbox
                .wechat()
                .start_pushes(push)
                .map_err(|e| Report::new(e.to_string()).help(AES_KEY_HELP))?;
        }
        let callbacks = Callbacks::new(client, crypt, cx.notices.clone(), cx.relay.clone());
        Ok(Some(endpoints::router(callbacks)))
    }

    fn unready(&self, platforms: &Platforms, now: u64) -> Option<String> {
        let wechat = settings(platforms.config(spec::KIND)?).ok()?;
        ticket_unready(platforms.store(), &wechat.component_appid, now)
    }

    fn auth_command(&self) -> Option<clap::Command> {
        Some(
            clap::Command::new("wechat")
                .about("WeChat third-party platform onboarding")
                .subcommand_required(true)
                .subcommand(
                    clap::Command::new("link")
                        .about("Print an authorization link for a merchant's admin (built on a fresh pre_auth_code)")
                        .arg(
                            clap::Arg::new("redirect-uri")
                                .long("redirect-uri")
                                .value_name("URL")
                                .required(true)
                                .help("Where the page sends the admin back, e.g. `https://ops.example.com/auth/wechat/callback` (served by `minifleet serve`/`watch`; its domain must be the component's login domain)"),
                        )
                        .arg(
                            clap::Arg::new("app")
                                .long("app")
                                .value_name("NAME")
                                .help("Pin the link to this fleet app (`biz_appid`)"),
                        )
                        .arg(
                            clap::Arg::new("mobile")
                                .long("mobile")
                                .action(clap::ArgAction::SetTrue)
                                .help("A link to open inside WeChat (bindcomponent) instead of the PC QR page"),
                        ),
                )
                .subcommand(
                    clap::Command::new("list")
                        .about("Authorized mini programs against the fleet's: missing authorizations, unknown apps"),
                ),
        )
    }

    fn run_auth<'a>(
        &'a self,
        matches: &'a clap::ArgMatches,
        fleet: &'a Fleet,
        platforms: &'a Platforms,
    ) -> BoxFuture<'a, Result<Output, Report>> {
        Box::pin(async move {
            let client = platforms
                .concrete::<WechatClient>(spec::KIND)
                .ok_or_else(|| {
                    Report::new("the fleet file has no `platforms.wechat` section").help(
                        "add `platforms.wechat` with `component_appid`, `component_secret` and `api_base`",
                    )
                })?;
            match matches.subcommand() {
                Some(("link", args)) => link(&client, fleet, platforms, args).await,
                Some(("list", _)) => list(&client, fleet).await,
                _ => Err(Report::new(
                    "`minifleet auth wechat` needs `link` or `list`",
                )),
            }
        })
    }
}

/// Why a daemon cannot call WeChat for `component` at `now`: no fresh verify ticket (WeChat pushes
/// one every 10 minutes), if so.
pub fn ticket_unready(store: &Store, component: &str, now: u64) -> Option<String> {
    match store.token(&ticket_key(component)) {
        Ok(Some(ticket)) if ticket.fresh(now, 0) => None,
        Ok(_) => Some(format!(
            "tokens: no fresh verify ticket for component `{component}` (WeChat pushes one every 10 minutes)"
        )),
        Err(err) => Some(format!("store: {err}")),
    }
}

/// The push token and EncodingAESKey of the component, and the message crypto made of them; with
/// the sandbox missing keys default to its fixed test keys.
fn push_keys(wechat: &WechatConfig, sandboxed: bool) -> Result<(Secret, Secret, MsgCrypt), Report> {
    let (token, aes_key) = crate::platform::registry::push_secrets(
        spec::KIND,
        (&wechat.token, &wechat.encoding_aes_key),
        sandboxed,
        (SANDBOX_TOKEN, SANDBOX_AES_KEY),
        "copy it from the component's settings (开发资料) on open.weixin.qq.com",
    )?;
    let crypt = MsgCrypt::new(&token, &aes_key, &wechat.component_appid)
        .map_err(|e| Report::new(e.to_string()).help(AES_KEY_HELP))?;
    Ok((token, aes_key, crypt))
}

async fn link(
    client: &WechatClient,
    fleet: &Fleet,
    platforms: &Platforms,
    args: &clap::ArgMatches,
) -> Result<Output, Report> {
    let redirect = args
        .get_one::<String>("redirect-uri")
        .ok_or_else(|| Report::new("`--redirect-uri` is required"))?;
    let appid = match args.get_one::<String>("app") {
        None => None,
        Some(name) => Some(
            fleet
                .apps
                .iter()
                .find(|a| &a.name == name && a.platform == spec::KIND)
                .map(|a| a.appid.clone())
                .ok_or_else(|| {
                    Report::new(format!("no WeChat app `{name}` in the fleet file"))
                        .help("pass the `name` of an app with `platform: wechat`")
                })?,
        ),
    };
    let kind = if args.get_flag("mobile") {
        LinkKind::Mobile
    } else {
        LinkKind::Pc
    };
    let url = client
        .authorization_link(kind, redirect, appid.as_deref())
        .await
        .map_err(|e| Report::from(&e))?;
    let output = Output {
        json: json!({ "format_version": 1, "url": url, "appid": appid }),
        text: url,
        notes: vec![
            "send this link to the mini program's admin; it is single-use and expires in about 10 minutes".into(),
        ],
        warnings: Vec::new(),
        sandbox_page: platforms.sandbox().is_some(),
    };
    Ok(output)
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

async fn list(client: &WechatClient, fleet: &Fleet) -> Result<Output, Report> {
    let live = client
        .authorized_apps()
        .await
        .map_err(|e| Report::from(&e))?;
    let live: BTreeSet<String> = live.into_iter().map(|a| a.authorizer_appid).collect();
    let fleet_apps: Vec<Row> = fleet
        .apps
        .iter()
        .filter(|a| a.platform == spec::KIND)
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
    Ok(Output {
        text: render(&listing),
        json: serde_json::to_value(&listing).unwrap_or_default(),
        ..Output::default()
    })
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
