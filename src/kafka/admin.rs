//! Topics: created when missing, partition counts looked up once.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::{client_config, ClientKind, KafkaError};
use crate::config::KafkaConfig;

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Admin {
    admin: AdminClient<DefaultClientContext>,
    metadata: Arc<BaseConsumer>,
    brokers: String,
}

/// How a topic binlake creates is laid out.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec {
    pub partitions: i32,
    pub compacted: bool,
}

impl Admin {
    pub fn new(kafka: &KafkaConfig) -> Result<Self, KafkaError> {
        let brokers = kafka.bootstrap_servers();
        let err = |e: rdkafka::error::KafkaError| KafkaError::Config {
            brokers: brokers.clone(),
            message: e.to_string(),
        };
        let admin = client_config(kafka, ClientKind::Other, &[])
            .create()
            .map_err(err)?;
        let metadata = Arc::new(
            client_config(kafka, ClientKind::Other, &[])
                .create()
                .map_err(err)?,
        );
        Ok(Admin {
            admin,
            metadata,
            brokers,
        })
    }

    /// Creates `topic` unless it exists; returns its partition count.
    pub async fn ensure_topic(&self, topic: &str, spec: TopicSpec) -> Result<i32, KafkaError> {
        if let Some(n) = self.partitions(topic).await? {
            return Ok(n);
        }
        // -1: the broker's default replication factor (KIP-464).
        let mut new = NewTopic::new(topic, spec.partitions, TopicReplication::Fixed(-1));
        if spec.compacted {
            new = new.set("cleanup.policy", "compact");
        }
        let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let results = self
            .admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| self.topic_error(topic, e.to_string()))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(self.topic_error(topic, format!("cannot create: {code}")))
                }
            }
        }
        tracing::info!(
            topic,
            partitions = spec.partitions,
            compacted = spec.compacted,
            "created topic"
        );
        // Metadata can lag a fresh topic for a moment.
        for _ in 0..50 {
            if let Some(n) = self.partitions(topic).await? {
                return Ok(n);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(self.topic_error(topic, "created but not visible in metadata".into()))
    }

    /// The partition count of `topic`, `None` if it does not exist.
    pub async fn partitions(&self, topic: &str) -> Result<Option<i32>, KafkaError> {
        let consumer = self.metadata.clone();
        let topic_owned = topic.to_string();
        // Metadata calls block; keep them off the async workers.
        let md = tokio::task::spawn_blocking(move || {
            consumer.fetch_metadata(Some(&topic_owned), TIMEOUT)
        })
        .await
        .map_err(|e| self.topic_error(topic, e.to_string()))?
        .map_err(|e| KafkaError::Client {
            brokers: self.brokers.clone(),
            message: e.to_string(),
        })?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().len() as i32))
    }

    fn topic_error(&self, topic: &str, message: String) -> KafkaError {
        KafkaError::Topic {
            topic: topic.to_string(),
            message,
        }
    }
}
