//! The sink's Kafka consumer: group `{name}`, a regular-expression
//! subscription to the table topics (or, with `sink.partitions = "all"`,
//! every table-topic partition assigned by the sink itself), partitions
//! started where their Delta tables end, rebalances logged and the lag
//! librdkafka measures reported.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientContext, Statistics, TopicPartitionList};

use super::delta::progress::DeltaStarts;
use super::offsets::OffsetCommits;
use super::SinkError;
use crate::config::{Connector, PartitionMode, SinkConfig};
use crate::kafka::{client_config, ClientKind};
use crate::metrics::metrics;
use crate::wire;

/// Logs rebalances, reports the consumer lag librdkafka measures and
/// clears the in-flight flag of [`OffsetCommits`].
pub(super) struct SinkContext {
    pub(super) commit_in_flight: Arc<AtomicBool>,
    /// Where assigned partitions start: Delta's txn versions.
    pub(super) starts: DeltaStarts,
    /// The start offsets of assignments since the loop last looked.
    pub(super) started: std::sync::Mutex<Vec<(String, i32, i64)>>,
}

impl ClientContext for SinkContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        crate::logging::kafka_client_error(&error, reason);
    }

    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (p, part) in &t.partitions {
                if *p >= 0 && part.consumer_lag >= 0 {
                    metrics()
                        .sink_consumer_lag_messages
                        .with_label_values(&[topic.as_str(), &p.to_string()])
                        .set(part.consumer_lag);
                }
            }
        }
    }
}

// Records consumed before a revoke stay pending and are applied: Delta's
// txn versions make that harmless if the partition's new owner applies them
// too, whereas dropping them would rely on the broker handing the partition
// back from the committed offset, which a broker that loses the group's
// state does not do.
impl ConsumerContext for SinkContext {
    // rdkafka's own steps, with the start offsets taken from Delta before
    // the partitions are assigned.
    fn rebalance(&self, c: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(c.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.set_starts(c, tpl);
                if cooperative {
                    c.incremental_assign(tpl)
                } else {
                    c.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if cooperative {
                    c.incremental_unassign(tpl)
                } else {
                    c.unassign()
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                self.post_rebalance(c, &Rebalance::Error(KafkaError::Rebalance(code)));
                return;
            }
        };
        if let Err(e) = result {
            metrics().error("sink", "kafka");
            tracing::warn!(error = %e, "cannot apply the assignment");
        }
        let r = if matches!(err, RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            Rebalance::Assign(tpl)
        } else {
            Rebalance::Revoke(tpl)
        };
        self.post_rebalance(c, &r);
    }

    fn post_rebalance(&self, _c: &rdkafka::consumer::BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = %describe(tpl), "partitions assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = %describe(tpl), "partitions revoked")
            }
            Rebalance::Error(e) => {
                metrics().error("sink", "kafka");
                tracing::warn!(error = %e, "rebalance failed")
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        self.commit_in_flight.store(false, Ordering::Release);
        if let Err(e) = result {
            super::offsets::commit_failed(&e);
        }
    }
}

impl SinkContext {
    /// Sets the start of each partition in `tpl` from its Delta table and
    /// keeps the starts for the loop.
    fn set_starts<C: Consumer<Self>>(&self, c: &C, tpl: &mut TopicPartitionList) {
        self.starts.set_offsets(c, tpl);
        if let Ok(mut started) = self.started.lock() {
            for e in tpl.elements() {
                if let rdkafka::Offset::Offset(o) = e.offset() {
                    started.push((e.topic().to_string(), e.partition(), o));
                }
            }
        }
    }
}

/// `sink.partitions = "all"`: the sink assigns itself every partition of
/// every table topic, found by listing the broker's topics as often as a
/// group subscription refreshes its metadata. No group membership is
/// involved, so no coordinator can leave the sink without partitions.
///
/// The listing runs on a thread of its own through a client of its own: a
/// busy broker can take seconds to answer, and on the sink's loop that
/// wait held back every batch due meanwhile (and on the consumer's own
/// connection the request queued behind its fetches). A plain thread, not
/// a runtime's blocking task: one still waiting for the broker does not
/// hold up the process's exit.
pub(super) struct OwnPartitions {
    name: String,
    lister: Arc<BaseConsumer>,
    held: BTreeSet<(String, i32)>,
    last_look: Option<Instant>,
    look: Option<std::thread::JoinHandle<KafkaResult<Vec<TablePartition>>>>,
}

/// A table topic's name and one of its partitions.
type TablePartition = (String, i32);

/// How often the broker's topics are listed for new table topics.
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// How long one listing may take before it counts as failed.
const LOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl OwnPartitions {
    pub(super) fn new(connector: &Connector) -> Result<Self, SinkError> {
        let lister = client_config(&connector.kafka, ClientKind::Other, &[])
            .create()
            .map_err(|e| SinkError::Kafka(e.to_string()))?;
        Ok(OwnPartitions {
            name: connector.name.clone(),
            lister: Arc::new(lister),
            held: BTreeSet::new(),
            last_look: None,
            look: None,
        })
    }

    /// Assigns the table-topic partitions the last finished look found
    /// new, each from where its Delta table ends, and starts the next look
    /// when one is due. A failed look is logged and tried again at the
    /// next one. Never waits for the broker.
    pub(super) fn refresh(&mut self, consumer: &StreamConsumer<SinkContext>) {
        if let Some(look) = self.look.take_if(|l| l.is_finished()) {
            match look.join() {
                Ok(Ok(found)) => self.assign(consumer, found),
                Ok(Err(e)) => {
                    metrics().error("sink", "kafka");
                    tracing::warn!(error = %e, "cannot list the broker's topics; trying again");
                }
                Err(_) => {
                    metrics().error("sink", "kafka");
                    tracing::warn!("the broker's topic listing failed; trying again");
                }
            }
        }
        if self.look.is_some() || self.last_look.is_some_and(|t| t.elapsed() < LOOK_EVERY) {
            return;
        }
        self.last_look = Some(Instant::now());
        let (lister, name) = (self.lister.clone(), self.name.clone());
        let look = std::thread::Builder::new()
            .name("topic listing".into())
            .spawn(move || {
                let metadata = lister.fetch_metadata(None, LOOK_TIMEOUT)?;
                Ok(metadata
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none() && wire::is_table_topic(&name, t.name()))
                    .flat_map(|t| t.partitions().iter().map(|p| (t.name().to_owned(), p.id())))
                    .collect())
            });
        match look {
            Ok(look) => self.look = Some(look),
            Err(e) => {
                metrics().error("sink", "kafka");
                tracing::warn!(error = %e, "cannot start listing the broker's topics; trying again");
            }
        }
    }

    fn assign(&mut self, consumer: &StreamConsumer<SinkContext>, found: Vec<TablePartition>) {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in found {
            if !self.held.contains(&(topic.clone(), partition)) {
                tpl.add_partition(&topic, partition);
            }
        }
        if tpl.count() == 0 {
            return;
        }
        consumer.context().set_starts(consumer, &mut tpl);
        match consumer.incremental_assign(&tpl) {
            Ok(()) => {
                for e in tpl.elements() {
                    self.held.insert((e.topic().to_owned(), e.partition()));
                }
                tracing::info!(partitions = %describe(&tpl), "partitions assigned");
            }
            Err(e) => {
                metrics().error("sink", "kafka");
                tracing::warn!(error = %e, partitions = %describe(&tpl), "cannot assign the table topics' partitions; trying again");
            }
        }
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    let parts: Vec<String> = tpl
        .elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(",")
    }
}

fn default_instance(name: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into());
    wire::sink_instance_id(name, &host)
}

/// At most this often a Kafka offset commit (see [`OffsetCommits`]).
/// The consumer of the table topics, subscribed, and the offset commits
/// its callbacks clear.
pub(super) fn subscribe(
    connector: &Connector,
    sink: &SinkConfig,
) -> Result<(StreamConsumer<SinkContext>, OffsetCommits, String), SinkError> {
    let name = connector.name.clone();
    let mut cfg = client_config(
        &connector.kafka,
        ClientKind::Other,
        &[
            ("group.id", wire::consumer_group(&name)),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("isolation.level", "read_committed"),
            ("topic.metadata.refresh.interval.ms", "5000"),
            ("statistics.interval.ms", "5000"),
            ("allow.auto.create.topics", "false"),
            // A sink that died (kill -9) holds its partitions until its
            // session expires; a short session hands them over sooner.
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "2000"),
            // Longest pause between polls: a batch commit or a compaction.
            ("max.poll.interval.ms", "120000"),
        ],
    );
    cfg.set("group.id", wire::consumer_group(&name));
    // Static membership (KIP-345): a sink restarted under the same instance
    // id takes its partitions back at once instead of waiting for the dead
    // member's session to expire. Two sinks on one host need different ids.
    // An empty BINLAKE_SINK_INSTANCE turns static membership off.
    let instance =
        std::env::var("BINLAKE_SINK_INSTANCE").unwrap_or_else(|_| default_instance(&name));
    if !instance.is_empty() && sink.partitions == PartitionMode::Group {
        cfg.set("group.instance.id", instance.as_str());
    }
    let commit_in_flight = Arc::new(AtomicBool::new(false));
    let offsets = OffsetCommits::new(COMMIT_EVERY, commit_in_flight.clone());
    let consumer: StreamConsumer<SinkContext> = cfg
        .create_with_context(SinkContext {
            commit_in_flight,
            starts: DeltaStarts {
                name: name.clone(),
                sink: sink.clone(),
                refused: std::sync::Mutex::new(None),
            },
            started: std::sync::Mutex::new(Vec::new()),
        })
        .map_err(|e| SinkError::Kafka(format!("cannot create the consumer: {e}")))?;
    let pattern = wire::table_topic_pattern(&name);
    if sink.partitions == PartitionMode::Group {
        consumer
            .subscribe(&[pattern.as_str()])
            .map_err(|e| SinkError::Kafka(format!("cannot subscribe to {pattern}: {e}")))?;
    }
    Ok((consumer, offsets, pattern))
}

const COMMIT_EVERY: Duration = Duration::from_secs(1);
