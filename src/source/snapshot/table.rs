//! A captured table as the snapshot reads it: the same [`TableSchema`] the
//! binlog decoder builds (so snapshot rows share the stream's Avro schema),
//! from information_schema instead of a TABLE_MAP, and how to read each
//! column of a `SELECT`.

use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::config::SourceConfig;
use crate::event::{Column, ColumnType, TableSchema};
use crate::source::binlog::Flavour;
use crate::source::catalog::{key_columns, load_hints};
use crate::source::SourceError;

/// How one selected column's protocol value becomes a [`crate::event::Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAs {
    Int,
    Long,
    /// BIGINT UNSIGNED: decimal(20,0).
    UnsignedBigint,
    Decimal {
        scale: u8,
    },
    DecimalString {
        scale: u8,
    },
    Float,
    Double,
    /// BIT(1).
    Bool,
    /// BINARY(n): MySQL returns it padded, as the stream restores it.
    Bytes,
    /// GEOMETRY: MySQL's 4-byte SRID prefix is dropped, leaving WKB.
    Geometry,
    Date,
    DateTime,
    /// TIMESTAMP, read in a `+00:00` session.
    Timestamp,
    Time,
    /// CHAR/VARCHAR/TEXT/ENUM/SET/JSON, converted to UTF-8 by the server.
    String,
}

#[derive(Debug, Clone)]
pub struct SnapshotTable {
    pub schema: Arc<TableSchema>,
    /// Per column of `schema`, in the same order.
    pub read_as: Vec<ReadAs>,
    /// information_schema's view of every column when `schema` was built
    /// (excluded ones too), as [`SHAPE_SQL`] returns it: a chunk read
    /// compares it with the table's shape inside its snapshot.
    pub shape: Vec<ShapeRow>,
}

/// `COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY`: what a DDL changes
/// that the snapshot's reading depends on.
pub type ShapeRow = (String, String, String, String);

/// The table's current columns, for [`ShapeRow`]s.
pub const SHAPE_SQL: &str = "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
     ORDER BY ORDINAL_POSITION";

impl SnapshotTable {
    pub fn qualified_name(&self) -> String {
        self.schema.qualified_name()
    }

    /// Backquoted column name.
    pub fn quoted(name: &str) -> String {
        crate::source::keyset::quote(name)
    }

    /// `` `db`.`table` ``.
    pub fn quoted_table(&self) -> String {
        format!(
            "{}.{}",
            Self::quoted(&self.schema.db),
            Self::quoted(&self.schema.table)
        )
    }
}

/// One row of information_schema.COLUMNS.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    pub column_type: String,
    pub nullable: bool,
    pub precision: Option<u64>,
    pub scale: Option<u64>,
}

/// Reads the table's shape, applying the connector's exclusions and key.
pub async fn load(
    pool: &mysql_async::Pool,
    flavour: Flavour,
    config: &SourceConfig,
    db: &str,
    table: &str,
) -> Result<SnapshotTable, SourceError> {
    let hints = load_hints(pool, flavour, config, db, table).await?;
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let stmt =
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, \
                NUMERIC_PRECISION, NUMERIC_SCALE, COLUMN_KEY FROM information_schema.COLUMNS \
                WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION";
    let rows: Vec<mysql_async::Row> = conn
        .exec(stmt, (db, table))
        .await
        .map_err(SourceError::query(stmt))?;
    let Some(first) = rows.first() else {
        return Err(SourceError::Table(format!(
            "{db}.{table} does not exist (or the user cannot see it)"
        )));
    };
    let shape: Vec<ShapeRow> = rows
        .iter()
        .map(|r| {
            (
                r.get(2).unwrap_or_default(),
                r.get(4).unwrap_or_default(),
                r.get(5).unwrap_or_default(),
                r.get(8).unwrap_or_default(),
            )
        })
        .collect();
    let real_db: String = first.get(0).unwrap_or_else(|| db.to_string());
    let real_table: String = first.get(1).unwrap_or_else(|| table.to_string());
    let infos: Vec<ColumnInfo> = rows
        .iter()
        .map(|r| ColumnInfo {
            name: r.get(2).unwrap_or_default(),
            data_type: r
                .get::<String, _>(3)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            column_type: r.get(4).unwrap_or_default(),
            nullable: r.get::<String, _>(5).is_some_and(|n| n == "YES"),
            precision: r.get::<Option<u64>, _>(6).flatten(),
            scale: r.get::<Option<u64>, _>(7).flatten(),
        })
        .collect();
    let key = key_columns(&mut conn, config, db, table)
        .await
        .map_err(SourceError::query("information_schema.KEY_COLUMN_USAGE"))?;
    let excluded = |name: &str| {
        hints
            .excluded_columns
            .iter()
            .any(|e| e.eq_ignore_ascii_case(name))
    };
    let qualified = format!("{real_db}.{real_table}");
    let mut columns = Vec::new();
    let mut read_as = Vec::new();
    for info in infos.iter().filter(|c| !excluded(&c.name)) {
        let (data_type, how) = map_column(info).ok_or_else(|| {
            SourceError::Unsupported(format!(
                "{qualified}: column `{}` has type {} that binlake cannot capture",
                info.name, info.column_type
            ))
        })?;
        let zero_date = matches!(how, ReadAs::Date | ReadAs::DateTime | ReadAs::Timestamp);
        let default = hints.default_of(&info.name, &data_type);
        columns.push(Column {
            name: info.name.clone(),
            data_type,
            // As in the stream: a zero date arrives as NULL.
            nullable: info.nullable || zero_date,
            source_type: info.column_type.clone(),
            default,
        });
        read_as.push(how);
    }
    if key.is_empty() {
        return Err(SourceError::Table(format!(
            "{qualified} has no primary key; add key_columns = {{ \"{qualified}\" = [\"col\", ...] }} to the connector file"
        )));
    }
    let key = key
        .iter()
        .map(|k| {
            columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(k))
                .ok_or_else(|| {
                    SourceError::Table(format!(
                        "{qualified}: key column `{k}` does not exist or is excluded"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SnapshotTable {
        schema: Arc::new(TableSchema {
            db: real_db,
            table: real_table,
            columns,
            key,
        }),
        read_as,
        shape,
    })
}

/// The type table of docs/contract.md, from information_schema's point of
/// view; `None` for a type the stream cannot decode either.
pub fn map_column(c: &ColumnInfo) -> Option<(ColumnType, ReadAs)> {
    use ColumnType as T;
    let unsigned = c.column_type.to_ascii_lowercase().contains("unsigned");
    Some(match c.data_type.as_str() {
        "tinyint" | "smallint" | "mediumint" | "year" => (T::Int, ReadAs::Int),
        "int" | "integer" if unsigned => (T::Long, ReadAs::Long),
        "int" | "integer" => (T::Int, ReadAs::Int),
        "bigint" if unsigned => (
            T::Decimal {
                precision: 20,
                scale: 0,
            },
            ReadAs::UnsignedBigint,
        ),
        "bigint" => (T::Long, ReadAs::Long),
        "decimal" | "numeric" => {
            let precision = u8::try_from(c.precision?).ok()?;
            let scale = u8::try_from(c.scale.unwrap_or(0)).ok()?;
            if precision <= 38 {
                (T::Decimal { precision, scale }, ReadAs::Decimal { scale })
            } else {
                (
                    T::DecimalString { precision, scale },
                    ReadAs::DecimalString { scale },
                )
            }
        }
        "float" => (T::Float, ReadAs::Float),
        "double" | "real" | "double precision" => (T::Double, ReadAs::Double),
        "bit" if c.precision == Some(1) => (T::Boolean, ReadAs::Bool),
        "bit" => (T::Bytes, ReadAs::Bytes),
        "date" => (T::Date, ReadAs::Date),
        "datetime" => (T::DateTime, ReadAs::DateTime),
        "timestamp" => (T::Timestamp, ReadAs::Timestamp),
        "time" => (T::Time, ReadAs::Time),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
        | "json" => (T::String, ReadAs::String),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            (T::Bytes, ReadAs::Bytes)
        }
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => (T::Bytes, ReadAs::Geometry),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(data_type: &str, column_type: &str, p: Option<u64>, s: Option<u64>) -> ColumnInfo {
        ColumnInfo {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            nullable: true,
            precision: p,
            scale: s,
        }
    }

    #[test]
    fn types_follow_the_spec_table() {
        let t = |d, c, p, s| map_column(&info(d, c, p, s)).map(|x| x.0);
        assert_eq!(
            t("int", "int(10) unsigned", None, None),
            Some(ColumnType::Long)
        );
        assert_eq!(t("int", "int(11)", None, None), Some(ColumnType::Int));
        assert_eq!(
            t("mediumint", "mediumint(8) unsigned", None, None),
            Some(ColumnType::Int)
        );
        assert_eq!(
            t("bigint", "bigint(20) unsigned", None, None),
            Some(ColumnType::Decimal {
                precision: 20,
                scale: 0
            })
        );
        assert_eq!(
            t("decimal", "decimal(40,5)", Some(40), Some(5)),
            Some(ColumnType::DecimalString {
                precision: 40,
                scale: 5
            })
        );
        assert_eq!(t("bit", "bit(1)", Some(1), None), Some(ColumnType::Boolean));
        assert_eq!(t("bit", "bit(9)", Some(9), None), Some(ColumnType::Bytes));
        assert_eq!(t("point", "point", None, None), Some(ColumnType::Bytes));
        assert_eq!(t("inet6", "inet6", None, None), None);
    }
}
