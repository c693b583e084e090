//! binlake's Rust integration tests, one binary: each links deltalake,
//! rdkafka and mysql_async, so one link instead of eight saves minutes per
//! build. One module per area; `cargo test --test it MODULE::` runs one.
//! Tests that need the servers expect `scripts/servers.sh start`.

mod avro_roundtrip;
mod avro_support;
mod config_check;
mod delta_target;
mod kafka_refusal;
mod kafka_txn;
mod kafka_writer;
mod mysql_tls;
mod registry_api;
mod registry_converter;
mod source_shutdown;
mod source_types;
