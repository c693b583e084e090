//! MySQL's answer to the commit-visibility race of watermark snapshots.
//!
//! MySQL writes a transaction to the binlog (and its dump thread may send
//! it) before the storage engine commits it. A chunk read in that instant
//! misses the transaction although the stream has already passed it; the
//! chunk, emitted later, would then overwrite the streamed newer value or
//! bring back a deleted row. MariaDB reports the snapshot's exact binlog
//! point, which rules this out; MySQL does not.
//!
//! MySQL adds a GTID to `@@gtid_executed` only once its transaction is
//! committed in the engine (the commit stage of the ordered commit). So:
//! the window records every change the stream passes from the moment it
//! opens; before the chunk's snapshot is taken, `@@gtid_executed` must
//! contain every GTID the stream had read when the window opened. Then each
//! transaction is either visible to the snapshot (read before the window:
//! now committed) or passed by the stream inside the window (its keys are
//! dropped from the chunk in favour of the stream's newer images).
//! Without GTIDs there is nothing to wait on, and the snapshot is refused.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::source::binlog::Flavour;
use crate::source::gtid::{GtidState, MysqlGtidSet};
use crate::source::SourceError;

/// How long a transaction may sit between binlog and engine commit before
/// the chunk read is retried later.
const WAIT: Duration = Duration::from_secs(10);

/// Returns once every transaction in `seen` is visible to a snapshot
/// started after this call (no-op on MariaDB).
pub async fn wait_visible(
    pool: &mysql_async::Pool,
    flavour: Flavour,
    seen: Option<&GtidState>,
) -> Result<(), SourceError> {
    if flavour == Flavour::MariaDb {
        return Ok(());
    }
    let Some(GtidState::Mysql(seen)) = seen else {
        return Err(SourceError::Snapshot(
            "snapshots on MySQL need GTIDs (gtid_mode=ON, enforce_gtid_consistency=ON): without \
             them binlake cannot prove a chunk never overwrites a newer streamed change. Enable \
             GTIDs, or set snapshot = \"never\""
                .into(),
        ));
    };
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let stmt = "SELECT @@GLOBAL.gtid_executed";
    let deadline = Instant::now() + WAIT;
    loop {
        let text: Option<String> = conn
            .query_first(stmt)
            .await
            .map_err(SourceError::query(stmt))?;
        let executed = MysqlGtidSet::parse(&text.unwrap_or_default().replace(['\n', ' '], ""))
            .ok_or_else(|| SourceError::Position("unreadable @@gtid_executed".into()))?;
        if seen.within(&executed) {
            return Ok(());
        }
        if Instant::now() > deadline {
            // Transient: the caller retries the chunk with backoff.
            return Err(SourceError::Binlog(format!(
                "transactions the binlog stream has read are still not committed after {WAIT:?} \
                 (read: {seen}; executed: {executed})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
