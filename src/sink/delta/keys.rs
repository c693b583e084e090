//! Primary keys as comparable bytes (Arrow's row format), and a per-file
//! sorted index from key to row position.
//!
//! Data files never change once written, so a file's index is built once,
//! when the file is first seen, and probed for every later batch. An index
//! costs about (key bytes + 8) bytes per row: 17 bytes for a BIGINT key.

use deltalake::arrow::array::ArrayRef;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::row::{RowConverter, Rows, SortField};

/// Encodes key columns to bytes that are equal exactly when the keys are.
pub struct KeyEncoder {
    names: Vec<String>,
    types: Vec<DataType>,
    converter: RowConverter,
}

impl KeyEncoder {
    pub fn new(names: Vec<String>, types: Vec<DataType>) -> Result<Self, ArrowError> {
        let converter =
            RowConverter::new(types.iter().map(|t| SortField::new(t.clone())).collect())?;
        Ok(KeyEncoder {
            names,
            types,
            converter,
        })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The key rows of `batch`; key columns are cast to the table's types,
    /// since files from other writers may store them differently.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Rows, ArrowError> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.names.len());
        for (name, ty) in self.names.iter().zip(&self.types) {
            let col = batch.column_by_name(name).ok_or_else(|| {
                ArrowError::SchemaError(format!("key column `{name}` is missing"))
            })?;
            cols.push(if col.data_type() == ty {
                col.clone()
            } else {
                cast(col, ty)?
            });
        }
        self.converter.convert_columns(&cols)
    }
}

/// One file's keys, sorted, each with its row position in the file.
#[derive(Debug, Default)]
pub struct FileKeys {
    data: Vec<u8>,
    ends: Vec<u32>,
    rows: Vec<u32>,
}

impl FileKeys {
    /// `rows.row(i)` is the key of the file's row `offset + i`.
    pub fn append(&mut self, rows: &Rows, offset: u32) {
        let mut order: Vec<u32> = (0..rows.num_rows() as u32).collect();
        order.sort_unstable_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)));
        let follows = self
            .max()
            .zip(order.first())
            .is_none_or(|(last, &r)| last <= rows.row(r as usize).as_ref());
        if follows {
            // Keys arriving after the last one (the first batch, or a file
            // written in key order read back batch by batch): no merge.
            for r in order {
                self.push(rows.row(r as usize).as_ref(), offset + r);
            }
            return;
        }
        let mut new = FileKeys::default();
        // Merge with what is there so the whole stays sorted.
        let (mut i, mut j) = (0usize, 0usize);
        while i < self.rows.len() || j < order.len() {
            let take_old = j >= order.len()
                || (i < self.rows.len() && self.key(i) <= rows.row(order[j] as usize).as_ref());
            if take_old {
                new.push(self.key(i), self.rows[i]);
                i += 1;
            } else {
                let r = order[j];
                new.push(rows.row(r as usize).as_ref(), offset + r);
                j += 1;
            }
        }
        *self = new;
    }

    /// Adds `key` at row position `row`; `key` must not sort before the
    /// last key added (a file being written in key order).
    pub fn push_in_order(&mut self, key: &[u8], row: u32) {
        debug_assert!(self.max().is_none_or(|last| last <= key));
        self.push(key, row);
    }

    fn push(&mut self, key: &[u8], row: u32) {
        self.data.extend_from_slice(key);
        self.ends.push(self.data.len() as u32);
        self.rows.push(row);
    }

    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn min(&self) -> Option<&[u8]> {
        (!self.is_empty()).then(|| self.key(0))
    }

    pub fn max(&self) -> Option<&[u8]> {
        (!self.is_empty()).then(|| self.key(self.len() - 1))
    }

    /// Row positions holding `key` (more than one only in a file another
    /// writer made with duplicate keys).
    pub fn find<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = u32> + 'a {
        // First index whose key is >= `key`.
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo..self.len())
            .take_while(move |&i| self.key(i) == key)
            .map(move |i| self.rows[i])
    }

    /// Every (key, row position) with `after < key <= through` (`None`: no
    /// bound), in key order.
    pub fn range<'a>(
        &'a self,
        after: Option<&'a [u8]>,
        through: Option<&'a [u8]>,
    ) -> impl Iterator<Item = (&'a [u8], u32)> + 'a {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if after.is_some_and(|a| self.key(mid) <= a) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo..self.len())
            .take_while(move |&i| through.is_none_or(|t| self.key(i) <= t))
            .map(move |i| (self.key(i), self.rows[i]))
    }

    /// The `i`-th key in key order and its row position.
    pub fn entry(&self, i: usize) -> (&[u8], u32) {
        (self.key(i), self.rows[i])
    }

    /// Whether the file's rows are in key order: the `i`-th key is row `i`
    /// (so compaction can read the file as a stream).
    pub fn in_row_order(&self) -> bool {
        self.rows.iter().enumerate().all(|(i, &r)| r as usize == i)
    }

    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + 4 * (self.ends.capacity() + self.rows.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(ids: &[i64], names: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn finds_rows_by_key_across_appends() {
        let enc = KeyEncoder::new(vec!["id".into()], vec![DataType::Int64]).unwrap();
        let mut keys = FileKeys::default();
        keys.append(
            &enc.encode(&batch(&[30, 10, 20], &["c", "a", "b"])).unwrap(),
            0,
        );
        keys.append(&enc.encode(&batch(&[15, 40], &["x", "y"])).unwrap(), 3);
        let probe = enc
            .encode(&batch(&[20, 15, 99, -1], &["", "", "", ""]))
            .unwrap();
        assert_eq!(
            keys.find(probe.row(0).as_ref()).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(
            keys.find(probe.row(1).as_ref()).collect::<Vec<_>>(),
            vec![3]
        );
        assert_eq!(keys.find(probe.row(2).as_ref()).count(), 0);
        assert_eq!(keys.find(probe.row(3).as_ref()).count(), 0);
        let lo = enc.encode(&batch(&[10], &[""])).unwrap();
        let hi = enc.encode(&batch(&[40], &[""])).unwrap();
        assert_eq!(keys.min(), Some(lo.row(0).as_ref()));
        assert_eq!(keys.max(), Some(hi.row(0).as_ref()));
        // Keys after the last one are appended without a merge.
        keys.append(&enc.encode(&batch(&[50, 45], &["", ""])).unwrap(), 5);
        let p = enc.encode(&batch(&[45, 50, 40], &["", "", ""])).unwrap();
        assert_eq!(keys.find(p.row(0).as_ref()).collect::<Vec<_>>(), vec![6]);
        assert_eq!(keys.find(p.row(1).as_ref()).collect::<Vec<_>>(), vec![5]);
        assert_eq!(keys.find(p.row(2).as_ref()).collect::<Vec<_>>(), vec![4]);
        assert_eq!(keys.len(), 7);
        assert!(!keys.in_row_order());
        assert_eq!(keys.entry(0), (lo.row(0).as_ref(), 1));
    }

    #[test]
    fn a_file_written_in_key_order_is_in_row_order() {
        let enc = KeyEncoder::new(vec!["id".into()], vec![DataType::Int64]).unwrap();
        let mut keys = FileKeys::default();
        keys.append(&enc.encode(&batch(&[1, 5], &["", ""])).unwrap(), 0);
        keys.append(&enc.encode(&batch(&[7, 9], &["", ""])).unwrap(), 2);
        assert!(keys.in_row_order());
        keys.append(&enc.encode(&batch(&[8], &[""])).unwrap(), 4);
        assert!(!keys.in_row_order(), "row 4 sorts before row 3");
    }

    #[test]
    fn composite_keys_and_casts() {
        let enc = KeyEncoder::new(
            vec!["name".into(), "id".into()],
            vec![DataType::Utf8, DataType::Int32],
        )
        .unwrap();
        let mut keys = FileKeys::default();
        // id arrives as Int64 and is cast to the table's Int32.
        keys.append(
            &enc.encode(&batch(&[1, 2, 1], &["a", "a", "b"])).unwrap(),
            0,
        );
        let probe = enc.encode(&batch(&[1], &["b"])).unwrap();
        assert_eq!(
            keys.find(probe.row(0).as_ref()).collect::<Vec<_>>(),
            vec![2]
        );
    }
}
