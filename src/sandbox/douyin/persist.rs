//! Write-through persistence of the simulated Douyin in the store's `sandbox` tree: one blob per
//! app (`douyin/app/<appid>`) and one global blob (`douyin/global`).

use std::collections::BTreeMap;

use super::state::{App, Global, World};
use crate::store::{Store, StoreError};

const GLOBAL_KEY: &str = "douyin/global";

fn app_key(appid: &str) -> String {
    format!("douyin/app/{appid}")
}

/// Why the simulator's state could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The store failed (or a blob did not decode).
    #[error("Douyin sandbox state: {0}")]
    Store(#[from] StoreError),
}

/// Loads the saved world, or an empty one.
pub fn load(store: &Store) -> Result<World, SimError> {
    let Some(global) = store.sandbox_value::<Global>(GLOBAL_KEY)? else {
        return Ok(World::default());
    };
    let mut apps = BTreeMap::new();
    for appid in &global.appids {
        if let Some(app) = store.sandbox_value::<App>(&app_key(appid))? {
            apps.insert(appid.clone(), app);
        }
    }
    Ok(World::from_parts(global, apps))
}

/// Writes every blob changed since the last save (into sled's buffers; the sandbox flushes
/// before answering); whether there was any.
pub fn save(store: &Store, world: &mut World) -> Result<bool, StoreError> {
    let (global, apps) = world.take_dirty();
    if global {
        store.put_sandbox_value(GLOBAL_KEY, &world.global)?;
    }
    for appid in &apps {
        if let Some(app) = world.apps.get(appid) {
            store.put_sandbox_value(&app_key(appid), app)?;
        }
    }
    Ok(global || !apps.is_empty())
}
