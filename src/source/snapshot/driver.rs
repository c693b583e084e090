//! Runs snapshot jobs beside the stream: up to `snapshot_parallelism` tables
//! at once, each read chunk after chunk, every chunk framed by a window the
//! stream keeps (see [`super::window`]). The stream task owns the windows,
//! the emission and the stored progress; this task only reads.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Pool;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::chunk::{self, BinlogPoint};
use super::progress::{self, Progress};
use super::state::Job;
use super::table::{self, SnapshotTable};
use super::visible;
use super::window::ReadyChunk;
use crate::clock::Backoff;
use crate::config::SourceConfig;
use crate::source::binlog::Flavour;
use crate::source::gtid::GtidState;
use crate::source::position::compare_file_pos;
use crate::source::SourceError;

/// What the snapshot asks of the stream task.
#[derive(Debug)]
pub enum Request {
    /// Open a window on `db.table`; the reply is its id, the stream's
    /// point when it opened and the GTIDs the stream had read by then.
    Open {
        db: String,
        table: String,
        reply: oneshot::Sender<Opened>,
    },
    Close(u64),
    Ready(ReadyChunk),
    /// A signal was read: store its offset, and its job if it has one.
    Signal {
        offset: i64,
        job: Option<Job>,
    },
    /// The job cannot run; drop it from the stored progress.
    Abandon {
        job: String,
        error: String,
    },
}

#[derive(Clone)]
pub struct Reader {
    pub pool: Pool,
    pub flavour: Flavour,
    pub config: Arc<SourceConfig>,
    pub requests: mpsc::Sender<Request>,
    /// Jobs the stream called off (their table was dropped, renamed or
    /// created anew): they stop before their next chunk.
    pub cancelled: Cancelled,
}

/// Ids of the jobs called off, shared by the stream task and the driver.
#[derive(Clone, Default)]
pub struct Cancelled(Arc<Mutex<HashSet<String>>>);

impl Cancelled {
    pub fn cancel(&self, job: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.insert(job.to_string());
        }
    }

    pub fn contains(&self, job: &str) -> bool {
        self.0.lock().map(|s| s.contains(job)).unwrap_or(false)
    }
}

/// Reads every job in `queue`, then those `signals` and the stream task
/// (`added`: tables that appeared while it ran) bring, until the stream
/// task goes away.
pub async fn run(
    reader: Reader,
    mut queue: VecDeque<Job>,
    mut signals: mpsc::Receiver<(i64, Option<Job>)>,
    mut added: mpsc::UnboundedReceiver<Job>,
) {
    let progress = Progress::new();
    let queued = Arc::new(AtomicU64::new(queue.len() as u64));
    let (done_tx, done_rx) = watch::channel(false);
    let mut reporter = None;
    let mut running: JoinSet<(Job, Result<(), SourceError>)> = JoinSet::new();
    let parallelism = reader.config.snapshot_parallelism;
    let mut signals_open = true;
    loop {
        while running.len() < parallelism {
            let Some(job) = queue.pop_front() else { break };
            queued.store(queue.len() as u64, Ordering::Relaxed);
            if reporter.is_none() {
                let q = queued.clone();
                let _ = done_tx.send(false);
                reporter = Some(tokio::spawn(progress::report(
                    progress.clone(),
                    move || q.load(Ordering::Relaxed),
                    done_rx.clone(),
                )));
            }
            let (r, p) = (reader.clone(), progress.clone());
            running.spawn(async move {
                let result = run_job(&r, &job, &p).await;
                (job, result)
            });
        }
        if running.is_empty() {
            if let Some(handle) = reporter.take() {
                let _ = done_tx.send(true);
                let _ = handle.await;
                let s = progress.summary(0);
                tracing::info!(rows = s.rows, chunks = s.chunks, "snapshot jobs finished");
            }
            if !signals_open {
                return;
            }
        }
        tokio::select! {
            Some(joined) = running.join_next(), if !running.is_empty() => {
                let Ok((job, result)) = joined else { continue };
                progress.job_finished(&job.id);
                if let Err(e) = result {
                    crate::metrics::metrics().error("snapshot", "job");
                    tracing::error!(table = %job.table, job = %job.id, error = %e, "snapshot job abandoned");
                    let _ = reader.requests.send(Request::Abandon { job: job.id.clone(), error: e.to_string() }).await;
                }
            }
            signal = signals.recv(), if signals_open => match signal {
                Some((offset, job)) => {
                    if reader.requests.send(Request::Signal { offset, job: job.clone() }).await.is_err() {
                        return;
                    }
                    if let Some(job) = job {
                        queue.push_back(job);
                        queued.store(queue.len() as u64, Ordering::Relaxed);
                    }
                }
                None => signals_open = false,
            },
            Some(job) = added.recv() => {
                queue.push_back(job);
                queued.store(queue.len() as u64, Ordering::Relaxed);
            }
            _ = reader.requests.closed() => return,
        }
    }
}

/// The stream task stopped: end quietly.
fn gone<T>(_: T) -> SourceError {
    SourceError::Snapshot("the source is stopping".into())
}

async fn run_job(r: &Reader, job: &Job, progress: &Progress) -> Result<(), SourceError> {
    if r.cancelled.contains(&job.id) {
        return Ok(());
    }
    let (db, name) = job
        .table
        .split_once('.')
        .ok_or_else(|| SourceError::Snapshot(format!("`{}` is not DB.TABLE", job.table)))?;
    let mut t = match load_table(r, &job.table, db, name).await {
        Ok(t) => t,
        Err(e) => return gone_table(r, job, db, name, e).await,
    };
    progress.job_started(
        &job.id,
        &job.table,
        estimate(&r.pool, db, name).await,
        job.rows,
    );
    tracing::info!(table = %job.table, job = %job.id, predicate = job.predicate.as_deref().unwrap_or(""), resume_after = ?job.after, "snapshot of table started");
    // A backfill replaces what the lake holds for the rows it covers when
    // the lake can order the table's keys as MySQL does (see crate::backfill).
    let mut repair = !job.initial && crate::backfill::key_is_orderable(&t.schema);
    if !job.initial && !repair {
        tracing::warn!(table = %job.table, job = %job.id, "the table's key has a character or floating-point column, which the lake cannot order as MySQL does: this backfill only upserts, and rows MySQL no longer has stay in Delta");
    }
    let limit = r.config.snapshot_chunk_rows;
    let mut after = job.after.clone();
    let mut pending: Option<oneshot::Receiver<()>> = None;
    let mut next: Option<Opened> = None;
    loop {
        if r.cancelled.contains(&job.id) {
            if let Some((window, _, _)) = next {
                let _ = r.requests.send(Request::Close(window)).await;
            }
            tracing::info!(table = %job.table, job = %job.id, "snapshot of table called off");
            return Ok(());
        }
        let (window, opened_at, seen) = match next.take() {
            Some(opened) => opened,
            None => open_window(r, &t).await?,
        };
        let since = crate::backfill::Since {
            file: opened_at.0.clone(),
            pos: opened_at.1,
            gtids: seen.as_ref().map(|s| s.to_string()),
        };
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let mut chunk = loop {
            let read = async {
                visible::wait_visible(&r.pool, r.flavour, seen.as_deref()).await?;
                chunk::read(
                    &r.pool,
                    r.flavour,
                    &t,
                    after.as_deref(),
                    job.predicate.as_deref(),
                    limit,
                    repair,
                )
                .await
            };
            match read.await {
                // The read missed a transaction the stream had already
                // passed (written to the binlog, not yet visible): read again.
                Ok(c)
                    if compare_file_pos((&c.high.0, c.high.1), (&opened_at.0, opened_at.1))
                        .is_lt() =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(c) => break c,
                Err(SourceError::ShapeChanged(_)) => {
                    tracing::info!(table = %job.table, "the table's columns changed; reading its shape again before the chunk");
                    t = match load_table(r, &job.table, db, name).await {
                        Ok(t) => {
                            repair = repair && crate::backfill::key_is_orderable(&t.schema);
                            t
                        }
                        Err(e) => {
                            let _ = r.requests.send(Request::Close(window)).await;
                            return Err(e);
                        }
                    };
                }
                Err(e @ SourceError::Snapshot(_)) => {
                    let _ = r.requests.send(Request::Close(window)).await;
                    return gone_table(r, job, db, name, e).await;
                }
                Err(e) => {
                    crate::metrics::metrics().error("snapshot", "mysql");
                    tracing::warn!(table = %job.table, error = %e, retry_in = ?backoff.current(), "snapshot chunk read failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        };
        // At most two chunks per job in memory: one read, one being emitted.
        if let Some(ack) = pending.take() {
            ack.await.map_err(gone)?;
        }
        let last = chunk.exhausted;
        let rows = chunk.rows.len() as u64;
        let cover = if repair {
            let lower = match after.as_deref() {
                Some(a) => Some(chunk::key_json(&t, a)?),
                None => None,
            };
            Some(Box::new(crate::backfill::RepairMarker {
                job: job.id.clone(),
                table: job.table.clone(),
                key: t.schema.key_columns().map(|c| c.name.clone()).collect(),
                after: lower,
                through: if last {
                    None
                } else {
                    chunk.keys.last().cloned()
                },
                ranged: chunk.keys.len(),
                keep: std::mem::take(&mut chunk.keys),
                predicate: job.predicate.clone(),
                since: since.clone(),
            }))
        } else {
            None
        };
        if chunk.last_key.is_some() {
            after = chunk.last_key.clone();
        }
        // The stream task handles requests in order and emits a whole chunk
        // at once: the next chunk's window opens before this chunk is handed
        // over, so its read overlaps this chunk's emission. A window opened
        // earlier only records more keys, each one carried by the stream.
        if !last {
            next = Some(open_window(r, &t).await?);
        }
        let (ack, acked) = oneshot::channel();
        r.requests
            .send(Request::Ready(ReadyChunk {
                window,
                job: job.id.clone(),
                schema: t.schema.clone(),
                chunk,
                last,
                initial: job.initial,
                ack,
                repair: cover,
            }))
            .await
            .map_err(gone)?;
        progress.chunk_read(&job.id, rows);
        if last {
            acked.await.map_err(gone)?;
            tracing::info!(table = %job.table, job = %job.id, "snapshot of table finished");
            return Ok(());
        }
        pending = Some(acked);
    }
}

/// A window's id, the stream's point when it opened and the GTIDs the
/// stream had read by then.
type Opened = (u64, BinlogPoint, Option<Arc<GtidState>>);

/// Opens a window on the job's table (see [`super::window`]).
async fn open_window(r: &Reader, t: &SnapshotTable) -> Result<Opened, SourceError> {
    let (reply, opened) = oneshot::channel();
    r.requests
        .send(Request::Open {
            db: t.schema.db.clone(),
            table: t.schema.table.clone(),
            reply,
        })
        .await
        .map_err(gone)?;
    opened.await.map_err(gone)
}

/// A job's table could not be read. For a table that appeared while the
/// source ran and is no longer there, a later statement removed it: wait
/// until the stream reads it and calls the job off. Otherwise `error`.
async fn gone_table(
    r: &Reader,
    job: &Job,
    db: &str,
    name: &str,
    error: SourceError,
) -> Result<(), SourceError> {
    if !job.appeared || exists(&r.pool, db, name).await != Some(false) {
        return Err(error);
    }
    tracing::info!(table = %job.table, job = %job.id, "the table renamed into the capture is no longer there: its snapshot waits for the stream to read the statement that removed it");
    while !r.cancelled.contains(&job.id) {
        if r.requests.is_closed() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tracing::info!(table = %job.table, job = %job.id, "snapshot of table called off");
    Ok(())
}

/// Whether `db.name` exists; `None` when the server cannot say.
async fn exists(pool: &Pool, db: &str, name: &str) -> Option<bool> {
    let mut conn = pool.get_conn().await.ok()?;
    let n: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, name),
        )
        .await
        .ok()?;
    n.map(|n| n > 0)
}

/// The table's shape, retried while the server is away.
async fn load_table(
    r: &Reader,
    qualified: &str,
    db: &str,
    name: &str,
) -> Result<Arc<SnapshotTable>, SourceError> {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        match table::load(&r.pool, r.flavour, &r.config, db, name).await {
            Ok(t) => return Ok(Arc::new(t)),
            Err(e) if e.is_transient() => {
                crate::metrics::metrics().error("snapshot", "mysql");
                tracing::warn!(table = %qualified, error = %e, "snapshot cannot read the table's shape; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// information_schema's row estimate, for progress only.
async fn estimate(pool: &Pool, db: &str, table: &str) -> u64 {
    let r: Result<Option<Option<u64>>, mysql_async::Error> = async {
        let mut conn = pool.get_conn().await?;
        conn.exec_first(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, table),
        )
        .await
    }
    .await;
    r.ok().flatten().flatten().unwrap_or(0)
}
