//! `{name}.dlq`: records the sink cannot apply (undecodable, or a schema
//! the table cannot take) keep their key and value, with the reason in
//! `binlake.error.*` headers, so the sink can go on.

use std::time::Duration;

use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::SinkError;
use crate::config::Connector;
use crate::kafka::admin::{Admin, TopicSpec};
use crate::kafka::{client_config, ClientKind};
use crate::metrics::metrics;
use crate::wire;

/// `{name}.dlq`: records the sink cannot apply, with the reason in headers.
pub struct DeadLetters {
    topic: String,
    producer: FutureProducer,
    admin: Admin,
    ready: std::sync::atomic::AtomicBool,
}

impl DeadLetters {
    pub fn new(connector: &Connector) -> Result<Self, SinkError> {
        let producer: FutureProducer = client_config(
            &connector.kafka,
            ClientKind::Producer,
            &[("enable.idempotence", "true"), ("acks", "all")],
        )
        .create()
        .map_err(|e| SinkError::Kafka(format!("cannot create the dead-letter producer: {e}")))?;
        Ok(DeadLetters {
            topic: wire::dlq_topic(&connector.name),
            producer,
            admin: Admin::new(&connector.kafka).map_err(|e| SinkError::Kafka(e.to_string()))?,
            ready: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub async fn send(
        &self,
        msg: &impl Message,
        reason: &str,
        detail: &str,
    ) -> Result<(), SinkError> {
        use std::sync::atomic::Ordering;
        if !self.ready.load(Ordering::Relaxed) {
            self.admin
                .ensure_topic(
                    &self.topic,
                    TopicSpec {
                        partitions: 1,
                        compacted: false,
                    },
                )
                .await
                .map_err(|e| SinkError::Kafka(e.to_string()))?;
            self.ready.store(true, Ordering::Relaxed);
        }
        tracing::warn!(
            topic = msg.topic(),
            partition = msg.partition(),
            offset = msg.offset(),
            reason,
            detail,
            "record sent to the dead-letter topic"
        );
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: wire::ERROR_REASON_HEADER,
                value: Some(reason),
            })
            .insert(Header {
                key: wire::ERROR_MESSAGE_HEADER,
                value: Some(detail),
            })
            .insert(Header {
                key: wire::ERROR_TOPIC_HEADER,
                value: Some(msg.topic()),
            })
            .insert(Header {
                key: wire::ERROR_PARTITION_HEADER,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: wire::ERROR_OFFSET_HEADER,
                value: Some(offset.as_str()),
            });
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(v) = msg.payload() {
            record = record.payload(v);
        }
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| SinkError::Kafka(format!("cannot write to {}: {e}", self.topic)))?;
        metrics()
            .sink_dead_letters_total
            .with_label_values(&[msg.topic(), reason])
            .inc();
        Ok(())
    }
}
