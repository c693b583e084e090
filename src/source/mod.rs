//! Reads the MySQL/MariaDB binlog and turns row events into change events.
//!
//! - [`runner`]: the source task (start position, reconnects, shutdown);
//! - [`connect`]: connection options from the connector file;
//! - [`server`]: what the server says about itself, by version and dialect;
//! - [`binlog`]: one replication connection, verified events;
//! - [`stream`]: events → change events and commit points;
//! - [`catalog`]: captured tables and their cached decoders;
//! - [`decode`]: row images → values, per the type mapping;
//! - [`position`]: resume points and the order of changes;
//! - [`snapshot`]: existing rows, merged into the stream by watermarks;
//! - [`kafka`]: change events into their table topics, once each, and the
//!   stored position;
//! - [`table_life`]: tables created, dropped or renamed while it runs;
//! - [`keyset`]: reading a table in primary-key chunks.

pub mod binlog;
pub mod catalog;
pub mod charset;
pub mod column_meta;
pub mod connect;
pub mod continuity;
pub mod cursor;
pub mod decimal;
pub mod decode;
pub mod defaults;
mod error;
pub mod gtid;
pub mod jsonb;
pub mod kafka;
pub mod keyset;
pub mod order;
pub mod position;
pub mod runner;
pub mod server;
pub mod snapshot;
pub mod statement;
pub mod stream;
pub mod table_life;
pub mod table_map;
pub mod temporal;
pub mod value;
pub mod xa;

pub use error::SourceError;
