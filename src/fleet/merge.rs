//! Defaults merged into apps: mappings merge key by key, recursively; lists and scalars replace.
//! And YAML's `<<` merge keys, applied where the file writes them.

use serde_json::Value;

use super::Mapping;
use super::partial::kind;
use super::path::{Seg, YamlPath};

/// A `<<` holding something that is no mapping, nor a list of them: what it held, and where.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MergeError {
    /// The steps from the value merged down to the `<<` value or its item, last step first:
    /// each level adds its own as the error returns up, so no path is built while merging.
    steps: Vec<Seg>,
    /// What `<<` held instead.
    pub(crate) message: String,
}

impl MergeError {
    fn new(message: String) -> MergeError {
        MergeError {
            steps: Vec::new(),
            message,
        }
    }

    /// The error one level up, `seg` being the step down to where it was found.
    fn within(mut self, seg: Seg) -> MergeError {
        self.steps.push(seg);
        self
    }

    /// Where the offending `<<` value (or item) is, `at` being the path of the value merged.
    pub(crate) fn path(&self, at: &YamlPath) -> YamlPath {
        at.join(&YamlPath::from_segs(
            self.steps.iter().rev().cloned().collect(),
        ))
    }
}

/// Applies YAML's `<<` merge keys in `value`, everywhere in it: the mapping (or each mapping of
/// the list, the first first) that `<<` holds gives its keys to the mapping `<<` is in, which
/// keeps its own. An error names what `<<` held when it was no mapping, and where.
pub(crate) fn apply_merge(value: &mut Value) -> Result<(), MergeError> {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, item)| apply_merge(item).map_err(|e| e.within(Seg::Index(i)))),
        Value::Object(map) => {
            if let Some(merged) = map.remove("<<") {
                let sources = sources(merged).map_err(|e| e.within(Seg::Key("<<".to_owned())))?;
                for source in sources {
                    for (key, value) in source {
                        map.entry(key).or_insert(value);
                    }
                }
            }
            map.iter_mut().try_for_each(|(key, value)| {
                apply_merge(value).map_err(|e| e.within(Seg::Key(key.clone())))
            })
        }
        _ => Ok(()),
    }
}

/// The mappings a `<<` merges, the first first.
fn sources(merged: Value) -> Result<Vec<Mapping>, MergeError> {
    match merged {
        Value::Object(one) => Ok(vec![one]),
        Value::Array(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(one) => Ok(one),
                other => Err(MergeError::new(format!(
                    "expected a mapping for merging, but found {}",
                    kind(&other)
                ))
                .within(Seg::Index(i))),
            })
            .collect(),
        other => Err(MergeError::new(format!(
            "expected a mapping or list of mappings for merging, but found {}",
            kind(&other)
        ))),
    }
}

/// `over` merged onto `base`.
pub(crate) fn deep_merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut merged = b.clone();
            for (k, v) in o {
                let value = match merged.get(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => v.clone(),
                };
                merged.insert(k.clone(), value);
            }
            Value::Object(merged)
        }
        _ => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        crate::fleet::doc::whole(s).unwrap()
    }

    #[test]
    fn a_merge_of_no_mapping_says_where_the_merge_key_or_its_item_is() {
        let mut value = yaml("{a: 1, b: [x, {c: {<<: [{d: 1}, 5]}}]}");
        let e = apply_merge(&mut value).unwrap_err();
        assert_eq!(
            e.message,
            "expected a mapping for merging, but found a number"
        );
        let at = YamlPath::top("apps").index(3);
        assert_eq!(e.path(&at).to_string(), "apps[3].b[1].c.<<[1]");
        let e = apply_merge(&mut yaml("{<<: text}")).unwrap_err();
        assert_eq!(e.path(&YamlPath::top("sandbox")).to_string(), "sandbox.<<");
    }

    #[test]
    fn maps_merge_lists_and_scalars_replace() {
        let base =
            yaml("{ext: {a: 1, n: {x: 1, y: 2}}, testers: [a, b], gray: 100, stage: release}");
        let over = yaml("{ext: {b: 2, n: {y: 3}}, testers: [c], gray: 10}");
        let want =
            yaml("{ext: {a: 1, n: {x: 1, y: 3}, b: 2}, testers: [c], gray: 10, stage: release}");
        assert_eq!(deep_merge(&base, &over), want);
    }

    #[test]
    fn a_scalar_replaces_a_mapping_and_back() {
        assert_eq!(
            deep_merge(&yaml("{ext: {a: 1}}"), &yaml("{ext: null}")),
            yaml("{ext: null}")
        );
        assert_eq!(
            deep_merge(&yaml("{ext: 1}"), &yaml("{ext: {a: 1}}")),
            yaml("{ext: {a: 1}}")
        );
    }
}
