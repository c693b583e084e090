//! Row decoder: a TABLE_MAP becomes a cached [`TableDecoder`] (one plan per
//! column); each WRITE/UPDATE/DELETE rows event is then parsed straight from
//! its row bytes with that plan, not through the crate's per-row `rows()`
//! (which rebuilds metadata for every row and mis-decodes several types).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mysql_async::binlog::events::{RowsEventData, TableMapEvent};

use super::column_meta::{self, ColumnPlan};
use super::cursor::Cursor;
use super::table_map::{self, TableMapError};
use super::value::{convert, take_field};
use crate::event::{Column, Row, TableSchema, Value};

pub use super::value::zero_dates_total;

/// The `(before, after)` images of each row of one rows event.
pub type RowImages = Vec<(Option<Row>, Option<Row>)>;

/// What the connector file and information_schema add to the binlog's own
/// description of a table. Column names match case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct TableHints {
    /// MariaDB JSON columns (LONGTEXT with a json_valid check): values stay text.
    pub json_columns: HashSet<String>,
    /// Columns left out of every row and of the schema.
    pub excluded_columns: HashSet<String>,
    /// Key for a table without a primary key (`key_columns` in the file).
    pub key_override: Option<Vec<String>>,
    /// information_schema `COLUMN_TYPE` by column name.
    pub source_types: HashMap<String, String>,
    /// Declared defaults by column name (columns without one are absent).
    pub defaults: HashMap<String, super::defaults::RawDefault>,
}

impl TableHints {
    /// The literal default of column `name` as a value of `ty`, if any.
    pub fn default_of(
        &self,
        name: &str,
        ty: &crate::event::ColumnType,
    ) -> Option<crate::event::DefaultValue> {
        let raw = self.defaults.get(name).or_else(|| {
            self.defaults
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })?;
        super::defaults::value_of(raw, ty)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{table}: the TABLE_MAP event has no {what}; set binlog_row_metadata=FULL on the server (MySQL 8.0.1+ / MariaDB 10.5+) and restart the stream")]
    MissingMetadata { table: String, what: &'static str },
    #[error("{table}: the TABLE_MAP event is malformed ({detail})")]
    BadTableMap { table: String, detail: String },
    #[error("{table}: column `{column}` cannot be decoded: {reason}")]
    UnsupportedColumn {
        table: String,
        column: String,
        reason: String,
    },
    #[error("{table} has no primary key; add key_columns = {{ \"{table}\" = [\"col\", ...] }} to the connector file")]
    NoKey { table: String },
    #[error("{table}: key column `{column}` does not exist; fix key_columns for this table")]
    UnknownKeyColumn { table: String, column: String },
    #[error("{table}: key column `{column}` is excluded; remove it from exclude_columns")]
    ExcludedKeyColumn { table: String, column: String },
    #[error("{table}: the rows event has {rows_event} columns but its TABLE_MAP has {table_map}; the binlog is inconsistent")]
    ColumnCountMismatch {
        table: String,
        table_map: usize,
        rows_event: usize,
    },
    #[error("{table}: column `{column}` is missing from the row image; set binlog_row_image=FULL on the server")]
    MissingFromImage { table: String, column: String },
    #[error("{table}: partial JSON updates cannot be decoded; set binlog_row_value_options='' on the server")]
    PartialJson { table: String },
    #[error(
        "{table}: row {row}, column `{column}`: {detail}; the binlog event is corrupt or truncated"
    )]
    Corrupt {
        table: String,
        row: usize,
        column: String,
        detail: &'static str,
    },
}

/// One table column: its plan and where it lands in a [`Row`].
#[derive(Debug, Clone)]
struct Slot {
    name: String,
    plan: ColumnPlan,
    /// `None` when the column is excluded (decoded past, never emitted).
    out: Option<usize>,
}

/// The decode plan of one table, valid while its TABLE_MAP stays the same.
#[derive(Debug, Clone)]
pub struct TableDecoder {
    schema: Arc<TableSchema>,
    slots: Vec<Slot>,
    fingerprint: Vec<u8>,
}

fn find(names: &[&str], wanted: &str) -> Option<usize> {
    names.iter().position(|n| n.eq_ignore_ascii_case(wanted))
}

fn contains(set: &HashSet<String>, name: &str) -> bool {
    set.iter().any(|s| s.eq_ignore_ascii_case(name))
}

fn lookup<'a>(map: &'a HashMap<String, String>, name: &str) -> Option<&'a String> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

impl TableDecoder {
    /// Builds the plan once per TABLE_MAP. Needs `binlog_row_metadata=FULL`
    /// (names, signedness, charsets, ENUM/SET texts, primary key). The key is
    /// the primary key in key order, else `hints.key_override`.
    pub fn new(tme: &TableMapEvent<'_>, hints: &TableHints) -> Result<Self, DecodeError> {
        let qualified = format!("{}.{}", tme.database_name(), tme.table_name());
        let raw = table_map::parse(tme).map_err(|e| DecodeError::BadTableMap {
            table: qualified.clone(),
            detail: match e {
                TableMapError::Truncated(what) => format!("{what} truncated"),
                TableMapError::UnknownMetadataLength(t) => format!("unknown column type {t}"),
            },
        })?;
        let mut slots = Vec::with_capacity(raw.columns.len());
        let mut columns = Vec::with_capacity(raw.columns.len());
        for col in &raw.columns {
            let name = col
                .name
                .clone()
                .ok_or_else(|| DecodeError::MissingMetadata {
                    table: qualified.clone(),
                    what: "column names",
                })?;
            let plan = column_meta::plan(col).map_err(|e| DecodeError::UnsupportedColumn {
                table: qualified.clone(),
                column: name.clone(),
                reason: e.0,
            })?;
            let out = if contains(&hints.excluded_columns, &name) {
                None
            } else {
                let described = if contains(&hints.json_columns, &name) {
                    "json".to_owned()
                } else {
                    plan.binlog_type_name.clone()
                };
                columns.push(Column {
                    name: name.clone(),
                    data_type: plan.data_type.clone(),
                    // A zero date arrives as NULL, so date columns always allow null.
                    nullable: col.nullable || plan.may_be_zero_date,
                    source_type: lookup(&hints.source_types, &name)
                        .cloned()
                        .unwrap_or(described),
                    default: hints.default_of(&name, &plan.data_type),
                });
                Some(columns.len() - 1)
            };
            slots.push(Slot { name, plan, out });
        }
        let key = key_indexes(&qualified, &slots, raw.primary_key.as_deref(), hints)?;
        let schema = TableSchema {
            db: raw.db,
            table: raw.table,
            columns,
            key,
        };
        Ok(Self {
            schema: Arc::new(schema),
            slots,
            fingerprint: raw.fingerprint,
        })
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    /// Whether `tme` describes the table exactly as this decoder was built
    /// from (the table id may differ): if so, keep using this decoder.
    pub fn matches(&self, tme: &TableMapEvent<'_>) -> bool {
        table_map::fingerprint(tme) == self.fingerprint
    }

    /// Decodes every row of a WRITE/UPDATE/DELETE rows event (v1 or v2) into
    /// `(before, after)` images; excluded columns are dropped.
    pub fn decode_rows(&self, ev: &RowsEventData<'_>) -> Result<RowImages, DecodeError> {
        if matches!(ev, RowsEventData::PartialUpdateRowsEvent(_)) {
            return Err(DecodeError::PartialJson {
                table: self.schema.qualified_name(),
            });
        }
        let n = usize::try_from(ev.num_columns()).unwrap_or(usize::MAX);
        if n != self.slots.len() {
            return Err(DecodeError::ColumnCountMismatch {
                table: self.schema.qualified_name(),
                table_map: self.slots.len(),
                rows_event: n,
            });
        }
        let before = ev
            .columns_before_image()
            .map(|b| b.iter().by_vals().collect::<Vec<bool>>());
        let after = ev
            .columns_after_image()
            .map(|b| b.iter().by_vals().collect::<Vec<bool>>());
        self.decode_images(before.as_deref(), after.as_deref(), ev.rows_data())
    }

    /// [`decode_rows`](Self::decode_rows) on the parts of a rows event: the
    /// present-column flags of the before and after images and the row bytes.
    pub fn decode_images(
        &self,
        before: Option<&[bool]>,
        after: Option<&[bool]>,
        rows_data: &[u8],
    ) -> Result<RowImages, DecodeError> {
        for image in [before, after].into_iter().flatten() {
            self.check_image(image)?;
        }
        // NULL-bitmap sizes, the same for every row of the event.
        let width = |p: &[bool]| p.iter().filter(|x| **x).count().div_ceil(8);
        let before = before.map(|p| (p, width(p)));
        let after = after.map(|p| (p, width(p)));
        let mut c = Cursor::new(rows_data);
        let mut rows = Vec::new();
        while !c.is_empty() {
            let i = rows.len();
            let b = before
                .map(|(p, w)| self.read_image(&mut c, p, w, i))
                .transpose()?;
            let a = after
                .map(|(p, w)| self.read_image(&mut c, p, w, i))
                .transpose()?;
            rows.push((b, a));
        }
        Ok(rows)
    }

    /// Every column must be listed, and every emitted one present.
    fn check_image(&self, present: &[bool]) -> Result<(), DecodeError> {
        if present.len() != self.slots.len() {
            return Err(DecodeError::ColumnCountMismatch {
                table: self.schema.qualified_name(),
                table_map: self.slots.len(),
                rows_event: present.len(),
            });
        }
        match self
            .slots
            .iter()
            .zip(present)
            .find(|(s, p)| s.out.is_some() && !**p)
        {
            Some((slot, _)) => Err(DecodeError::MissingFromImage {
                table: self.schema.qualified_name(),
                column: slot.name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// One row image: a NULL bitmap over the present columns, then the
    /// non-NULL values in column order.
    fn read_image(
        &self,
        c: &mut Cursor<'_>,
        present: &[bool],
        null_bytes: usize,
        row: usize,
    ) -> Result<Row, DecodeError> {
        let corrupt = |column: &str, detail| DecodeError::Corrupt {
            table: self.schema.qualified_name(),
            row,
            column: column.to_owned(),
            detail,
        };
        let nulls = c
            .take(null_bytes)
            .map_err(|_| corrupt("(null bitmap)", "row data ends inside the NULL bitmap"))?;
        let mut out = Vec::with_capacity(self.schema.columns.len());
        for (k, (slot, _)) in self
            .slots
            .iter()
            .zip(present)
            .filter(|(_, p)| **p)
            .enumerate()
        {
            let is_null = nulls.get(k / 8).is_some_and(|b| b & (1 << (k % 8)) != 0);
            let value = if is_null {
                Value::Null
            } else {
                let raw = take_field(slot.plan.frame, c).map_err(|d| corrupt(&slot.name, d))?;
                if slot.out.is_none() {
                    continue;
                }
                convert(&slot.plan.conv, raw).map_err(|d| corrupt(&slot.name, d))?
            };
            if slot.out.is_some() {
                out.push(value);
            }
        }
        Ok(out)
    }
}

/// Key columns as indexes into the emitted columns, in key order.
fn key_indexes(
    table: &str,
    slots: &[Slot],
    primary: Option<&[usize]>,
    hints: &TableHints,
) -> Result<Vec<usize>, DecodeError> {
    let excluded = |name: &str| DecodeError::ExcludedKeyColumn {
        table: table.to_owned(),
        column: name.to_owned(),
    };
    match (primary, &hints.key_override) {
        (Some(pk), _) if !pk.is_empty() => pk
            .iter()
            .map(|&i| {
                let slot = slots.get(i).ok_or_else(|| DecodeError::BadTableMap {
                    table: table.to_owned(),
                    detail: format!("primary key column index {i} out of range"),
                })?;
                slot.out.ok_or_else(|| excluded(&slot.name))
            })
            .collect(),
        (_, Some(names)) if !names.is_empty() => {
            let all: Vec<&str> = slots.iter().map(|s| s.name.as_str()).collect();
            names
                .iter()
                .map(|n| {
                    let i = find(&all, n).ok_or_else(|| DecodeError::UnknownKeyColumn {
                        table: table.to_owned(),
                        column: n.clone(),
                    })?;
                    slots[i].out.ok_or_else(|| excluded(n))
                })
                .collect()
        }
        _ => Err(DecodeError::NoKey {
            table: table.to_owned(),
        }),
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
