//! The source position, kept in the compacted `{name}.offsets` topic so the
//! container itself holds no state.

use crate::kafka::delivery::CountingProducer;
use serde::{Deserialize, Serialize};

use super::resume;
use crate::config::KafkaConfig;
use crate::kafka::admin::{Admin, TopicSpec};
use crate::kafka::KafkaError;
use crate::source::position::Position;

/// One stored position: where to resume, and when it was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredPosition {
    #[serde(flatten)]
    pub position: Position,
    /// Commit time (ms) of the last transaction before `position`.
    pub source_ts_ms: i64,
    /// When binlake wrote this record (ms).
    pub written_ts_ms: i64,
    /// Snapshot progress at `position`; absent in records written before
    /// binlake had snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<crate::source::snapshot::SnapshotState>,
}

pub struct PositionStore {
    kafka: KafkaConfig,
    topic: String,
    key: String,
}

impl PositionStore {
    /// Makes sure the compacted topic exists.
    pub async fn open(
        admin: &Admin,
        kafka: &KafkaConfig,
        topic: String,
        key: String,
    ) -> Result<Self, KafkaError> {
        admin
            .ensure_topic(
                &topic,
                TopicSpec {
                    partitions: 1,
                    compacted: true,
                },
            )
            .await?;
        Ok(PositionStore {
            kafka: kafka.clone(),
            topic,
            key,
        })
    }

    /// The last stored position, if any.
    pub async fn load(&self) -> Result<Option<StoredPosition>, KafkaError> {
        let kafka = self.kafka.clone();
        let topic = self.topic.clone();
        let values = tokio::task::spawn_blocking(move || resume::last_values(&kafka, &topic))
            .await
            .map_err(|e| KafkaError::Read {
                topic: self.topic.clone(),
                message: e.to_string(),
            })??;
        match values.get(self.key.as_bytes()) {
            Some(Some(bytes)) => serde_json::from_slice(bytes).map(Some).map_err(|e| KafkaError::Read {
                topic: self.topic.clone(),
                message: format!("stored position is not valid JSON ({e}); delete the topic's record for key '{}' to start over", self.key),
            }),
            _ => Ok(None),
        }
    }

    /// Writes a position and waits until Kafka has it.
    pub async fn save(
        &self,
        producer: &CountingProducer,
        stored: &StoredPosition,
    ) -> Result<(), KafkaError> {
        crate::kafka::producer::send_keyed_json(producer, &self.topic, &self.key, stored).await
    }
}
