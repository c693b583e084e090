//! The writer's records that are not row changes: a TRUNCATE on every
//! partition of its table's topic, a repairing backfill's markers, and the
//! heartbeats that say everything before an instant is in Kafka.

use super::{ChangeWriter, Outgoing};
use crate::avro::{encode, wire};
use crate::clock::now_ms;
use crate::event::ChangeEvent;
use crate::kafka::heartbeat::Heartbeat;
use crate::kafka::KafkaError;
use crate::source::order::RecordPlace;
use crate::source::SourceError;
use crate::wire::{table_topic, value_subject};

impl ChangeWriter {
    /// Says that every change committed in MySQL before `ts_ms` is in Kafka,
    /// once everything queued is acknowledged; a writer that had a record
    /// refused says nothing.
    pub async fn heartbeat(&mut self, ts_ms: i64) -> Result<(), KafkaError> {
        self.flush().await?;
        if self.failed {
            return Ok(());
        }
        self.producer.begin()?;
        self.heartbeats
            .send(&self.producer.producer, Heartbeat { ts_ms })
            .await?;
        self.producer.commit().await
    }

    /// A truncate event (SPEC): one record with a null key on every
    /// partition of the table's topic, so each partition holds it in order
    /// with its rows. The value is the envelope (before and after null)
    /// under the subject's newest value schema, which can express it
    /// whatever the table's shape; a table with no schema registered has
    /// nothing in Kafka to truncate.
    pub async fn write_truncate(
        &mut self,
        event: &ChangeEvent,
        place: &RecordPlace,
    ) -> Result<(), SourceError> {
        let table = &event.table;
        let topic = table_topic(&self.connector.name, &table.db, &table.table);
        let latest = self
            .codecs
            .client()
            .latest(&value_subject(&topic))
            .await
            .map_err(|e| match e.is_retryable() {
                true => SourceError::RegistryUnavailable(e.to_string()),
                false => SourceError::Registry(e.to_string()),
            })?;
        let Some((schema_id, _)) = latest else {
            tracing::debug!(table = %table.qualified_name(), "truncate of a table never written to Kafka: no record to write");
            return Ok(());
        };
        let mut value = Vec::with_capacity(128);
        wire::write_header(&mut value, schema_id);
        let now = now_ms();
        encode::write_envelope(&mut value, table, event, now)?;
        let t = self.topic(&topic).await?;
        let partitions = self.topics[t].partitions;
        for partition in 0..partitions {
            if self.fresh(t, partition, place)? {
                let record = Outgoing {
                    partition,
                    key: &[],
                    value: Some(&value),
                    place,
                    marker: None,
                    timestamp_ms: now,
                };
                self.send(t, &record).await?;
            }
        }
        tracing::info!(table = %table.qualified_name(), partitions, "TRUNCATE written to every partition");
        crate::metrics::metrics()
            .source_events_total
            .with_label_values(&[&table.qualified_name(), event.op.code()])
            .inc();
        Ok(())
    }

    /// A repairing backfill chunk's marker (see [`crate::backfill`]): a
    /// record with a null key and a null value, the marker in its header,
    /// on partition 0 of the table's topic. Its place among the table's
    /// records does not matter, so one partition suffices.
    pub async fn write_marker(
        &mut self,
        table: &crate::event::TableSchema,
        marker: &crate::backfill::RepairMarker,
        place: &RecordPlace,
    ) -> Result<(), SourceError> {
        let topic = table_topic(&self.connector.name, &table.db, &table.table);
        let records = marker
            .to_records(crate::backfill::MAX_MARKER_BYTES)
            .map_err(SourceError::Marker)?;
        let t = self.topic(&topic).await?;
        for json in records {
            if self.fresh(t, 0, place)? {
                let record = Outgoing {
                    partition: 0,
                    key: &[],
                    value: None,
                    place,
                    marker: Some(&json),
                    timestamp_ms: now_ms(),
                };
                self.send(t, &record).await?;
            }
        }
        Ok(())
    }
}
