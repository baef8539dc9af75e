//! Defaults merged into apps: mappings merge key by key, recursively; lists and scalars replace.

use serde_yaml::Value;

/// `over` merged onto `base`.
pub(crate) fn deep_merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            let mut merged = b.clone();
            for (k, v) in o {
                let value = match merged.get(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => v.clone(),
                };
                merged.insert(k.clone(), value);
            }
            Value::Mapping(merged)
        }
        _ => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
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
