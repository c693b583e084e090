//! What the snapshot has done and how long the rest should take: a progress
//! bar on a terminal, a log line every 10 s otherwise, metrics always.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::metrics;

#[derive(Default)]
struct Counts {
    /// Estimated rows (information_schema) and rows read, per job.
    jobs: HashMap<String, (String, u64, u64)>,
    rows: u64,
    chunks: u64,
    finished: u64,
}

pub struct Progress {
    started: Instant,
    counts: Mutex<Counts>,
}

/// A snapshot of [`Progress`] for reporting.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub rows: u64,
    pub chunks: u64,
    pub tables_remaining: u64,
    pub estimated_rows: u64,
    pub rows_per_second: f64,
    pub seconds_left: f64,
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            started: Instant::now(),
            counts: Mutex::new(Counts::default()),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Counts) -> R) -> R {
        let mut guard = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn job_started(&self, job: &str, table: &str, estimate: u64, already: u64) {
        self.with(|c| {
            c.jobs.insert(
                job.to_string(),
                (table.to_string(), estimate.max(already), already),
            )
        });
    }

    pub fn chunk_read(&self, job: &str, rows: u64) {
        self.with(|c| {
            c.rows += rows;
            c.chunks += 1;
            if let Some(j) = c.jobs.get_mut(job) {
                j.2 += rows;
                j.1 = j.1.max(j.2);
            }
        });
        metrics().snapshot_chunks_total.inc();
    }

    pub fn job_finished(&self, job: &str) {
        self.with(|c| {
            c.jobs.remove(job);
            c.finished += 1;
        });
    }

    pub fn summary(&self, queued: u64) -> Summary {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        self.with(|c| {
            let left: u64 = c
                .jobs
                .values()
                .map(|(_, est, read)| est.saturating_sub(*read))
                .sum();
            let estimated = c.rows + left;
            let rate = c.rows as f64 / secs;
            Summary {
                rows: c.rows,
                chunks: c.chunks,
                tables_remaining: c.jobs.len() as u64 + queued,
                estimated_rows: estimated,
                rows_per_second: rate,
                seconds_left: if rate > 0.0 { left as f64 / rate } else { 0.0 },
            }
        })
    }
}

/// Reports until `done` fires. `queued` tells how many jobs wait to start.
pub async fn report(
    progress: Arc<Progress>,
    queued: impl Fn() -> u64 + Send + 'static,
    mut done: tokio::sync::watch::Receiver<bool>,
) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "snapshot {bar:40} {pos}/{len} rows {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let every = if bar.is_some() {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(10)
    };
    let mut last_log = Instant::now();
    loop {
        let finished = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            r = done.changed() => r.is_err() || *done.borrow(),
        };
        let s = progress.summary(queued());
        let m = metrics();
        m.snapshot_tables_remaining.set(s.tables_remaining as i64);
        m.snapshot_seconds_remaining.set(s.seconds_left);
        match &bar {
            Some(bar) => {
                bar.set_length(s.estimated_rows);
                bar.set_position(s.rows);
                bar.set_message(format!("{} tables left", s.tables_remaining));
            }
            None if finished || last_log.elapsed() >= Duration::from_secs(10) => {
                last_log = Instant::now();
                tracing::info!(
                    rows = s.rows,
                    chunks = s.chunks,
                    tables_remaining = s.tables_remaining,
                    rows_per_second = s.rows_per_second.round(),
                    eta_seconds = s.seconds_left.round(),
                    "snapshot progress"
                );
            }
            None => {}
        }
        if finished {
            if let Some(bar) = bar {
                bar.finish();
            }
            return;
        }
    }
}
