//! Compatibility levels, decided by Avro schema resolution
//! (`apache_avro::schema_compatibility`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use apache_avro::schema::{Name, UnionSchema};
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// A subject's (or the global) compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    None,
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Transitive levels check every live version, the others only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    /// The new schema must read data written with the old ones.
    fn backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }

    /// The old schemas must read data written with the new one.
    fn forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, ApiError> {
        let all = [
            Level::None,
            Level::Backward,
            Level::BackwardTransitive,
            Level::Forward,
            Level::ForwardTransitive,
            Level::Full,
            Level::FullTransitive,
        ];
        all.into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ApiError::invalid_compatibility(s))
    }
}

/// Checks `candidate` against `previous` (newest first, as `(version,
/// schema)`); the level decides the directions and, when transitive, that
/// every entry is checked rather than only the first. Returns one message
/// per failure: empty means compatible.
pub fn check(level: Level, candidate: &Schema, previous: &[(u32, &Schema)]) -> Vec<String> {
    let labelled: Vec<(String, &Schema)> = previous
        .iter()
        .map(|(version, schema)| (format!("version {version}"), *schema))
        .collect();
    check_labelled(level, candidate, &labelled)
}

/// [`check`] with the previous schemas named by `label` in the messages
/// (e.g. `schemas/x.avsc at origin/main` rather than a registry version).
pub fn check_labelled(
    level: Level,
    candidate: &Schema,
    previous: &[(String, &Schema)],
) -> Vec<String> {
    let targets = if level.is_transitive() {
        previous
    } else {
        &previous[..previous.len().min(1)]
    };
    let candidate = expand_refs(candidate);
    let mut messages = Vec::new();
    for (label, old) in targets {
        let old = expand_refs(old);
        if level.backward() {
            if let Err(why) = can_read(&old, &candidate) {
                messages.push(format!(
                    "{level}: the new schema cannot read data written with {label}: {why}"
                ));
            }
        }
        if level.forward() {
            if let Err(why) = can_read(&candidate, &old) {
                messages.push(format!(
                    "{level}: {label} cannot read data written with the new schema: {why}"
                ));
            }
        }
    }
    messages
}

/// The named types (records, enums, fixed) `schema` defines, by full name:
/// lets a caller check a nested record on its own, where the resolution
/// checker names the field at fault instead of a failing union branch.
pub fn named_types(schema: &Schema) -> HashMap<Name, Schema> {
    let mut defs = HashMap::new();
    collect_defs(schema, &mut defs);
    defs
}

/// Only full compatibility counts: a partial match (a union branch or enum
/// symbol the reader lacks) fails for some data, as in Confluent's checker.
fn can_read(writer: &Schema, reader: &Schema) -> Result<(), String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        // Inside a union the checker reports a failing branch only as
        // partial: the usual cause is a record field added without a default.
        Ok(Compatibility::Partial) => Err(
            "some values the writer can produce cannot be read: a union branch cannot be \
             resolved (typically a record field added without a default, or a changed field \
             type) or an enum symbol is missing in the reader"
                .to_owned(),
        ),
        Err(e) => Err(e.to_string()),
    }
}

/// Replaces references to named types by their definitions (recursive
/// references stay), because the resolution checker compares a reference
/// only by name and fails when one side inlines what the other references.
/// Logical types become their underlying type: Confluent's checker (Java
/// Avro's schema resolution) ignores them, so `DECIMAL(10,2)` →
/// `DECIMAL(14,4)` or `int` → `date` is compatible there, and must be here.
fn expand_refs(schema: &Schema) -> Schema {
    let mut defs = HashMap::new();
    collect_defs(schema, &mut defs);
    expand(schema, &defs, &mut Vec::new())
}

fn collect_defs(schema: &Schema, defs: &mut HashMap<Name, Schema>) {
    if !matches!(schema, Schema::Ref { .. }) {
        if let Some(name) = schema.name() {
            defs.entry(name.clone()).or_insert_with(|| schema.clone());
        }
    }
    match schema {
        Schema::Record(r) => r.fields.iter().for_each(|f| collect_defs(&f.schema, defs)),
        Schema::Array(a) => collect_defs(&a.items, defs),
        Schema::Map(m) => collect_defs(&m.types, defs),
        Schema::Union(u) => u.variants().iter().for_each(|v| collect_defs(v, defs)),
        _ => {}
    }
}

fn expand(schema: &Schema, defs: &HashMap<Name, Schema>, stack: &mut Vec<Name>) -> Schema {
    match schema {
        Schema::Ref { name } => match defs.get(name) {
            Some(def) if !stack.contains(name) => expand(def, defs, stack),
            _ => schema.clone(),
        },
        Schema::Record(r) => {
            stack.push(r.name.clone());
            let mut record = r.clone();
            for field in &mut record.fields {
                field.schema = expand(&field.schema, defs, stack);
            }
            stack.pop();
            Schema::Record(record)
        }
        Schema::Array(a) => {
            let mut array = a.clone();
            array.items = Box::new(expand(&a.items, defs, stack));
            Schema::Array(array)
        }
        Schema::Map(m) => {
            let mut map = m.clone();
            map.types = Box::new(expand(&m.types, defs, stack));
            Schema::Map(map)
        }
        Schema::Union(u) => {
            let variants = u
                .variants()
                .iter()
                .map(|v| expand(v, defs, stack))
                .collect();
            UnionSchema::new(variants)
                .map(Schema::Union)
                .unwrap_or_else(|_| schema.clone())
        }
        Schema::Decimal(d) => match &d.inner {
            apache_avro::schema::InnerDecimalSchema::Fixed(f) => Schema::Fixed(f.clone()),
            apache_avro::schema::InnerDecimalSchema::Bytes => Schema::Bytes,
        },
        Schema::BigDecimal => Schema::Bytes,
        Schema::Uuid(apache_avro::schema::UuidSchema::String) => Schema::String,
        Schema::Uuid(apache_avro::schema::UuidSchema::Bytes) => Schema::Bytes,
        Schema::Uuid(apache_avro::schema::UuidSchema::Fixed(f)) => Schema::Fixed(f.clone()),
        Schema::Duration(f) => Schema::Fixed(f.clone()),
        Schema::Date | Schema::TimeMillis => Schema::Int,
        Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Schema::Long,
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Schema {
        match Schema::parse_str(text) {
            Ok(s) => s,
            Err(e) => panic!("test schema does not parse: {e}"),
        }
    }

    const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#;
    const V2_DEFAULT: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}"#;

    #[test]
    fn backward_needs_defaults_for_new_fields() {
        let (v1, nd, d) = (parse(V1), parse(V2_NO_DEFAULT), parse(V2_DEFAULT));
        assert!(!check(Level::Backward, &nd, &[(1, &v1)]).is_empty());
        assert!(check(Level::Backward, &d, &[(1, &v1)]).is_empty());
        assert!(check(Level::Forward, &nd, &[(1, &v1)]).is_empty());
        assert!(check(Level::None, &nd, &[(1, &v1)]).is_empty());
    }

    #[test]
    fn logical_types_are_compared_as_their_underlying_types() {
        let dec = |p: u32, s: u32| {
            parse(&format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"d","type":{{"type":"bytes","logicalType":"decimal","precision":{p},"scale":{s}}}}}]}}"#
            ))
        };
        assert!(check(Level::Backward, &dec(14, 4), &[(1, &dec(10, 2))]).is_empty());
        let int = parse(r#"{"type":"record","name":"R","fields":[{"name":"d","type":"int"}]}"#);
        let long = parse(r#"{"type":"record","name":"R","fields":[{"name":"d","type":"long"}]}"#);
        let text = parse(r#"{"type":"record","name":"R","fields":[{"name":"d","type":"string"}]}"#);
        assert!(
            check(Level::Backward, &long, &[(1, &int)]).is_empty(),
            "int → long promotes"
        );
        assert!(
            !check(Level::Backward, &int, &[(1, &long)]).is_empty(),
            "long → int narrows"
        );
        assert!(
            !check(Level::Backward, &text, &[(1, &int)]).is_empty(),
            "int → string"
        );
    }

    #[test]
    fn forward_fails_when_a_field_without_default_is_removed() {
        let (v1, v2) = (parse(V2_NO_DEFAULT), parse(V1));
        assert!(!check(Level::Forward, &v2, &[(1, &v1)]).is_empty());
        assert!(check(Level::Backward, &v2, &[(1, &v1)]).is_empty());
        assert!(!check(Level::Full, &v2, &[(1, &v1)]).is_empty());
    }

    #[test]
    fn inlined_and_referenced_named_types_compare_equal() {
        // The old schema defines V in `before`; the new one defines it in a
        // new first field and only references it from `before`.
        let old = parse(
            r#"{"type":"record","name":"E","fields":[
            {"name":"before","type":["null",{"type":"record","name":"V","fields":[{"name":"x","type":"int"}]}]},
            {"name":"after","type":["null","V"]}]}"#,
        );
        let new = parse(
            r#"{"type":"record","name":"E","fields":[
            {"name":"extra","type":["null",{"type":"record","name":"V","fields":[{"name":"x","type":"int"}]}],"default":null},
            {"name":"before","type":["null","V"]},
            {"name":"after","type":["null","V"]}]}"#,
        );
        assert!(check(Level::Backward, &new, &[(1, &old)]).is_empty());
        let renamed = parse(
            r#"{"type":"record","name":"E","fields":[
            {"name":"before","type":["null",{"type":"record","name":"W","fields":[{"name":"x","type":"int"}]}]},
            {"name":"after","type":["null","W"]}]}"#,
        );
        assert!(!check(Level::Backward, &renamed, &[(1, &old)]).is_empty());
    }

    #[test]
    fn levels_parse_case_insensitively_and_refuse_junk() {
        assert_eq!(
            "full_transitive".parse::<Level>().ok(),
            Some(Level::FullTransitive)
        );
        assert_eq!("BOGUS".parse::<Level>().err().map(|e| e.code), Some(42203));
    }
}
