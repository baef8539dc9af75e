//! Which platform an app lives on: a name the platform registry hands out (`wechat`, `alipay`).
//! The pure core only carries and compares it; what a platform means lives in `platform/`.

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A platform, by its lowercase name as the fleet file writes it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlatformKind(&'static str);

/// At most this many distinct platform names are ever made from text (a bound on what a
/// hostile JSON document can make a reader keep).
const MAX_NAMES: usize = 64;

/// The names made from text so far.
static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

impl PlatformKind {
    /// The platform named `name` (a platform module's own constant).
    pub const fn new(name: &'static str) -> PlatformKind {
        PlatformKind(name)
    }

    /// The platform named `name`, made from text (a JSON document, say); `None` once
    /// [`MAX_NAMES`] distinct names were made.
    pub fn named(name: &str) -> Option<PlatformKind> {
        let mut names = NAMES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = names.iter().find(|n| **n == name) {
            return Some(PlatformKind(known));
        }
        if names.len() >= MAX_NAMES {
            return None;
        }
        let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.push(kept);
        Some(PlatformKind(kept))
    }

    /// The lowercase name used in the fleet file and in output.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for PlatformKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for PlatformKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        PlatformKind::named(&name)
            .ok_or_else(|| serde::de::Error::custom("too many distinct platform names"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_compare_by_name() {
        const W: PlatformKind = PlatformKind::new("wechat");
        let read: PlatformKind = serde_json::from_str("\"wechat\"").unwrap();
        assert_eq!(read, W);
        assert_eq!(serde_json::to_string(&W).unwrap(), "\"wechat\"");
        assert_eq!(W.to_string(), "wechat");
        assert!(PlatformKind::new("alipay") < W);
    }
}
