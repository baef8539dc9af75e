//! YAML paths such as `apps[2].audit.items[0].title`: how problems name the place they are in.

use std::fmt;

/// One step of a [`YamlPath`]: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

/// A path from the document root to a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct YamlPath(Vec<Seg>);

impl YamlPath {
    /// The document root.
    pub(crate) fn root() -> YamlPath {
        YamlPath(Vec::new())
    }

    /// The path of a top-level key.
    pub(crate) fn top(key: &str) -> YamlPath {
        YamlPath::root().key(key)
    }

    /// This path extended by a mapping key.
    pub(crate) fn key(&self, key: &str) -> YamlPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        YamlPath(segs)
    }

    /// This path extended by a sequence index.
    pub(crate) fn index(&self, index: usize) -> YamlPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        YamlPath(segs)
    }

    /// This path extended by every step of `other`.
    pub(crate) fn join(&self, other: &YamlPath) -> YamlPath {
        let mut segs = self.0.clone();
        segs.extend(other.0.iter().cloned());
        YamlPath(segs)
    }

    /// The steps of the path.
    pub(crate) fn segs(&self) -> &[Seg] {
        &self.0
    }

    /// The path without its last step (`None` for the root).
    pub(crate) fn parent(&self) -> Option<YamlPath> {
        let (_, rest) = self.0.split_last()?;
        Some(YamlPath(rest.to_vec()))
    }

    /// Builds a path from steps.
    pub(crate) fn from_segs(segs: Vec<Seg>) -> YamlPath {
        YamlPath(segs)
    }

    /// The same place inside `defaults` when this path points inside `apps[i]`: where a value
    /// merged into an app came from.
    pub(crate) fn in_defaults(&self) -> Option<YamlPath> {
        match self.0.as_slice() {
            [Seg::Key(apps), Seg::Index(_), rest @ ..] if apps == "apps" && !rest.is_empty() => {
                let mut segs = vec![Seg::Key("defaults".to_owned())];
                segs.extend(rest.iter().cloned());
                Some(YamlPath(segs))
            }
            _ => None,
        }
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_keys_and_indexes() {
        let p = YamlPath::top("apps")
            .index(2)
            .key("audit")
            .key("items")
            .index(0);
        assert_eq!(p.to_string(), "apps[2].audit.items[0]");
        assert_eq!(YamlPath::root().to_string(), "");
        assert_eq!(
            p.parent().map(|p| p.to_string()).as_deref(),
            Some("apps[2].audit.items")
        );
    }

    #[test]
    fn maps_app_paths_into_defaults() {
        let p = YamlPath::top("apps").index(3).key("gray");
        assert_eq!(
            p.in_defaults().map(|p| p.to_string()).as_deref(),
            Some("defaults.gray")
        );
        assert_eq!(YamlPath::top("apps").index(3).in_defaults(), None);
        assert_eq!(YamlPath::top("sandbox").key("x").in_defaults(), None);
    }
}
