//! Change records produced through a topic handle librdkafka resolved once.
//!
//! rdkafka's `send` names the topic on every call: a C string is allocated
//! for it and librdkafka looks the topic up by name under its client lock,
//! per record, on the source's one decoding thread (bench/README.md). A
//! [`TopicHandle`] is resolved when the writer first writes the topic and
//! hands librdkafka its `rd_kafka_topic_t` instead, with the record's
//! headers in the same call.
//! Delivery reports come back through the producer's context as for any
//! other record: the record carries
//! [`Ack::Counted`](super::delivery::Ack::Counted)'s null opaque.

use std::ffi::{c_void, CStr, CString};
use std::ptr::NonNull;

use rdkafka::bindings as rd;
use rdkafka::error::KafkaError as RdError;
use rdkafka::types::RDKafkaErrorCode;

use super::delivery::CountingProducer;

/// Most headers a change record carries (order, three for the
/// transaction's mark, one for a backfill marker or a truncate).
pub const MAX_HEADERS: usize = 5;
/// The entries of every call before the headers: topic, partition, flags,
/// value, key, timestamp.
const FIELDS: usize = 6;

/// A topic librdkafka resolved for this producer.
pub struct TopicHandle {
    rkt: NonNull<rd::rd_kafka_topic_t>,
    /// Keeps librdkafka's client alive while the handle is: the handle is
    /// destroyed first (`Drop`), the client with the last producer clone.
    producer: CountingProducer,
}

// SAFETY: librdkafka's topic handles may be used from any thread; the
// handle is only read after creation.
unsafe impl Send for TopicHandle {}
unsafe impl Sync for TopicHandle {}

/// One change record for [`TopicHandle::produce`].
pub struct Record<'a> {
    pub partition: i32,
    /// `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    pub timestamp_ms: i64,
    pub headers: &'a [(&'static CStr, &'a [u8])],
}

impl TopicHandle {
    /// Resolves `topic` for `producer` with the client's default topic
    /// settings, as producing by name does.
    pub fn new(producer: &CountingProducer, topic: &str) -> Result<Self, RdError> {
        let name = CString::new(topic)?;
        // SAFETY: the client pointer is live (we hold the producer); a null
        // configuration means the client's defaults.
        let rkt = unsafe {
            rd::rd_kafka_topic_new(
                rdkafka::producer::Producer::client(producer).native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        let rkt = NonNull::new(rkt).ok_or_else(|| {
            // SAFETY: reads this thread's last librdkafka error.
            let code = unsafe { rd::rd_kafka_last_error() };
            RdError::MessageProduction(code.into())
        })?;
        Ok(TopicHandle {
            rkt,
            producer: producer.clone(),
        })
    }

    /// Queues `record` (librdkafka copies key, value and headers), its
    /// delivery counted in the producer's `Settled`. On an error nothing
    /// was queued; `QueueFull` may be retried.
    pub fn produce(&self, record: &Record<'_>) -> Result<(), RDKafkaErrorCode> {
        assert!(
            record.headers.len() <= MAX_HEADERS,
            "a change record carries at most {MAX_HEADERS} headers"
        );
        let mem = |bytes: Option<&[u8]>| rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
            ptr: bytes.map_or(std::ptr::null_mut(), |b| b.as_ptr() as *mut c_void),
            size: bytes.map_or(0, <[u8]>::len),
        };
        let fixed: [_; FIELDS] = [
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_RKT, |u| {
                u.rkt = self.rkt.as_ptr()
            }),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_PARTITION, |u| {
                u.i32_ = record.partition
            }),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS, |u| {
                u.i = rd::RD_KAFKA_MSG_F_COPY
            }),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE, |u| {
                u.mem = mem(record.value)
            }),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY, |u| {
                u.mem = mem(record.key)
            }),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TIMESTAMP, |u| {
                u.i64_ = record.timestamp_ms
            }),
        ];
        let mut vus = [vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_END, |_| {}); FIELDS + MAX_HEADERS];
        vus[..FIELDS].copy_from_slice(&fixed);
        for (slot, (name, value)) in vus[FIELDS..].iter_mut().zip(record.headers) {
            *slot = vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADER, |u| {
                u.header = rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_2 {
                    name: name.as_ptr(),
                    val: value.as_ptr().cast(),
                    size: value.len() as isize,
                }
            });
        }
        let count = FIELDS + record.headers.len();
        // SAFETY: every pointer in `vus` lives until the call returns and
        // librdkafka copies what it keeps (RD_KAFKA_MSG_F_COPY; headers are
        // always copied). A null opaque is `Ack::Counted`.
        let error = unsafe {
            rd::rd_kafka_produceva(
                rdkafka::producer::Producer::client(&self.producer).native_ptr(),
                vus.as_ptr(),
                count,
            )
        };
        if error.is_null() {
            return Ok(());
        }
        // SAFETY: a non-null result is an error object we own.
        let code = unsafe {
            let code = rd::rd_kafka_error_code(error);
            rd::rd_kafka_error_destroy(error);
            code
        };
        Err(code.into())
    }
}

fn vu(
    vtype: rd::rd_kafka_vtype_t,
    set: impl FnOnce(&mut rd::rd_kafka_vu_s__bindgen_ty_1),
) -> rd::rd_kafka_vu_t {
    let mut u = rd::rd_kafka_vu_s__bindgen_ty_1 { _pad: [0; 64] };
    set(&mut u);
    rd::rd_kafka_vu_t { vtype, u }
}

impl Drop for TopicHandle {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_topic_new and destroyed once, while
        // the client is alive (`producer` drops after this).
        unsafe { rd::rd_kafka_topic_destroy(self.rkt.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{DefaultProducerContext, Producer};
    use rdkafka::ClientConfig;

    use super::*;
    use crate::kafka::delivery::Deliveries;

    /// A mock cluster with topic `t` of `partitions`, and a producer on it.
    fn cluster_with_topic(
        partitions: i32,
    ) -> (
        MockCluster<'static, DefaultProducerContext>,
        CountingProducer,
    ) {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("t", partitions, 1).expect("topic");
        let producer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create_with_context(Deliveries::default())
            .expect("producer");
        (cluster, producer)
    }

    /// A record produced through the handle arrives as sent: partition,
    /// key, value, timestamp and headers in order; a tombstone has no
    /// value; each delivery is counted.
    #[test]
    fn records_arrive_with_their_partition_key_value_timestamp_and_headers() {
        let (cluster, producer) = cluster_with_topic(2);
        let handle = TopicHandle::new(&producer, "t").expect("handle");
        let headers: [(&CStr, &[u8]); 2] = [(c"binlake.order", b"1:4:0:0"), (c"h2", b"")];
        let sent = [
            Record {
                partition: 1,
                key: Some(b"k1"),
                value: Some(b"v1"),
                timestamp_ms: 1_700_000_000_123,
                headers: &headers,
            },
            Record {
                partition: 1,
                key: Some(b"k1"),
                value: None,
                timestamp_ms: 1_700_000_000_124,
                headers: &headers[..1],
            },
        ];
        for r in &sent {
            handle.produce(r).expect("queued");
        }
        producer.flush(Duration::from_secs(10)).expect("flush");
        assert_eq!(producer.context().settled.counts().0, 2);
        assert!(producer.context().settled.refusal().is_none());

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", "g")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset("t", 1, rdkafka::Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while got.len() < 2 && std::time::Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.expect("message");
                let headers: Vec<(String, Vec<u8>)> = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                got.push((
                    m.partition(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                    m.timestamp().to_millis(),
                    headers,
                ));
            }
        }
        let want: Vec<_> = sent
            .iter()
            .map(|r| {
                (
                    r.partition,
                    r.key.map(<[u8]>::to_vec),
                    r.value.map(<[u8]>::to_vec),
                    Some(r.timestamp_ms),
                    r.headers
                        .iter()
                        .map(|(n, v)| (n.to_str().expect("ascii").to_string(), v.to_vec()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(got, want);
    }

    /// A partition the topic does not have is refused at once, nothing
    /// queued or counted.
    #[test]
    fn a_partition_the_topic_lacks_is_refused() {
        let (_cluster, producer) = cluster_with_topic(1);
        // The partition count is known once metadata arrived.
        producer
            .client()
            .fetch_metadata(Some("t"), Duration::from_secs(10))
            .expect("metadata");
        let handle = TopicHandle::new(&producer, "t").expect("handle");
        let record = Record {
            partition: 3,
            key: Some(b"k"),
            value: Some(b"v"),
            timestamp_ms: 0,
            headers: &[],
        };
        assert_eq!(
            handle.produce(&record),
            Err(RDKafkaErrorCode::UnknownPartition)
        );
        producer.flush(Duration::from_secs(5)).expect("flush");
        assert_eq!(producer.context().settled.counts().0, 0);
    }
}
