//! The stream task's side of the snapshot: answers the driver's requests,
//! keeps the windows, emits reached chunks as `op = "r"` events between
//! transactions and keeps the progress that is stored with the position.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::driver::{self, Cancelled, Reader, Request};
use super::signal;
use super::state::{Job, SnapshotState};
use super::window::Windows;
use crate::config::Connector;
use crate::event::{ChangeEvent, Op, SnapshotMarker, SourceInfo};
use crate::metrics::metrics;
use crate::source::binlog::Flavour;
use crate::source::gtid::GtidState;
use crate::source::kafka::writer::ChangeWriter;
use crate::source::order::{RecordPlace, TxnMark};
use crate::source::position::ChangeOrder;
use crate::source::SourceError;

pub struct SnapshotMerge {
    name: Arc<str>,
    pub state: SnapshotState,
    windows: Windows,
    requests: mpsc::Receiver<Request>,
    driver: JoinHandle<()>,
    /// Jobs for tables that appeared while the source ran.
    added: mpsc::UnboundedSender<Job>,
    cancelled: Cancelled,
    /// Last order index given to a snapshot row; rows take orders just
    /// below the next transaction's, so a restart's dedup keeps them in
    /// line with the stream.
    last_index: u64,
}

impl Drop for SnapshotMerge {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl SnapshotMerge {
    /// Starts the driver on the stored jobs and the signal follower.
    pub fn start(
        connector: &Arc<Connector>,
        pool: mysql_async::Pool,
        flavour: Flavour,
        state: SnapshotState,
    ) -> Option<Self> {
        let source = Arc::new(connector.source.clone()?);
        let (req_tx, requests) = mpsc::channel(64);
        let (sig_tx, sig_rx) = mpsc::channel(16);
        let (added, added_rx) = mpsc::unbounded_channel();
        let cancelled = Cancelled::default();
        let reader = Reader {
            pool,
            flavour,
            config: source,
            requests: req_tx,
            cancelled: cancelled.clone(),
        };
        let queue: VecDeque<_> = state.jobs.iter().cloned().collect();
        let driver = tokio::spawn(driver::run(reader, queue, sig_rx, added_rx));
        let c = connector.clone();
        let from = state.signal_offset;
        tokio::task::spawn_blocking(move || signal::follow(&c, from, sig_tx));
        Some(SnapshotMerge {
            name: Arc::from(connector.name.as_str()),
            state,
            windows: Windows::default(),
            requests,
            driver,
            added,
            cancelled,
            last_index: 0,
        })
    }

    /// Queues a job for a table that appeared under a captured name at the
    /// stream's current point. Its job-long window drops from every chunk
    /// the keys the stream carries from this point on, so each row reaches
    /// Kafka once: by the snapshot or by the stream.
    pub fn add_appeared(&mut self, job: Job) {
        self.watch_since(&job.id, &job.table);
        self.state.jobs.push(job.clone());
        // The driver lives as long as this merge; a send fails only while
        // the source stops, and the job is in the stored state anyway.
        let _ = self.added.send(job);
    }

    /// Opens `job`'s job-long window on `table` (`db.table`) at the
    /// stream's current point.
    pub fn watch_since(&mut self, job: &str, table: &str) {
        if let Some((db, name)) = table.split_once('.') {
            self.windows.close_since(job);
            self.windows.open_since(job, db, name);
        }
    }

    /// Calls off every job of `table`; returns their ids.
    pub fn cancel_table(&mut self, table: &str) -> Vec<String> {
        let ids: Vec<String> = self
            .state
            .jobs
            .iter()
            .filter(|j| j.table == table)
            .map(|j| j.id.clone())
            .collect();
        for id in &ids {
            self.cancelled.cancel(id);
            self.windows.close_since(id);
            self.state.abandon(id);
        }
        ids
    }

    /// The driver's next request (never ends while the driver lives).
    pub async fn recv(&mut self) -> Request {
        match self.requests.recv().await {
            Some(r) => r,
            None => std::future::pending().await,
        }
    }

    /// Applies a request; true when the stored progress changed.
    pub fn handle(
        &mut self,
        request: Request,
        read_point: &(String, u64),
        seen: Option<Arc<GtidState>>,
    ) -> bool {
        match request {
            Request::Open { db, table, reply } => {
                let id = self.windows.open(&db, &table);
                if reply.send((id, read_point.clone(), seen)).is_err() {
                    self.windows.close(id);
                }
                false
            }
            Request::Close(id) => {
                self.windows.close(id);
                false
            }
            Request::Ready(chunk) => {
                self.windows.add_ready(chunk);
                false
            }
            Request::Signal { offset, job } => {
                self.state.signal_offset = self.state.signal_offset.max(offset + 1);
                if let Some(job) = job {
                    self.state.jobs.push(job);
                }
                true
            }
            Request::Abandon { job, error } => {
                tracing::error!(job, error, "snapshot job dropped");
                self.windows.close_since(&job);
                self.state.abandon(&job);
                true
            }
        }
    }

    /// Records a streamed change for the open windows.
    pub fn observe(&mut self, event: &ChangeEvent) {
        self.windows.observe(event);
    }

    pub fn has_ready(&self) -> bool {
        self.windows.has_ready()
    }

    /// The place of the next snapshot record: just before the read point,
    /// with an index unique across restarts too, so a re-read chunk is
    /// never mistaken for a record Kafka already holds.
    fn next_place(&mut self, read_point: &(String, u64), mark: &Arc<TxnMark>) -> RecordPlace {
        self.last_index = (self.last_index + 1).max(now_micros());
        RecordPlace {
            order: ChangeOrder::new(
                &read_point.0,
                read_point.1.saturating_sub(1),
                self.last_index,
            ),
            mark: mark.clone(),
            snapshot: true,
        }
    }

    /// Emits every chunk the stream has reached. Call only between
    /// transactions. True when the stored progress changed.
    pub async fn emit(
        &mut self,
        read_point: &(String, u64),
        mark: &Arc<TxnMark>,
        writer: &mut ChangeWriter,
    ) -> Result<bool, SourceError> {
        let reached = self.windows.take_reached(read_point);
        if reached.is_empty() {
            return Ok(false);
        }
        for (ready, rows) in reached {
            if self.cancelled.contains(&ready.job) {
                // Read before its table was dropped or replaced: not its rows now.
                let _ = ready.ack.send(());
                continue;
            }
            let n = rows.len();
            let table = ready.schema.qualified_name();
            let file: Arc<str> = Arc::from(ready.chunk.high.0.as_str());
            for (i, row) in rows.into_iter().enumerate() {
                let marker = if ready.last && ready.initial && i + 1 == n {
                    SnapshotMarker::Last
                } else {
                    SnapshotMarker::True
                };
                let event = ChangeEvent {
                    table: ready.schema.clone(),
                    op: Op::Read,
                    before: None,
                    after: Some(row),
                    source: SourceInfo {
                        name: self.name.clone(),
                        ts_ms: ready.chunk.read_ts_ms,
                        snapshot: marker,
                        file: file.clone(),
                        pos: ready.chunk.high.1,
                        row: i as u32,
                        ..SourceInfo::default()
                    },
                    transaction: None,
                };
                let place = self.next_place(read_point, mark);
                writer.write(&event, &place).await?;
            }
            if let Some(marker) = &ready.repair {
                let place = self.next_place(read_point, mark);
                writer.write_marker(&ready.schema, marker, &place).await?;
            }
            metrics()
                .snapshot_rows_total
                .with_label_values(&[&table])
                .inc_by(n as u64);
            self.state.chunk_emitted(
                &ready.job,
                ready.chunk.last_key.clone(),
                n as u64,
                ready.last,
            );
            let _ = ready.ack.send(());
        }
        Ok(true)
    }
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
