//! Turns a TOML parse or serde error into a [`ConfigError`] that names the
//! dotted key, found by walking a span-keeping parse of the same text.

use std::ops::Range;
use std::path::Path;

use toml_edit::{ImDocument, Item, Value};

use super::error::ConfigError;
use super::position::Position;
use super::raw::OPTION_VALUE;

/// Describes `error`, raised while reading `text` (the content of `file`).
pub fn describe(file: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let offset = error.span().map(|s| s.start);
    let position = Some(offset.map_or(Position::START, |o| Position::of(text, o)));
    let message = error.message().trim().replace('\n', ", ");
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        // The text itself is not TOML: a syntax error, which has no key.
        Err(_) => {
            return ConfigError::new(
                file,
                position,
                None,
                format!("TOML syntax error: {message}"),
                "fix the syntax at this position (https://toml.io)",
            )
        }
    };
    let key = offset.and_then(|o| key_at(doc.as_table(), o));
    let (problem, fix) = explain(&message);
    ConfigError::new(file, position, key, problem, fix)
}

/// The dotted key whose name or value covers byte `offset`, deepest first.
pub fn key_at(root: &toml_edit::Table, offset: usize) -> Option<String> {
    let mut path = Vec::new();
    walk_table(root, offset, &mut path).then(|| join(&path))
}

/// The key span of the table or value at `path` (e.g. `["kafka"]`), used to
/// point at a section that lacks a required key.
pub fn key_span(root: &toml_edit::Table, path: &[&str]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (key, item) = root.get_key_value(first)?;
    if rest.is_empty() {
        return key.span();
    }
    match item {
        Item::Table(t) => key_span(t, rest),
        Item::Value(Value::InlineTable(t)) => {
            let (key, _) = t.get_key_value(rest.first()?)?;
            key.span()
        }
        _ => None,
    }
}

fn walk_table(table: &toml_edit::Table, offset: usize, path: &mut Vec<String>) -> bool {
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else {
            continue;
        };
        path.push(name.to_string());
        if covers(key.span(), offset) || walk_item(item, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn walk_item(item: &Item, offset: usize, path: &mut Vec<String>) -> bool {
    match item {
        Item::Value(v) => walk_value(v, offset, path),
        // Dotted-key tables have no span: look inside them regardless.
        Item::Table(t) => walk_table(t, offset, path) || covers(t.span(), offset),
        Item::ArrayOfTables(tables) => tables.iter().enumerate().any(|(i, t)| {
            path.push(format!("[{i}]"));
            let found = walk_table(t, offset, path) || covers(t.span(), offset);
            if !found {
                path.pop();
            }
            found
        }),
        Item::None => false,
    }
}

fn walk_value(value: &Value, offset: usize, path: &mut Vec<String>) -> bool {
    match value {
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                if walk_value(v, offset, path) {
                    return true;
                }
                path.pop();
            }
            covers(items.span(), offset)
        }
        Value::InlineTable(t) => {
            for (name, _) in t.iter() {
                let Some((key, item)) = t.get_key_value(name) else {
                    continue;
                };
                path.push(name.to_string());
                if covers(key.span(), offset) || walk_item(item, offset, path) {
                    return true;
                }
                path.pop();
            }
            covers(t.span(), offset)
        }
        other => covers(other.span(), offset),
    }
}

fn covers(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

/// `source` + `key_columns` + `shop.events` → `source.key_columns."shop.events"`;
/// array indices attach without a dot: `source.tables[1]`.
pub fn join(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.starts_with('[') {
            out.push_str(part);
            continue;
        }
        if !out.is_empty() {
            out.push('.');
        }
        if !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push_str(part);
        } else {
            out.push_str(&format!("{part:?}"));
        }
    }
    out
}

/// Rewrites serde's wording into a problem and a fix a user can act on.
fn explain(message: &str) -> (String, String) {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let problem = format!("unknown key `{field}`");
        let fix = match closest(field, &valid) {
            Some(best) => format!(
                "did you mean `{best}`? (valid keys here: {})",
                valid.join(", ")
            ),
            None if valid.is_empty() => "remove it".to_string(),
            None => format!("remove it or use one of: {}", valid.join(", ")),
        };
        return (problem, fix);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        // `Spanned` meeting a dotted-key table reports the table's first key
        // as the value it found; say what actually happened.
        if expected == "a borrowed string" {
            return (
                "wrong type: found a table (dotted key), expected a single value".into(),
                "write key = value here, without further dots in the key".into(),
            );
        }
        let expected = plain_type(expected);
        let mut fix = format!("write {expected} here");
        if expected == OPTION_VALUE {
            fix.push_str(
                "; quote librdkafka keys that contain dots: \"compression.type\" = \"zstd\"",
            );
        }
        return (
            format!(
                "wrong type: found {}, expected {expected}",
                plain_type(found)
            ),
            fix,
        );
    }
    (message.to_string(), "fix this value".to_string())
}

/// Serde's Rust-flavoured type names in TOML words.
fn plain_type(t: &str) -> String {
    match t {
        "i64" | "u64" | "u32" | "i32" => "an integer".into(),
        "a sequence" | "sequence" => "an array".into(),
        "map" => "a table".into(),
        t if t.starts_with("struct ") || t == "a map" => "a table".into(),
        t => t.into(),
    }
}

/// The valid key nearest to a typo (edit distance at most 3).
fn closest<'a>(typo: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (distance(typo, v), *v))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, v)| v)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str, needle: &str) -> Option<String> {
        let doc = ImDocument::parse(text).unwrap();
        key_at(doc.as_table(), text.find(needle).unwrap())
    }

    #[test]
    fn finds_keys_values_and_array_elements() {
        let text = "name = \"x\"\n[source]\nserver_id = \"abc\"\ntables = [\"a.b\", \"c\"]\n";
        assert_eq!(key(text, "server_id").as_deref(), Some("source.server_id"));
        assert_eq!(key(text, "\"abc\"").as_deref(), Some("source.server_id"));
        assert_eq!(key(text, "\"c\"").as_deref(), Some("source.tables[1]"));
        assert_eq!(key(text, "\"x\"").as_deref(), Some("name"));
    }

    #[test]
    fn finds_keys_in_dotted_and_inline_tables_and_quotes_odd_names() {
        let text =
            "source.key_columns.\"shop.events\" = [1]\nkafka = { options = { acks = [] } }\n";
        assert_eq!(
            key(text, "1]").as_deref(),
            Some("source.key_columns.\"shop.events\"[0]")
        );
        assert_eq!(key(text, "[]").as_deref(), Some("kafka.options.acks"));
    }

    #[test]
    fn explains_unknown_keys_with_a_suggestion() {
        let (problem, fix) = explain(
            "unknown field `flush_intervall`, expected one of `table_uri`, `flush_interval`",
        );
        assert_eq!(problem, "unknown key `flush_intervall`");
        assert!(fix.starts_with("did you mean `flush_interval`?"), "{fix}");
        let (_, fix) = explain("unknown field `zzzzzzzz`, expected `url`");
        assert_eq!(fix, "remove it or use one of: url");
    }

    #[test]
    fn explains_wrong_types_in_toml_words() {
        let (problem, _) = explain("invalid type: string \"abc\", expected i64");
        assert_eq!(
            problem,
            "wrong type: found string \"abc\", expected an integer"
        );
        let (problem, _) = explain("invalid type: string \"x\", expected a borrowed string");
        assert_eq!(
            problem,
            "wrong type: found a table (dotted key), expected a single value"
        );
        let (problem, fix) =
            explain("invalid type: sequence, expected a string, number or boolean");
        assert_eq!(
            problem,
            "wrong type: found an array, expected a string, number or boolean"
        );
        assert!(fix.contains("quote librdkafka keys"), "{fix}");
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
