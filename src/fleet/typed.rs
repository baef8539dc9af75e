//! Typed reading of the fleet file's tree: a `serde::Deserializer` over `serde_json::Value`s that
//! reads as serde_yaml's did. serde_json's own also fills a struct from a list, field by field in
//! order (`privacy: [{email: …}, 弹窗提示]` would read), and an enum from a one-key mapping; a YAML
//! file never means either, and serde_yaml refused both. Here a struct reads from a mapping only
//! and an enum from its name only; everything else is serde_json's.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, Expected, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use serde_json::{Error, Value};

/// A node of the tree, to read a typed value from.
#[derive(Clone, Copy)]
pub(crate) struct Tree<'de>(pub(crate) &'de Value);

impl<'de> Deserializer<'de> for Tree<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visit_items(items, visitor),
            Value::Object(map) => visitor.visit_map(Entries {
                entries: map.iter(),
                value: None,
            }),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A mapping only: a list is no struct.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    /// A variant's name only.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(name) => visitor.visit_enum(name.as_str().into_deserializer()),
            other => Err(de::Error::invalid_type(unexpected(other), &OneOf(variants))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier
    }
}

/// A list's items, each read as a [`Tree`]; every item must be taken.
fn visit_items<'de, V: Visitor<'de>>(items: &'de [Value], visitor: V) -> Result<V::Value, Error> {
    let mut seq = Items(items.iter());
    let value = visitor.visit_seq(&mut seq)?;
    match seq.0.len() {
        0 => Ok(value),
        _ => Err(de::Error::invalid_length(
            items.len(),
            &"fewer elements in the list",
        )),
    }
}

struct Items<'de>(std::slice::Iter<'de, Value>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Tree(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// A mapping's entries: keys read as text (no number parsed out of a key, as serde_json's own
/// reader of object keys would), values as [`Tree`]s.
struct Entries<'de> {
    entries: serde_json::map::Iter<'de>,
    value: Option<&'de Value>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Tree(value)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// What a node is, in serde's words for type errors.
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            (None, None) => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// An enum's names, as serde lists them for an unknown variant: one of `a`, `b`.
struct OneOf(&'static [&'static str]);

impl Expected for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(|n| format!("`{n}`")).collect();
        match names.as_slice() {
            [one] => write!(f, "{one}"),
            _ => write!(f, "one of {}", names.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Pair {
        a: u8,
        b: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Stage {
        Audit,
        Release,
    }

    fn read<T: for<'de> Deserialize<'de>>(value: &Value) -> Result<T, String> {
        T::deserialize(Tree(value)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_struct_reads_from_a_mapping_only() {
        let pair = read::<Pair>(&json!({"a": 1, "b": "x"}));
        let want = Pair {
            a: 1,
            b: Some("x".into()),
        };
        assert_eq!(pair, Ok(want));
        let refused = "invalid type: sequence, expected struct Pair".to_owned();
        assert_eq!(read::<Pair>(&json!([1, "x"])), Err(refused.clone()));
        assert_eq!(read::<Vec<Pair>>(&json!([[1, "x"]])), Err(refused));
    }

    #[test]
    fn an_enum_reads_from_its_name_only() {
        assert_eq!(read::<Stage>(&json!("audit")), Ok(Stage::Audit));
        assert_eq!(
            read::<Stage>(&json!({"audit": null})),
            Err("invalid type: map, expected one of `audit`, `release`".to_owned())
        );
        assert_eq!(
            read::<Stage>(&json!("draft")),
            Err("unknown variant `draft`, expected `audit` or `release`".to_owned())
        );
    }

    #[test]
    fn keys_stay_text_and_values_read_as_serde_json_reads_them() {
        let map = read::<BTreeMap<String, u64>>(&json!({"1": 2}));
        assert_eq!(map, Ok([("1".to_owned(), 2)].into()));
        assert_eq!(
            read::<BTreeMap<u8, u64>>(&json!({"1": 2})),
            Err("invalid type: string \"1\", expected u8".to_owned())
        );
        assert_eq!(
            read::<u8>(&json!(300)),
            Err("invalid value: integer `300`, expected u8".to_owned())
        );
        assert_eq!(
            read::<(u8, u8)>(&json!([1, 2, 3])),
            Err("invalid length 3, expected fewer elements in the list".to_owned())
        );
    }
}
