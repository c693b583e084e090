//! Every name binlake puts on the wire: topics, record keys, record headers,
//! schema subjects, Delta `txn` app ids, the sink's consumer group and the
//! Kafka `transactional.id`.
//!
//! Users' tools and other teams' consumers depend on these names, and
//! docs/contract.md lists them, so they are built in this one module and
//! nowhere else. The tests below pin each one: a test failing when a name
//! changes is the point, since such a change breaks readers outside binlake.

use std::ffi::CStr;

/// The Kafka topic of a table: `{name}.{db}.{table}`, characters Kafka
/// rejects in a topic name replaced by `_` (as Debezium's topic naming does).
pub fn table_topic(name: &str, db: &str, table: &str) -> String {
    let raw = format!("{name}.{db}.{table}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The database and table parts of pipeline `name`'s table topic, or `None`
/// when `topic` is not one: `{name}.{db}.{table}` with non-empty parts and no
/// further dot. Databases and tables whose names hold a dot cannot be told
/// from a longer pipeline name, so they are not counted.
pub fn split_table_topic<'t>(name: &str, topic: &'t str) -> Option<(&'t str, &'t str)> {
    topic
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.split_once('.'))
        .filter(|(db, table)| !db.is_empty() && !table.is_empty() && !table.contains('.'))
}

/// Whether `topic` is one of pipeline `name`'s table topics (see
/// [`split_table_topic`]); the same set [`table_topic_pattern`] matches.
pub fn is_table_topic(name: &str, topic: &str) -> bool {
    split_table_topic(name, topic).is_some()
}

/// The regular expression the sink subscribes with: every table topic of
/// pipeline `name`, including those created later.
pub fn table_topic_pattern(name: &str) -> String {
    format!("^{}\\.[^.]+\\.[^.]+$", name.replace('.', "\\."))
}

/// The compacted topic holding the source position, snapshot progress and
/// heartbeats: `{name}.offsets`.
pub fn offsets_topic(name: &str) -> String {
    format!("{name}.offsets")
}

/// The key of the source position in [`offsets_topic`]: the pipeline name.
pub fn position_key(name: &str) -> String {
    name.to_owned()
}

/// The key of the source's heartbeats in [`offsets_topic`]: no topic of
/// their own, since a topic appearing makes pattern subscribers rebalance.
pub fn heartbeat_key(name: &str) -> String {
    format!("{name}.heartbeat")
}

/// The key of the record the source writes in one transaction at start to
/// learn whether the broker takes transactions.
pub fn transaction_probe_key(name: &str) -> String {
    format!("{name}.transaction-probe")
}

/// The topic `binlake snapshot` writes its requests to: `{name}.signals`.
pub fn signals_topic(name: &str) -> String {
    format!("{name}.signals")
}

/// The topic of records the sink cannot apply: `{name}.dlq`.
pub fn dlq_topic(name: &str) -> String {
    format!("{name}.dlq")
}

/// The sink's consumer group, whose committed offsets `status` reports:
/// the pipeline name.
pub fn consumer_group(name: &str) -> &str {
    name
}

/// A sink's static group member id (`group.instance.id`) when
/// `BINLAKE_SINK_INSTANCE` does not name one: `{name}-sink-{host}`.
pub fn sink_instance_id(name: &str, host: &str) -> String {
    format!("{name}-sink-{host}")
}

/// The Kafka `transactional.id` of the source's producer: `{name}-source`.
pub fn transactional_id(name: &str) -> String {
    format!("{name}-source")
}

/// The app id of a Delta `txn` action: the last offset of one topic
/// partition applied to the table, `{name}-{topic}-{partition}`.
pub fn delta_app_id(name: &str, topic: &str, partition: i32) -> String {
    format!("{name}-{topic}-{partition}")
}

/// TopicNameStrategy subject of a topic's keys: `{topic}-key`.
pub fn key_subject(topic: &str) -> String {
    format!("{topic}-key")
}

/// TopicNameStrategy subject of a topic's values: `{topic}-value`.
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// A header name as librdkafka's C API takes it (NUL-terminated, so the
/// source hands it over without a copy per record); the `&str` constants
/// below are the same names.
pub type HeaderName = &'static CStr;

const fn text(name: HeaderName) -> &'static str {
    match name.to_str() {
        Ok(s) => s,
        Err(_) => panic!("header names are ASCII"),
    }
}

/// A change record's place in the binlog, `fileseq:pos:index:part`.
pub const ORDER_HEADER_C: HeaderName = c"binlake.order";
pub const ORDER_HEADER: &str = text(ORDER_HEADER_C);
/// The server identity a change was read from.
pub const SERVER_HEADER_C: HeaderName = c"binlake.server";
pub const SERVER_HEADER: &str = text(SERVER_HEADER_C);
/// The GTID of a change's transaction (with GTIDs).
pub const GTID_HEADER_C: HeaderName = c"binlake.gtid";
pub const GTID_HEADER: &str = text(GTID_HEADER_C);
/// The GTID state after a change's transaction (with GTIDs).
pub const GTIDS_HEADER_C: HeaderName = c"binlake.gtids";
pub const GTIDS_HEADER: &str = text(GTIDS_HEADER_C);
/// A backfill marker (JSON) on a record with a null key and value.
pub const BACKFILL_HEADER_C: HeaderName = c"binlake.backfill";
pub const BACKFILL_HEADER: &str = text(BACKFILL_HEADER_C);
/// On a truncate record: how many partitions the truncate went to (the sink
/// waits for all of them).
pub const TRUNCATE_PARTITIONS_HEADER_C: HeaderName = c"binlake.truncate.partitions";
pub const TRUNCATE_PARTITIONS_HEADER: &str = text(TRUNCATE_PARTITIONS_HEADER_C);

/// Dead letters: why the record could not be applied (one of the
/// `DLQ_REASON_*` values).
pub const ERROR_REASON_HEADER: &str = "binlake.error.reason";
/// Dead letters: the error in words.
pub const ERROR_MESSAGE_HEADER: &str = "binlake.error.message";
/// Dead letters: the topic the record was read from.
pub const ERROR_TOPIC_HEADER: &str = "binlake.error.topic";
/// Dead letters: the partition the record was read from.
pub const ERROR_PARTITION_HEADER: &str = "binlake.error.partition";
/// Dead letters: the offset the record was read at.
pub const ERROR_OFFSET_HEADER: &str = "binlake.error.offset";

/// [`ERROR_REASON_HEADER`] of a record that is not Confluent Avro binlake
/// can decode.
pub const DLQ_REASON_UNDECODABLE: &str = "undecodable";
/// [`ERROR_REASON_HEADER`] of a record whose schema its table cannot take.
pub const DLQ_REASON_INCOMPATIBLE_SCHEMA: &str = "incompatible-schema";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert_eq!(
            table_topic("shop", "inventory", "orders"),
            "shop.inventory.orders"
        );
        assert_eq!(table_topic("shop", "my-db", "9lives"), "shop.my-db.9lives");
        assert_eq!(table_topic("shop", "a$b", "ü"), "shop.a_b._");
        assert_eq!(offsets_topic("shop"), "shop.offsets");
        assert_eq!(signals_topic("shop"), "shop.signals");
        assert_eq!(dlq_topic("shop"), "shop.dlq");
    }

    #[test]
    fn keys_and_ids() {
        assert_eq!(position_key("shop"), "shop");
        assert_eq!(heartbeat_key("shop"), "shop.heartbeat");
        assert_eq!(transaction_probe_key("shop"), "shop.transaction-probe");
        assert_eq!(transactional_id("shop"), "shop-source");
        assert_eq!(consumer_group("shop"), "shop");
        assert_eq!(sink_instance_id("shop", "db1"), "shop-sink-db1");
        assert_eq!(
            delta_app_id("shop", "shop.inventory.orders", 3),
            "shop-shop.inventory.orders-3"
        );
        assert_eq!(key_subject("shop.a.b"), "shop.a.b-key");
        assert_eq!(value_subject("shop.a.b"), "shop.a.b-value");
    }

    #[test]
    fn headers() {
        assert_eq!(ORDER_HEADER, "binlake.order");
        assert_eq!(SERVER_HEADER, "binlake.server");
        assert_eq!(GTID_HEADER, "binlake.gtid");
        assert_eq!(GTIDS_HEADER, "binlake.gtids");
        assert_eq!(BACKFILL_HEADER, "binlake.backfill");
        assert_eq!(TRUNCATE_PARTITIONS_HEADER, "binlake.truncate.partitions");
        assert_eq!(ERROR_REASON_HEADER, "binlake.error.reason");
        assert_eq!(ERROR_MESSAGE_HEADER, "binlake.error.message");
        assert_eq!(ERROR_TOPIC_HEADER, "binlake.error.topic");
        assert_eq!(ERROR_PARTITION_HEADER, "binlake.error.partition");
        assert_eq!(ERROR_OFFSET_HEADER, "binlake.error.offset");
        assert_eq!(DLQ_REASON_UNDECODABLE, "undecodable");
        assert_eq!(DLQ_REASON_INCOMPATIBLE_SCHEMA, "incompatible-schema");
    }

    #[test]
    fn table_topics_are_told_from_the_others() {
        assert!(is_table_topic("shop", "shop.inventory.orders"));
        assert_eq!(
            split_table_topic("shop", "shop.inventory.orders"),
            Some(("inventory", "orders"))
        );
        assert!(is_table_topic("shop.eu", "shop.eu.inventory.orders"));
        assert!(!is_table_topic("shop", "shop.offsets"));
        assert!(!is_table_topic("shop", "shop.dlq"));
        assert!(!is_table_topic("shop", "shop.signals"));
        assert!(!is_table_topic("shop", "shop.a.b.c"));
        assert!(!is_table_topic("shop", "shop..orders"));
        assert!(!is_table_topic("shop", "shop.inventory."));
        assert!(!is_table_topic("shop", "shopx.inventory.orders"));
        assert!(!is_table_topic("shop", "other.inventory.orders"));
    }

    #[test]
    fn pattern() {
        assert_eq!(table_topic_pattern("shop"), "^shop\\.[^.]+\\.[^.]+$");
        assert_eq!(
            table_topic_pattern("shop.eu"),
            "^shop\\.eu\\.[^.]+\\.[^.]+$"
        );
    }
}
