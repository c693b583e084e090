//! The source's producer: idempotent by default, with duplicates after a
//! restart removed by the binlog order kept in each record; with
//! `kafka.transactions = true`, transactional (data and position commit
//! together) where the broker supports it.

use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use rdkafka::ClientConfig;

use serde::Serialize;

use super::delivery::{send_and_wait, CountingProducer, Deliveries};
use super::{client_config, refusal, ClientKind, KafkaError};
use crate::config::KafkaConfig;

const TXN_TIMEOUT: Duration = Duration::from_secs(60);
/// librdkafka's default `transaction.timeout.ms`.
const DEFAULT_TXN_TIMEOUT_MS: u64 = 60_000;

/// Producer settings binlake relies on: idempotence keeps per-partition
/// order through retries; the queue bound keeps memory flat.
const DEFAULTS: [(&str, &str); 3] = [
    ("linger.ms", "20"),
    ("queue.buffering.max.kbytes", "65536"),
    ("batch.num.messages", "10000"),
];

/// How much the writer lets librdkafka hold unacknowledged, in records and
/// in bytes: memory stays flat whatever the record size, and librdkafka's
/// queue holds about three full batches (`batch.num.messages`,
/// `batch.size`), within the 5 requests the idempotent producer keeps in
/// flight per partition. (That alone does not stop librdkafka's broker
/// thread from polling in a loop on a slow broker: bench/README.md.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub records: usize,
    pub bytes: usize,
}

const WINDOW_BATCHES: usize = 3;
/// librdkafka's own defaults, where neither binlake nor the file sets them.
const LIBRDKAFKA_BATCH_SIZE: usize = 1_000_000;
const LIBRDKAFKA_BATCH_RECORDS: usize = 10_000;

impl Window {
    pub fn of(kafka: &KafkaConfig) -> Window {
        let setting = |key: &str, default: usize| {
            kafka
                .options
                .get(key)
                .map(String::as_str)
                .or_else(|| DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        Window {
            records: WINDOW_BATCHES * setting("batch.num.messages", LIBRDKAFKA_BATCH_RECORDS),
            bytes: WINDOW_BATCHES * setting("batch.size", LIBRDKAFKA_BATCH_SIZE),
        }
    }
}

fn config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = client_config(kafka, ClientKind::Producer, &DEFAULTS);
    // Not overridable: binlake's ordering and dedup depend on them.
    config.set("enable.idempotence", "true");
    config.set("acks", "all");
    // A refused batch must not leave a gap that later acknowledged records
    // hide from the restart's tail read: the producer fails instead.
    config.set("enable.gapless.guarantee", "true");
    config
}

fn create(config: &ClientConfig, kafka: &KafkaConfig) -> Result<CountingProducer, KafkaError> {
    config
        .create_with_context(Deliveries::default())
        .map_err(client_err(kafka))
}

fn client_err(kafka: &KafkaConfig) -> impl Fn(rdkafka::error::KafkaError) -> KafkaError + '_ {
    move |e| KafkaError::Config {
        brokers: kafka.bootstrap_servers(),
        message: e.to_string(),
    }
}

/// A producer and whether it writes in Kafka transactions.
pub struct SourceProducer {
    pub producer: CountingProducer,
    pub transactional: bool,
    in_transaction: bool,
    /// When the open Kafka transaction began.
    began_at: Option<Instant>,
    /// Half the broker-enforced `transaction.timeout.ms`: a Kafka
    /// transaction open longer is committed before the broker aborts it.
    pub split_after: Duration,
}

/// Half of `transaction.timeout.ms` (from `[kafka.options]`, else
/// librdkafka's default of 60 s).
fn split_after(kafka: &KafkaConfig) -> Duration {
    let ms = kafka
        .options
        .get("transaction.timeout.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_TXN_TIMEOUT_MS);
    Duration::from_millis(ms / 2)
}

impl SourceProducer {
    /// Opens the idempotent producer, or with `kafka.transactions = true` a
    /// transactional one (`transactional.id` = `{name}-source`, which also
    /// fences a stale twin), proven by one committed probe record in
    /// `probe_topic`; it falls back to the idempotent producer when the
    /// broker refuses transactions.
    pub async fn open(
        kafka: &KafkaConfig,
        name: &str,
        probe_topic: &str,
    ) -> Result<Self, KafkaError> {
        if !kafka.transactions {
            tracing::info!(
                "idempotent producer: a restart skips the records each partition already holds \
                 (kafka.transactions = false)"
            );
            let producer = create(&config(kafka), kafka)?;
            return Ok(SourceProducer::new(producer, false, kafka));
        }
        let mut txn_config = config(kafka);
        txn_config.set("transactional.id", crate::wire::transactional_id(name));
        let producer = create(&txn_config, kafka)?;
        match probe(&producer, name, probe_topic).await {
            Ok(()) => {
                tracing::info!("Kafka transactions available: data and position commit atomically");
                Ok(SourceProducer::new(producer, true, kafka))
            }
            Err(reason) => {
                tracing::info!(
                    %reason,
                    "Kafka transactions unavailable: idempotent producer, restarts skip records a partition already holds"
                );
                let producer = create(&config(kafka), kafka)?;
                Ok(SourceProducer::new(producer, false, kafka))
            }
        }
    }

    fn new(producer: CountingProducer, transactional: bool, kafka: &KafkaConfig) -> Self {
        SourceProducer {
            producer,
            transactional,
            in_transaction: false,
            began_at: None,
            split_after: split_after(kafka),
        }
    }

    /// Starts a transaction unless one is open (transactional mode only).
    pub fn begin(&mut self) -> Result<(), KafkaError> {
        if self.transactional && !self.in_transaction {
            self.producer.begin_transaction().map_err(txn_err)?;
            self.in_transaction = true;
            self.began_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Whether the open Kafka transaction has been open longer than
    /// `split_after` (false when none is open).
    pub fn due_for_split(&self) -> bool {
        self.in_transaction
            && self
                .began_at
                .is_some_and(|t| t.elapsed() >= self.split_after)
    }

    /// Commits the open transaction, if any.
    pub async fn commit(&mut self) -> Result<(), KafkaError> {
        if !self.in_transaction {
            return Ok(());
        }
        self.in_transaction = false;
        let producer = self.producer.clone();
        blocking(move || producer.commit_transaction(TXN_TIMEOUT)).await
    }

    /// Aborts the open transaction, if any; used when giving up on a writer.
    pub async fn abort(&mut self) {
        if self.in_transaction {
            self.in_transaction = false;
            let producer = self.producer.clone();
            if let Err(e) = blocking(move || producer.abort_transaction(TXN_TIMEOUT)).await {
                tracing::warn!(error = %e, "aborting the Kafka transaction failed");
            }
        }
    }
}

async fn probe(producer: &CountingProducer, name: &str, topic: &str) -> Result<(), String> {
    let p = producer.clone();
    blocking(move || p.init_transactions(TXN_TIMEOUT))
        .await
        .map_err(|e| e.to_string())?;
    producer.begin_transaction().map_err(|e| e.to_string())?;
    let key = crate::wire::transaction_probe_key(name);
    if let Err(refusal) = send_and_wait(producer, topic, key.as_bytes(), b"{}", 0).await {
        let _ = producer.abort_transaction(TXN_TIMEOUT);
        return Err(refusal.error.to_string());
    }
    let p = producer.clone();
    blocking(move || p.commit_transaction(TXN_TIMEOUT))
        .await
        .map_err(|e| e.to_string())
}

/// librdkafka's transaction calls block; keep them off the async workers.
async fn blocking(
    f: impl FnOnce() -> rdkafka::error::KafkaResult<()> + Send + 'static,
) -> Result<(), KafkaError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KafkaError::Transaction(e.to_string()))?
        .map_err(txn_err)
}

fn txn_err(e: rdkafka::error::KafkaError) -> KafkaError {
    KafkaError::Transaction(e.to_string())
}

/// Writes one JSON value under `key` to partition 0 of a one-partition
/// topic and waits until Kafka has it. A refusal stops the source like a
/// refused change.
pub async fn send_keyed_json<T: Serialize>(
    producer: &CountingProducer,
    topic: &str,
    key: &str,
    value: &T,
) -> Result<(), KafkaError> {
    let payload = serde_json::to_vec(value).map_err(|e| KafkaError::Delivery {
        topic: topic.to_string(),
        message: e.to_string(),
    })?;
    send_and_wait(producer, topic, key.as_bytes(), &payload, 0)
        .await
        .map_err(|r| {
            let fatal = producer.client().fatal_error();
            refusal::delivery_error(r.topic, r.error, r.size, fatal)
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rdkafka::mocking::MockCluster;

    use super::*;

    fn kafka(brokers: String) -> KafkaConfig {
        KafkaConfig {
            brokers: vec![brokers],
            options: BTreeMap::new(),
            transactions: true,
        }
    }

    #[test]
    fn the_window_is_three_batches_of_the_effective_settings() {
        let mut kafka = kafka("127.0.0.1:1".into());
        assert_eq!(
            Window::of(&kafka),
            Window {
                records: 30_000,
                bytes: 3_000_000
            }
        );
        kafka.options.insert("batch.size".into(), "16384".into());
        kafka
            .options
            .insert("batch.num.messages".into(), "500".into());
        assert_eq!(
            Window::of(&kafka),
            Window {
                records: 1_500,
                bytes: 49_152
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_idempotent_producer_is_the_default() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("t.offsets", 1, 1).expect("topic");
        let kafka = KafkaConfig {
            transactions: false,
            ..kafka(cluster.bootstrap_servers())
        };
        let mut p = SourceProducer::open(&kafka, "t", "t.offsets")
            .await
            .expect("open");
        assert!(!p.transactional, "transactions are an explicit option");
        p.begin().expect("begin is a no-op");
        assert!(!p.in_transaction);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uses_transactions_when_the_broker_has_them() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("t.offsets", 1, 1).expect("topic");
        let kafka = kafka(cluster.bootstrap_servers());
        let mut p = SourceProducer::open(&kafka, "t", "t.offsets")
            .await
            .expect("open");
        assert!(p.transactional, "the mock broker supports transactions");
        p.begin().expect("begin");
        send_and_wait(&p.producer, "t.offsets", b"k", b"v", 0)
            .await
            .expect("send");
        p.commit().await.expect("commit");
        // A second transaction can begin after the first committed.
        p.begin().expect("second begin");
        p.abort().await;
    }
}
