//! The envelope of every stored value: the value's own JSON object with a `schema_version` key
//! beside its fields (`{"schema_version":1,"observed":…}`).
//!
//! Writing flattens the value into the envelope. Reading does the reverse in one pass: the value
//! is deserialized straight from the object while `schema_version` is taken out on the way.
//! (serde's `#[serde(flatten)]` would first buffer the whole object into an untyped tree and then
//! decode the value from that copy, which doubled the cost of every read: at 100k apps most of
//! the time of planning from stored observations went there.)

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The key of the version beside the value's fields.
const VERSION_KEY: &str = "schema_version";

/// A stored value with its schema version.
#[derive(Serialize)]
pub(super) struct Versioned<T> {
    /// The version the value was written with.
    pub schema_version: u32,
    /// The value, whose fields sit beside `schema_version`.
    #[serde(flatten)]
    pub value: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Versioned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor(PhantomData))
    }
}

/// Visits the envelope object and hands its entries, minus the version, to `T`.
struct EnvelopeVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for EnvelopeVisitor<T> {
    type Value = Versioned<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a `schema_version`")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Versioned<T>, A::Error> {
        let mut entries = WithoutVersion {
            map,
            version: None,
            done: false,
        };
        let value = T::deserialize(&mut entries)?;
        // `T` may stop before the end of the object; the version may come last.
        while entries.next_key::<de::IgnoredAny>()?.is_some() {
            entries.next_value::<de::IgnoredAny>()?;
        }
        let schema_version = entries
            .version
            .ok_or_else(|| de::Error::missing_field(VERSION_KEY))?;
        Ok(Versioned {
            schema_version,
            value,
        })
    }
}

/// The envelope's entries without `schema_version`, which is kept aside; as a deserializer it
/// offers them to `T` as a map (structs, and maps with string keys, read from that alike).
struct WithoutVersion<A> {
    map: A,
    version: Option<u32>,
    /// Whether the envelope's end was reached (it is not asked again).
    done: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutVersion<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = Some(seed);
        while !self.done {
            match self.map.next_key_seed(KeySeed { seed: &mut seed })? {
                None => self.done = true,
                Some(Key::Field(key)) => return Ok(Some(key)),
                Some(Key::Version) => self.version = Some(self.map.next_value()?),
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for &mut WithoutVersion<A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// A key of the envelope: the version, or one of the value's keys as `T` reads it.
enum Key<K> {
    Version,
    Field(K),
}

/// Reads a key; a key other than the version goes to `T`'s key seed (taken at most once).
struct KeySeed<'a, K> {
    seed: &'a mut Option<K>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = Key<K::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for KeySeed<'_, K> {
    type Value = Key<K::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        if key == VERSION_KEY {
            return Ok(Key::Version);
        }
        self.field(de::value::BorrowedStrDeserializer::<E>::new(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        if key == VERSION_KEY {
            return Ok(Key::Version);
        }
        self.field(IntoDeserializer::<E>::into_deserializer(key))
    }
}

impl<'de, K: DeserializeSeed<'de>> KeySeed<'_, K> {
    fn field<D: Deserializer<'de>>(self, key: D) -> Result<Key<K::Value>, D::Error> {
        let seed = self
            .seed
            .take()
            .ok_or_else(|| de::Error::custom("a key was read twice"))?;
        seed.deserialize(key).map(Key::Field)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{Build, Observed, Record};

    /// How values were read before: serde's flatten.
    #[derive(Deserialize)]
    struct Flattened<T> {
        schema_version: u32,
        #[serde(flatten)]
        value: T,
    }

    fn observed() -> Observed {
        let build = Build {
            version: "1.0.0".into(),
            fingerprint: Some("1a2b3c4d".into()),
            description: "Spring menu \"quoted\" [mf:1a2b3c4d]".into(),
        };
        Observed {
            authorized: true,
            experience: Some(build.clone()),
            builds: vec![build],
            members: vec!["u-1".into()],
            ..Observed::default()
        }
    }

    #[test]
    fn values_read_back_as_the_flattening_reader_read_them() {
        let text = serde_json::to_string(&Versioned {
            schema_version: 1,
            value: observed(),
        })
        .unwrap();
        assert!(text.starts_with("{\"schema_version\":1,\"authorized\":true"));
        let new: Versioned<Observed> = serde_json::from_str(&text).unwrap();
        let old: Flattened<Observed> = serde_json::from_str(&text).unwrap();
        assert_eq!(new.value, old.value);
        assert_eq!((new.schema_version, old.schema_version), (1, 1));
        assert_eq!(new.value, observed());
    }

    #[test]
    fn the_version_may_stand_anywhere_and_maps_do_not_see_it() {
        let text = r#"{"a":"1","schema_version":3,"b\"":"2"}"#;
        let map: Versioned<BTreeMap<String, String>> = serde_json::from_str(text).unwrap();
        assert_eq!(map.schema_version, 3);
        assert_eq!(map.value.len(), 2);
        assert_eq!(map.value["b\""], "2");
        let last = r#"{"last_fingerprint":"1a2b3c4d","failures":2,"schema_version":1}"#;
        let record: Versioned<Record> = serde_json::from_str(last).unwrap();
        assert_eq!(record.value.failures, 2);
        assert_eq!(record.value.last_fingerprint.as_deref(), Some("1a2b3c4d"));
    }

    #[test]
    fn a_value_without_its_version_or_not_an_object_is_refused() {
        let missing = serde_json::from_str::<Versioned<Record>>(r#"{"failures":2}"#);
        let err = missing.err().unwrap().to_string();
        assert!(err.contains("schema_version"), "{err}");
        assert!(serde_json::from_str::<Versioned<Record>>("[1]").is_err());
        let bad = serde_json::from_str::<Versioned<Record>>(r#"{"schema_version":"x"}"#);
        assert!(bad.is_err());
        let wrong =
            serde_json::from_str::<Versioned<Record>>(r#"{"schema_version":1,"failures":"x"}"#);
        assert!(wrong.is_err());
    }
}
