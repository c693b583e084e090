//! `binlake status`: where a pipeline stands, read from the systems it
//! writes to — the stored source position in `{name}.offsets`, the table
//! topics and the consumer group, and the Delta logs — so it works whether
//! the pipeline runs or not.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::clock::now_ms;
use crate::config::Connector;
use crate::kafka::admin::Admin;
use crate::kafka::{client_config, ClientKind};
use crate::sink::delta::TableTarget;
use crate::source::kafka::offsets::PositionStore;
use crate::wire;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
pub struct Status {
    pub name: String,
    pub source: Option<SourceStatus>,
    pub topics: Vec<TopicStatus>,
}

#[derive(Debug, Serialize)]
pub struct SourceStatus {
    /// `file:pos` of the stored position, with its GTID set when known.
    pub position: Option<String>,
    pub gtid: Option<String>,
    /// When the source last stored its position (ms since the epoch).
    pub written_ts_ms: Option<i64>,
    /// The server's end of binlog, `file:pos`.
    pub server_position: Option<String>,
    pub bytes_behind: Option<u64>,
    /// 0 when nothing is left to read; else the age of the last change read.
    pub seconds_behind: Option<f64>,
    /// Snapshot jobs under way and tables already snapshotted.
    pub snapshot: Option<crate::source::snapshot::SnapshotState>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TopicStatus {
    pub topic: String,
    pub table: Option<TableStatus>,
    pub partitions: Vec<PartitionStatus>,
    /// How stale the Delta table may be (s): now minus the source's last
    /// heartbeat, when Delta holds every record the topic had after it.
    pub stale_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct PartitionStatus {
    pub partition: i32,
    /// Offset the next record will get.
    pub end_offset: i64,
    /// The consumer group's committed offset (the next record to read).
    pub group_offset: Option<i64>,
    /// Last offset applied to Delta (the table's `txn` version).
    pub delta_offset: Option<i64>,
    /// Records not yet in Delta.
    pub lag: i64,
}

#[derive(Debug, Serialize)]
pub struct TableStatus {
    pub location: String,
    pub version: Option<i64>,
    pub files: usize,
    pub live_rows: u64,
    pub error: Option<String>,
}

pub async fn status(connector: &Connector) -> anyhow::Result<Status> {
    let admin = Admin::new(&connector.kafka)?;
    let source = match &connector.source {
        Some(_) => Some(source_status(connector, &admin).await),
        None => None,
    };
    // Read before the topics' ends: a heartbeat vouches only for records
    // below ends read after it.
    let heartbeat = last_heartbeat(connector).await;
    let mut topics = topic_status(connector).await?;
    if let Some(ts) = heartbeat {
        for t in &mut topics {
            let in_delta = t.table.as_ref().is_some_and(|x| x.error.is_none())
                && t.partitions.iter().all(|p| {
                    p.end_offset <= 0 || p.delta_offset.is_some_and(|d| d + 1 >= p.end_offset)
                });
            if in_delta {
                t.stale_seconds = Some(((now_ms() - ts).max(0)) as f64 / 1000.0);
            }
        }
    }
    Ok(Status {
        name: connector.name.clone(),
        source,
        topics,
    })
}

async fn source_status(connector: &Connector, admin: &Admin) -> SourceStatus {
    let mut s = SourceStatus {
        position: None,
        gtid: None,
        written_ts_ms: None,
        server_position: None,
        bytes_behind: None,
        seconds_behind: None,
        snapshot: None,
        error: None,
    };
    let stored = match PositionStore::open(
        admin,
        &connector.kafka,
        connector.offsets_topic(),
        wire::position_key(&connector.name),
    )
    .await
    {
        Ok(store) => store.load().await,
        Err(e) => Err(e),
    };
    let stored = match stored {
        Ok(p) => p,
        Err(e) => {
            s.error = Some(format!("cannot read {}: {e}", connector.offsets_topic()));
            return s;
        }
    };
    if let Some(p) = &stored {
        s.position = Some(format!("{}:{}", p.position.file, p.position.pos));
        s.gtid = p.position.gtid_set.clone();
        s.written_ts_ms = Some(p.written_ts_ms);
        s.snapshot = p.snapshot.clone();
    }
    let Some(source) = &connector.source else {
        return s;
    };
    let server = async {
        let opts = crate::source::connect::mysql_opts(source)?;
        let pool = mysql_async::Pool::new(opts);
        let mut conn = pool.get_conn().await?;
        let logs = crate::source::server::binary_logs(&mut conn).await?;
        drop(conn);
        pool.disconnect().await?;
        Ok::<_, anyhow::Error>(logs)
    };
    match tokio::time::timeout(TIMEOUT, server).await {
        Ok(Ok(logs)) => {
            if let Some((file, size)) = logs.last() {
                s.server_position = Some(format!("{file}:{size}"));
            }
            if let Some(p) = &stored {
                let behind = crate::source::server::bytes_behind(logs.into_iter(), &p.position);
                s.bytes_behind = Some(behind);
                // A position stored before any change was read has no time.
                s.seconds_behind = if behind == 0 {
                    Some(0.0)
                } else if p.source_ts_ms > 0 {
                    Some(((now_ms() - p.source_ts_ms).max(0)) as f64 / 1000.0)
                } else {
                    None
                };
            }
        }
        Ok(Err(e)) => s.error = Some(format!("MySQL: {e:#}")),
        Err(_) => s.error = Some("MySQL did not answer within 10 s".into()),
    }
    s
}

/// The instant of the source's last heartbeat (`{name}.heartbeat`).
async fn last_heartbeat(connector: &Connector) -> Option<i64> {
    let kafka = connector.kafka.clone();
    let name = connector.name.clone();
    tokio::task::spawn_blocking(move || crate::kafka::heartbeat::last_heartbeat(&kafka, &name))
        .await
        .ok()?
        .ok()?
        .map(|h| h.ts_ms)
}

/// A partition's id, end offset and the group's committed offset.
type PartitionOffsets = (i32, i64, Option<i64>);

async fn topic_status(connector: &Connector) -> anyhow::Result<Vec<TopicStatus>> {
    let kafka = connector.kafka.clone();
    let name = connector.name.clone();
    // rdkafka's metadata and offset calls block: keep them off the runtime.
    let partitions = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let consumer: BaseConsumer = client_config(
            &kafka,
            ClientKind::Other,
            &[
                ("group.id", wire::consumer_group(&name)),
                ("enable.auto.commit", "false"),
            ],
        )
        .create()?;
        let md = consumer.fetch_metadata(None, TIMEOUT)?;
        let mut out: Vec<(String, Vec<PartitionOffsets>)> = Vec::new();
        for t in md.topics() {
            if !wire::is_table_topic(&name, t.name()) {
                continue;
            }
            let mut tpl = TopicPartitionList::new();
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
            let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
            let mut parts = Vec::new();
            for p in t.partitions() {
                let (_, high) = consumer.fetch_watermarks(t.name(), p.id(), TIMEOUT)?;
                let group =
                    committed
                        .find_partition(t.name(), p.id())
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        });
                parts.push((p.id(), high, group));
            }
            parts.sort();
            out.push((t.name().to_owned(), parts));
        }
        out.sort();
        Ok(out)
    })
    .await??;

    let mut topics = Vec::with_capacity(partitions.len());
    for (topic, parts) in partitions {
        let table = match &connector.sink {
            None => None,
            Some(sink) => {
                // Only table topics were listed above.
                let (db, table) =
                    wire::split_table_topic(&connector.name, &topic).unwrap_or_default();
                let location = sink.table_uri_for(db, table);
                Some(
                    match TableTarget::open_with(&location, &sink.storage).await {
                        Ok(t) => {
                            let mut applied = Vec::new();
                            for (p, _, _) in &parts {
                                let app = wire::delta_app_id(&connector.name, &topic, *p);
                                applied.push(t.txn_version(&app).await.ok().flatten());
                            }
                            (
                                TableStatus {
                                    location,
                                    version: t.version(),
                                    files: t.file_count(),
                                    live_rows: t.live_rows(),
                                    error: None,
                                },
                                applied,
                            )
                        }
                        Err(e) => (
                            TableStatus {
                                location,
                                version: None,
                                files: 0,
                                live_rows: 0,
                                error: Some(e.to_string()),
                            },
                            vec![None; parts.len()],
                        ),
                    },
                )
            }
        };
        let applied = table
            .as_ref()
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| vec![None; parts.len()]);
        let partitions = parts
            .iter()
            .zip(applied)
            .map(|((partition, end, group), delta)| {
                // Without a sink, the group's offset is the best measure.
                let done = match (delta, group) {
                    (Some(d), _) => d + 1,
                    (None, Some(g)) => *g,
                    (None, None) => 0,
                };
                PartitionStatus {
                    partition: *partition,
                    end_offset: *end,
                    group_offset: *group,
                    delta_offset: delta,
                    lag: (end - done).max(0),
                }
            })
            .collect();
        topics.push(TopicStatus {
            topic,
            stale_seconds: None,
            table: table.map(|(t, _)| t),
            partitions,
        });
    }
    Ok(topics)
}

/// The report for a person.
pub fn render(s: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "pipeline {}", s.name);
    if let Some(src) = &s.source {
        match &src.position {
            Some(p) => {
                let age = src
                    .written_ts_ms
                    .map(|w| format!(", stored {:.0} s ago", (now_ms() - w) as f64 / 1000.0))
                    .unwrap_or_default();
                let gtid = src
                    .gtid
                    .as_deref()
                    .map(|g| format!(" (gtid {g})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "source   position {p}{gtid}{age}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "source   no stored position (never ran, or not yet committed)"
                );
            }
        }
        if let Some(server) = &src.server_position {
            let behind = match (src.bytes_behind, src.seconds_behind) {
                (Some(b), Some(secs)) => format!(": {b} bytes and {secs:.1} s behind"),
                (Some(b), None) => format!(": {b} bytes behind"),
                _ => String::new(),
            };
            let _ = writeln!(out, "         server at {server}{behind}");
        }
        if let Some(snap) = &src.snapshot {
            for j in &snap.jobs {
                let what = j
                    .predicate
                    .as_deref()
                    .map(|p| format!(" where {p}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "snapshot {}{what}: {} rows in {} chunks so far ({})",
                    j.table,
                    j.rows,
                    j.chunks,
                    if j.initial { "initial" } else { "backfill" }
                );
            }
            if !snap.done.is_empty() {
                let _ = writeln!(out, "snapshot done for {} tables", snap.done.len());
            }
        }
        if let Some(e) = &src.error {
            let _ = writeln!(out, "         error: {e}");
        }
    }
    if s.topics.is_empty() {
        let _ = writeln!(out, "no table topics yet");
    }
    for t in &s.topics {
        let total: i64 = t.partitions.iter().map(|p| p.lag).sum();
        let stale = t
            .stale_seconds
            .map(|s| format!(", everything committed in MySQL over {s:.1} s ago is in Delta"))
            .unwrap_or_default();
        let _ = writeln!(out, "topic    {} (lag {total}{stale})", t.topic);
        if let Some(table) = &t.table {
            match (&table.error, table.version) {
                (Some(e), _) => {
                    let _ = writeln!(out, "  delta  {}: {e}", table.location);
                }
                (None, Some(v)) => {
                    let _ = writeln!(
                        out,
                        "  delta  {} version {v}, {} live rows in {} files",
                        table.location, table.live_rows, table.files
                    );
                }
                (None, None) => {
                    let _ = writeln!(out, "  delta  {} not created yet", table.location);
                }
            }
        }
        for p in &t.partitions {
            let fmt = |o: Option<i64>| o.map_or("-".to_string(), |v| v.to_string());
            let _ = writeln!(
                out,
                "  p{:<4}  end {}  group {}  delta {}  lag {}",
                p.partition,
                p.end_offset,
                fmt(p.group_offset),
                fmt(p.delta_offset),
                p.lag
            );
        }
    }
    out
}
