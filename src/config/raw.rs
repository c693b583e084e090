//! The connector file exactly as written: serde types with spans, before any
//! semantic check. Every field is optional here so that missing keys are
//! reported together with every other problem, not one at a time by serde.
//!
//! Sections are plain structs, not `Spanned`: a table written with dotted
//! keys (`source.url = …`) has no span, and `Spanned` would fail on it.
//! Map values (`key_columns`, `kafka.options`) are unspanned for the same
//! reason; their keys carry the location.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A string value with its location.
pub type Str = Spanned<String>;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnector {
    pub name: Option<Str>,
    pub source: Option<RawSource>,
    pub kafka: Option<RawKafka>,
    pub registry: Option<RawRegistry>,
    pub sink: Option<RawSink>,
    pub metrics: Option<RawMetrics>,
}

/// `[source]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: Option<Str>,
    pub password_env: Option<Str>,
    pub server_id: Option<Spanned<i64>>,
    pub tables: Option<Spanned<Vec<Str>>>,
    #[serde(default)]
    pub exclude_tables: Vec<Str>,
    #[serde(default)]
    pub exclude_columns: Vec<Str>,
    #[serde(default)]
    pub key_columns: BTreeMap<Str, Vec<Str>>,
    pub snapshot: Option<Str>,
    pub snapshot_chunk_rows: Option<Spanned<i64>>,
    pub snapshot_parallelism: Option<Spanned<i64>>,
    pub heartbeat: Option<Str>,
}

/// `[kafka]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    pub brokers: Option<Str>,
    pub transactions: Option<Spanned<bool>>,
    #[serde(default)]
    pub options: BTreeMap<Str, OptionValue>,
}

/// `[registry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    pub url: Option<Str>,
    pub compatibility: Option<Str>,
    #[serde(default)]
    pub subject_compatibility: BTreeMap<Str, Str>,
}

/// `[sink]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub table_uri: Option<Str>,
    pub flush_interval: Option<Str>,
    pub max_batch_rows: Option<Spanned<i64>>,
    pub deletes: Option<Str>,
    pub vacuum_retention: Option<Str>,
    pub vacuum_interval: Option<Str>,
    pub deletion_vectors: Option<Spanned<bool>>,
    pub partitions: Option<Str>,
    /// `[sink.storage]`: the object store's non-secret settings.
    #[serde(default)]
    pub storage: BTreeMap<Str, OptionValue>,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<Str>,
}

/// What a `[kafka.options]` value may be; `locate` adds a hint on unquoted
/// dotted keys when it sees this in an error.
pub const OPTION_VALUE: &str = "a string, number or boolean";

/// A `[kafka.options]` value: librdkafka takes every property as a string,
/// so numbers and booleans are accepted and rendered as text.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl OptionValue {
    /// The text librdkafka receives.
    pub fn to_text(&self) -> String {
        match self {
            OptionValue::Text(s) => s.clone(),
            OptionValue::Integer(i) => i.to_string(),
            OptionValue::Float(f) => f.to_string(),
            OptionValue::Bool(b) => b.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for OptionValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OptionValueVisitor)
    }
}

struct OptionValueVisitor;

impl<'de> Visitor<'de> for OptionValueVisitor {
    type Value = OptionValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(OPTION_VALUE)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OptionValue, E> {
        Ok(OptionValue::Text(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptionValue, E> {
        Ok(OptionValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptionValue, E> {
        i64::try_from(v)
            .map(OptionValue::Integer)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<OptionValue, E> {
        Ok(OptionValue::Float(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<OptionValue, E> {
        Ok(OptionValue::Bool(v))
    }
}
