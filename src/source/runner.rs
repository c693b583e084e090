//! The source task: checks the server, finds where to start, follows the
//! binlog into Kafka, stores its position, reconnects after failures and
//! stops cleanly on shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::Pool;
use tokio::sync::watch;

use super::binlog::{BinlogConnection, Flavour};
use super::catalog::Catalog;
use super::connect::{mysql_opts, snapshot_opts};
use super::continuity::{Continuity, ServerFacts};
use super::position::Position;
use super::server;
use super::snapshot::merge::SnapshotMerge;
use super::snapshot::SnapshotState;
use super::stream::{ChangeStream, StreamItem};
use super::SourceError;
use crate::avro::{CodecCache, RegistryClient};
use crate::clock::Backoff;
use crate::config::{Connector, SourceConfig};
use crate::metrics::metrics;
use crate::source::kafka::writer::ChangeWriter;

/// Longest time a committed position waits before it is stored.
const SAVE_EVERY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the source logs its throughput and lag.
const SUMMARY_EVERY: Duration = Duration::from_secs(30);

/// Runs the source until `shutdown` turns true, then stores the position of
/// the last complete transaction and returns.
pub async fn run(
    connector: Arc<Connector>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SourceError> {
    let source =
        Arc::new(connector.source.clone().ok_or_else(|| {
            SourceError::Config("the connector file has no [source] section".into())
        })?);
    let opts = mysql_opts(&source)?;
    let pool = Pool::new(opts.clone());
    let flavour = server::check_server(&pool).await?;
    let mut backoff = Backoff::new(Duration::from_millis(500), MAX_BACKOFF);
    let mut catalog = Catalog::new(source.clone(), pool.clone(), flavour);
    let (position_tx, position_rx) = watch::channel(Position::default());
    tokio::spawn(server::report_bytes_behind(pool.clone(), position_rx));
    // Each pass builds a writer from what Kafka holds: after a Kafka or
    // registry failure its in-memory view can no longer be trusted.
    loop {
        let mut writer = match open_writer(&connector).await {
            Ok(w) => w,
            Err(e) if e.is_transient() => {
                crate::metrics::metrics().error("source", "kafka");
                tracing::warn!(error = %e, retry_in = ?backoff.current(), "cannot open the Kafka writer");
                if backoff.wait(&mut shutdown).await {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let (mut committed, state) = match start_position(&mut writer, &pool, flavour, &source)
            .await
        {
            Ok(p) => p,
            Err(e) if e.is_transient() => {
                metrics().error("source", "kafka");
                tracing::warn!(error = %e, retry_in = ?backoff.current(), "cannot read the stored position");
                writer.abandon().await;
                if backoff.wait(&mut shutdown).await {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if flavour == Flavour::MySql && !state.jobs.is_empty() && committed.gtid_set.is_none() {
            return Err(SourceError::Unsupported(
                "snapshots on MySQL need GTIDs (gtid_mode=ON, enforce_gtid_consistency=ON): \
                 without them a chunk cannot be proven never to overwrite a newer change. Enable \
                 GTIDs, or set snapshot = \"never\" in [source]"
                    .into(),
            ));
        }
        // Rebuilt with the writer: progress not stored may not be in Kafka.
        let mut snapshot = SnapshotMerge::start(
            &connector,
            Pool::new(snapshot_opts(&source)?),
            flavour,
            state,
        )
        .ok_or_else(|| SourceError::Config("the connector file has no [source] section".into()))?;
        loop {
            let server = match continuity(&pool, flavour, &committed).await {
                Ok((server, Continuity::NewServer { was })) => {
                    tracing::warn!(was, now = %server, position = %committed,
                        "the server behind the source's address changed (a failover): resuming by GTID");
                    // Chunks waiting for a high watermark in the old server's
                    // binlog can never be matched: read them again.
                    snapshot = SnapshotMerge::start(
                        &connector,
                        Pool::new(snapshot_opts(&source)?),
                        flavour,
                        snapshot.state.clone(),
                    )
                    .ok_or_else(|| {
                        SourceError::Config("the connector file has no [source] section".into())
                    })?;
                    server
                }
                Ok((server, _)) => server,
                Err(e) if e.is_transient() => {
                    metrics().error("source", "mysql");
                    tracing::warn!(error = %e, retry_in = ?backoff.current(), "cannot read the server's identity");
                    if backoff.wait(&mut shutdown).await {
                        return finish(writer, &committed, &snapshot).await;
                    }
                    continue;
                }
                Err(e) => {
                    metrics().error("source", "history");
                    return Err(e);
                }
            };
            let conn = match BinlogConnection::open(
                opts.clone(),
                flavour,
                source.server_id,
                source.heartbeat,
                &committed,
            )
            .await
            {
                Ok(conn) => conn,
                Err(e) if e.is_transient() => {
                    crate::metrics::metrics().error("source", "mysql");
                    tracing::warn!(error = %e, retry_in = ?backoff.current(), "cannot open the binlog stream");
                    if backoff.wait(&mut shutdown).await {
                        return finish(writer, &committed, &snapshot).await;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            tracing::info!(from = %committed, ?flavour, transactional = writer.transactional(), "streaming binlog");
            metrics().set_ready(true);
            position_tx.send_replace(committed.clone());
            let mut stream = ChangeStream::new(
                connector.name.clone(),
                flavour,
                conn,
                catalog,
                &committed,
                server,
            );
            let outcome = follow(
                &mut stream,
                &mut writer,
                &mut committed,
                &mut shutdown,
                &mut backoff,
                &position_tx,
                &mut snapshot,
                source.snapshot,
            )
            .await;
            metrics().set_ready(false);
            catalog = stream.into_catalog().await;
            match outcome {
                Ok(true) => return finish(writer, &committed, &snapshot).await,
                Ok(false) => {
                    metrics().error("source", "mysql");
                    tracing::warn!("the server closed the binlog stream; reconnecting")
                }
                Err(e) if e.is_writer() && e.is_transient() => {
                    crate::metrics::metrics().error("source", "kafka");
                    tracing::warn!(error = %e, retry_in = ?backoff.current(), "Kafka side failed; rebuilding the writer");
                    writer.abandon().await;
                    if backoff.wait(&mut shutdown).await {
                        return Ok(());
                    }
                    break;
                }
                Err(e) if e.is_transient() => {
                    crate::metrics::metrics().error("source", "mysql");
                    tracing::warn!(error = %e, retry_in = ?backoff.current(), "binlog stream failed; resuming from {committed}");
                    if backoff.wait(&mut shutdown).await {
                        return finish(writer, &committed, &snapshot).await;
                    }
                }
                Err(e) => {
                    // Store what is complete so a fixed restart resumes there.
                    if let Err(store) = writer.close(&committed, 0, Some(&snapshot.state)).await {
                        tracing::warn!(error = %store, "could not store the position");
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// The identity of the server now behind the address, after checking that
/// its binlog history still holds `committed`.
async fn continuity(
    pool: &Pool,
    flavour: Flavour,
    committed: &Position,
) -> Result<(Arc<str>, Continuity), SourceError> {
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let facts = ServerFacts::read(&mut conn, flavour).await?;
    let continuity = super::continuity::check(flavour, committed, &facts)?;
    Ok((Arc::from(facts.identity.as_str()), continuity))
}

async fn open_writer(connector: &Arc<Connector>) -> Result<ChangeWriter, SourceError> {
    let registry = RegistryClient::new(&connector.registry.url)
        .map_err(|e| SourceError::Registry(e.to_string()))?;
    let codecs = CodecCache::new(connector.name.clone(), registry);
    Ok(ChangeWriter::open(connector.clone(), codecs).await?)
}

/// The stored position and snapshot progress, or the server's current
/// position for a new pipeline. With `snapshot = "initial"`, every selected
/// table not yet snapshotted gets a job (all of them on a first start, a
/// table added to the file later on the next start).
async fn start_position(
    writer: &mut ChangeWriter,
    pool: &Pool,
    flavour: Flavour,
    source: &SourceConfig,
) -> Result<(Position, SnapshotState), SourceError> {
    let selected = selected_names(pool, source).await?;
    let initial = source.snapshot == crate::config::SnapshotMode::Initial;
    if let Some(stored) = writer.load_position().await? {
        let mut state = match stored.snapshot {
            Some(state) => state,
            // Written before snapshots existed: its tables were streamed from the start.
            None => SnapshotState {
                done: selected.iter().cloned().collect(),
                ..SnapshotState::default()
            },
        };
        // A table dropped from the file is no longer read.
        state.jobs.retain(|j| selected.contains(&j.table));
        if initial {
            state.plan_initial(&selected);
        }
        tracing::info!(position = %stored.position, snapshot_jobs = state.jobs.len(), "resuming from the stored position");
        return Ok((stored.position, state));
    }
    let mut state = SnapshotState::default();
    if initial {
        state.plan_initial(&selected);
    }
    let start = identified_start(pool, flavour).await?;
    tracing::info!(position = %start, snapshot_jobs = state.jobs.len(), "no stored position: streaming from the server's current position");
    writer.commit(&start, 0, Some(&state)).await?;
    Ok((start, state))
}

/// The server's current position with its identity and, on MariaDB, its
/// GTID binlog state; retried until no transaction committed while they
/// were read, so the three describe one point.
async fn identified_start(pool: &Pool, flavour: Flavour) -> Result<Position, SourceError> {
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    for _ in 0..20 {
        let before = ServerFacts::read(&mut conn, flavour).await?;
        let mut start = server::current_position(pool).await?;
        let after = ServerFacts::read(&mut conn, flavour).await?;
        if before.gtids == after.gtids && before.identity == after.identity {
            start.server = Some(after.identity);
            if flavour == Flavour::MariaDb {
                start.gtid_state = after.gtids.map(|g| g.to_string());
            }
            return Ok(start);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(SourceError::Binlog(
        "the server committed transactions during every attempt to read its start position; retrying".into(),
    ))
}

/// `db.table` of every captured table on the server.
async fn selected_names(pool: &Pool, source: &SourceConfig) -> Result<Vec<String>, SourceError> {
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let tables = super::catalog::selected_tables(&mut conn, source)
        .await
        .map_err(SourceError::query("information_schema.TABLES"))?;
    Ok(tables
        .into_iter()
        .map(|(d, t)| format!("{d}.{t}"))
        .collect())
}

async fn finish(
    writer: ChangeWriter,
    committed: &Position,
    snapshot: &SnapshotMerge,
) -> Result<(), SourceError> {
    let stats = writer.stats;
    writer.close(committed, 0, Some(&snapshot.state)).await?;
    tracing::info!(
        position = %committed,
        produced = stats.produced,
        skipped = stats.skipped,
        "source stopped"
    );
    Ok(())
}

/// Follows one connection. `Ok(true)`: shutdown requested; `Ok(false)`: the
/// server ended the stream.
#[allow(clippy::too_many_arguments)]
async fn follow(
    stream: &mut ChangeStream,
    writer: &mut ChangeWriter,
    committed: &mut Position,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
    position_tx: &watch::Sender<Position>,
    snapshot: &mut SnapshotMerge,
    mode: crate::config::SnapshotMode,
) -> Result<bool, SourceError> {
    let mut last_save = Instant::now();
    let mut unsaved = false;
    let mut last_ts_ms = 0;
    let mut summary = (Instant::now(), writer.stats.produced);
    loop {
        // One reading of each clock per item: at hundreds of thousands of
        // changes a second the readings themselves show in the profile.
        let mut tick = Instant::now();
        if tick.duration_since(summary.0) >= SUMMARY_EVERY {
            let produced = writer.stats.produced - summary.1;
            tracing::info!(
                records_per_s = (produced as f64 / tick.duration_since(summary.0).as_secs_f64()).round(),
                lag_s = metrics().source_lag_seconds.get(),
                bytes_behind = metrics().source_binlog_bytes_behind.get(),
                snapshot_jobs = snapshot.state.jobs.len(),
                position = %committed,
                "source summary"
            );
            summary = (tick, writer.stats.produced);
        }
        if snapshot.has_ready() && stream.at_boundary() {
            let point = stream.read_point().clone();
            unsaved |= snapshot.emit(&point, &stream.mark(), writer).await?;
        }
        if let Some(item) = stream.pop() {
            match item {
                StreamItem::Change(event, place) => {
                    last_ts_ms = event.source.ts_ms;
                    let now_ms = crate::clock::now_ms();
                    let lag_ms = (now_ms - last_ts_ms).max(0);
                    metrics().source_lag_seconds.set(lag_ms as f64 / 1000.0);
                    snapshot.observe(&event);
                    writer.write_at(&event, &place, now_ms).await?;
                }
                StreamItem::Commit(position) => {
                    writer.end_of_transaction();
                    *committed = position;
                    position_tx.send_replace(committed.clone());
                    unsaved = true;
                    backoff.reset();
                }
                // The server sends heartbeats only when it has nothing newer:
                // every change committed before now is read, and once the
                // broker has them all, the sink may say so of its tables.
                // Not while a snapshot runs: its tables are not whole yet.
                StreamItem::Heartbeat => {
                    metrics().source_lag_seconds.set(0.0);
                    if snapshot.state.jobs.is_empty() && stream.at_boundary() {
                        writer.heartbeat(crate::clock::now_ms()).await?;
                    }
                }
                StreamItem::Table(change) => {
                    let at = stream.read_point().clone();
                    unsaved |=
                        super::table_life::apply(change, &at, mode, snapshot, writer).await?;
                }
            }
        } else {
            let save_at = last_save + SAVE_EVERY;
            // Every branch but `handle` is cancel-safe; `handle` runs
            // outside the select.
            let event = tokio::select! {
                biased;
                _ = shutdown.changed() => return Ok(true),
                request = snapshot.recv() => {
                    let point = stream.read_point().clone();
                    unsaved |= snapshot.handle(request, &point, stream.mark().state.clone());
                    None
                }
                _ = tokio::time::sleep_until(save_at.into()), if unsaved && writer.can_store() => None,
                event = stream.read_event() => match event? {
                    Some(event) => Some(event),
                    None => return Ok(false),
                },
            };
            if let Some(event) = event {
                stream.handle(event).await?;
            }
            tick = Instant::now();
        }
        // Inside a MySQL transaction a transactional writer stores nothing
        // (`Ok(false)`): the save waits for the transaction's commit.
        if unsaved
            && tick.duration_since(last_save) >= SAVE_EVERY
            && writer
                .commit(committed, last_ts_ms, Some(&snapshot.state))
                .await?
        {
            last_save = Instant::now();
            unsaved = false;
        }
    }
}
