//! Backfill markers applied to one table: the lake rows a repairing
//! backfill chunk covers but MySQL no longer holds become deletes in the
//! batch's commit (see [`crate::backfill`] for why this is safe in any
//! order with the stream).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Int32Array,
    Int64Array, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use deltalake::arrow::compute::{concat_batches, take_record_batch};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::row::Rows;
use deltalake::parquet::arrow::ParquetRecordBatchStreamBuilder;
use futures_util::TryStreamExt;
use serde_json::Value as J;

use super::{conform, TableError, TableTarget};
use crate::backfill::{unhex, RepairMarker};
use crate::sink::predicate::Predicate;
use crate::sink::rows::{DELETED, OP, SOURCE_POS};

/// Where a covered row's newest image is: in the batch, or in a lake file.
#[derive(Clone, Copy)]
enum Image {
    Batch(usize),
    Lake(usize, u32),
}

impl TableTarget {
    /// Delete images for the rows `markers` cover that MySQL no longer
    /// holds: in a marker's key range, not in its `keep`, whose newest image
    /// (the batch's for the key, else the lake's) was written before the
    /// marker's window opened, and that match its `--where`. The images are
    /// rows in the table's schema with `__op = d` (and `__deleted = true`
    /// under soft deletes), to apply after `images`. A marker the lake
    /// cannot apply is logged and deletes nothing.
    pub async fn backfill_deletes(
        &mut self,
        key: &[String],
        images: &RecordBatch,
        markers: &[&RepairMarker],
    ) -> Result<Option<RecordBatch>, TableError> {
        let Some(first) = markers.first() else {
            return Ok(None);
        };
        let key = if key.is_empty() {
            first.key.clone()
        } else {
            key.to_vec()
        };
        let Some(schema) = self.schema.clone() else {
            return Ok(None);
        };
        self.ensure_index(&key).await?;
        let enc = self.keys.as_ref().expect("index built");
        let batch_rows = enc.encode(images)?;
        let mut in_batch: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for i in 0..images.num_rows() {
            in_batch.insert(batch_rows.row(i).as_ref().to_vec(), i);
        }
        let mut taken: HashSet<Vec<u8>> = HashSet::new();
        let mut chosen: Vec<(Image, usize)> = Vec::new();
        let mut checks: Vec<(&RepairMarker, Option<Predicate>)> = Vec::new();
        for m in markers {
            let bounds = bound_rows(&schema, &key, m, enc);
            let predicate = m.predicate.as_deref().map(Predicate::parse).transpose();
            let ((after, through, keep), predicate) = match (bounds, predicate) {
                (Ok(b), Ok(p)) => (b, p),
                (Err(why), _) => {
                    skip(m, &why);
                    continue;
                }
                (_, Err(e)) => {
                    skip(m, &e.to_string());
                    continue;
                }
            };
            let in_range = |k: &[u8]| {
                after.as_deref().is_none_or(|a| k > a) && through.as_deref().is_none_or(|t| k <= t)
            };
            let at = checks.len();
            for (k, &i) in &in_batch {
                if in_range(k) && !keep.contains(k) && taken.insert(k.clone()) {
                    chosen.push((Image::Batch(i), at));
                }
            }
            for (fi, f) in self.files.iter().enumerate() {
                let Some(fk) = &f.keys else { continue };
                for (k, row) in fk.range(after.as_deref(), through.as_deref()) {
                    let live = !f.dv.contains(u64::from(row));
                    if live
                        && !in_batch.contains_key(k)
                        && !keep.contains(k)
                        && taken.insert(k.to_vec())
                    {
                        chosen.push((Image::Lake(fi, row), at));
                    }
                }
            }
            checks.push((m, predicate));
        }
        if chosen.is_empty() {
            return Ok(None);
        }
        // The lake rows chosen, read from their files.
        let mut per_file: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for (img, _) in &chosen {
            if let Image::Lake(fi, row) = img {
                per_file.entry(*fi).or_default().push(*row);
            }
        }
        let mut lake: BTreeMap<usize, (RecordBatch, BTreeMap<u32, usize>)> = BTreeMap::new();
        for (fi, rows) in per_file {
            let b = self.rows_at(fi, &rows, &schema).await?;
            let at = rows.iter().enumerate().map(|(i, r)| (*r, i)).collect();
            lake.insert(fi, (b, at));
        }
        let mut parts: Vec<RecordBatch> = Vec::new();
        let mut refused: HashSet<usize> = HashSet::new();
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for (img, at) in chosen {
            if refused.contains(&at) {
                continue;
            }
            let (b, i) = match img {
                Image::Batch(i) => (images, i),
                Image::Lake(fi, row) => {
                    let Some((b, idx)) = lake.get(&fi) else {
                        continue;
                    };
                    let Some(&i) = idx.get(&row) else { continue };
                    (b, i)
                }
            };
            let (m, predicate) = &checks[at];
            let pos = b
                .column_by_name(SOURCE_POS)
                .and_then(|c| c.as_string_opt::<i32>())
                .filter(|c| !c.is_null(i))
                .map(|c| c.value(i));
            if !pos.is_some_and(|p| m.since.is_after(p)) {
                continue;
            }
            let deleted = b
                .column_by_name(DELETED)
                .and_then(|c| c.as_boolean_opt())
                .is_some_and(|c| !c.is_null(i) && c.value(i));
            if deleted {
                continue;
            }
            if let Some(p) = predicate {
                match p.matches(b, i) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(why) => {
                        skip(m, &why);
                        refused.insert(at);
                        continue;
                    }
                }
            }
            parts.push(b.slice(i, 1));
            *counts.entry(at).or_default() += 1;
        }
        for (at, n) in &counts {
            let m = checks[*at].0;
            tracing::info!(table = %m.table, job = %m.job, rows = n, after = ?m.after, through = ?m.through, "backfill: deleting lake rows MySQL no longer holds in the chunk's key range");
        }
        if parts.is_empty() {
            return Ok(None);
        }
        let out = concat_batches(&schema, &parts)?;
        Ok(Some(as_deletes(&out)?))
    }

    /// Rows at `positions` of file `fi` (positions in the file, deleted
    /// rows included), in that order, in `schema`.
    async fn rows_at(
        &self,
        fi: usize,
        positions: &[u32],
        schema: &SchemaRef,
    ) -> Result<RecordBatch, TableError> {
        let f = &self.files[fi];
        let builder = ParquetRecordBatchStreamBuilder::new(self.reader(&f.add)).await?;
        let mut stream = builder.build()?;
        let mut all = Vec::new();
        while let Some(batch) = stream.try_next().await? {
            all.push(conform(&batch, schema)?);
        }
        let whole = concat_batches(schema, &all)?;
        Ok(take_record_batch(
            &whole,
            &UInt32Array::from(positions.to_vec()),
        )?)
    }
}

fn skip(m: &RepairMarker, why: &str) {
    crate::metrics::metrics().error("sink", "backfill");
    tracing::warn!(table = %m.table, job = %m.job, reason = %why, "backfill marker not applied: lake rows MySQL no longer holds in its key range are kept");
}

/// `rows` as delete images: `__op = d`, and `__deleted = true` when the
/// table keeps soft deletes.
fn as_deletes(rows: &RecordBatch) -> Result<RecordBatch, TableError> {
    let n = rows.num_rows();
    let schema = rows.schema();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(rows.columns())
        .map(|(f, c)| match f.name().as_str() {
            OP => Arc::new(StringArray::from(vec!["d"; n])) as ArrayRef,
            DELETED => Arc::new(BooleanArray::from(vec![true; n])) as ArrayRef,
            _ => c.clone(),
        })
        .collect();
    Ok(RecordBatch::try_new(schema, cols)?)
}

type Bounds = (Option<Vec<u8>>, Option<Vec<u8>>, HashSet<Vec<u8>>);

/// The marker's range bounds and `keep` keys, encoded as the lake's keys.
fn bound_rows(
    schema: &SchemaRef,
    key: &[String],
    m: &RepairMarker,
    enc: &super::keys::KeyEncoder,
) -> Result<Bounds, String> {
    if m.key.len() != key.len()
        || m.key
            .iter()
            .zip(key)
            .any(|(a, b)| !a.eq_ignore_ascii_case(b))
    {
        return Err(format!(
            "the marker's key {:?} is not the table's key {key:?}",
            m.key
        ));
    }
    let mut all: Vec<&Vec<J>> = m.keep.iter().collect();
    all.extend(m.after.iter());
    all.extend(m.through.iter());
    let rows = encode(schema, key, &all, enc)?;
    let n = m.keep.len();
    let keep = (0..n).map(|i| rows.row(i).as_ref().to_vec()).collect();
    let mut next = n;
    let mut take = |present: bool| {
        present.then(|| {
            next += 1;
            rows.row(next - 1).as_ref().to_vec()
        })
    };
    let after = take(m.after.is_some());
    let through = take(m.through.is_some());
    Ok((after, through, keep))
}

/// Marker key tuples as the lake's encoded keys.
fn encode(
    schema: &SchemaRef,
    key: &[String],
    tuples: &[&Vec<J>],
    enc: &super::keys::KeyEncoder,
) -> Result<Rows, String> {
    let mut fields = Vec::with_capacity(key.len());
    let mut cols = Vec::with_capacity(key.len());
    for (c, name) in key.iter().enumerate() {
        let f = schema
            .field_with_name(name)
            .map_err(|_| format!("the table has no key column `{name}`"))?;
        let vals: Vec<&J> = tuples
            .iter()
            .map(|t| {
                t.get(c)
                    .ok_or_else(|| format!("a key of the marker has no value for `{name}`"))
            })
            .collect::<Result<_, _>>()?;
        cols.push(
            key_array(f.data_type(), &vals).map_err(|e| format!("key column `{name}`: {e}"))?,
        );
        fields.push(Field::new(name, f.data_type().clone(), true));
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())?;
    enc.encode(&batch).map_err(|e| e.to_string())
}

/// Marker JSON values as an array of the lake column's type.
fn key_array(dt: &DataType, vals: &[&J]) -> Result<ArrayRef, String> {
    let bad = |v: &J| format!("{v} is not a {dt} key");
    let ints = || -> Result<Vec<i64>, String> {
        vals.iter()
            .map(|v| v.as_i64().ok_or_else(|| bad(v)))
            .collect()
    };
    Ok(match dt {
        DataType::Int32 => Arc::new(Int32Array::from(
            ints()?
                .into_iter()
                .map(|v| i32::try_from(v).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        DataType::Int64 => Arc::new(Int64Array::from(ints()?)),
        DataType::Date32 => Arc::new(Date32Array::from(
            ints()?
                .into_iter()
                .map(|v| i32::try_from(v).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            Arc::new(TimestampMicrosecondArray::from(ints()?).with_timezone_opt(tz.clone()))
        }
        DataType::Decimal128(p, s) => {
            let v: Vec<i128> = vals
                .iter()
                .map(|v| {
                    v.as_str()
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| bad(v))
                })
                .collect::<Result<_, _>>()?;
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| e.to_string())?,
            )
        }
        DataType::Binary => {
            let v: Vec<Vec<u8>> = vals
                .iter()
                .map(|v| v.as_str().and_then(unhex).ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?;
            Arc::new(BinaryArray::from_iter_values(v))
        }
        DataType::Boolean => {
            let v: Vec<bool> = vals
                .iter()
                .map(|v| v.as_bool().ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?;
            Arc::new(BooleanArray::from(v))
        }
        other => {
            return Err(format!(
                "a {other} key is not ordered in the lake as in MySQL"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::delta::keys::KeyEncoder;

    #[test]
    fn marker_keys_encode_in_the_lake_order() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Decimal128(20, 0), true),
        ]));
        let key = vec!["a".to_string(), "b".to_string()];
        let enc = KeyEncoder::new(
            key.clone(),
            vec![DataType::Int64, DataType::Decimal128(20, 0)],
        )
        .unwrap();
        let t = |a: i64, b: &str| vec![J::from(a), J::String(b.into())];
        let m = RepairMarker {
            job: "j".into(),
            table: "d.t".into(),
            key: key.clone(),
            after: Some(t(1, "5")),
            through: Some(t(2, "0")),
            keep: vec![t(1, "7"), t(1, "18446744073709551615")],
            predicate: None,
            since: crate::backfill::Since {
                file: "b.000001".into(),
                pos: 4,
                gtids: None,
            },
            ranged: 0,
        };
        let (after, through, keep) = bound_rows(&schema, &key, &m, &enc).unwrap();
        let (after, through) = (after.unwrap(), through.unwrap());
        assert_eq!(keep.len(), 2);
        for k in &keep {
            assert!(k.as_slice() > after.as_slice() && k.as_slice() <= through.as_slice());
        }
        let other = RepairMarker {
            key: vec!["x".into(), "b".into()],
            ..m.clone()
        };
        assert!(bound_rows(&schema, &key, &other, &enc).is_err());
        let s: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int64, true),
        ]));
        let e2 = KeyEncoder::new(key.clone(), vec![DataType::Utf8, DataType::Int64]).unwrap();
        assert!(bound_rows(&s, &key, &m, &e2)
            .unwrap_err()
            .contains("not ordered"));
    }
}
