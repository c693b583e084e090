//! Table schemas and change events as Debezium-compatible Avro.
//!
//! - [`names`]: a table's (sanitised) Avro names and topic;
//! - [`schema`]: a table's key schema and value envelope schema;
//! - [`encode`]: events as Avro binary, written directly (the hot path);
//! - [`value`]: events as `apache_avro` values (generic API, cross-checks);
//! - [`wire`]: Confluent framing (magic byte, schema id);
//! - [`registry_client`]: registering schemas in a Confluent-compatible registry;
//! - [`codec`]: per table version, registered schemas plus framed encoding.

pub mod codec;
pub mod encode;
pub mod names;
pub mod registry_client;
pub mod schema;
pub mod value;
pub mod wire;

pub use codec::{CodecCache, CodecError, TableCodec};
pub use encode::EncodeError;
pub use names::{topic_name, NameError, TableNames};
pub use registry_client::{RegistryClient, RegistryClientError};
pub use schema::{SchemaError, TableAvroSchemas};
pub use wire::WireError;
