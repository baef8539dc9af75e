//! Where an app's values come from — its own entry or `defaults` — so that a problem an app has
//! only through what it inherits is reported once, at the default, naming the apps that inherit
//! it, instead of once per app; an app that sets the value itself gets its own problem.

use serde_json::Value;

use super::Mapping;

use super::FleetError;
use super::path::{Seg, YamlPath};
use super::problems::Problems;

/// An app being checked: its place, its own values and the defaults it inherits the rest from.
pub struct AppAt<'x> {
    /// `apps[i]`.
    path: &'x YamlPath,
    /// `i`.
    index: usize,
    /// The app's keys (defaults deep-merged into its mappings), without the keys set aside as
    /// unknown or mistyped.
    own: &'x Mapping,
    /// The app's own values, as written, of the keys deep-merged with a default.
    written: &'x [(String, Value)],
    /// `defaults`, as read (without unknown or mistyped keys).
    defaults: &'x Mapping,
}

/// Where a value a check read comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The app sets it (or no one does).
    App,
    /// The app inherits it from `defaults`.
    Defaults,
    /// The app would inherit it, but the default had a problem and was set aside: that problem
    /// says enough.
    SetAside,
}

impl<'x> AppAt<'x> {
    /// The app `apps[index]` at `path`, with its keys `own`, its own values of the deep-merged
    /// keys `written`, and `defaults`.
    pub(crate) fn new(
        path: &'x YamlPath,
        index: usize,
        own: &'x Mapping,
        written: &'x [(String, Value)],
        defaults: &'x Mapping,
    ) -> AppAt<'x> {
        AppAt {
            path,
            index,
            own,
            written,
            defaults,
        }
    }

    /// Reports a problem with the value at `rel` (a path inside the app) found from that value
    /// alone: at the app when it sets the value, else once at `defaults`.
    pub(crate) fn value<'p>(
        &self,
        p: &'p mut Problems<'_>,
        rel: &YamlPath,
        message: impl Into<String>,
    ) -> Option<&'p mut FleetError> {
        self.value_from(p, rel, &[], message)
    }

    /// Reports a problem with the value at `rel` found from it and the values at `also` (key
    /// paths inside the app, e.g. `["stage"]`): at `defaults` only when the app sets none of them
    /// and `defaults` sets one; `None` when it is the consequence of a default set aside.
    pub(crate) fn value_from<'p>(
        &self,
        p: &'p mut Problems<'_>,
        rel: &YamlPath,
        also: &[&[&str]],
        message: impl Into<String>,
    ) -> Option<&'p mut FleetError> {
        let first = input(rel);
        let inputs: Vec<&[&str]> = std::iter::once(first.as_slice())
            .chain(also.iter().copied())
            .collect();
        match self.source(p, &inputs) {
            Source::App => Some(p.value(&self.path.join(rel), message)),
            Source::Defaults => {
                let at = YamlPath::top("defaults").join(rel);
                Some(p.inherited(&at, self.index, message.into()))
            }
            Source::SetAside => {
                p.set_aside();
                None
            }
        }
    }

    /// Reports the required key at `rel` as missing, unless a problem was reported where its
    /// value comes from.
    pub(crate) fn missing<'p>(
        &self,
        p: &'p mut Problems<'_>,
        rel: &YamlPath,
    ) -> Option<&'p mut FleetError> {
        if self.reported(p, rel) {
            return None;
        }
        let name = match rel.segs().last() {
            Some(Seg::Key(k)) => k.clone(),
            _ => rel.to_string(),
        };
        self.value(p, rel, format!("missing required key `{name}`"))
    }

    /// Whether a problem was reported where the app's value at `rel` comes from.
    pub(crate) fn reported(&self, p: &Problems<'_>, rel: &YamlPath) -> bool {
        match self.source(p, &[input(rel).as_slice()]) {
            Source::App => p.reported(&self.path.join(rel)),
            Source::Defaults => p.inherited_by(&YamlPath::top("defaults").join(rel), self.index),
            Source::SetAside => true,
        }
    }

    /// Where values read together come from: the app when it sets any of them, else `defaults`
    /// when it sets any (the app inherits them all), else the app (no one sets them).
    fn source(&self, p: &Problems<'_>, inputs: &[&[&str]]) -> Source {
        if inputs.iter().any(|input| self.sets(input)) {
            return Source::App;
        }
        if inputs.iter().any(|input| set_aside(p, input)) {
            return Source::SetAside;
        }
        if inputs.iter().any(|input| holds(self.defaults, input)) {
            return Source::Defaults;
        }
        Source::App
    }

    /// Whether the app sets the value at the key path `input` itself.
    fn sets(&self, input: &[&str]) -> bool {
        let Some((first, rest)) = input.split_first() else {
            return true;
        };
        if !self.own.contains_key(*first) {
            return false;
        }
        // A key not deep-merged is the app's own value, whole.
        let written = self.written.iter().find(|(k, _)| k == first);
        written.is_none_or(|(_, value)| writes(value, rest))
    }
}

/// The key path of the value a problem at `rel` is about: its keys up to the first list index
/// (lists are inherited whole).
fn input(rel: &YamlPath) -> Vec<&str> {
    rel.segs()
        .iter()
        .map_while(|seg| match seg {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect()
}

/// Whether a default on the way to `defaults.<input>` had a problem and was set aside.
fn set_aside(p: &Problems<'_>, input: &[&str]) -> bool {
    let mut path = YamlPath::top("defaults");
    if p.reported(&path) {
        return true;
    }
    input.iter().any(|key| {
        path = path.key(key);
        p.reported(&path)
    })
}

/// Whether the mapping `map` holds a value at the key path `input`.
fn holds(map: &Mapping, input: &[&str]) -> bool {
    let mut node = map;
    for (i, key) in input.iter().enumerate() {
        let Some(value) = node.get(*key) else {
            return false;
        };
        if i + 1 == input.len() {
            return true;
        }
        match value.as_object() {
            Some(inner) => node = inner,
            None => return false,
        }
    }
    true
}

/// Whether a value the app wrote, deep-merged over a default, decides the value at the key
/// path `rest` inside it: a mapping does where it has the key; anything else replaced the
/// default whole.
fn writes(value: &Value, rest: &[&str]) -> bool {
    let mut node = value;
    for key in rest {
        match node {
            Value::Object(map) => match map.get(*key) {
                Some(next) => node = next,
                None => return false,
            },
            _ => return true,
        }
    }
    true
}
