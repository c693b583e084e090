//! Writing one Parquet data file and describing it as a Delta `add`
//! action, with the statistics readers use to skip files.

use std::collections::HashMap;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::WriterProperties;
use serde_json::{json, Map, Value as Json};

use super::TableError;

/// Parquet bytes for `batch`, rows in the order given (row positions are
/// what deletion vectors refer to).
pub fn parquet_bytes(batch: &RecordBatch) -> Result<Vec<u8>, TableError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(buf)
}

/// A new data file's name: `part-<uuid>.zstd.parquet`, as delta-rs names them.
pub fn new_file_name() -> String {
    format!("part-00000-{}-c000.zstd.parquet", uuid::Uuid::new_v4())
}

/// The `add` action of a freshly written file.
pub fn add_action(path: String, size: usize, batch: &RecordBatch, data_change: bool) -> Add {
    Add {
        path,
        partition_values: HashMap::new(),
        size: size as i64,
        modification_time: crate::clock::now_ms(),
        data_change,
        stats: Some(stats_json(batch).to_string()),
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
    let mut min = Map::new();
    let mut max = Map::new();
    let mut nulls = Map::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().clone();
        nulls.insert(name.clone(), json!(col.null_count()));
        let bounds = match col.data_type() {
            DataType::Int32 => int_bounds(
                col.as_primitive::<Int32Type>()
                    .iter()
                    .flatten()
                    .map(i64::from),
            ),
            DataType::Int64 => int_bounds(col.as_primitive::<Int64Type>().iter().flatten()),
            DataType::Date32 => date_bounds(col.as_primitive::<Date32Type>().iter().flatten()),
            DataType::Utf8 => string_bounds(col.as_string::<i32>().iter().flatten()),
            _ => None,
        };
        if let Some((lo, hi)) = bounds {
            min.insert(name.clone(), lo);
            max.insert(name, hi);
        }
    }
    json!({
        "numRecords": batch.num_rows(),
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
        "tightBounds": true,
    })
}

fn int_bounds(values: impl Iterator<Item = i64>) -> Option<(Json, Json)> {
    let (lo, hi) = values.fold(None, |acc: Option<(i64, i64)>, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })?;
    Some((json!(lo), json!(hi)))
}

fn date_bounds(values: impl Iterator<Item = i32>) -> Option<(Json, Json)> {
    let (lo, hi) = values.fold(None, |acc: Option<(i32, i32)>, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })?;
    let day = |d: i32| {
        deltalake::arrow::temporal_conversions::date32_to_datetime(d)
            .map(|t| json!(t.format("%Y-%m-%d").to_string()))
    };
    Some((day(lo)?, day(hi)?))
}

/// Strings longer than 32 bytes would need truncated (and for the maximum,
/// rounded-up) bounds; such columns get none.
fn string_bounds<'a>(values: impl Iterator<Item = &'a str>) -> Option<(Json, Json)> {
    let mut acc: Option<(&str, &str)> = None;
    for v in values {
        if v.len() > 32 {
            return None;
        }
        acc = Some(match acc {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    let (lo, hi) = acc?;
    Some((json!(lo), json!(hi)))
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
}
