//! binlake: change data capture from the MySQL/MariaDB binlog, through Kafka
//! (Avro, Confluent Schema Registry), into Delta Lake tables.
//!
//! The data flows source → events → Kafka → sink → Delta; each stage lives in
//! its own module:
//! - [`source`]: reads the binlog and turns row events into [`event::ChangeEvent`]s;
//! - [`event`]: the shared language, free of MySQL and Kafka types;
//! - [`avro`]: table schemas and change events as Debezium-compatible Avro;
//! - [`kafka`]: the transport: client settings, topics, producer, heartbeats
//!   (the source's records and position: [`source::kafka`]);
//! - [`sink`]: Kafka records applied to Delta tables, exactly once;
//! - [`registry`]: the embedded Confluent-compatible schema registry;
//! - [`config`]: the connector file;
//! - [`metrics`]: Prometheus metrics and health endpoints;
//! - [`wire`]: every topic, key, header and id name binlake writes, which
//!   users' tools and other teams depend on (docs/contract.md lists them).

pub mod avro;
pub mod backfill;
pub mod clock;
pub mod config;
pub mod event;
pub mod kafka;
pub mod logging;
pub mod metrics;
pub mod preflight;
pub mod registry;
pub mod schemas;
pub mod sink;
pub mod source;
pub mod status;
pub mod verify;
pub mod wire;
