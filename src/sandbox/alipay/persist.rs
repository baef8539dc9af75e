//! Write-through persistence of the simulated Alipay world in the store's `sandbox` tree: one JSON
//! blob per merchant app (`alipay/app/<appid>`) and one global blob (`alipay/global`, which holds
//! the gateway's and the sandbox ISV's key pairs), each with a `schema_version`.

use std::collections::BTreeMap;

use super::state::{App, Global, World};
use crate::platform::alipay::sign::{SignError, generate_keypair};
use crate::store::{Store, StoreError};

/// Key of the global blob.
pub const GLOBAL_KEY: &str = "alipay/global";

/// Key of an app's blob.
pub fn app_key(appid: &str) -> String {
    format!("alipay/app/{appid}")
}

/// Why the simulator's state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The store failed.
    #[error("alipay sandbox state: {0}")]
    Store(#[from] StoreError),
    /// A blob did not decode.
    #[error("alipay sandbox state `{key}` is corrupt: {source}")]
    Corrupt {
        /// The blob's key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A saved key does not parse.
    #[error("alipay sandbox key is unusable: {0}")]
    Key(#[from] SignError),
}

/// A world with fresh key pairs for the gateway and the sandbox ISV app, and nothing authorized.
pub fn fresh_world() -> World {
    let (_, alipay_private_pem, _, alipay_public_pem) = generate_keypair();
    let (_, isv_private_pem, _, isv_public_pem) = generate_keypair();
    let global = Global {
        alipay_private_pem,
        alipay_public_pem,
        isv_private_pem,
        isv_public_pem,
        ..Global::default()
    };
    let mut world = World::from_parts(global, BTreeMap::new());
    world.touch_global();
    world
}

/// Loads the saved world, or a fresh one when the store holds none.
pub fn load(store: &Store) -> Result<World, SimError> {
    let Some(global) = store.sandbox_value::<Global>(GLOBAL_KEY)? else {
        return Ok(fresh_world());
    };
    let mut apps = BTreeMap::new();
    for appid in &global.appids {
        if let Some(app) = store.sandbox_value::<App>(&app_key(appid))? {
            apps.insert(appid.clone(), app);
        }
    }
    Ok(World::from_parts(global, apps))
}

/// Writes every blob changed since the last save (into sled's buffers: the caller makes them
/// durable, see `sandbox::Durable`); whether there was any.
pub fn save(store: &Store, world: &mut World) -> Result<bool, SimError> {
    let (global, apps) = world.take_dirty();
    let wrote = global || !apps.is_empty();
    if global {
        store.put_sandbox_value(GLOBAL_KEY, &world.global)?;
    }
    for appid in apps {
        if let Some(app) = world.apps.get(&appid) {
            store.put_sandbox_value(&app_key(&appid), app)?;
        }
    }
    Ok(wrote)
}
