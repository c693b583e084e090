//! Process-wide `tracing` setup: human-readable by default, JSON for machines.

use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientContext;
use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The Delta libraries log every snapshot and scan at `info`; a plain
/// level (no per-target directives) keeps them at `warn`.
fn with_quiet_libraries(spec: &str) -> String {
    if spec.contains('=') {
        spec.to_owned()
    } else {
        format!("{spec},deltalake_core=warn,buoyant_kernel=warn,delta_kernel=warn")
    }
}

/// Installs the global subscriber. `level` (from `--log-level`) wins over
/// `RUST_LOG`; with neither, binlake logs at `info`.
pub fn init(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    let spec = match level {
        Some(level) => level.to_owned(),
        None => std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_else(|_| "info".into()),
    };
    let filter = EnvFilter::try_new(with_quiet_libraries(&spec))?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// Logs an error librdkafka reports on a client's queue. Two are expected
/// and not errors, so they are logged at `debug`: the end of a partition,
/// which binlake asks for (`enable.partition.eof`) to know a read-back is
/// complete, and a subscription matching no topic yet, as a sink sees
/// before the source has created the table topics. Everything else stays
/// an error, as rdkafka's default callback logs it.
pub fn kafka_client_error(error: &KafkaError, reason: &str) {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::PartitionEOF) => {
            tracing::debug!(target: "librdkafka", "librdkafka: {error}: {reason}")
        }
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic)
            if reason.starts_with("Subscribed topic not available") =>
        {
            tracing::debug!(target: "librdkafka", "librdkafka: {error}: {reason}")
        }
        _ => tracing::error!(target: "librdkafka", "librdkafka: {error}: {reason}"),
    }
}

/// A librdkafka client context whose errors go through
/// [`kafka_client_error`]; for clients that need no other callback.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaLogs;

impl ClientContext for KafkaLogs {
    fn error(&self, error: KafkaError, reason: &str) {
        kafka_client_error(&error, reason);
    }
}

impl ConsumerContext for KafkaLogs {}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The lines `kafka_client_error` writes for one error, with levels.
    fn logged(error: KafkaError, reason: &str) -> String {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || SharedBuf(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || kafka_client_error(&error, reason));
        let out = buf.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&out).into_owned()
    }

    struct SharedBuf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(data);
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn expected_consumer_conditions_are_not_errors() {
        let eof = logged(
            KafkaError::Global(RDKafkaErrorCode::PartitionEOF),
            "Fetch from broker 1 reached end of partition at offset 3 (HighwaterMark 3)",
        );
        assert!(eof.contains("DEBUG") && !eof.contains("ERROR"), "{eof}");
        let no_topic = logged(
            KafkaError::Global(RDKafkaErrorCode::UnknownTopicOrPartition),
            "Subscribed topic not available: ^shop\\.[^.]+\\.[^.]+$: Broker: Unknown topic or partition",
        );
        assert!(
            no_topic.contains("DEBUG") && !no_topic.contains("ERROR"),
            "{no_topic}"
        );
    }

    #[test]
    fn other_client_errors_stay_errors() {
        let down = logged(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert!(
            down.contains("ERROR") && down.contains("brokers are down"),
            "{down}"
        );
        // The same code outside a subscription (a produce to a missing topic).
        let missing = logged(
            KafkaError::Global(RDKafkaErrorCode::UnknownTopicOrPartition),
            "shop.offsets [0]: Broker: Unknown topic or partition",
        );
        assert!(missing.contains("ERROR"), "{missing}");
    }
}
