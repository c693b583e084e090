//! Widening a column's type (TINYINT → BIGINT, FLOAT → DOUBLE, a DECIMAL's
//! precision up), or adding a column with a default that existing rows
//! must hold, by rewriting the table: delta-rs 1.1 cannot write Delta's
//! `typeWidening` table feature, and a reader without it cannot read a file
//! whose physical type differs from the schema. So one commit sets the wider
//! schema, removes every file and writes every live row again with the
//! wider types. Its cost is that of reading and writing the whole table
//! once, at the first change after the ALTER; narrower values arriving
//! later (records written before the ALTER) are widened as they are laid out.
//! Which incoming columns add, widen or are refused is [`evolve_schema`].

use deltalake::arrow::array::{ArrayRef, UInt32Array};
use deltalake::arrow::compute::{concat_batches, take};
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Action;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::DeltaTableError;

use super::{remove_of, TableError, TableTarget};
use crate::clock::now_ms;

/// `current` extended by the columns of `incoming` it lacks, with widened
/// types ([`widens`]); `None` when nothing changes. A column whose type
/// neither equals nor widens the table's is [`TableError::Incompatible`].
pub fn evolve_schema(
    current: &SchemaRef,
    uri: &str,
    incoming: &[(String, DataType)],
) -> Result<Option<SchemaRef>, TableError> {
    let mut fields: Vec<_> = current.fields().iter().cloned().collect();
    let mut added = false;
    for (name, ty) in incoming {
        match current.field_with_name(name) {
            // Narrower values (written before a widening) fit as they are.
            Ok(f) if f.data_type() == ty || widens(ty, f.data_type()) => {}
            // A widened column: the table is rewritten with it (see widen).
            Ok(f) if widens(f.data_type(), ty) => {
                added = true;
                if let Some(slot) = fields.iter_mut().find(|x| x.name() == name) {
                    *slot = Arc::new(f.as_ref().clone().with_data_type(ty.clone()));
                }
            }
            Ok(f) => {
                return Err(TableError::Incompatible {
                    uri: uri.to_string(),
                    column: name.clone(),
                    table_type: f.data_type().to_string(),
                    change_type: ty.to_string(),
                })
            }
            Err(_) => {
                added = true;
                fields.push(Arc::new(Field::new(name, ty.clone(), true)));
            }
        }
    }
    Ok(added.then(|| Arc::new(Schema::new(fields))))
}

/// Whether every value of `from` is exactly a value of `to`.
pub fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (Int32, Int64) | (Float32, Float64) | (Int32, Float64) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            (p1, s1) != (p2, s2)
                && s2 >= s1
                && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
        }
        _ => false,
    }
}

/// The type both `a` and `b` fit in exactly, if one is it.
pub fn wider(a: &DataType, b: &DataType) -> Option<DataType> {
    if a == b || widens(b, a) {
        Some(a.clone())
    } else if widens(a, b) {
        Some(b.clone())
    } else {
        None
    }
}

impl TableTarget {
    /// Whether `schema` gives a column of the table another type.
    pub fn changes_types(&self, schema: &SchemaRef) -> bool {
        self.schema.as_ref().is_some_and(|current| {
            current.fields().iter().any(|f| {
                schema
                    .field_with_name(f.name())
                    .is_ok_and(|n| n.data_type() != f.data_type())
            })
        })
    }

    /// Rewrites the table with `schema` — the table's columns with some
    /// types widened and new columns — in one commit (new metadata, every
    /// file replaced). New columns in `fills` take its one-row value in
    /// every existing row (a column added with a default: MySQL gave every
    /// row that value); others are null. Returns the new version.
    pub async fn rewrite(
        &mut self,
        schema: SchemaRef,
        fills: &[(String, ArrayRef)],
    ) -> Result<i64, TableError> {
        let Some(state) = self.state.clone() else {
            return Err(TableError::delta(
                &self.uri,
                DeltaTableError::Generic("table not created".into()),
            ));
        };
        let now = now_ms();
        let mut actions = vec![self.metadata_with(&state, &schema)?];
        for i in 0..self.files.len() {
            // Read in the wider schema: every column is cast on the way.
            let parts = self.live_rows_of(i, &schema).await?;
            actions.push(Action::Remove(remove_of(&self.files[i].add, true, now)));
            let batch = filled(concat_batches(&schema, &parts)?, fills)?;
            if batch.num_rows() > 0 {
                let add = self.write_data_file(&batch, true).await?;
                actions.push(Action::Add(add));
            }
        }
        let op = DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: None,
            predicate: None,
        };
        let finalized = self
            .commit_once(&state, actions, op, CommitProperties::default())
            .await?;
        let version = finalized.version() as i64;
        // Key types may have widened too: index again from the new files.
        self.keys = None;
        self.reload().await?;
        Ok(version)
    }
}

/// `batch` with each column of `fills` set to its one-row value.
fn filled(batch: RecordBatch, fills: &[(String, ArrayRef)]) -> Result<RecordBatch, ArrowError> {
    if fills.is_empty() || batch.num_rows() == 0 {
        return Ok(batch);
    }
    let at_zero = UInt32Array::from(vec![0u32; batch.num_rows()]);
    let schema = batch.schema();
    let mut cols = batch.columns().to_vec();
    for (name, one) in fills {
        if let Ok(i) = schema.index_of(name) {
            cols[i] = take(one.as_ref(), &at_zero, None)?;
        }
    }
    RecordBatch::try_new(schema, cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;

    #[test]
    fn lossless_widenings_only() {
        assert!(widens(&Int32, &Int64));
        assert!(widens(&Float32, &Float64));
        assert!(widens(&Decimal128(10, 2), &Decimal128(12, 2)));
        assert!(widens(&Decimal128(10, 2), &Decimal128(13, 4)));
        // More scale without more integer digits would overflow.
        assert!(!widens(&Decimal128(10, 2), &Decimal128(10, 4)));
        assert!(!widens(&Decimal128(12, 2), &Decimal128(10, 2)));
        assert!(!widens(&Int64, &Int32));
        assert!(!widens(&Int64, &Float64));
        assert!(!widens(&Int32, &Utf8));
        assert_eq!(wider(&Int64, &Int32), Some(Int64));
        assert_eq!(wider(&Int32, &Int64), Some(Int64));
        assert_eq!(wider(&Utf8, &Int32), None);
    }
}
