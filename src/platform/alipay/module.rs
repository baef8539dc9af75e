//! Alipay in the platform registry: building its client (with the tokens apps give in the fleet
//! file), seeding the sandbox (the ISV's test keys, the merchants' app_auth_tokens), and
//! onboarding (`minifleet auth alipay --app NAME --code CODE`).

use std::collections::BTreeMap;

use super::spec::{self, AlipayConfig};
use super::{AlipayClient, alipay_token_key};
use crate::fleet::{Fleet, PlatformConfig, PlatformSpec};
use crate::model::Desired;
use crate::platform::BoxFuture;
use crate::platform::http;
use crate::platform::platforms::Platforms;
use crate::platform::registry::{Connected, Module, Output, app_named, seed_app_tokens};
use crate::sandbox::access::Access;
use crate::secret::Secret;
use crate::store::Store;
use crate::view::report::Report;

/// Alipay's [`Module`].
pub struct AlipayModule;

/// The one instance the registry lists.
pub static MODULE: AlipayModule = AlipayModule;

fn settings(config: &PlatformConfig) -> Result<&AlipayConfig, Report> {
    crate::platform::registry::settings(config, &spec::SPEC)
}

impl Module for AlipayModule {
    fn spec(&self) -> &'static dyn PlatformSpec {
        &spec::SPEC
    }

    /// The sandbox is Alipay and the merchants: it hands out the ISV key pair and Alipay's public
    /// key (unless the fleet brings its own), and an app_auth_token for every app that has none.
    fn seed<'a>(
        &'a self,
        sandbox: &'a Access<'a>,
        config: &'a PlatformConfig,
        apps: &'a [&'a Desired],
        store: &'a Store,
    ) -> BoxFuture<'a, Result<PlatformConfig, Report>> {
        Box::pin(async move {
            let mut alipay = settings(config)?.clone();
            let (private_pem, public_pem) = sandbox
                .alipay_keys(&alipay.app_id)
                .await
                .map_err(Report::from)?;
            alipay
                .private_key
                .get_or_insert_with(|| Secret::new(private_pem));
            alipay
                .alipay_public_key
                .get_or_insert_with(|| Secret::new(public_pem));
            let now = crate::platform::now_secs();
            seed_app_tokens(store, apps, now, alipay_token_key, |appid| async move {
                sandbox.issue_app_auth_token(&appid).await
            })
            .await?;
            Ok(PlatformConfig::new(config.endpoint.clone(), alipay))
        })
    }

    fn sandbox_path(&self) -> &'static str {
        "/gateway.do"
    }

    fn connect(
        &self,
        config: &PlatformConfig,
        base: &str,
        fleet: &Fleet,
        store: &Store,
    ) -> Connected {
        // The spec (or the seeding) made this config: it holds the platform's settings.
        let settings = settings(config).unwrap_or_else(|e| unreachable!("{e}"));
        let tokens: BTreeMap<String, Secret> = fleet
            .apps
            .iter()
            .filter(|a| a.platform == spec::KIND)
            .filter_map(|a| Some((a.appid.clone(), fleet.app_tokens.get(&a.appid)?.clone())))
            .collect();
        Connected::of(
            AlipayClient::new(settings, base, store.clone())
                .with_app_tokens(tokens)
                .with_transport(http::Options::for_config(config)),
        )
    }

    fn auth_command(&self) -> Option<clap::Command> {
        Some(
            clap::Command::new("alipay")
                .about(
                    "Exchange a merchant's app_auth_code for its app_auth_token \
                     (`alipay.open.auth.token.app`) and keep the token in the store",
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
                        .help("The `app_auth_code` the authorization redirect delivered (single use, short-lived)"),
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
            let code = arg("code");
            let client = platforms
                .concrete::<AlipayClient>(spec::KIND)
                .ok_or_else(|| {
                    Report::new("the fleet file has no `platforms.alipay` section").help(
                        "add `platforms.alipay` with `app_id`, `private_key`, `alipay_public_key`",
                    )
                })?;
            let (authorized, _token) = client.exchange_auth_code(&code).await.map_err(|e| {
                Report::new(format!("app `{}`: {e}", app.name)).help(e.hint.clone())
            })?;
            crate::platform::registry::exchanged(app, &authorized, "its app_auth_token is")
        })
    }
}
