//! The wall clock binlake stamps and measures with: milliseconds since the
//! Unix epoch, as MySQL's commit times and Kafka's timestamps are.

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
