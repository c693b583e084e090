//! Primary keys as comparable bytes (Arrow's row format), and a per-file
//! sorted index from key to row position.
//!
//! Data files never change once written, so a file's index is built once,
//! when the file is first seen, and probed for every later batch. An index
//! costs the key bytes per row (9 for a BIGINT key) for a file in key order
//! with keys of one length, the usual case: binlake writes every file in
//! key order, and integer and date keys have one length. Keys of varying
//! length add 4 bytes per row, a file in no key order another 4.

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
    len: usize,
    /// The length of every key while all have one (`ends` is `None`).
    width: usize,
    /// Where each key ends in `data`, once keys differ in length.
    ends: Option<Vec<u32>>,
    /// Each key's row position, once the `i`-th key is not row `i`.
    rows: Option<Vec<u32>>,
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
        while i < self.len || j < order.len() {
            let take_old = j >= order.len()
                || (i < self.len && self.key(i) <= rows.row(order[j] as usize).as_ref());
            if take_old {
                new.push(self.key(i), self.row(i));
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
        if self.len == 0 {
            self.width = key.len();
        } else if self.ends.is_none() && key.len() != self.width {
            let w = self.width;
            self.ends = Some((1..=self.len).map(|i| (i * w) as u32).collect());
        }
        self.data.extend_from_slice(key);
        if let Some(ends) = &mut self.ends {
            ends.push(self.data.len() as u32);
        }
        match &mut self.rows {
            Some(rows) => rows.push(row),
            None if row as usize == self.len => {}
            None => {
                let mut rows: Vec<u32> = (0..self.len as u32).collect();
                rows.push(row);
                self.rows = Some(rows);
            }
        }
        self.len += 1;
    }

    fn key(&self, i: usize) -> &[u8] {
        match &self.ends {
            None => &self.data[i * self.width..(i + 1) * self.width],
            Some(ends) => {
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                &self.data[start..ends[i] as usize]
            }
        }
    }

    fn row(&self, i: usize) -> u32 {
        self.rows.as_ref().map_or(i as u32, |r| r[i])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives back what the vectors reserved beyond their length, once the
    /// file is indexed.
    pub fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
        if let Some(v) = &mut self.ends {
            v.shrink_to_fit();
        }
        if let Some(v) = &mut self.rows {
            v.shrink_to_fit();
        }
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
            .map(move |i| self.row(i))
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
            .map(move |i| (self.key(i), self.row(i)))
    }

    /// The `i`-th key in key order and its row position.
    pub fn entry(&self, i: usize) -> (&[u8], u32) {
        (self.key(i), self.row(i))
    }

    /// Whether the file's rows are in key order: the `i`-th key is row `i`
    /// (so compaction can read the file as a stream).
    pub fn in_row_order(&self) -> bool {
        self.rows.is_none()
    }

    pub fn heap_bytes(&self) -> usize {
        let cap = |v: &Option<Vec<u32>>| v.as_ref().map_or(0, Vec::capacity);
        self.data.capacity() + 4 * (cap(&self.ends) + cap(&self.rows))
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
    fn an_index_holds_only_the_keys_until_lengths_or_order_differ() {
        let enc = KeyEncoder::new(vec!["id".into()], vec![DataType::Int64]).unwrap();
        let mut keys = FileKeys::default();
        let ids: Vec<i64> = (0..1000).collect();
        keys.append(&enc.encode(&batch(&ids, &[""; 1000])).unwrap(), 0);
        keys.shrink_to_fit();
        assert_eq!(keys.heap_bytes(), 9 * 1000, "a BIGINT key in key order");
        assert!(keys.in_row_order());

        // String keys: the fifth is longer (two of the row format's blocks),
        // the sixth arrives out of order; every key is still found.
        let enc = KeyEncoder::new(vec!["name".into()], vec![DataType::Utf8]).unwrap();
        let long = "c".repeat(12);
        let mut keys = FileKeys::default();
        keys.append(
            &enc.encode(&batch(&[0, 0, 0], &["a", "b", "c"])).unwrap(),
            0,
        );
        keys.append(&enc.encode(&batch(&[0, 0], &[&long, "d"])).unwrap(), 3);
        assert!(keys.in_row_order());
        keys.append(&enc.encode(&batch(&[0], &["bb"])).unwrap(), 5);
        assert!(!keys.in_row_order());
        let expect = [
            ("a", 0),
            ("b", 1),
            ("bb", 5),
            ("c", 2),
            (&long, 3),
            ("d", 4),
        ];
        for (i, (name, row)) in expect.iter().enumerate() {
            let probe = enc.encode(&batch(&[0], &[name])).unwrap();
            assert_eq!(
                keys.find(probe.row(0).as_ref()).collect::<Vec<_>>(),
                vec![*row]
            );
            assert_eq!(keys.entry(i), (probe.row(0).as_ref(), *row));
        }
        assert_eq!(keys.len(), 6);
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
