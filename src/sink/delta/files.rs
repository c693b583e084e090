//! Writing one Parquet data file and describing it as a Delta `add`
//! action, with the statistics readers use to skip files.

use std::collections::HashMap;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use serde_json::{json, Map, Value as Json};

use super::TableError;

/// `unique`: a column whose values all differ within the file. A
/// dictionary of it would hold every value and add an index per row;
/// parquet-rs builds one anyway until the dictionary passes its page limit
/// (parquet-mr gives it up when it does not shrink the column).
fn writer_props(unique: Option<&str>) -> WriterProperties {
    let props =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    match unique {
        Some(column) => props.set_column_dictionary_enabled(ColumnPath::from(column), false),
        None => props,
    }
    .build()
}

/// One data file written a batch at a time, so a file larger than memory
/// allows can be made from slices; its statistics follow the rows written.
/// Rows keep the order written: row positions are what deletion vectors
/// refer to.
pub struct FileBuilder {
    writer: ArrowWriter<Vec<u8>>,
    stats: Stats,
}

impl FileBuilder {
    /// `unique`: a column whose values all differ in this file (a
    /// one-column primary key), written without a dictionary.
    pub fn new(schema: SchemaRef, unique: Option<&str>) -> Result<Self, TableError> {
        let stats = Stats::new(&schema);
        let props = writer_props(unique);
        let writer = ArrowWriter::try_new(Vec::with_capacity(1 << 20), schema, Some(props))?;
        Ok(FileBuilder { writer, stats })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), TableError> {
        self.stats.add(batch);
        self.writer.write(batch)?;
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.stats.rows
    }

    /// The file's bytes and its statistics (see [`Stats::to_json`]).
    pub fn finish(self) -> Result<(Vec<u8>, Json), TableError> {
        let bytes = self.writer.into_inner()?;
        Ok((bytes, self.stats.to_json()))
    }
}

/// A new data file's name: `part-<uuid>.zstd.parquet`, as delta-rs names them.
pub fn new_file_name() -> String {
    format!("part-00000-{}-c000.zstd.parquet", uuid::Uuid::new_v4())
}

/// The `add` action of a freshly written file with statistics `stats`.
pub fn add_action(path: String, size: usize, stats: &Json, data_change: bool) -> Add {
    Add {
        path,
        partition_values: HashMap::new(),
        size: size as i64,
        modification_time: crate::clock::now_ms(),
        data_change,
        stats: Some(stats.to_string()),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

/// `numRecords`, `nullCount` for every column, and min/max for integer,
/// date and short string columns (the ones key ranges and filters use).
pub fn stats_json(batch: &RecordBatch) -> Json {
    let mut s = Stats::new(&batch.schema());
    s.add(batch);
    s.to_json()
}

/// A file's statistics, gathered batch by batch.
pub struct Stats {
    rows: usize,
    columns: Vec<(String, usize, Bounds)>,
}

/// One column's bounds so far; `None` once the column cannot have any.
enum Bounds {
    Int(Option<(i64, i64)>),
    Date(Option<(i32, i32)>),
    Str(Option<Option<(String, String)>>),
    None,
}

/// Strings longer than this would need truncated (and for the maximum,
/// rounded-up) bounds; such columns get none.
const MAX_STRING_BOUND: usize = 32;

impl Stats {
    pub fn new(schema: &SchemaRef) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                let b = match f.data_type() {
                    DataType::Int32 | DataType::Int64 => Bounds::Int(None),
                    DataType::Date32 => Bounds::Date(None),
                    DataType::Utf8 => Bounds::Str(Some(None)),
                    _ => Bounds::None,
                };
                (f.name().clone(), 0, b)
            })
            .collect();
        Stats { rows: 0, columns }
    }

    pub fn add(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows();
        for ((_, nulls, bounds), col) in self.columns.iter_mut().zip(batch.columns()) {
            *nulls += col.null_count();
            match bounds {
                Bounds::Int(acc) => match col.data_type() {
                    DataType::Int32 => widen(
                        acc,
                        col.as_primitive::<Int32Type>()
                            .iter()
                            .flatten()
                            .map(i64::from),
                    ),
                    _ => widen(acc, col.as_primitive::<Int64Type>().iter().flatten()),
                },
                Bounds::Date(acc) => widen(acc, col.as_primitive::<Date32Type>().iter().flatten()),
                Bounds::Str(acc) => {
                    for v in col.as_string::<i32>().iter().flatten() {
                        let Some(inner) = acc else { break };
                        if v.len() > MAX_STRING_BOUND {
                            *acc = None;
                            break;
                        }
                        match inner {
                            None => *inner = Some((v.to_owned(), v.to_owned())),
                            Some((lo, hi)) => {
                                if v < lo.as_str() {
                                    *lo = v.to_owned();
                                }
                                if v > hi.as_str() {
                                    *hi = v.to_owned();
                                }
                            }
                        }
                    }
                }
                Bounds::None => {}
            }
        }
    }

    pub fn to_json(&self) -> Json {
        let mut min = Map::new();
        let mut max = Map::new();
        let mut nulls = Map::new();
        for (name, n, bounds) in &self.columns {
            nulls.insert(name.clone(), json!(n));
            let b = match bounds {
                Bounds::Int(Some((lo, hi))) => Some((json!(lo), json!(hi))),
                Bounds::Date(Some((lo, hi))) => day(*lo).zip(day(*hi)),
                Bounds::Str(Some(Some((lo, hi)))) => Some((json!(lo), json!(hi))),
                _ => None,
            };
            if let Some((lo, hi)) = b {
                min.insert(name.clone(), lo);
                max.insert(name.clone(), hi);
            }
        }
        json!({
            "numRecords": self.rows,
            "minValues": min,
            "maxValues": max,
            "nullCount": nulls,
            "tightBounds": true,
        })
    }
}

/// Widens `acc`, the (min, max) so far, to cover `values`.
fn widen<T: Ord + Copy>(acc: &mut Option<(T, T)>, values: impl Iterator<Item = T>) {
    for v in values {
        *acc = Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    }
}

fn day(d: i32) -> Option<Json> {
    deltalake::arrow::temporal_conversions::date32_to_datetime(d)
        .map(|t| json!(t.format("%Y-%m-%d").to_string()))
}

/// The stats of a file that now has a deletion vector: bounds may be wider
/// than the live rows, which `tightBounds: false` tells readers.
pub fn loosen_stats(stats: Option<&str>) -> Option<String> {
    let mut v: Json = serde_json::from_str(stats?).ok()?;
    v.as_object_mut()?
        .insert("tightBounds".into(), json!(false));
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn stats_cover_ints_and_short_strings() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("long", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(5), None, Some(-2)])),
                Arc::new(StringArray::from(vec!["b", "a", "c"])),
                Arc::new(StringArray::from(vec![
                    "x".repeat(40),
                    "y".into(),
                    "z".into(),
                ])),
            ],
        )
        .unwrap();
        let s = stats_json(&batch);
        assert_eq!(s["numRecords"], 3);
        assert_eq!(s["minValues"]["id"], -2);
        assert_eq!(s["maxValues"]["id"], 5);
        assert_eq!(s["nullCount"]["id"], 1);
        assert_eq!(s["minValues"]["s"], "a");
        assert!(s["minValues"].get("long").is_none());
        let loose = loosen_stats(Some(&s.to_string())).unwrap();
        assert!(loose.contains("\"tightBounds\":false"));
    }

    #[test]
    fn stats_gathered_in_slices_equal_stats_of_the_whole() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("long", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(deltalake::arrow::array::Int32Array::from(vec![
                    Some(7),
                    None,
                    Some(-3),
                    Some(4),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("m"),
                    Some("z"),
                    None,
                    Some("a"),
                ])),
                Arc::new(StringArray::from(vec!["p", "q", "r", &"x".repeat(40)])),
            ],
        )
        .unwrap();
        let mut f = FileBuilder::new(schema, None).unwrap();
        f.write(&batch.slice(0, 2)).unwrap();
        f.write(&batch.slice(2, 2)).unwrap();
        assert_eq!(f.rows(), 4);
        let (bytes, stats) = f.finish().unwrap();
        assert_eq!(stats, stats_json(&batch));
        assert_eq!(stats["minValues"]["id"], -3);
        assert_eq!(stats["maxValues"]["s"], "z");
        assert_eq!(stats["nullCount"]["s"], 1);
        // The long string is in the second slice: no bounds for the column.
        assert!(stats["maxValues"].get("long").is_none());
        assert_eq!(&bytes[..4], b"PAR1");
    }

    #[test]
    fn the_unique_column_is_written_without_a_dictionary() {
        use deltalake::parquet::basic::Encoding;
        use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("s", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(deltalake::arrow::array::Int32Array::from_iter_values(
                    0..1000,
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..1000).map(|i| ["a", "b"][i % 2]),
                )),
            ],
        )
        .unwrap();
        let dictionary = |unique| {
            let mut f = FileBuilder::new(schema.clone(), unique).unwrap();
            f.write(&batch).unwrap();
            let (bytes, _) = f.finish().unwrap();
            let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
            let group = reader.metadata().row_group(0).clone();
            group
                .columns()
                .iter()
                .map(|c| c.encodings().any(|e| e == Encoding::RLE_DICTIONARY))
                .collect::<Vec<_>>()
        };
        assert_eq!(dictionary(None), vec![true, true]);
        assert_eq!(dictionary(Some("id")), vec![false, true]);
    }
}
