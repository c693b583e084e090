//! Kafka as a transport, free of MySQL types: client settings, topics,
//! the partitioner Java clients use, the producer (idempotent, or
//! transactional on request), what a broker's refusal means, and the
//! source's heartbeats. The source's records and position are written by
//! [`crate::source::kafka`]; the sink reads with its own consumer.

pub mod admin;
pub mod delivery;
pub mod heartbeat;
pub mod partition;
pub mod produce;
pub mod producer;
pub mod refusal;

use rdkafka::ClientConfig;
use thiserror::Error;

use crate::config::KafkaConfig;

#[derive(Debug, Error)]
pub enum KafkaError {
    #[error("kafka client for {brokers}: {message}")]
    Client { brokers: String, message: String },
    /// librdkafka refused the settings: a person must fix `[kafka]`.
    #[error("kafka settings for {brokers} refused: {message}; fix [kafka.options]")]
    Config { brokers: String, message: String },
    #[error("topic {topic}: {message}")]
    Topic { topic: String, message: String },
    #[error("delivery to {topic} failed: {message}")]
    Delivery { topic: String, message: String },
    /// Kafka refused a record for good: retrying cannot help.
    #[error("{topic} refused a record: {message}")]
    Rejected { topic: String, message: String },
    #[error("reading {topic}: {message}")]
    Read { topic: String, message: String },
    #[error("kafka transaction: {0}")]
    Transaction(String),
}

/// Which librdkafka client a configuration is for: `[kafka.options]` are
/// mostly connection settings all clients share, but producer-only ones
/// would make consumers warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Producer,
    Other,
}

/// Properties only a producer understands.
fn producer_only(key: &str) -> bool {
    const PREFIXES: [&str; 10] = [
        "compression.",
        "linger.ms",
        "acks",
        "request.required.acks",
        "batch.",
        "queue.buffering.",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "retries",
        "partitioner",
    ];
    key.starts_with("transaction") || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// librdkafka settings: the brokers, binlake's defaults, then the
/// connector's own `[kafka.options]`, which win over the defaults.
pub fn client_config(
    kafka: &KafkaConfig,
    kind: ClientKind,
    defaults: &[(&str, &str)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", kafka.bootstrap_servers());
    for (k, v) in defaults {
        config.set(*k, *v);
    }
    for (k, v) in &kafka.options {
        if kind == ClientKind::Producer || !producer_only(k) {
            config.set(k, v);
        }
    }
    config
}
