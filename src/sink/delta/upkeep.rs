//! A table's upkeep between batches: compaction of small and mostly
//! deleted files (VACUUM is in `vacuum`).

use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;

use super::{remove_of, LiveFile, TableError, TableTarget};
use crate::clock::now_ms;

/// Files with fewer rows than this are merged by [`TableTarget::compact`].
pub const SMALL_FILE_ROWS: u64 = 256 * 1024;
/// Rows per file written by compaction.
pub const TARGET_FILE_ROWS: usize = 1024 * 1024;

impl TableTarget {
    /// Whether [`compact`](Self::compact) has work: eight small files, or a
    /// large file with more than a third of its rows deleted. (Small files
    /// wait for the first rule, so small tables are not rewritten per batch.)
    pub fn needs_compaction(&self) -> bool {
        let small = self
            .files
            .iter()
            .filter(|f| f.rows < SMALL_FILE_ROWS)
            .count();
        small >= 8 || self.files.iter().any(mostly_deleted)
    }

    /// Rewrites small and mostly-deleted files into files of about
    /// [`TARGET_FILE_ROWS`] (see `set_compaction_rows`) sorted by key,
    /// without changing the data (`dataChange: false`).
    ///
    /// Files are taken until their live rows reach one output file's worth
    /// (the rest wait for the next run) and merged by key (see `merge`):
    /// files in key order are read as streams, so memory follows the
    /// number of files and the output's compressed size, not the rows.
    pub async fn compact(&mut self, key: &[String]) -> Result<Option<i64>, TableError> {
        let Some(state) = self.state.clone() else {
            return Ok(None);
        };
        let Some(schema) = self.schema.clone() else {
            return Ok(None);
        };
        let chosen = self.compaction_inputs();
        if chosen.is_empty() {
            return Ok(None);
        }
        self.ensure_index(key).await?;
        let now = now_ms();
        let mut actions: Vec<Action> = chosen
            .iter()
            .map(|&i| Action::Remove(remove_of(&self.files[i].add, false, now)))
            .collect();
        let written = self.merge_files(&chosen, &schema, &mut actions).await?;
        let op = DeltaOperation::Optimize {
            predicate: None,
            target_size: self.compact_rows as i64,
        };
        let finalized = self
            .commit_once(&state, actions, op, CommitProperties::default())
            .await?;
        let mut i = 0;
        self.files.retain(|_| {
            let keep = chosen.binary_search(&i).is_err();
            i += 1;
            keep
        });
        self.files.extend(written);
        self.state = Some(finalized.snapshot());
        Ok(Some(finalized.version() as i64))
    }

    /// The files the next compaction rewrites, in table order: the mostly
    /// deleted ones and, when there are eight or more, the small ones,
    /// until their live rows reach the compaction size.
    fn compaction_inputs(&self) -> Vec<usize> {
        let small: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.files[i].rows < SMALL_FILE_ROWS)
            .collect();
        let mut candidates: Vec<usize> = (0..self.files.len())
            .filter(|&i| mostly_deleted(&self.files[i]))
            .collect();
        if small.len() >= 8 {
            candidates.extend(small);
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut chosen = Vec::new();
        let mut live = 0u64;
        for i in candidates {
            if live >= self.compact_rows as u64 {
                break;
            }
            live += self.files[i].live_rows();
            chosen.push(i);
        }
        chosen
    }
}

fn mostly_deleted(f: &LiveFile) -> bool {
    f.rows >= SMALL_FILE_ROWS && f.dv.len() * 3 > f.rows
}
