//! Write-through persistence of the simulated world in the store's `sandbox` tree: one JSON blob
//! per app (`wechat/app/<appid>`) and one global blob (`wechat/global`), each with a
//! `schema_version`.

use std::collections::BTreeMap;

use super::state::{App, Global, World, random_token};
use crate::store::{Store, StoreError};

/// Key of the global blob.
pub const GLOBAL_KEY: &str = "wechat/global";

/// Key of an app's blob.
pub fn app_key(appid: &str) -> String {
    format!("wechat/app/{appid}")
}

/// Why the simulator's state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The store failed.
    #[error("sandbox state: {0}")]
    Store(#[from] StoreError),
    /// A blob did not decode.
    #[error("sandbox state `{key}` is corrupt: {source}")]
    Corrupt {
        /// The blob's key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// A world with nothing authorized and a fresh `userstr` secret.
pub fn fresh_world() -> World {
    let global = Global {
        secret: random_token(32),
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
