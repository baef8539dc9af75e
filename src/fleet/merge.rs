//! Defaults merged into apps: mappings merge key by key, recursively; lists and scalars replace.
//! And YAML's `<<` merge keys, applied where the file writes them.

use serde_json::Value;

use super::partial::kind;

/// Applies YAML's `<<` merge keys in `value`, everywhere in it: the mapping (or each mapping of
/// the list, the first first) that `<<` holds gives its keys to the mapping `<<` is in, which
/// keeps its own. An error names what `<<` held when it was no mapping.
pub(crate) fn apply_merge(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(apply_merge),
        Value::Object(map) => {
            if let Some(merged) = map.remove("<<") {
                let sources = match merged {
                    Value::Object(one) => vec![one],
                    Value::Array(list) => list
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(one) => Ok(one),
                            other => Err(format!(
                                "expected a mapping for merging, but found {}",
                                kind(&other)
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    other => {
                        return Err(format!(
                            "expected a mapping or list of mappings for merging, but found {}",
                            kind(&other)
                        ));
                    }
                };
                for source in sources {
                    for (key, value) in source {
                        map.entry(key).or_insert(value);
                    }
                }
            }
            map.values_mut().try_for_each(apply_merge)
        }
        _ => Ok(()),
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
