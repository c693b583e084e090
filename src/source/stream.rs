//! Turns binlog events into change events and commit points: tracks the
//! transaction each row belongs to, splits key-changing updates, numbers
//! every change so a restart can tell what Kafka already holds.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use mysql_async::binlog::events::{Event, EventData, QueryEvent, RowsEventData};

use super::binlog::{
    BinlogConnection, Flavour, FORMAT_DESCRIPTION, HEARTBEAT, MARIADB_GTID, ROTATE,
};
use super::catalog::Catalog;
use super::decode::TableDecoder;
use super::gtid::{Gtid, GtidState, MariaBinlogState, MysqlGtid};
use super::order::{RecordPlace, TxnMark};
use super::position::{ChangeOrder, MariaGtid, MariaGtidState, MysqlGtidSet, Position};
use super::table_life::TableChange;
use super::xa::{self, PreparedXa};
use super::SourceError;
use crate::event::{
    ChangeEvent, Op, Row, SnapshotMarker, SourceInfo, TableSchema, TransactionInfo,
};

/// What the source hands on, in binlog order.
#[derive(Debug)]
pub enum StreamItem {
    /// One row change and its place in the binlog.
    Change(Box<ChangeEvent>, RecordPlace),
    /// Every change before this point is complete: a safe resume position.
    Commit(Position),
    /// The server is alive and has nothing newer to send.
    Heartbeat,
    /// A captured name's table was created, dropped or renamed.
    Table(TableChange),
}

/// MariaDB's GTID flag for a transaction without BEGIN/COMMIT (DDL).
const FL_STANDALONE: u8 = 1;

struct Txn {
    id: Arc<str>,
    gtid: Option<Arc<str>>,
    maria_gtid: Option<MariaGtid>,
    /// What its records carry: the server, its GTID, the state after it.
    mark: Arc<TxnMark>,
    /// A BEGIN was read: on MySQL, a GTID without one is a statement
    /// committed by itself (DDL), which no XID ends.
    began: bool,
    file: Arc<str>,
    pos: u64,
    thread: Option<u64>,
    /// Changes emitted so far, for `transaction.total_order`.
    total: u64,
    /// Changes emitted so far per table (db, table), for
    /// `transaction.data_collection_order`; a transaction touches few tables.
    per_table: Vec<(Arc<TableSchema>, u64)>,
    standalone: bool,
    /// An XA PREPARE group: its changes wait in `held` for the outcome.
    xa: bool,
    xa_id: Option<String>,
    held: Vec<ChangeEvent>,
}

pub struct ChangeStream {
    name: Arc<str>,
    flavour: Flavour,
    conn: BinlogConnection,
    catalog: Catalog,
    /// MariaDB: the last GTID per domain, where a resume starts.
    gtid_state: MariaGtidState,
    /// Every transaction read so far, as GTIDs (MariaDB's binlog state or
    /// MySQL's executed set).
    state: Option<GtidState>,
    /// The server identity, stamped on every record.
    server: Arc<str>,
    /// The mark of the last committed transaction (or of the start).
    mark: Arc<TxnMark>,
    /// The file being read and its creation time; `expect_created` is the
    /// stored one for the start file, checked when its header arrives.
    file_created: Option<u32>,
    expect_created: Option<(String, u32)>,
    txn: Option<Txn>,
    prepared: PreparedXa,
    /// The last complete-transaction position, before any XA hold.
    last_commit: Position,
    /// Decoders for the table ids mapped in the current transaction.
    mapped: HashMap<u64, Arc<TableDecoder>>,
    pending: VecDeque<StreamItem>,
    /// File and end offset of the last event read.
    read_point: (String, u64),
}

impl ChangeStream {
    /// `from` is where the connection starts: its GTID state seeds ours.
    /// `server` is the identity of the server `conn` reads.
    pub fn new(
        name: String,
        flavour: Flavour,
        conn: BinlogConnection,
        catalog: Catalog,
        from: &Position,
        server: Arc<str>,
    ) -> Self {
        let gtid_state = from
            .gtid_set
            .as_deref()
            .filter(|_| flavour == Flavour::MariaDb)
            .and_then(MariaGtidState::parse)
            .unwrap_or_default();
        let state = seed_state(flavour, from);
        let mark = Arc::new(TxnMark::new(
            server.clone(),
            None,
            state.clone().map(Arc::new),
        ));
        ChangeStream {
            name: Arc::from(name),
            flavour,
            conn,
            catalog,
            gtid_state,
            state,
            server,
            mark,
            file_created: None,
            expect_created: from.file_created.map(|t| (from.file.clone(), t)),
            txn: None,
            prepared: PreparedXa::default(),
            last_commit: from.clone(),
            mapped: HashMap::new(),
            pending: VecDeque::new(),
            read_point: (from.file.clone(), from.pos),
        }
    }

    /// The mark of the last committed transaction: what a snapshot row
    /// emitted now stands after.
    pub fn mark(&self) -> Arc<TxnMark> {
        self.mark.clone()
    }

    /// The binlog point the stream has read up to.
    pub fn read_point(&self) -> &(String, u64) {
        &self.read_point
    }

    /// Between transactions, with every item handed on: a snapshot chunk
    /// may be emitted here.
    pub fn at_boundary(&self) -> bool {
        self.txn.is_none() && self.pending.is_empty()
    }

    /// The next item already decoded, if any.
    pub fn pop(&mut self) -> Option<StreamItem> {
        self.pending.pop_front()
    }

    /// The next raw event; cancel-safe, so it may race other futures. Hand
    /// it to [`handle`](Self::handle), which must not be cancelled.
    pub async fn read_event(&mut self) -> Result<Option<Event>, SourceError> {
        self.conn.next_event().await
    }

    /// Gives back the catalog (its caches survive a reconnect).
    pub async fn into_catalog(self) -> Catalog {
        self.conn.close().await;
        self.catalog
    }

    /// The next item; `Ok(None)` when the server ends the stream.
    pub async fn next(&mut self) -> Result<Option<StreamItem>, SourceError> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            let Some(event) = self.conn.next_event().await? else {
                return Ok(None);
            };
            self.handle(event).await?;
        }
    }

    pub async fn handle(&mut self, event: Event) -> Result<(), SourceError> {
        let header = event.header();
        let kind = header.event_type_raw();
        let start = u64::from(header.log_pos()).saturating_sub(u64::from(header.event_size()));
        if kind == ROTATE {
            self.read_point = (self.conn.file.clone(), 4);
        } else if header.log_pos() > 0 && kind != HEARTBEAT {
            self.read_point = (self.conn.file.clone(), u64::from(header.log_pos()));
        }
        match kind {
            MARIADB_GTID => {
                let (gtid, flags) = MariaGtid::from_event_body(header.server_id(), event.data())
                    .ok_or_else(|| SourceError::Binlog("short MariaDB GTID event".into()))?;
                self.begin(
                    Some(gtid.to_string()),
                    Some(gtid),
                    start,
                    flags & FL_STANDALONE != 0,
                );
                if let Some(t) = self.txn.as_mut() {
                    t.xa = flags & xa::FL_PREPARED_XA != 0;
                }
                return Ok(());
            }
            xa::XA_PREPARE_LOG_EVENT => {
                let one_phase = event.data().first() == Some(&1);
                return self.on_xa_prepare(u64::from(header.log_pos()), one_phase);
            }
            FORMAT_DESCRIPTION => return self.on_file_header(header.timestamp()),
            ROTATE => return Ok(()),
            HEARTBEAT => {
                self.pending.push_back(StreamItem::Heartbeat);
                return Ok(());
            }
            _ => {}
        }
        let data = match event.read_data() {
            Ok(Some(data)) => data,
            // Types the crate does not know (MariaDB's GTID_LIST, checkpoints,
            // annotations) carry nothing binlake needs.
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(SourceError::Binlog(format!(
                    "cannot parse event type {kind} at {}:{start}: {e}",
                    self.conn.file
                )))
            }
        };
        match data {
            EventData::GtidEvent(g) => {
                let gtid = mysql_gtid(&g);
                self.begin(Some(gtid), None, start, false);
            }
            EventData::QueryEvent(q) => {
                self.on_statement(&q, start, header.timestamp(), header.server_id());
                self.on_query(&q, start, header.log_pos())?
            }
            EventData::TableMapEvent(tme) => {
                if let Some(decoder) = self.catalog.on_table_map(&tme).await? {
                    self.mapped.insert(tme.table_id(), decoder);
                }
            }
            EventData::RowsEvent(rows) => {
                self.on_rows(&rows, header.timestamp(), header.server_id())?
            }
            EventData::XidEvent(_) => self.commit(u64::from(header.log_pos())),
            _ => {}
        }
        Ok(())
    }

    /// A binlog file's first event: its creation time identifies the file.
    /// A stored position's file of the same name but another creation time
    /// is a different history (`RESET MASTER`, a restored server): reading
    /// on by file and position would skip or garble changes.
    fn on_file_header(&mut self, created: u32) -> Result<(), SourceError> {
        let created = (created != 0).then_some(created);
        if let (Some((file, want)), Some(got)) = (self.expect_created.take(), created) {
            if file == self.conn.file && want != got {
                return Err(SourceError::History(format!(
                    "binlog file {file} on this server was created at {got} (unix time), but the stored \
                     position is in a file of that name created at {want}: the binlog was reset \
                     (RESET MASTER) or the server replaced. binlake stops instead of reading another \
                     history; start a new pipeline (a new connector name) with a snapshot"
                )));
            }
        }
        self.file_created = created;
        Ok(())
    }

    fn begin(
        &mut self,
        gtid: Option<String>,
        maria: Option<MariaGtid>,
        start: u64,
        standalone: bool,
    ) {
        let gtid: Option<Arc<str>> = gtid.map(Arc::from);
        let id = gtid
            .clone()
            .unwrap_or_else(|| Arc::from(format!("{}:{start}", self.conn.file)));
        let parsed = match maria {
            Some(m) => Some(Gtid::Maria(m)),
            None => gtid
                .as_deref()
                .and_then(MysqlGtid::parse)
                .map(|g| Gtid::Mysql(Arc::new(g))),
        };
        let after = match (&self.state, &parsed) {
            (Some(state), Some(g)) => Some(state.with(g)),
            (None, Some(Gtid::Maria(m))) => {
                let mut s = MariaBinlogState::default();
                s.apply(*m);
                Some(GtidState::Maria(s))
            }
            (None, Some(Gtid::Mysql(g))) => {
                let mut s = MysqlGtidSet::default();
                s.add(g);
                Some(GtidState::Mysql(s))
            }
            (state, None) => state.clone(),
        };
        let mark = Arc::new(TxnMark::new(
            self.server.clone(),
            parsed,
            after.map(Arc::new),
        ));
        self.txn = Some(Txn {
            id,
            gtid,
            maria_gtid: maria,
            mark,
            began: false,
            file: Arc::from(self.conn.file.as_str()),
            pos: start,
            thread: None,
            total: 0,
            per_table: Vec::new(),
            standalone,
            xa: false,
            xa_id: None,
            held: Vec::new(),
        });
    }

    fn on_query(&mut self, q: &QueryEvent<'_>, start: u64, end: u32) -> Result<(), SourceError> {
        let text = q.query();
        let trimmed = text.trim();
        if let Some(statement) = xa::parse(trimmed) {
            return self.on_xa(statement, u64::from(end));
        }
        if trimmed.eq_ignore_ascii_case("BEGIN") {
            if self.txn.is_none() {
                self.begin(None, None, start, false);
            }
            if let Some(t) = self.txn.as_mut() {
                t.thread = Some(u64::from(q.thread_id()));
                t.began = true;
            }
            return Ok(());
        }
        if trimmed.eq_ignore_ascii_case("COMMIT") {
            self.commit(u64::from(end));
            return Ok(());
        }
        // Anything else is DDL or a statement outside row logging: forget
        // cached table shapes, the next TABLE_MAP carries the new ones.
        tracing::debug!(query = %trimmed, "statement in binlog; table caches refreshed");
        self.catalog.invalidate();
        // MariaDB flags a standalone statement in its GTID event; MySQL
        // writes its GTID and the statement with no BEGIN before it.
        let mysql = self.flavour == Flavour::MySql;
        let standalone = self
            .txn
            .as_ref()
            .map(|t| t.standalone || (mysql && !t.began && !t.xa))
            .unwrap_or(true);
        if standalone {
            self.commit(u64::from(end));
        }
        Ok(())
    }

    fn on_rows(
        &mut self,
        rows: &RowsEventData<'_>,
        timestamp: u32,
        server_id: u32,
    ) -> Result<(), SourceError> {
        let Some(decoder) = self.mapped.get(&rows.table_id()).cloned() else {
            return Ok(()); // a table that is not captured
        };
        let images = decoder.decode_rows(rows).map_err(|e| {
            SourceError::Decode(format!("{}: {e}", decoder.schema().qualified_name()))
        })?;
        let kind = match rows {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Op::Create,
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Op::Delete,
            _ => Op::Update,
        };
        if self.txn.is_none() {
            // A server without GTIDs or BEGIN events (should not happen with
            // row logging): treat the rows as their own transaction.
            let start = 0;
            self.begin(None, None, start, false);
        }
        for (row_index, (before, after)) in images.into_iter().enumerate() {
            let row_index = row_index as u32;
            match kind {
                Op::Update => {
                    let (Some(before), Some(after)) = (before, after) else {
                        return Err(SourceError::Decode("update row without both images".into()));
                    };
                    let schema = decoder.schema();
                    if schema.key_of(&before) != schema.key_of(&after) {
                        // Debezium's contract: delete the old key, create the new one.
                        self.emit(
                            &decoder,
                            Op::Delete,
                            Some(before),
                            None,
                            (row_index, timestamp, server_id),
                        )?;
                        self.emit(
                            &decoder,
                            Op::Create,
                            None,
                            Some(after),
                            (row_index, timestamp, server_id),
                        )?;
                    } else {
                        self.emit(
                            &decoder,
                            Op::Update,
                            Some(before),
                            Some(after),
                            (row_index, timestamp, server_id),
                        )?;
                    }
                }
                op => self.emit(
                    &decoder,
                    op,
                    before,
                    after,
                    (row_index, timestamp, server_id),
                )?,
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        decoder: &TableDecoder,
        op: Op,
        before: Option<Row>,
        after: Option<Row>,
        (row, timestamp, server_id): (u32, u32, u32),
    ) -> Result<(), SourceError> {
        // Boxed at once: the change is not moved again on its way out.
        let event = Box::new(ChangeEvent {
            op,
            before,
            after,
            source: SourceInfo {
                name: self.name.clone(),
                ts_ms: i64::from(timestamp) * 1000,
                snapshot: SnapshotMarker::False,
                server_id,
                row,
                ..SourceInfo::default()
            },
            transaction: None,
            table: decoder.schema().clone(),
        });
        match self.txn.as_mut() {
            Some(t) if t.xa => {
                self.prepared.check_room(t.held.len() + 1)?;
                t.held.push(*event);
            }
            _ => self.publish_boxed(event),
        }
        Ok(())
    }

    /// Stamps a change with its transaction's place in the binlog and hands
    /// it on.
    fn publish(&mut self, event: ChangeEvent) {
        self.publish_boxed(Box::new(event));
    }

    fn publish_boxed(&mut self, mut event: Box<ChangeEvent>) {
        if let Some(place) = self.stamp(&mut event) {
            self.pending.push_back(StreamItem::Change(event, place));
        }
    }

    /// Fills in a change's transaction fields and gives its place in the
    /// binlog; `None` outside a transaction.
    fn stamp(&mut self, event: &mut ChangeEvent) -> Option<RecordPlace> {
        let txn = self.txn.as_mut()?;
        txn.total += 1;
        let table = &event.table;
        // Not by pointer alone: a table read again mid-transaction is a new
        // Arc. The table last written moves to the end, where the search
        // starts: a run of one table's rows finds it at once.
        let found = txn.per_table.iter().rposition(|(t, _)| {
            Arc::ptr_eq(t, table) || (t.db == table.db && t.table == table.table)
        });
        let last = match found {
            Some(i) => {
                let last = txn.per_table.len() - 1;
                txn.per_table.swap(i, last);
                last
            }
            None => {
                txn.per_table.push((table.clone(), 0));
                txn.per_table.len() - 1
            }
        };
        let per_table = &mut txn.per_table[last].1;
        *per_table += 1;
        let place = RecordPlace {
            order: ChangeOrder::new(&txn.file, txn.pos, txn.total),
            mark: txn.mark.clone(),
            snapshot: false,
        };
        event.source.gtid = txn.gtid.clone();
        event.source.file = txn.file.clone();
        event.source.pos = txn.pos;
        event.source.thread = txn.thread;
        event.transaction = Some(TransactionInfo {
            id: txn.id.clone(),
            total_order: txn.total,
            data_collection_order: *per_table,
        });
        Some(place)
    }

    fn commit(&mut self, end: u64) {
        if let Some(txn) = self.txn.take() {
            if let Some(g) = txn.maria_gtid {
                self.gtid_state.apply(g);
            }
            if txn.mark.gtid.is_some() {
                self.state = txn.mark.state.as_deref().cloned();
            }
            self.mark = txn.mark;
        }
        self.mapped.clear();
        let state = self.state.as_ref().filter(|s| !s.is_empty());
        let (gtid_set, gtid_state) = match self.flavour {
            Flavour::MariaDb => (
                (!self.gtid_state.is_empty()).then(|| self.gtid_state.to_string()),
                state.map(GtidState::to_string),
            ),
            Flavour::MySql => (state.map(GtidState::to_string), None),
        };
        self.last_commit = Position {
            file: self.conn.file.clone(),
            pos: end,
            gtid_set,
            gtid_state,
            server: Some(self.server.to_string()),
            file_created: self.file_created,
        };
        // While prepared XA groups are unresolved, a restart must read them again.
        let resume = self.prepared.hold().unwrap_or(&self.last_commit).clone();
        self.pending.push_back(StreamItem::Commit(resume));
    }
}

#[path = "stream_life.rs"]
mod life;
#[path = "stream_xa.rs"]
mod xa_groups;
use xa_groups::{mysql_gtid, seed_state};

#[cfg(test)]
#[path = "stream_tests.rs"]
mod recorded;
