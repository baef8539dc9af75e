//! Douyin in the platform registry: building its client, seeding the sandbox (a component ticket,
//! the merchants' authorizations), its push endpoints, readiness (a fresh ticket), and onboarding
//! (`minifleet auth douyin --app NAME --code CODE`).

use super::crypto::PushCrypt;
use super::push::{Endpoints, router};
use super::spec::{self, DouyinConfig};
use super::{DouyinClient, SANDBOX_AES_KEY, SANDBOX_PUSH_TOKEN, TICKET_TTL_SECS, keys};
use crate::fleet::{Fleet, PlatformConfig, PlatformSpec};
use crate::model::Desired;
use crate::platform::http;
use crate::platform::platforms::Platforms;
use crate::platform::registry::{
    Connected, Module, Output, ServeCx, app_named, seed_app_tokens, seed_ticket,
};
use crate::platform::{BoxFuture, now_secs};
use crate::sandbox::access::Access;
use crate::store::Store;
use crate::view::report::Report;

/// Douyin's [`Module`].
pub struct DouyinModule;

/// The one instance the registry lists.
pub static MODULE: DouyinModule = DouyinModule;

/// What fixes a push configuration the crypto refuses.
const AES_KEY_HELP: &str =
    "copy the 43-character 消息加密解密 KEY from the Douyin console into `encoding_aes_key`";

fn settings(config: &PlatformConfig) -> Result<&DouyinConfig, Report> {
    crate::platform::registry::settings(config, &spec::SPEC)
}

impl Module for DouyinModule {
    fn spec(&self) -> &'static dyn PlatformSpec {
        &spec::SPEC
    }

    /// The sandbox plays Douyin pushing a component ticket (when the stored one is missing or
    /// stale) and the merchants authorizing every app that has no refresh token.
    fn seed<'a>(
        &'a self,
        sandbox: &'a Access<'a>,
        config: &'a PlatformConfig,
        apps: &'a [&'a Desired],
        store: &'a Store,
    ) -> BoxFuture<'a, Result<PlatformConfig, Report>> {
        Box::pin(async move {
            let douyin = settings(config)?;
            let now = now_secs();
            let component = &douyin.component_appid;
            seed_ticket(
                store,
                &keys::ticket(component),
                TICKET_TTL_SECS,
                now,
                || sandbox.douyin_ticket(component),
            )
            .await?;
            seed_app_tokens(store, apps, now, keys::refresh_token, |appid| async move {
                sandbox.douyin_authorize(&appid).await
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
            DouyinClient::new(settings, base, store.clone())
                .with_transport(http::Options::for_config(config)),
        )
    }

    fn routes(&self, cx: &ServeCx<'_>) -> Result<Option<axum::Router>, Report> {
        let Some(client) = cx.platforms.concrete::<DouyinClient>(spec::KIND) else {
            return Ok(None);
        };
        let config = cx
            .platforms
            .config(spec::KIND)
            .ok_or_else(|| Report::new("no `platforms.douyin` settings"))?;
        let douyin = settings(config)?;
        let (token, aes_key) = crate::platform::registry::push_secrets(
            spec::KIND,
            (&douyin.token, &douyin.encoding_aes_key),
            config.is_sandbox(),
            (SANDBOX_PUSH_TOKEN, SANDBOX_AES_KEY),
            "copy it from the Douyin console (开发配置 → 消息验证 TOKEN / 消息加密解密 KEY)",
        )?;
        let crypt = PushCrypt::new(&token, &aes_key, &douyin.component_appid)
            .map_err(|e| Report::new(e.to_string()).help(AES_KEY_HELP))?;
        if let Some(sandbox) = cx.platforms.sandbox().filter(|_| config.is_sandbox()) {
            let push = crate::sandbox::douyin::PushConfig {
                url: cx.url.trim_end_matches('/').to_owned(),
                component_appid: douyin.component_appid.clone(),
                token,
                aes_key,
                ticket_interval: cx.ticket_interval,
            };
            sandbox
                .douyin()
                .start_pushes(push)
                .map_err(|e| Report::new(e.to_string()).help(AES_KEY_HELP))?;
        }
        let endpoints = Endpoints::new(
            client,
            crypt,
            &douyin.component_appid,
            cx.notices.clone(),
            cx.relay.clone(),
        );
        Ok(Some(router(endpoints)))
    }

    /// Without a fresh component ticket (pushed every 10 minutes, each valid 3 h) no token can be
    /// minted: reported, as WeChat's is, as a condition rather than a failed readiness.
    fn unready(&self, platforms: &Platforms, now: u64) -> Option<String> {
        let douyin = settings(platforms.config(spec::KIND)?).ok()?;
        let client = platforms.concrete::<DouyinClient>(spec::KIND)?;
        match client.ticket_fresh(now) {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "tokens: no fresh component_ticket for Douyin application `{}` (Douyin pushes one every 10 minutes)",
                douyin.component_appid
            )),
            Err(err) => Some(format!("store: {err}")),
        }
    }

    fn auth_command(&self) -> Option<clap::Command> {
        Some(
            clap::Command::new("douyin")
                .about(
                    "Exchange a merchant's authorization_code (from the authorization redirect or \
                     the AUTHORIZED push) for the app's tokens and keep them in the store",
                )
                .arg(
                    clap::Arg::new("app")
                        .long("app")
                        .value_name("NAME")
                        .required(true)
                        .help("The fleet app (by name) the merchant authorized"),
                )
                .arg(
                    clap::Arg::new("code")
                        .long("code")
                        .value_name("CODE")
                        .required(true)
                        .help("The `authorization_code` (single use, valid one hour)"),
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
            let arg = |name: &str| matches.get_one::<String>(name).cloned().unwrap_or_default();
            let app = app_named(fleet, &spec::SPEC, &arg("app"))?;
            let client = platforms
                .concrete::<DouyinClient>(spec::KIND)
                .ok_or_else(|| {
                    Report::new("the fleet file has no `platforms.douyin` section").help(
                        "add `platforms.douyin` with `component_appid` and `component_appsecret`",
                    )
                })?;
            let authorized = client.exchange_code(&arg("code")).await.map_err(|e| {
                Report::new(format!("app `{}`: {e}", app.name)).help(e.hint.clone())
            })?;
            crate::platform::registry::exchanged(app, &authorized, "its tokens are")
        })
    }
}
