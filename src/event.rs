//! The shared language between the source and everything after it: one
//! change to one row of one table. Everything left of this module knows
//! MySQL; everything right of it knows Kafka and Delta. No binlog type ever
//! appears here.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What happened to a row, with Debezium's one-letter codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `c`: an INSERT.
    Create,
    /// `u`: an UPDATE that kept the key.
    Update,
    /// `d`: a DELETE (a key-changing UPDATE also emits one for the old key).
    Delete,
    /// `r`: a row read by the snapshot.
    Read,
    /// `t`: a TRUNCATE TABLE; no row images, no key.
    Truncate,
}

impl Op {
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The logical type of a column, chosen so that each maps to exactly one
/// Avro type and one Delta type (see docs/contract.md, "Types").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// BIT(1). Avro boolean.
    Boolean,
    /// TINYINT/SMALLINT/MEDIUMINT (any sign), INT, YEAR. Avro int.
    Int,
    /// INT UNSIGNED, BIGINT. Avro long.
    Long,
    /// FLOAT. Avro float.
    Float,
    /// DOUBLE. Avro double.
    Double,
    /// DECIMAL(p ≤ 38, s) and BIGINT UNSIGNED as (20, 0): Avro bytes decimal.
    /// The unscaled value always fits an i128.
    Decimal { precision: u8, scale: u8 },
    /// DECIMAL(p > 38, s): Avro string in plain notation with `scale` digits.
    DecimalString { precision: u8, scale: u8 },
    /// DATE: Avro int date (days since 1970-01-01).
    Date,
    /// DATETIME(fsp): Avro long local-timestamp-micros, never shifted by a zone.
    DateTime,
    /// TIMESTAMP(fsp): Avro long timestamp-micros, UTC.
    Timestamp,
    /// TIME(fsp): Avro long microseconds, may be negative or over 24 h.
    Time,
    /// CHAR/VARCHAR/TEXT in any charset, ENUM, SET, JSON: Avro string (UTF-8).
    String,
    /// BINARY/VARBINARY/BLOB, BIT(n > 1), GEOMETRY (WKB): Avro bytes.
    Bytes,
}

/// One column of a captured table, after `exclude_columns` was applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    pub name: String,
    pub data_type: ColumnType,
    pub nullable: bool,
    /// The MySQL type as `information_schema.COLUMNS.COLUMN_TYPE` shows it
    /// (e.g. `bigint(20) unsigned`), for messages and docs only.
    pub source_type: String,
    /// The column's literal default; `None` when it has none or an
    /// expression (`CURRENT_TIMESTAMP`, `(uuid())`): schemas then use the
    /// type's zero value, as Debezium does.
    pub default: Option<DefaultValue>,
}

impl Column {
    /// A column without a MySQL type text or default, as tests build
    /// table schemas by hand.
    pub fn plain(name: &str, data_type: ColumnType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type,
            nullable,
            source_type: String::new(),
            default: None,
        }
    }
}

/// A literal column default, already in its column type's [`Value`] form.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultValue(pub Value);

// Defaults come from SQL literals, never NaN: equality is total here.
impl Eq for DefaultValue {}

impl Hash for DefaultValue {
    fn hash<H: Hasher>(&self, h: &mut H) {
        std::mem::discriminant(&self.0).hash(h);
        match &self.0 {
            Value::Null => {}
            Value::Boolean(b) => b.hash(h),
            Value::Int(i) | Value::Date(i) => i.hash(h),
            Value::Long(i) | Value::DateTime(i) | Value::Timestamp(i) | Value::Time(i) => i.hash(h),
            Value::Float(f) => f.to_bits().hash(h),
            Value::Double(f) => f.to_bits().hash(h),
            Value::Decimal(d) => d.hash(h),
            Value::String(s) => s.hash(h),
            Value::Bytes(b) => b.hash(h),
        }
    }
}

/// The shape of one captured table at one point of the binlog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableSchema {
    pub db: String,
    pub table: String,
    /// Captured columns in table order.
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the key, in the primary key's column order.
    pub key: Vec<usize>,
}

impl TableSchema {
    /// `db.table`, as patterns and messages name it.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.db, self.table)
    }

    /// The key columns, in key order.
    pub fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.key.iter().map(|&i| &self.columns[i])
    }

    /// The key values of a row of this table.
    pub fn key_of<'a>(&self, row: &'a Row) -> Vec<&'a Value> {
        self.key.iter().map(|&i| &row[i]).collect()
    }
}

/// A column value, already in the form its [`ColumnType`] prescribes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    /// Unscaled value; the scale is the column's.
    Decimal(i128),
    String(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00 in no time zone.
    DateTime(i64),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// Signed microseconds.
    Time(i64),
}

/// Column values in the order of [`TableSchema::columns`].
pub type Row = Vec<Value>;

/// Where a row change sits in the binlog, as Debezium's `source` block
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceInfo {
    /// Connector name (`name` in the connector file). The strings of this
    /// block are shared by every row of a transaction (or snapshot chunk),
    /// not copied per row.
    pub name: Arc<str>,
    /// Commit time of the transaction in MySQL, ms since the epoch.
    pub ts_ms: i64,
    pub snapshot: SnapshotMarker,
    pub server_id: u32,
    /// The transaction's GTID (`0-1-42` on MariaDB, `uuid:n` on MySQL).
    pub gtid: Option<Arc<str>>,
    /// Binlog file and position of the transaction's first event.
    pub file: Arc<str>,
    pub pos: u64,
    /// Index of the row within its rows event.
    pub row: u32,
    pub thread: Option<u64>,
    pub query: Option<String>,
}

/// Debezium's `source.snapshot` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotMarker {
    #[default]
    False,
    True,
    Last,
}

impl SnapshotMarker {
    /// The text Debezium writes (`None` for a streamed change).
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            SnapshotMarker::False => None,
            SnapshotMarker::True => Some("true"),
            SnapshotMarker::Last => Some("last"),
        }
    }
}

/// Debezium's `transaction` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    pub id: Arc<str>,
    /// 1-based position of the event within its transaction.
    pub total_order: u64,
    /// 1-based position of the event among its table's events in the transaction.
    pub data_collection_order: u64,
}

/// One change to one row.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub table: Arc<TableSchema>,
    pub op: Op,
    pub before: Option<Row>,
    pub after: Option<Row>,
    pub source: SourceInfo,
    pub transaction: Option<TransactionInfo>,
}

impl ChangeEvent {
    /// A truncate of `db.table` at its statement's place in the binlog (the
    /// transaction fields are stamped when it is published).
    pub fn truncate(table: Arc<TableSchema>, source: SourceInfo) -> Self {
        ChangeEvent {
            table,
            op: Op::Truncate,
            before: None,
            after: None,
            source,
            transaction: None,
        }
    }

    /// The row whose key identifies this change: `after`, or `before` for a delete.
    pub fn key_row(&self) -> Option<&Row> {
        self.after.as_ref().or(self.before.as_ref())
    }
}
