//! The stream's side of table life: a statement that makes a captured
//! name appear or vanish becomes a [`TableChange`] item, in binlog order
//! with the rows around it. A table that appears carries a truncate event
//! stamped in the statement's transaction, written if its name's topic
//! held an earlier table (see [`crate::source::table_life`]).

use std::sync::Arc;

use mysql_async::binlog::events::QueryEvent;

use super::super::statement::{self, Statement, TableName};
use super::super::table_life::{Life, TableChange};
use super::{ChangeStream, StreamItem};
use crate::event::{ChangeEvent, SourceInfo, TableSchema};

impl ChangeStream {
    /// Turns `TRUNCATE` into a truncate event and the statements that
    /// create, drop or rename captured tables into [`TableChange`] items.
    pub(super) fn on_statement(
        &mut self,
        q: &QueryEvent<'_>,
        start: u64,
        timestamp: u32,
        server_id: u32,
    ) {
        let Some(statement) = statement::classify(&q.query(), &q.schema()) else {
            return;
        };
        let at = (start, timestamp, server_id, u64::from(q.thread_id()));
        match statement {
            Statement::Truncate { db, table } => {
                if self.catalog.is_selected(&db, &table) {
                    let event = self.truncate_event(db, table, at);
                    self.publish(event);
                }
            }
            Statement::Create {
                table,
                replace,
                if_not_exists,
            } => {
                if replace {
                    self.life(&table, Life::Dropped, at);
                }
                self.life(&table, Life::Created { if_not_exists }, at);
            }
            Statement::Drop { tables } => {
                for t in &tables {
                    self.life(t, Life::Dropped, at);
                }
            }
            Statement::DropDatabase { db } => {
                self.pending.push_back(StreamItem::Table(TableChange {
                    table: db,
                    life: Life::DatabaseDropped,
                    truncate: None,
                }));
            }
            Statement::Rename { pairs } => {
                for (from, to) in &pairs {
                    let to_name = format!("{}.{}", to.0, to.1);
                    let from_name = format!("{}.{}", from.0, from.1);
                    self.life(from, Life::RenamedAway { to: to_name }, at);
                    self.life(to, Life::RenamedIn { from: from_name }, at);
                }
            }
        }
    }

    /// One item for `table` if the connector captures it.
    fn life(&mut self, table: &TableName, life: Life, at: (u64, u32, u32, u64)) {
        let (db, name) = table;
        if !self.catalog.is_selected(db, name) {
            return;
        }
        let truncate = match life {
            Life::Created { .. } | Life::RenamedIn { .. } => {
                let mut event = Box::new(self.truncate_event(db.clone(), name.clone(), at));
                self.stamp(&mut event).map(|p| (event, p))
            }
            _ => None,
        };
        self.pending.push_back(StreamItem::Table(TableChange {
            table: format!("{db}.{name}"),
            life,
            truncate,
        }));
    }

    /// A truncate event of `db.table` in the statement's transaction (a
    /// standalone one when the statement opened none).
    fn truncate_event(
        &mut self,
        db: String,
        table: String,
        (start, timestamp, server_id, thread): (u64, u32, u32, u64),
    ) -> ChangeEvent {
        if self.txn.is_none() {
            self.begin(None, None, start, true);
        }
        if let Some(t) = self.txn.as_mut() {
            t.thread = Some(thread);
        }
        let source = SourceInfo {
            name: self.name.clone(),
            ts_ms: i64::from(timestamp) * 1000,
            server_id,
            ..SourceInfo::default()
        };
        let shape = Arc::new(TableSchema {
            db,
            table,
            columns: Vec::new(),
            key: Vec::new(),
        });
        ChangeEvent::truncate(shape, source)
    }
}
