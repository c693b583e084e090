//! Which tables are captured and how to decode them: one decoder per
//! TABLE_MAP shape, built once and reused for every row that follows.
//!
//! Column names, keys and types come from the binlog's own FULL row
//! metadata; information_schema adds only what the binlog cannot say
//! (MariaDB's JSON columns, the declared type text, column defaults). No
//! DDL is parsed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mysql_async::binlog::events::TableMapEvent;
use mysql_async::prelude::Queryable;
use mysql_async::Pool;

use super::binlog::Flavour;
use super::decode::{TableDecoder, TableHints};
use super::defaults;
use super::SourceError;
use crate::config::SourceConfig;

/// Decoders by binlog table id, hints by table name.
pub struct Catalog {
    config: Arc<SourceConfig>,
    pool: Pool,
    flavour: Flavour,
    hints: HashMap<(String, String), Arc<TableHints>>,
    decoders: HashMap<u64, Arc<TableDecoder>>,
}

impl Catalog {
    pub fn new(config: Arc<SourceConfig>, pool: Pool, flavour: Flavour) -> Self {
        Catalog {
            config,
            pool,
            flavour,
            hints: HashMap::new(),
            decoders: HashMap::new(),
        }
    }

    pub fn is_selected(&self, db: &str, table: &str) -> bool {
        self.config.table_selected(db, table)
    }

    /// The decoder for the rows that follow this TABLE_MAP, or `None` for a
    /// table that is not captured.
    pub async fn on_table_map(
        &mut self,
        tme: &TableMapEvent<'_>,
    ) -> Result<Option<Arc<TableDecoder>>, SourceError> {
        let db = tme.database_name().into_owned();
        let table = tme.table_name().into_owned();
        if !self.is_selected(&db, &table) {
            return Ok(None);
        }
        if let Some(decoder) = self.decoders.get(&tme.table_id()) {
            if decoder.matches(tme) {
                return Ok(Some(decoder.clone()));
            }
        }
        let hints = self.hints_for(&db, &table).await?;
        let decoder = TableDecoder::new(tme, &hints)
            .map_err(|e| SourceError::Decode(format!("{db}.{table}: {e}")))?;
        let decoder = Arc::new(decoder);
        self.decoders.insert(tme.table_id(), decoder.clone());
        Ok(Some(decoder))
    }

    /// Hints known without asking the server (tests on recorded events).
    #[cfg(test)]
    pub fn seed_hints(&mut self, db: &str, table: &str, hints: TableHints) {
        self.hints
            .insert((db.to_string(), table.to_string()), Arc::new(hints));
    }

    /// Forgets what information_schema said, after a DDL statement: the next
    /// TABLE_MAP of each table asks again.
    pub fn invalidate(&mut self) {
        self.hints.clear();
        self.decoders.clear();
    }

    async fn hints_for(&mut self, db: &str, table: &str) -> Result<Arc<TableHints>, SourceError> {
        if let Some(h) = self.hints.get(&(db.to_string(), table.to_string())) {
            return Ok(h.clone());
        }
        let hints = Arc::new(load_hints(&self.pool, self.flavour, &self.config, db, table).await?);
        self.hints
            .insert((db.to_string(), table.to_string()), hints.clone());
        Ok(hints)
    }
}

/// Reads a table's column types and JSON columns from information_schema
/// and applies the connector's column exclusions and key override.
pub async fn load_hints(
    pool: &Pool,
    flavour: Flavour,
    config: &SourceConfig,
    db: &str,
    table: &str,
) -> Result<TableHints, SourceError> {
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let stmt = "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, COLUMN_DEFAULT, EXTRA \
                FROM information_schema.COLUMNS \
                WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION";
    type Described = (String, String, String, Option<String>, String);
    let described: Vec<Described> = conn
        .exec(stmt, (db, table))
        .await
        .map_err(SourceError::query(stmt))?;
    let defaults = described
        .iter()
        .filter_map(|(name, _, _, default, extra)| {
            defaults::classify(flavour, default.as_deref(), extra).map(|d| (name.clone(), d))
        })
        .collect();
    let columns: Vec<(String, String, String)> = described
        .into_iter()
        .map(|(name, column_type, data_type, _, _)| (name, column_type, data_type))
        .collect();
    let mut json_columns: HashSet<String> = columns
        .iter()
        .filter(|(_, _, data_type)| data_type.eq_ignore_ascii_case("json"))
        .map(|(name, _, _)| name.clone())
        .collect();
    if flavour == Flavour::MariaDb {
        // MariaDB stores JSON as LONGTEXT guarded by a json_valid() check.
        let stmt = "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
                    WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?";
        let clauses: Vec<String> = conn
            .exec(stmt, (db, table))
            .await
            .map_err(SourceError::query(stmt))?;
        for clause in clauses {
            if let Some(col) = json_valid_column(&clause) {
                json_columns.insert(col);
            }
        }
    }
    let excluded_columns = columns
        .iter()
        .filter(|(name, _, _)| config.column_excluded(db, table, name))
        .map(|(name, _, _)| name.clone())
        .collect();
    let source_types = columns
        .iter()
        .map(|(name, column_type, _)| (name.clone(), column_type.clone()))
        .collect();
    Ok(TableHints {
        json_columns,
        excluded_columns,
        key_override: config.key_columns_for(db, table).map(<[String]>::to_vec),
        source_types,
        defaults,
    })
}

/// `json_valid(`col`)` → `col`.
fn json_valid_column(clause: &str) -> Option<String> {
    let inner = clause
        .trim()
        .strip_prefix("json_valid(")?
        .strip_suffix(')')?
        .trim();
    let name = inner.strip_prefix('`')?.strip_suffix('`')?;
    Some(name.replace("``", "`"))
}

/// The base tables on the server that `config` selects, sorted.
pub async fn selected_tables(
    conn: &mut mysql_async::Conn,
    config: &SourceConfig,
) -> Result<Vec<(String, String)>, mysql_async::Error> {
    let all: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2",
        )
        .await?;
    Ok(all
        .into_iter()
        .filter(|(d, t)| config.table_selected(d, t))
        .collect())
}

/// A table's key: `key_columns` from the connector file, else its primary
/// key columns in key order (empty when it has none).
pub async fn key_columns(
    conn: &mut mysql_async::Conn,
    config: &SourceConfig,
    db: &str,
    table: &str,
) -> Result<Vec<String>, mysql_async::Error> {
    if let Some(k) = config.key_columns_for(db, table) {
        return Ok(k.to_vec());
    }
    conn.exec(
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
         ORDER BY ORDINAL_POSITION",
        (db, table),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::json_valid_column;

    #[test]
    fn json_check_clause() {
        assert_eq!(
            json_valid_column("json_valid(`attrs`)").as_deref(),
            Some("attrs")
        );
        assert_eq!(
            json_valid_column("json_valid(`a``b`)").as_deref(),
            Some("a`b")
        );
        assert_eq!(json_valid_column("`x` > 0"), None);
    }
}
