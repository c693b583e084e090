//! Avro names of a captured table (its topic and subjects: [`crate::wire`]).
//!
//! Avro names must match `[A-Za-z_][A-Za-z0-9_]*`; MySQL allows far more (`order-items`, `prénom`,
//! `2024_sales`). Like Debezium, other characters become `_`, so the schema a
//! consumer sees stays valid while its names stay recognisable.

use thiserror::Error;

use crate::event::TableSchema;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "table {table}: columns {first:?} and {second:?} both become the Avro field name \
         {avro:?}; exclude one of them with `exclude_columns` or rename it"
    )]
    ColumnCollision {
        table: String,
        first: String,
        second: String,
        avro: String,
    },
}

/// `name` made a valid Avro name: every character outside `[A-Za-z0-9_]`
/// becomes `_`, and a leading digit (or an empty name) gets a `_` prefix.
pub fn avro_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// The Kafka topic of a table: [`crate::wire::table_topic`].
pub fn topic_name(connector: &str, table: &TableSchema) -> String {
    crate::wire::table_topic(connector, &table.db, &table.table)
}

/// The Avro names of one table, computed once so the schema and every
/// encoded record agree on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// `{connector}.{db}.{table}`, each part sanitised.
    pub namespace: String,
    /// Avro field name of each column, in `TableSchema::columns` order.
    pub fields: Vec<String>,
}

impl TableNames {
    pub fn new(connector: &str, table: &TableSchema) -> Result<Self, NameError> {
        let namespace = format!(
            "{}.{}.{}",
            avro_name(connector),
            avro_name(&table.db),
            avro_name(&table.table)
        );
        let fields: Vec<String> = table.columns.iter().map(|c| avro_name(&c.name)).collect();
        // Duplicate field names would make the schema invalid; name both columns.
        let mut seen: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(fields.len());
        for (i, field) in fields.iter().enumerate() {
            if let Some(&first) = seen.get(field.as_str()) {
                return Err(NameError::ColumnCollision {
                    table: table.qualified_name(),
                    first: table.columns[first].name.clone(),
                    second: table.columns[i].name.clone(),
                    avro: field.clone(),
                });
            }
            seen.insert(field.as_str(), i);
        }
        Ok(TableNames { namespace, fields })
    }

    /// Full name of the key record.
    pub fn key_record(&self) -> String {
        format!("{}.Key", self.namespace)
    }

    /// Full name of the row record used by `before` and `after`.
    pub fn value_record(&self) -> String {
        format!("{}.Value", self.namespace)
    }

    /// Full name of the envelope record.
    pub fn envelope_record(&self) -> String {
        format!("{}.Envelope", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Column, ColumnType};

    fn table(db: &str, name: &str, cols: &[&str]) -> TableSchema {
        TableSchema {
            db: db.into(),
            table: name.into(),
            columns: cols
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    data_type: ColumnType::Int,
                    nullable: false,
                    source_type: "int".into(),
                    default: None,
                })
                .collect(),
            key: vec![0],
        }
    }

    #[test]
    fn sanitises_like_debezium() {
        assert_eq!(avro_name("id"), "id");
        assert_eq!(avro_name("_x9"), "_x9");
        assert_eq!(avro_name("order-items"), "order_items");
        assert_eq!(avro_name("prénom"), "pr_nom");
        assert_eq!(avro_name("2024_sales"), "_2024_sales");
        assert_eq!(avro_name("a b$c"), "a_b_c");
        assert_eq!(avro_name(""), "_");
    }

    #[test]
    fn names_of_a_table() {
        let t = table("my-db", "9lives", &["id", "first name"]);
        let n = TableNames::new("shop.eu", &t).unwrap();
        assert_eq!(n.namespace, "shop_eu.my_db._9lives");
        assert_eq!(n.fields, ["id", "first_name"]);
        assert_eq!(n.key_record(), "shop_eu.my_db._9lives.Key");
        assert_eq!(n.envelope_record(), "shop_eu.my_db._9lives.Envelope");
        assert_eq!(topic_name("shop", &t), "shop.my-db.9lives");
        assert_eq!(
            topic_name("shop", &table("a$b", "ü", &["id"])),
            "shop.a_b._"
        );
    }

    #[test]
    fn colliding_columns_are_an_error() {
        let t = table("db", "t", &["id", "a-b", "a_b"]);
        let err = TableNames::new("shop", &t).unwrap_err();
        assert_eq!(
            err,
            NameError::ColumnCollision {
                table: "db.t".into(),
                first: "a-b".into(),
                second: "a_b".into(),
                avro: "a_b".into()
            }
        );
        assert!(err.to_string().contains("exclude_columns"));
    }
}
