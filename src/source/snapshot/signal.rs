//! Backfills asked for while the source runs: `binlake snapshot` writes a
//! JSON record to `{name}.signals`; the source reads that topic from the
//! offset stored with its position, so each request runs once even across
//! restarts. A Kafka topic, not a table in MySQL, keeps the source's MySQL
//! user read-only.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::state::Job;
use crate::config::{Connector, KafkaConfig};
use crate::kafka::admin::{Admin, TopicSpec};
use crate::kafka::{client_config, ClientKind, KafkaError};
use crate::wire;

/// One request on `{name}.signals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub id: String,
    /// Only `snapshot` so far.
    #[serde(rename = "type")]
    pub kind: String,
    /// `db.table`.
    pub table: String,
    /// An SQL condition on the table's columns.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
}

async fn ensure(connector: &Connector) -> Result<String, KafkaError> {
    let admin = Admin::new(&connector.kafka)?;
    let topic = wire::signals_topic(&connector.name);
    admin
        .ensure_topic(
            &topic,
            TopicSpec {
                partitions: 1,
                compacted: false,
            },
        )
        .await?;
    Ok(topic)
}

/// Writes a signal and waits until Kafka has it; returns its offset.
pub async fn send(connector: &Connector, signal: &Signal) -> Result<i64, KafkaError> {
    let topic = ensure(connector).await?;
    let producer: FutureProducer = client_config(&connector.kafka, ClientKind::Producer, &[])
        .create()
        .map_err(|e| KafkaError::Config {
            brokers: connector.kafka.bootstrap_servers(),
            message: e.to_string(),
        })?;
    let payload = serde_json::to_vec(signal).map_err(|e| KafkaError::Delivery {
        topic: topic.clone(),
        message: e.to_string(),
    })?;
    let delivery = producer
        .send(
            FutureRecord::to(&topic)
                .key(signal.id.as_bytes())
                .payload(&payload)
                .partition(0),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| KafkaError::Delivery {
            topic: topic.clone(),
            message: e.to_string(),
        })?;
    Ok(delivery.offset)
}

/// What a signal record asks for, or why it is ignored.
pub fn job_of(connector: &Connector, payload: Option<&[u8]>) -> Result<Job, String> {
    let signal: Signal = serde_json::from_slice(payload.unwrap_or_default())
        .map_err(|e| format!("not a signal: {e}"))?;
    if signal.kind != "snapshot" {
        return Err(format!("unknown signal type `{}`", signal.kind));
    }
    let selected = connector.source.as_ref().is_some_and(|s| {
        signal
            .table
            .split_once('.')
            .is_some_and(|(d, t)| s.table_selected(d, t))
    });
    if !selected {
        return Err(format!(
            "{} is not a table this connector captures",
            signal.table
        ));
    }
    Ok(Job {
        id: signal.id,
        table: signal.table,
        predicate: signal.predicate.filter(|p| !p.trim().is_empty()),
        initial: false,
        after: None,
        appeared: false,
        rows: 0,
        chunks: 0,
    })
}

/// Follows `{name}.signals` from `from`, handing each record's offset and
/// job (none for a record that asks for nothing valid) to `out`, until
/// `out` closes. Blocking: run it on its own thread.
pub fn follow(connector: &Connector, from: i64, out: mpsc::Sender<(i64, Option<Job>)>) {
    let mut backoff = crate::clock::Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    while !out.is_closed() {
        match follow_once(connector, from, &out) {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read {}; retrying", wire::signals_topic(&connector.name));
                std::thread::sleep(backoff.next_delay());
            }
        }
    }
}

fn follow_once(
    connector: &Connector,
    mut from: i64,
    out: &mpsc::Sender<(i64, Option<Job>)>,
) -> Result<(), KafkaError> {
    let topic = tokio::runtime::Handle::current().block_on(ensure(connector))?;
    let consumer = reader(&connector.kafka)?;
    let mut tpl = TopicPartitionList::new();
    let read_err = |e: rdkafka::error::KafkaError| KafkaError::Read {
        topic: topic.clone(),
        message: e.to_string(),
    };
    tpl.add_partition_offset(&topic, 0, Offset::Offset(from))
        .map_err(read_err)?;
    consumer.assign(&tpl).map_err(read_err)?;
    while !out.is_closed() {
        let Some(msg) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let msg = msg.map_err(read_err)?;
        let offset = msg.offset();
        if offset < from {
            continue;
        }
        from = offset + 1;
        let job = match job_of(connector, msg.payload()) {
            Ok(job) => {
                tracing::info!(table = %job.table, id = %job.id, predicate = job.predicate.as_deref().unwrap_or(""), "snapshot requested");
                Some(job)
            }
            Err(why) => {
                tracing::warn!(offset, why, "signal ignored");
                None
            }
        };
        if out.blocking_send((offset, job)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn reader(kafka: &KafkaConfig) -> Result<BaseConsumer, KafkaError> {
    client_config(
        kafka,
        ClientKind::Other,
        &[
            ("group.id", "binlake-signals"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
        ],
    )
    .create()
    .map_err(|e| KafkaError::Config {
        brokers: kafka.bootstrap_servers(),
        message: e.to_string(),
    })
}
