//! Which writer schemas a topic's Delta table takes, remembered per schema
//! id. A pending record keeps its Kafka message only to send it to the
//! dead-letter topic should the table refuse its schema; a record whose
//! schema is known to fit drops it when it arrives, which is about a third
//! of what a full batch holds.

use std::collections::HashSet;

use deltalake::arrow::datatypes::SchemaRef;

use super::decode::RowSchema;
use super::delta::evolve_schema;
use super::rows;

#[derive(Default)]
pub(super) struct SchemaFit {
    fits: HashSet<u32>,
    refused: HashSet<u32>,
    /// Before the table exists: the table its first commit will create,
    /// the first schema's columns extended and widened by those that fit
    /// after it (as the flush does).
    planned: Option<SchemaRef>,
}

impl SchemaFit {
    /// Whether records of `schema` fit `table` (its schema, `None` while it
    /// does not exist yet). A fit is remembered: binlake's own commits only
    /// add and widen columns, so what fits stays fitting; a table changed
    /// outside binlake is caught when the batch is flushed.
    pub(super) fn fits(
        &mut self,
        schema: &RowSchema,
        table: Option<&SchemaRef>,
        soft_deletes: bool,
    ) -> bool {
        if self.fits.contains(&schema.id) {
            return true;
        }
        if self.refused.contains(&schema.id) {
            return false;
        }
        let fits = match table.or(self.planned.as_ref()) {
            Some(current) => match evolve_schema(current, "", &schema.column_types()) {
                Ok(next) => {
                    if table.is_none() {
                        if let Some(next) = next {
                            self.planned = Some(next);
                        }
                    }
                    true
                }
                Err(_) => false,
            },
            None => {
                self.planned = Some(rows::table_schema(&schema.columns, soft_deletes));
                true
            }
        };
        if fits {
            self.fits.insert(schema.id);
        } else {
            self.refused.insert(schema.id);
        }
        fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::decode::ColumnSpec;
    use deltalake::arrow::datatypes::DataType;
    use std::collections::HashMap;

    fn schema(id: u32, cols: &[(&str, DataType)]) -> RowSchema {
        let columns: Vec<ColumnSpec> = cols
            .iter()
            .map(|(n, t)| ColumnSpec {
                name: n.to_string(),
                data_type: t.clone(),
                default: None,
            })
            .collect();
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect::<HashMap<_, _>>();
        RowSchema { id, columns, index }
    }

    #[test]
    fn before_the_table_exists_later_schemas_are_checked_against_the_first() {
        let mut fit = SchemaFit::default();
        let a = schema(1, &[("id", DataType::Int64), ("c", DataType::Int32)]);
        let added = schema(
            2,
            &[
                ("id", DataType::Int64),
                ("c", DataType::Int32),
                ("d", DataType::Utf8),
            ],
        );
        let retyped = schema(3, &[("id", DataType::Int64), ("c", DataType::Utf8)]);
        assert!(fit.fits(&a, None, false));
        assert!(fit.fits(&added, None, false));
        assert!(!fit.fits(&retyped, None, false));
        let widened = schema(4, &[("id", DataType::Int64), ("c", DataType::Int64)]);
        assert!(fit.fits(&widened, None, false));
        // Remembered both ways.
        assert!(fit.fits(&a, None, false));
        assert!(!fit.fits(&retyped, None, false));
    }

    #[test]
    fn an_existing_table_decides() {
        let mut fit = SchemaFit::default();
        let table = rows::table_schema(
            &schema(9, &[("id", DataType::Int64), ("c", DataType::Utf8)]).columns,
            false,
        );
        let a = schema(1, &[("id", DataType::Int64), ("c", DataType::Int32)]);
        let b = schema(
            2,
            &[
                ("id", DataType::Int64),
                ("c", DataType::Utf8),
                ("e", DataType::Float64),
            ],
        );
        assert!(!fit.fits(&a, Some(&table), false));
        assert!(fit.fits(&b, Some(&table), false));
    }
}
