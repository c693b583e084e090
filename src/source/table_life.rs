//! Tables that appear or vanish under captured names while the source
//! runs. The stream reads the statements (`CREATE`, `DROP`, `RENAME`,
//! `ALTER ... RENAME`, `DROP DATABASE`); this module decides what each one
//! means for the pipeline and says so in the log:
//!
//! - a **created** table is streamed from its first row on: the binlog
//!   holds every row it ever had (`CREATE ... AS SELECT` logs its rows as
//!   row events), so it needs no snapshot, and a snapshot still queued for
//!   it (planned at start, before the stream reached the `CREATE`) is
//!   called off;
//! - a table **renamed in** from a name not captured (or from another
//!   captured name) brings rows the binlog never showed under this name:
//!   it is snapshotted, its chunks giving way to the rows the stream
//!   carries from the rename on;
//! - a **dropped** or **renamed-away** table is logged; its topic and
//!   Delta table are kept, its snapshot jobs called off.
//!
//! A table that appears under a name whose topic held an earlier table
//! starts with a truncate event, so the Delta table restarts empty as the
//! MySQL table did.

use super::order::RecordPlace;
use super::snapshot::merge::SnapshotMerge;
use super::snapshot::Job;
use super::SourceError;
use crate::config::SnapshotMode;
use crate::event::ChangeEvent;
use crate::source::kafka::writer::ChangeWriter;

/// What a statement did to a captured name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Life {
    /// `CREATE TABLE`; with `IF NOT EXISTS` the table may have been there.
    Created {
        if_not_exists: bool,
    },
    /// Renamed from `from` into this captured name.
    RenamedIn {
        from: String,
    },
    Dropped,
    /// Renamed to `to` (captured or not).
    RenamedAway {
        to: String,
    },
    /// `DROP DATABASE`: `table` is the database.
    DatabaseDropped,
}

/// One captured name's change, in binlog order.
#[derive(Debug)]
pub struct TableChange {
    /// `db.table` (the database alone for [`Life::DatabaseDropped`]).
    pub table: String,
    pub life: Life,
    /// For a table that appears: a truncate event in the statement's
    /// transaction, written when the name held an earlier table.
    pub truncate: Option<(Box<ChangeEvent>, RecordPlace)>,
}

/// Applies `change` at the stream's current point `at` (`file:pos`); true
/// when the stored snapshot progress changed.
pub async fn apply(
    change: TableChange,
    at: &(String, u64),
    mode: SnapshotMode,
    snapshot: &mut SnapshotMerge,
    writer: &mut ChangeWriter,
) -> Result<bool, SourceError> {
    let TableChange {
        table,
        life,
        truncate,
    } = change;
    match life {
        Life::Dropped | Life::RenamedAway { .. } => {
            let cancelled = snapshot.cancel_table(&table);
            snapshot.state.done.remove(&table);
            snapshot.state.gone.insert(table.clone());
            let what = match &life {
                Life::RenamedAway { to } => format!("renamed to {to}"),
                _ => "dropped".to_string(),
            };
            tracing::warn!(
                table = %table,
                snapshot_jobs_called_off = cancelled.len(),
                "captured table {what}: no more changes are read under this name; its topic and \
                 Delta table are kept as they are"
            );
        }
        Life::DatabaseDropped => {
            let prefix = format!("{table}.");
            let known: Vec<String> = snapshot
                .state
                .done
                .iter()
                .chain(snapshot.state.jobs.iter().map(|j| &j.table))
                .filter(|t| t.starts_with(&prefix))
                .cloned()
                .collect();
            for t in known {
                snapshot.cancel_table(&t);
                snapshot.state.done.remove(&t);
                snapshot.state.gone.insert(t.clone());
                tracing::warn!(table = %t, "captured table dropped with its database: no more \
                    changes are read under this name; its topic and Delta table are kept as they are");
            }
        }
        Life::Created { if_not_exists } => {
            // With IF NOT EXISTS the table may have been there all along:
            // only a name binlake saw vanish is surely new.
            let surely_new = snapshot.state.gone.remove(&table) || !if_not_exists;
            if !surely_new {
                let known = snapshot.state.done.contains(&table)
                    || snapshot.state.jobs.iter().any(|j| j.table == table);
                if known {
                    tracing::debug!(table = %table, "CREATE TABLE IF NOT EXISTS of a captured table: nothing changes");
                    return Ok(false);
                }
                snapshot.state.done.insert(table.clone());
                tracing::info!(table = %table, "captured table created (IF NOT EXISTS): streaming its rows");
                return Ok(true);
            }
            let cancelled = snapshot.cancel_table(&table);
            snapshot.state.done.insert(table.clone());
            tracing::info!(
                table = %table,
                queued_snapshot_called_off = !cancelled.is_empty(),
                "captured table created: streaming every row from its creation on (no snapshot needed)"
            );
            write_truncate(truncate, snapshot, writer).await?;
        }
        Life::RenamedIn { from } => {
            snapshot.state.gone.remove(&table);
            let id = format!("initial:{table}@{}:{}", at.0, at.1);
            if snapshot.state.jobs.iter().any(|j| j.id == id) {
                // Read again after a restart: the stored progress already
                // has this rename's job (and Kafka its truncate, skipped).
                write_truncate(truncate, snapshot, writer).await?;
                snapshot.watch_since(&id, &table);
                tracing::info!(table = %table, from = %from, job = %id, "table renamed into the capture (read again after a restart): its snapshot goes on");
                return Ok(false);
            }
            snapshot.cancel_table(&table);
            write_truncate(truncate, snapshot, writer).await?;
            snapshot.state.done.remove(&table);
            if mode == SnapshotMode::Never {
                tracing::warn!(
                    table = %table, from = %from,
                    "table renamed into the capture: its rows from now on are streamed; with \
                     snapshot = \"never\" its existing rows are not read (run `binlake snapshot \
                     --table {table}` to read them)"
                );
            } else {
                let job = Job {
                    id,
                    appeared: true,
                    ..Job::initial(table.clone())
                };
                tracing::info!(
                    table = %table, from = %from, job = %job.id,
                    "table renamed into the capture: snapshotting its rows while streaming its changes"
                );
                snapshot.add_appeared(job);
            }
        }
    }
    Ok(true)
}

/// Writes the truncate that empties what an earlier table of the name left
/// in Kafka and Delta (nothing when the name never had a schema).
async fn write_truncate(
    truncate: Option<(Box<ChangeEvent>, RecordPlace)>,
    snapshot: &mut SnapshotMerge,
    writer: &mut ChangeWriter,
) -> Result<(), SourceError> {
    if let Some((event, place)) = truncate {
        snapshot.observe(&event);
        writer.write(&event, &place).await?;
    }
    Ok(())
}
