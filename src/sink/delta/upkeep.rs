//! A table's upkeep between batches: compaction of small and mostly
//! deleted files (VACUUM is in `vacuum`).

use deltalake::arrow::array::UInt32Array;
use deltalake::arrow::compute::{concat_batches, take_record_batch};
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

    /// Rewrites small and mostly-deleted files into files of
    /// [`TARGET_FILE_ROWS`] sorted by key, without changing the data
    /// (`dataChange: false`).
    pub async fn compact(&mut self, key: &[String]) -> Result<Option<i64>, TableError> {
        let Some(state) = self.state.clone() else {
            return Ok(None);
        };
        let Some(schema) = self.schema.clone() else {
            return Ok(None);
        };
        let small: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.files[i].rows < SMALL_FILE_ROWS)
            .collect();
        let mut chosen: Vec<usize> = (0..self.files.len())
            .filter(|&i| mostly_deleted(&self.files[i]))
            .collect();
        if small.len() >= 8 {
            chosen.extend(small);
        }
        chosen.sort_unstable();
        chosen.dedup();
        if chosen.is_empty() {
            return Ok(None);
        }
        self.ensure_index(key).await?;
        let mut parts = Vec::new();
        for &i in &chosen {
            parts.extend(self.live_rows_of(i, &schema).await?);
        }
        let all = concat_batches(&schema, &parts)?;
        let enc = self.keys.as_ref().expect("index built");
        let rows = enc.encode(&all)?;
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        order.sort_unstable_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)));
        let sorted = take_record_batch(&all, &UInt32Array::from(order))?;

        let now = now_ms();
        let mut actions: Vec<Action> = chosen
            .iter()
            .map(|&i| Action::Remove(remove_of(&self.files[i].add, false, now)))
            .collect();
        let mut written = Vec::new();
        let mut start = 0;
        while start < sorted.num_rows() {
            let len = TARGET_FILE_ROWS.min(sorted.num_rows() - start);
            let chunk = sorted.slice(start, len);
            start += len;
            let add = self.write_data_file(&chunk, false).await?;
            actions.push(Action::Add(add.clone()));
            written.push((add, chunk));
        }
        let op = DeltaOperation::Optimize {
            predicate: None,
            target_size: TARGET_FILE_ROWS as i64,
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
        for (add, chunk) in written {
            self.files.push(LiveFile::written(add, &chunk, enc)?);
        }
        self.state = Some(finalized.snapshot());
        Ok(Some(finalized.version() as i64))
    }
}

fn mostly_deleted(f: &LiveFile) -> bool {
    f.rows >= SMALL_FILE_ROWS && f.dv.len() * 3 > f.rows
}
