//! The source's side of Kafka: change events written to their table topics
//! in binlog order, each exactly once across restarts (partition tails read
//! back, see [`resume`]), and the source position kept in `{name}.offsets`.

pub mod offsets;
pub mod resume;
mod tails;
pub mod writer;
