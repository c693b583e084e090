//! Prometheus metrics and health endpoints: `GET /metrics`, `/healthz`
//! (the process is alive), `/readyz` (connected and streaming).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::sync::watch;

/// Every metric binlake exports, registered once per process.
pub struct Metrics {
    registry: Registry,
    pub source_lag_seconds: Gauge,
    pub source_binlog_bytes_behind: IntGauge,
    pub source_events_total: IntCounterVec,
    pub source_zero_dates_total: IntCounter,
    pub source_skipped_total: IntCounter,
    pub sink_consumer_lag_messages: IntGaugeVec,
    pub sink_rows_total: IntCounterVec,
    pub sink_commit_seconds: Histogram,
    pub sink_delta_version: IntGaugeVec,
    pub sink_dead_letters_total: IntCounterVec,
    pub end_to_end_lag_seconds: GaugeVec,
    pub errors_total: IntCounterVec,
    pub snapshot_rows_total: IntCounterVec,
    pub snapshot_chunks_total: IntCounter,
    pub snapshot_tables_remaining: IntGauge,
    pub snapshot_seconds_remaining: Gauge,
    ready: AtomicBool,
}

impl Metrics {
    fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let m = Metrics {
            source_lag_seconds: Gauge::new(
                "binlake_source_lag_seconds",
                "Now minus the commit time of the last change read from the binlog (0 when idle and caught up)",
            )?,
            source_binlog_bytes_behind: IntGauge::new(
                "binlake_source_binlog_bytes_behind",
                "Binlog bytes between the stored source position and the server's end of binlog",
            )?,
            source_events_total: IntCounterVec::new(
                Opts::new("binlake_source_events_total", "Row changes produced to Kafka"),
                &["table", "op"],
            )?,
            source_zero_dates_total: IntCounter::new(
                "binlake_source_zero_dates_total",
                "Zero or invalid dates read from MySQL and written as null",
            )?,
            source_skipped_total: IntCounter::new(
                "binlake_source_skipped_total",
                "Records not produced because Kafka already held them (replay after a restart)",
            )?,
            sink_consumer_lag_messages: IntGaugeVec::new(
                Opts::new(
                    "binlake_sink_consumer_lag_messages",
                    "Records in a partition the sink has not yet committed to Delta",
                ),
                &["topic", "partition"],
            )?,
            sink_rows_total: IntCounterVec::new(
                Opts::new(
                    "binlake_sink_rows_total",
                    "Rows applied to Delta after collapsing each batch to the last change per key",
                ),
                &["table", "op"],
            )?,
            sink_commit_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "binlake_sink_commit_seconds",
                    "Time to apply one batch to one Delta table, files and commit",
                )
                .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            )?,
            sink_delta_version: IntGaugeVec::new(
                Opts::new("binlake_sink_delta_version", "Latest Delta version the sink committed"),
                &["table"],
            )?,
            sink_dead_letters_total: IntCounterVec::new(
                Opts::new(
                    "binlake_sink_dead_letters_total",
                    "Records sent to the dead-letter topic, by source topic and reason",
                ),
                &["topic", "reason"],
            )?,
            end_to_end_lag_seconds: GaugeVec::new(
                Opts::new(
                    "binlake_end_to_end_lag_seconds",
                    "Now minus the source commit time of the newest row visible in Delta",
                ),
                &["table"],
            )?,
            errors_total: IntCounterVec::new(
                Opts::new(
                    "binlake_errors_total",
                    "Errors binlake recovered from by retrying (stage: source, snapshot, sink; kind: what failed)",
                ),
                &["stage", "kind"],
            )?,
            snapshot_rows_total: IntCounterVec::new(
                Opts::new("binlake_snapshot_rows_total", "Snapshot rows handed to Kafka"),
                &["table"],
            )?,
            snapshot_chunks_total: IntCounter::new(
                "binlake_snapshot_chunks_total",
                "Snapshot chunks read from MySQL",
            )?,
            snapshot_tables_remaining: IntGauge::new(
                "binlake_snapshot_tables_remaining",
                "Snapshot jobs (tables or backfills) not yet finished",
            )?,
            snapshot_seconds_remaining: Gauge::new(
                "binlake_snapshot_seconds_remaining",
                "Estimated time left for the running snapshot jobs, from table row estimates",
            )?,
            ready: AtomicBool::new(false),
            registry,
        };
        m.registry
            .register(Box::new(m.source_lag_seconds.clone()))?;
        m.registry
            .register(Box::new(m.source_binlog_bytes_behind.clone()))?;
        m.registry
            .register(Box::new(m.source_events_total.clone()))?;
        m.registry
            .register(Box::new(m.source_zero_dates_total.clone()))?;
        m.registry
            .register(Box::new(m.source_skipped_total.clone()))?;
        m.registry
            .register(Box::new(m.sink_consumer_lag_messages.clone()))?;
        m.registry.register(Box::new(m.sink_rows_total.clone()))?;
        m.registry
            .register(Box::new(m.sink_commit_seconds.clone()))?;
        m.registry
            .register(Box::new(m.sink_delta_version.clone()))?;
        m.registry
            .register(Box::new(m.sink_dead_letters_total.clone()))?;
        m.registry
            .register(Box::new(m.end_to_end_lag_seconds.clone()))?;
        m.registry.register(Box::new(m.errors_total.clone()))?;
        m.registry
            .register(Box::new(m.snapshot_rows_total.clone()))?;
        m.registry
            .register(Box::new(m.snapshot_chunks_total.clone()))?;
        m.registry
            .register(Box::new(m.snapshot_tables_remaining.clone()))?;
        m.registry
            .register(Box::new(m.snapshot_seconds_remaining.clone()))?;
        Ok(m)
    }

    /// Counts one error that was retried.
    pub fn error(&self, stage: &str, kind: &str) {
        self.errors_total.with_label_values(&[stage, kind]).inc();
    }

    /// Marks the process connected and streaming (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| match Metrics::new() {
        Ok(m) => m,
        // Only a programming error (a duplicate or malformed name) gets here.
        Err(e) => panic!("metric definitions are invalid: {e}"),
    })
}

fn router() -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics().render(),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|| async {
                if metrics().is_ready() {
                    (StatusCode::OK, "ready\n").into_response()
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
                }
            }),
        )
}

/// Serves the endpoints on `listen` until `shutdown` turns true.
pub async fn serve(listen: SocketAddr, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "metrics and health on http://{listen}/metrics");
    axum::serve(listener, router())
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_source_metrics() {
        let m = metrics();
        m.source_events_total
            .with_label_values(&["db.t", "c"])
            .inc();
        m.source_lag_seconds.set(1.5);
        let text = m.render();
        assert!(
            text.contains("binlake_source_events_total{op=\"c\",table=\"db.t\"} 1"),
            "{text}"
        );
        assert!(text.contains("binlake_source_lag_seconds 1.5"), "{text}");
        assert!(text.contains("binlake_source_binlog_bytes_behind"));
    }
}
