//! The stream on recorded binlog event sequences as MySQL 8 writes them
//! (no MySQL server can run in this project's tests): DDL committed by its
//! GTID alone, tagged GTIDs, XA prepared then rolled back or committed,
//! compressed transactions and partial JSON refused.

use std::sync::Arc;

use mysql_async::Pool;
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::{Event, FormatDescriptionEvent, GtidEvent, QueryEvent};
use mysql_common::packets::Tag;
use mysql_common::proto::MySerialize;

use super::*;
use crate::config::Connector;
use crate::source::decode::TableHints;

const UUID: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
const SID: [u8; 16] = [
    0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62,
];
const QUERY: u8 = 2;
const XID: u8 = 16;
const TABLE_MAP: u8 = 19;
const WRITE_ROWS: u8 = 30;
const GTID: u8 = 33;
const GTID_TAGGED: u8 = 42;

/// Builds events with increasing positions, as one binlog file holds them.
struct Recorder {
    pos: u32,
    events: Vec<Event>,
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            pos: 4,
            events: Vec::new(),
        }
    }

    fn raw(&mut self, kind: u8, body: &[u8]) -> &mut Self {
        let size = 19 + body.len() as u32;
        self.pos += size;
        let mut bytes = Vec::with_capacity(size as usize);
        bytes.extend(1_700_000_000u32.to_le_bytes());
        bytes.push(kind);
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(size.to_le_bytes());
        bytes.extend(self.pos.to_le_bytes());
        bytes.extend(0u16.to_le_bytes());
        bytes.extend(body);
        let fde = FormatDescriptionEvent::new(BinlogVersion::Version4);
        self.events
            .push(Event::read(&fde, &bytes[..]).expect("a well-formed recorded event"));
        self
    }

    fn gtid(&mut self, gno: u64) -> &mut Self {
        let mut body = Vec::new();
        GtidEvent::new(SID, gno).serialize(&mut body);
        self.raw(GTID, &body)
    }

    fn tagged_gtid(&mut self, tag: &str, gno: u64) -> &mut Self {
        let mut body = Vec::new();
        let tag = Tag::new(tag.to_string()).expect("a valid tag");
        GtidEvent::new_tagged(SID, tag, gno).serialize(&mut body);
        self.raw(GTID_TAGGED, &body)
    }

    fn query(&mut self, sql: &str) -> &mut Self {
        let mut body = Vec::new();
        QueryEvent::new(&b""[..], &b"shop"[..])
            .with_query(sql.as_bytes().to_vec())
            .serialize(&mut body);
        self.raw(QUERY, &body)
    }

    fn xid(&mut self) -> &mut Self {
        self.raw(XID, &7u64.to_le_bytes())
    }

    /// TABLE_MAP of `shop.t (id INT, v INT)` with column names.
    fn table_map(&mut self) -> &mut Self {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0];
        b.extend([4, b's', b'h', b'o', b'p', 0, 1, b't', 0]);
        b.extend([2, 3, 3, 0, 0]); // 2 columns, LONG LONG, no type metadata, null bitmap
        let names = [2, b'i', b'd', 1, b'v'];
        b.extend([4, names.len() as u8]);
        b.extend(names);
        self.raw(TABLE_MAP, &b)
    }

    /// WRITE_ROWS (v2) of one row `(id, v)` into the mapped table.
    fn insert(&mut self, id: i32, v: i32) -> &mut Self {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0b11, 0];
        b.extend(id.to_le_bytes());
        b.extend(v.to_le_bytes());
        self.raw(WRITE_ROWS, &b)
    }

    /// XA_PREPARE_LOG_EVENT for the XID `X'01',X'',1`-style id.
    fn xa_prepare(&mut self, one_phase: bool) -> &mut Self {
        let mut b = vec![u8::from(one_phase)];
        b.extend(1u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.push(b'x');
        self.raw(xa::XA_PREPARE_LOG_EVENT, &b)
    }
}

fn catalog() -> Catalog {
    let text = "name = \"t\"\n[source]\nurl = \"mysql://cdc@127.0.0.1:1\"\npassword_env = \"NO_SUCH_PASSWORD_VAR\"\n\
                server_id = 9\ntables = [\"shop.*\"]\n[kafka]\nbrokers = \"127.0.0.1:1\"\n[registry]\nurl = \"http://127.0.0.1:1\"\n";
    let connector = Connector::from_toml(std::path::Path::new("t.toml"), text, &|_| None, false)
        .expect("a valid connector file");
    let source = Arc::new(connector.source.expect("a [source]"));
    // Never connected: the hints below answer for the one table.
    let pool = Pool::new("mysql://nobody@127.0.0.1:1");
    let mut catalog = Catalog::new(source, pool, Flavour::MySql);
    catalog.seed_hints(
        "shop",
        "t",
        TableHints {
            key_override: Some(vec!["id".into()]),
            ..TableHints::default()
        },
    );
    catalog
}

fn start(seed: &str) -> Position {
    Position {
        file: "binlog.000003".into(),
        pos: 4,
        gtid_set: Some(seed.into()),
        ..Position::default()
    }
}

/// Every item the stream hands on for the recorded events.
async fn run(rec: &Recorder, from: &Position) -> Result<Vec<StreamItem>, SourceError> {
    let conn = BinlogConnection::recorded(&from.file, rec.events.clone());
    let mut stream = ChangeStream::new(
        "t".into(),
        Flavour::MySql,
        conn,
        catalog(),
        from,
        Arc::from("uuid/binlog"),
    );
    let mut items = Vec::new();
    while let Some(item) = stream.next().await? {
        items.push(item);
    }
    Ok(items)
}

fn commits(items: &[StreamItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            StreamItem::Commit(p) => Some(p.gtid_set.clone().unwrap_or_default()),
            _ => None,
        })
        .collect()
}

fn changes(items: &[StreamItem]) -> Vec<(i64, String)> {
    items
        .iter()
        .filter_map(|i| match i {
            StreamItem::Change(e, place) => {
                let id = match e.after.as_ref().map(|r| &r[0]) {
                    Some(crate::event::Value::Int(v)) => i64::from(*v),
                    other => panic!("unexpected id {other:?}"),
                };
                Some((
                    id,
                    place
                        .mark
                        .gtid
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn mysql_ddl_is_committed_by_its_gtid_alone() {
    let mut rec = Recorder::new();
    // (Rows first: after a DDL statement the catalog asks the server again.)
    rec.gtid(5).query("BEGIN").table_map().insert(1, 10).xid();
    rec.gtid(6).query("ALTER TABLE t ADD COLUMN w INT");
    rec.gtid(7).query("CREATE TABLE u (id INT PRIMARY KEY)");
    let items = run(&rec, &start(&format!("{UUID}:1-4"))).await.unwrap();
    assert_eq!(
        commits(&items),
        vec![
            format!("{UUID}:1-5"),
            format!("{UUID}:1-6"),
            format!("{UUID}:1-7")
        ],
        "every transaction, DDL included, leaves no hole in the stored GTID set"
    );
    assert_eq!(changes(&items), vec![(1, format!("{UUID}:5"))]);
}

#[tokio::test]
async fn tagged_gtids_are_tracked_and_stamped() {
    let mut rec = Recorder::new();
    rec.tagged_gtid("etl", 1)
        .query("BEGIN")
        .table_map()
        .insert(2, 20)
        .xid();
    let items = run(&rec, &start(&format!("{UUID}:1-4"))).await.unwrap();
    assert_eq!(commits(&items), vec![format!("{UUID}:1-4:etl:1")]);
    assert_eq!(changes(&items), vec![(2, format!("{UUID}:etl:1"))]);
}

#[tokio::test]
async fn mysql_xa_rows_are_published_at_xa_commit_only() {
    let mut rec = Recorder::new();
    // Prepared, then rolled back: nothing may reach Kafka.
    rec.gtid(5)
        .query("XA START X'01',X'',1")
        .table_map()
        .insert(1, 1)
        .query("XA END X'01',X'',1")
        .xa_prepare(false);
    rec.gtid(6).query("XA ROLLBACK X'01',X'',1");
    // Prepared, then committed: its rows, at the commit.
    rec.gtid(7)
        .query("XA START X'02',X'',1")
        .table_map()
        .insert(2, 2)
        .query("XA END X'02',X'',1")
        .xa_prepare(false);
    rec.gtid(8).query("BEGIN").table_map().insert(3, 3).xid();
    rec.gtid(9).query("XA COMMIT X'02',X'',1");
    // One phase: committed at its prepare event.
    rec.gtid(10)
        .query("XA START X'03',X'',1")
        .table_map()
        .insert(4, 4)
        .query("XA END X'03',X'',1")
        .xa_prepare(true);
    let items = run(&rec, &start(&format!("{UUID}:1-4"))).await.unwrap();
    assert_eq!(
        changes(&items),
        vec![
            (3, format!("{UUID}:8")),
            (2, format!("{UUID}:9")),
            (4, format!("{UUID}:10"))
        ]
    );
    assert_eq!(commits(&items).last().unwrap(), &format!("{UUID}:1-10"));
}

#[tokio::test]
async fn compressed_transactions_and_partial_json_stop_the_source() {
    for (kind, what) in [
        (
            super::super::binlog::TRANSACTION_PAYLOAD,
            "binlog_transaction_compression",
        ),
        (
            super::super::binlog::PARTIAL_UPDATE_ROWS,
            "binlog_row_value_options",
        ),
    ] {
        let mut rec = Recorder::new();
        rec.gtid(5).query("BEGIN").raw(kind, &[0; 16]);
        let err = run(&rec, &start(&format!("{UUID}:1-4")))
            .await
            .expect_err("an event binlake cannot read must stop it");
        assert!(err.to_string().contains(what), "{err}");
    }
}
