//! Request bodies that carry a schema, Avro validation, and the normalised
//! form that decides whether two schema strings are "the same schema".

use apache_avro::Schema;
use serde_json::Value;

use super::error::ApiError;

/// The body of POST /subjects/{s}/versions, POST /subjects/{s} and the
/// compatibility checks. `id`/`version` only matter in IMPORT mode.
#[derive(Debug, Clone)]
pub struct SchemaRequest {
    pub schema: String,
    pub id: Option<u32>,
    pub version: Option<u32>,
}

/// A schema accepted as valid Avro.
#[derive(Debug)]
pub struct ParsedSchema {
    /// The text as the client sent it; what the registry stores and returns.
    pub text: String,
    /// Identity key: see [`normalise`].
    pub canonical: String,
    pub avro: Schema,
}

/// Parses a request body (whatever its content type) into a schema request,
/// refusing schema types and features this registry does not support.
pub fn parse_request(body: &[u8]) -> Result<SchemaRequest, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    if let Some(kind) = map.get("schemaType").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("AVRO") {
            return Err(ApiError::invalid_schema(format!(
                "schemaType {kind} is not supported: this registry supports only AVRO schemas"
            )));
        }
    }
    match map.get("references") {
        None | Some(Value::Null) => {}
        Some(Value::Array(refs)) if refs.is_empty() => {}
        Some(_) => {
            return Err(ApiError::invalid_schema(
                "schema references are not supported by this registry; \
                 inline the referenced types into the schema",
            ))
        }
    }
    let schema = match map.get("schema") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::invalid_schema("Empty schema"))
        }
        Some(_) => return Err(ApiError::invalid_schema("field 'schema' must be a string")),
    };
    Ok(SchemaRequest {
        schema,
        id: optional_positive(&map, "id")?,
        version: optional_positive(&map, "version")?,
    })
}

/// `id`/`version` are absent, null, or (Confluent's "unset") 0/-1.
fn optional_positive(
    map: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<u32>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v <= 0 => Ok(None),
            Some(v) => u32::try_from(v)
                .ok()
                .filter(|v| *v <= i32::MAX as u32)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{key} {v} is out of range"))),
            None => Err(ApiError::bad_request(format!("{key} must be an integer"))),
        },
        Some(_) => Err(ApiError::bad_request(format!("{key} must be an integer"))),
    }
}

/// Validates `text` as an Avro schema and computes its identity key.
pub fn parse_schema(text: &str) -> Result<ParsedSchema, ApiError> {
    let json: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::invalid_schema(format!("Invalid schema: not JSON: {e}")))?;
    let avro = Schema::parse(&json)
        .map_err(|e| ApiError::invalid_schema(format!("Invalid schema: {e}")))?;
    Ok(ParsedSchema {
        text: text.to_owned(),
        canonical: normalise(&json),
        avro,
    })
}

/// A normalised full JSON form: whitespace and object key order do not
/// matter and `{"type":"int"}` equals `"int"`, but docs, defaults, aliases
/// and custom properties do. (Avro's Parsing Canonical Form would drop
/// defaults and docs, so it cannot decide identity.)
pub fn normalise(json: &Value) -> String {
    let mut out = String::new();
    write_normalised(json, &mut out);
    out
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn write_normalised(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(Value::String(t)) = map.get("type") {
                    if PRIMITIVES.contains(&t.as_str()) {
                        write_scalar(&Value::String(t.clone()), out);
                        return;
                    }
                }
            }
            // Sorted explicitly: serde_json's map order depends on crate features.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_normalised(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_normalised(item, out);
            }
            out.push(']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut String) {
    out.push_str(&value.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        parse_schema(text).map(|p| p.canonical).unwrap_or_default()
    }

    #[test]
    fn whitespace_key_order_and_wrapped_primitives_do_not_matter() {
        let a = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let b = r#"{ "fields": [ {"type": {"type":"int"}, "name": "a"} ], "name": "R", "type": "record" }"#;
        assert_eq!(canon(a), canon(b));
        assert!(!canon(a).is_empty());
    }

    #[test]
    fn defaults_docs_and_field_order_do_matter() {
        let a = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let with_default =
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}"#;
        let with_doc =
            r#"{"type":"record","name":"R","doc":"d","fields":[{"name":"a","type":"int"}]}"#;
        assert_ne!(canon(a), canon(with_default));
        assert_ne!(canon(a), canon(with_doc));
        let ab = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#;
        let ba = r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int"},{"name":"a","type":"int"}]}"#;
        assert_ne!(canon(ab), canon(ba));
    }

    #[test]
    fn refuses_other_types_references_and_bad_avro() {
        let json = br#"{"schema":"{}","schemaType":"JSON"}"#;
        let err = parse_request(json).err().map(|e| e.code);
        assert_eq!(err, Some(42201));
        let refs = br#"{"schema":"\"int\"","references":[{"name":"a","subject":"b","version":1}]}"#;
        assert_eq!(parse_request(refs).err().map(|e| e.code), Some(42201));
        assert_eq!(
            parse_schema(r#"{"type":"nope"}"#).err().map(|e| e.code),
            Some(42201)
        );
        assert!(parse_request(br#"{"schema":"\"int\"","references":[]}"#).is_ok());
    }
}
