//! Column defaults on the sink side: what a row holds in a column its
//! record's writer schema lacks.
//!
//! Avro's answer — the reader's default — is MySQL's too for a column added
//! after the record was written: `ALTER TABLE … ADD COLUMN c … DEFAULT x`
//! gives every existing row `x` without a row event. A column dropped
//! before the record was written is null from then on instead. Schema ids
//! rise with registration, so the lowest id seen with a column tells the
//! two apart: a record whose schema id is below it predates the column.

use std::collections::HashMap;

use apache_avro::types::Value as Avro;

use super::decode::RowSchema;

/// Per column, the lowest writer schema id seen with it and its default.
#[derive(Debug, Default, Clone)]
pub struct ColumnHistory {
    first: HashMap<String, (u32, Option<Avro>)>,
}

impl ColumnHistory {
    /// Takes note of a writer schema's columns.
    pub fn observe(&mut self, schema: &RowSchema) {
        for c in &schema.columns {
            let e = self
                .first
                .entry(c.name.clone())
                .or_insert((schema.id, c.default.clone()));
            if schema.id < e.0 {
                *e = (schema.id, c.default.clone());
            }
        }
    }

    /// The value of `column` for a record of writer schema `schema_id`
    /// that lacks it: the column's default when the record predates the
    /// column, else none (null).
    pub fn missing_value(&self, column: &str, schema_id: u32) -> Option<&Avro> {
        self.first
            .get(column)
            .filter(|(first, _)| schema_id < *first)
            .and_then(|(_, d)| d.as_ref())
    }

    /// The non-null default of `column` as first seen, for rows that
    /// predate it (see [`crate::sink::delta::TableTarget::rewrite`]).
    pub fn default_of(&self, column: &str) -> Option<&Avro> {
        self.first.get(column).and_then(|(_, d)| d.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::decode::ColumnSpec;
    use deltalake::arrow::datatypes::DataType;

    fn schema(id: u32, cols: &[(&str, Option<i32>)]) -> RowSchema {
        RowSchema {
            id,
            columns: cols
                .iter()
                .map(|(n, d)| ColumnSpec {
                    name: n.to_string(),
                    data_type: DataType::Int32,
                    default: d.map(Avro::Int),
                })
                .collect(),
            index: cols
                .iter()
                .enumerate()
                .map(|(i, (n, _))| (n.to_string(), i))
                .collect(),
        }
    }

    #[test]
    fn older_records_get_the_default_newer_ones_null() {
        let mut h = ColumnHistory::default();
        // Seen out of order: the newer schema first.
        h.observe(&schema(9, &[("id", None)]));
        h.observe(&schema(7, &[("id", None), ("flag", Some(1))]));
        h.observe(&schema(5, &[("id", None)]));
        assert_eq!(h.missing_value("flag", 5), Some(&Avro::Int(1)));
        assert_eq!(h.missing_value("flag", 9), None, "dropped by then");
        assert_eq!(h.missing_value("other", 5), None);
        assert_eq!(h.default_of("flag"), Some(&Avro::Int(1)));
    }
}
