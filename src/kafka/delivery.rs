//! The source producer's delivery reports without a future per record:
//! change records are counted as the broker settles them (acknowledged or
//! refused, the first refusal kept), and the writer waits on the count; the
//! few records whose sender waits for that one record (positions,
//! heartbeats, the transaction probe) carry a channel.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::IntoOpaque;
use rdkafka::ClientContext;
use tokio::sync::{oneshot, Notify};

/// librdkafka's framing of one record in a batch, roughly (varint lengths,
/// offsets and timestamps deltas), for sizing the writer's window in bytes.
const RECORD_OVERHEAD: u64 = 24;
/// How long a record whose sender waits for it may wait for queue room.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(60);

/// The source's producer.
pub type CountingProducer = ThreadedProducer<Deliveries>;

/// What the window counts for one record.
pub fn record_bytes(key: Option<&[u8]>, payload: Option<&[u8]>) -> u64 {
    RECORD_OVERHEAD + key.map_or(0, |k| k.len() as u64) + payload.map_or(0, |p| p.len() as u64)
}

/// How a record's delivery is reported.
pub enum Ack {
    /// Counted in [`Settled`].
    Counted,
    /// Sent to its sender, who waits for it.
    Waiting(Box<oneshot::Sender<Result<(), Refusal>>>),
}

impl IntoOpaque for Ack {
    fn into_ptr(self) -> *mut c_void {
        match self {
            Ack::Counted => std::ptr::null_mut(),
            Ack::Waiting(tx) => Box::into_raw(tx).cast(),
        }
    }

    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        if ptr.is_null() {
            Ack::Counted
        } else {
            // SAFETY: a non-null opaque is only ever made by `into_ptr` from
            // a `Waiting` box, and librdkafka hands it back exactly once.
            Ack::Waiting(unsafe { Box::from_raw(ptr.cast()) })
        }
    }
}

/// A record the broker or librdkafka refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub topic: String,
    pub error: RdError,
    /// Key and value bytes.
    pub size: usize,
}

/// Counts of settled change records, shared with the producer's polling
/// thread.
pub struct Settled {
    records: AtomicU64,
    bytes: AtomicU64,
    /// The waiting writer is woken once both counts reach these.
    wake_records: AtomicU64,
    wake_bytes: AtomicU64,
    refused: AtomicBool,
    first_refusal: Mutex<Option<Refusal>>,
    notify: Notify,
}

impl Default for Settled {
    fn default() -> Self {
        Settled {
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            wake_records: AtomicU64::new(u64::MAX),
            wake_bytes: AtomicU64::new(u64::MAX),
            refused: AtomicBool::new(false),
            first_refusal: Mutex::new(None),
            notify: Notify::new(),
        }
    }
}

impl Settled {
    /// Records and bytes settled so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.records.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }

    /// The first refusal, if any record was refused.
    pub fn refusal(&self) -> Option<Refusal> {
        if !self.refused.load(Ordering::SeqCst) {
            return None;
        }
        self.first_refusal
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Waits until at least `records` records and `bytes` bytes have
    /// settled, or a record was refused.
    pub async fn reach(&self, records: u64, bytes: u64) {
        self.wake_records.store(records, Ordering::SeqCst);
        self.wake_bytes.store(bytes, Ordering::SeqCst);
        loop {
            let (r, b) = self.counts();
            if (r >= records && b >= bytes) || self.refused.load(Ordering::SeqCst) {
                // Nobody waits now: the polling thread need not wake anyone.
                self.wake_records.store(u64::MAX, Ordering::SeqCst);
                return;
            }
            // A wake between the check and here leaves a permit: no loss.
            self.notify.notified().await;
        }
    }

    fn settle(&self, bytes: u64, refusal: Option<Refusal>) {
        if let Some(refusal) = refusal {
            let mut first = self.first_refusal.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = Some(refusal);
            }
            self.refused.store(true, Ordering::SeqCst);
        }
        let b = self.bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
        let r = self.records.fetch_add(1, Ordering::SeqCst) + 1;
        if (r >= self.wake_records.load(Ordering::SeqCst)
            && b >= self.wake_bytes.load(Ordering::SeqCst))
            || self.refused.load(Ordering::SeqCst)
        {
            self.notify.notify_one();
        }
    }
}

/// The producer's context: delivery reports as above, client errors to
/// the log like every other binlake client.
#[derive(Clone, Default)]
pub struct Deliveries {
    pub settled: Arc<Settled>,
}

impl ClientContext for Deliveries {
    fn error(&self, error: RdError, reason: &str) {
        crate::logging::kafka_client_error(&error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Ack;

    fn delivery(&self, result: &DeliveryResult<'_>, ack: Ack) {
        let (message, error) = match result {
            Ok(m) => (m, None),
            Err((e, m)) => (m, Some(e)),
        };
        let refusal = error.map(|e| Refusal {
            topic: message.topic().to_string(),
            error: e.clone(),
            size: message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len),
        });
        match ack {
            Ack::Counted => self
                .settled
                .settle(record_bytes(message.key(), message.payload()), refusal),
            Ack::Waiting(tx) => {
                let _ = tx.send(refusal.map_or(Ok(()), Err));
            }
        }
    }
}

/// Sends one record and waits until the broker has it (or refused it).
/// A full local queue is waited out, up to a minute.
pub async fn send_and_wait(
    producer: &CountingProducer,
    topic: &str,
    key: &[u8],
    payload: &[u8],
    partition: i32,
) -> Result<(), Refusal> {
    let (tx, rx) = oneshot::channel();
    let mut record = BaseRecord::with_opaque_to(topic, Ack::Waiting(Box::new(tx)))
        .key(key)
        .payload(payload)
        .partition(partition);
    let deadline = Instant::now() + QUEUE_TIMEOUT;
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if Instant::now() < deadline =>
            {
                record = back;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err((error, _)) => {
                return Err(Refusal {
                    topic: topic.to_string(),
                    error,
                    size: key.len() + payload.len(),
                })
            }
        }
    }
    rx.await.unwrap_or_else(|_| {
        Err(Refusal {
            topic: topic.to_string(),
            error: RdError::Canceled,
            size: key.len() + payload.len(),
        })
    })
}

#[cfg(test)]
mod tests {
    use rdkafka::config::ClientConfig;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::Producer;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    use super::*;

    fn producer(brokers: &str) -> CountingProducer {
        ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("message.timeout.ms", "5000")
            .create_with_context(Deliveries::default())
            .expect("producer")
    }

    /// Queues one counted record.
    fn send_counted(p: &CountingProducer, key: &[u8], value: &[u8], partition: i32) {
        p.send(
            BaseRecord::with_opaque_to("t", Ack::Counted)
                .key(key)
                .payload(value)
                .partition(partition),
        )
        .map_err(|(e, _)| e)
        .expect("queued");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counts_every_record_and_its_bytes() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("t", 2, 1).expect("topic");
        let p = producer(&cluster.bootstrap_servers());
        let settled = p.context().settled.clone();
        let mut bytes = 0;
        for i in 0..1000u32 {
            let key = i.to_be_bytes();
            let value = vec![7u8; (i % 50) as usize];
            bytes += record_bytes(Some(&key), Some(&value));
            send_counted(&p, &key, &value, (i % 2) as i32);
        }
        tokio::time::timeout(Duration::from_secs(20), settled.reach(1000, bytes))
            .await
            .expect("all 1000 settle");
        assert_eq!(settled.counts(), (1000, bytes));
        assert!(settled.refusal().is_none());
        // A record whose sender waits is not counted.
        send_and_wait(&p, "t", b"k", b"v", 0)
            .await
            .expect("acknowledged");
        assert_eq!(settled.counts(), (1000, bytes));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_record_wakes_the_writer_with_its_topic() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("t", 1, 1).expect("topic");
        let p = producer(&cluster.bootstrap_servers());
        let settled = p.context().settled.clone();
        cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
        );
        send_counted(&p, b"k", b"v", 0);
        // Waiting for more than was sent returns on the refusal.
        tokio::time::timeout(Duration::from_secs(20), settled.reach(2, 0))
            .await
            .expect("woken by the refusal");
        let refusal = settled.refusal().expect("refused");
        assert_eq!(refusal.topic, "t");
        assert_eq!(refusal.size, 2);
        assert_eq!(settled.counts().0, 1);
        p.flush(Duration::from_secs(5)).expect("flush");
    }
}
