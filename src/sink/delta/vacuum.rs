//! VACUUM that keeps a lake clean: every file no version within the
//! retention references is deleted, deletion-vector files included, and a
//! file some version within the retention references never is.
//!
//! delta-rs's VACUUM deletes only the data files named by expired `remove`
//! actions: deletion-vector files (one per batch here) and files no log
//! entry names would pile up for ever. This one works from what versions
//! reference instead. With `C` = now − retention and `v0` the newest
//! version committed at or before `C` (the one a reader asking for time
//! `C` gets), the versions within the retention are `v0..=current`. A file
//! (or its deletion vector) that one of them references is
//!  - active in `v0`, or active now, or
//!  - added by a commit after `v0`: such a file was written after `C`
//!    (less the time a write takes before its commit, hence `slack`).
//!
//! So a file neither active in `v0` nor now, written before `C − slack`, is
//! referenced by no version within the retention: it is deleted. A file
//! written before that but never committed (a crashed writer's) goes too.
//! The retention must exceed the longest write (a commit, a compaction),
//! as Delta's own VACUUM requires.

use std::collections::HashSet;
use std::time::Duration;

use deltalake::kernel::Add;
use deltalake::{DeltaTableError, ObjectMeta, Path};
use futures_util::{stream, StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

use super::{dv, storage, TableError, TableTarget};

/// Longest time between writing a file and committing it that VACUUM
/// allows for beyond the retention.
const MAX_SLACK: Duration = Duration::from_secs(600);

/// What one VACUUM did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vacuumed {
    /// Files deleted.
    pub deleted: usize,
    /// Data and deletion-vector files left in the table's directory.
    pub remaining: usize,
}

impl TableTarget {
    /// Deletes the files no version younger than `retention` references.
    pub async fn vacuum(&mut self, retention: Duration) -> Result<usize, TableError> {
        Ok(self.vacuum_files(retention).await?.deleted)
    }

    /// [`vacuum`](Self::vacuum), reporting the files left as well.
    pub async fn vacuum_files(&mut self, retention: Duration) -> Result<Vacuumed, TableError> {
        if self.state.is_none() {
            return Ok(Vacuumed::default());
        }
        let err = |e: DeltaTableError| TableError::delta(&self.uri, e);
        self.table.update_state().await.map_err(err)?;
        let current = self.table.version().unwrap_or(0);
        let store = self.table.object_store();
        let now = chrono::Utc::now();
        let slack = retention.min(MAX_SLACK);
        let before = |t: chrono::DateTime<chrono::Utc>, d: Duration| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| t.checked_sub_signed(d))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        };
        let cutoff = before(now, retention);
        let oldest_kept_write = before(cutoff, slack);

        let listed = store.list_with_delimiter(None).await?;
        let ours: Vec<ObjectMeta> = listed
            .objects
            .into_iter()
            .filter(|o| is_table_file(&o.location))
            .collect();
        let candidates: Vec<&ObjectMeta> = ours
            .iter()
            .filter(|o| o.last_modified < oldest_kept_write)
            .collect();
        if candidates.is_empty() {
            return Ok(Vacuumed {
                deleted: 0,
                remaining: ours.len(),
            });
        }

        let mut keep: HashSet<String> = HashSet::new();
        let adds: Vec<Add> = self
            .table
            .snapshot()
            .map_err(err)?
            .log_data()
            .iter()
            .map(|v| v.add_action())
            .collect();
        referenced(&adds, &mut keep)?;
        let Some(v0) = self.version_at(cutoff, current).await? else {
            // Every version is younger than the retention.
            return Ok(Vacuumed {
                deleted: 0,
                remaining: ours.len(),
            });
        };
        if v0 < current {
            let old = storage::builder(&self.uri, &self.storage)
                .map_err(err)?
                .with_version(v0 as _)
                .load()
                .await
                .map_err(|e| {
                    TableError::delta(
                        &self.uri,
                        DeltaTableError::Generic(format!(
                            "VACUUM needs version {v0}, the one current at the start of the retention, \
                             and cannot read it ({e}); keep the log longer than vacuum_retention \
                             (delta.logRetentionDuration)"
                        )),
                    )
                })?;
            let adds: Vec<Add> = old
                .snapshot()
                .map_err(err)?
                .log_data()
                .iter()
                .map(|v| v.add_action())
                .collect();
            referenced(&adds, &mut keep)?;
        }

        let doomed: Vec<Path> = candidates
            .iter()
            .filter(|o| !keep.contains(o.location.as_ref()))
            .map(|o| o.location.clone())
            .collect();
        let deleted = stream::iter(doomed.into_iter().map(|p| {
            let store = store.clone();
            async move {
                match store.delete(&p).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(1usize),
                    Err(e) => Err(e),
                }
            }
        }))
        .buffer_unordered(16)
        .try_fold(0usize, |n, d| async move { Ok(n + d) })
        .await?;
        Ok(Vacuumed {
            deleted,
            remaining: ours.len() - deleted,
        })
    }

    /// The newest version committed at or before `cutoff` (by its log
    /// entry's time), or `None` when all are younger. Log entries are
    /// written in version order, so a binary search over `0..=current`
    /// finds it; an entry already cleaned from the log counts as old.
    async fn version_at(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
        current: u64,
    ) -> Result<Option<u64>, TableError> {
        let store = self.table.object_store();
        let old = |v: u64| {
            let store = store.clone();
            async move {
                let p = Path::from(format!("_delta_log/{v:020}.json"));
                match store.head(&p).await {
                    Ok(m) => Ok(m.last_modified <= cutoff),
                    Err(object_store::Error::NotFound { .. }) => Ok(true),
                    Err(e) => Err(e),
                }
            }
        };
        if !old(0).await? {
            return Ok(None);
        }
        if old(current).await? {
            return Ok(Some(current));
        }
        // old(lo) and !old(hi)
        let (mut lo, mut hi) = (0u64, current);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if old(mid).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Some(lo))
    }
}

/// Data files and deletion-vector files at the table's root; the log and
/// anything hidden or foreign is never touched.
fn is_table_file(p: &Path) -> bool {
    let name = p.as_ref();
    if name.contains('/') || name.starts_with('_') || name.starts_with('.') {
        return false;
    }
    name.ends_with(".parquet") || (name.starts_with("deletion_vector_") && name.ends_with(".bin"))
}

/// Adds the files `adds` name (data file and deletion vector) to `keep`.
fn referenced(adds: &[Add], keep: &mut HashSet<String>) -> Result<(), TableError> {
    for a in adds {
        keep.insert(Path::from(a.path.as_str()).as_ref().to_owned());
        if let Some(d) = &a.deletion_vector {
            if d.storage_type == deltalake::kernel::StorageType::UuidRelativePath {
                keep.insert(dv::relative_path(d)?);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::arrow::record_batch::RecordBatch;

    fn files_in(dir: &std::path::Path) -> HashSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| is_table_file(&Path::from(n.as_str())))
            .collect()
    }

    async fn referenced_at(loc: &str, version: Option<u64>) -> HashSet<String> {
        let uri = super::super::table_url(loc).unwrap();
        let b = storage::builder(&uri, &Default::default()).unwrap();
        let b = match version {
            Some(v) => b.with_version(v as _),
            None => b,
        };
        let t = b.load().await.unwrap();
        let adds: Vec<Add> = t
            .snapshot()
            .unwrap()
            .log_data()
            .iter()
            .map(|v| v.add_action())
            .collect();
        let mut keep = HashSet::new();
        referenced(&adds, &mut keep).unwrap();
        keep
    }

    /// Batches updating the same keys (a data file and a deletion vector
    /// each), then a VACUUM: what the retention's oldest version and the
    /// current one use stays, everything older goes.
    #[tokio::test]
    async fn vacuum_keeps_exactly_what_versions_in_the_retention_use() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("t");
        let loc = loc.to_str().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let mut t = TableTarget::open(loc).await.unwrap();
        t.create(schema.clone(), true).await.unwrap();
        let key = vec!["id".to_string()];
        // Round 0 writes ten keys; each later round replaces two of them,
        // so older files get deletion vectors rather than go away.
        let batch = |round: i64| {
            let ids: Vec<i64> = if round == 0 {
                (0..10).collect()
            } else {
                vec![round % 10, (round + 3) % 10]
            };
            let names: Vec<String> = ids.iter().map(|i| format!("{i} at {round}")).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(names)),
                ],
            )
            .unwrap()
        };
        for round in 0..6 {
            t.apply(
                &key,
                &batch(round),
                &[false; 10][..batch(round).num_rows()],
                vec![],
                None,
            )
            .await
            .unwrap();
        }
        // Old enough for a 2 s retention (+ 2 s slack), then newer batches.
        tokio::time::sleep(Duration::from_millis(4500)).await;
        let v0 = t.version().unwrap() as u64;
        let old = files_in(dir.path().join("t").as_path());
        for round in 6..9 {
            t.apply(
                &key,
                &batch(round),
                &[false; 10][..batch(round).num_rows()],
                vec![],
                None,
            )
            .await
            .unwrap();
        }
        let before = files_in(dir.path().join("t").as_path());
        let keep_v0 = referenced_at(loc, Some(v0)).await;
        let keep_now = referenced_at(loc, None).await;
        let done = t.vacuum_files(Duration::from_secs(2)).await.unwrap();
        let after = files_in(dir.path().join("t").as_path());
        // Versions v0..=current still have every file they reference.
        assert!(keep_v0.is_subset(&after), "{keep_v0:?} vs {after:?}");
        assert!(keep_now.is_subset(&after));
        // Everything else written before v0 went, deletion vectors too.
        assert!(done.deleted > 0 && done.remaining == after.len());
        let gone: HashSet<_> = before.difference(&after).cloned().collect();
        assert!(
            gone.iter().any(|f| f.starts_with("deletion_vector_")),
            "{gone:?}"
        );
        assert!(gone
            .iter()
            .all(|f| !keep_v0.contains(f) && !keep_now.contains(f)));
        // Files of the three newer batches are younger than the cutoff.
        let young: HashSet<_> = before.difference(&old).cloned().collect();
        assert!(!young.is_empty() && young.is_subset(&after));
        assert_eq!(
            t.scan()
                .await
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>(),
            10
        );

        // Nothing older than the retention: nothing deleted.
        let again = t.vacuum_files(Duration::from_secs(3600)).await.unwrap();
        assert_eq!(again.deleted, 0);
        // A zero retention keeps the current version's files only.
        let last = t.vacuum_files(Duration::ZERO).await.unwrap();
        let now = files_in(dir.path().join("t").as_path());
        assert_eq!(now, referenced_at(loc, None).await, "{last:?}");
    }

    #[test]
    fn only_root_data_and_dv_files_are_candidates() {
        assert!(is_table_file(&Path::from("part-00000-x-c000.zstd.parquet")));
        assert!(is_table_file(&Path::from("deletion_vector_ab.bin")));
        assert!(!is_table_file(&Path::from(
            "_delta_log/00000000000000000001.json"
        )));
        assert!(!is_table_file(&Path::from(".binlake-check-1")));
        assert!(!is_table_file(&Path::from("notes.txt")));
        assert!(!is_table_file(&Path::from("x=1/part-0.parquet")));
    }
}
