//! A table's upkeep between batches: compaction of small and mostly
//! deleted files (VACUUM is in `vacuum`).

use deltalake::arrow::compute::interleave_record_batch;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;

use super::files::FileBuilder;
use super::keys::FileKeys;
use super::{remove_of, LiveFile, TableError, TableTarget};
use crate::clock::now_ms;

/// Files with fewer rows than this are merged by [`TableTarget::compact`].
pub const SMALL_FILE_ROWS: u64 = 256 * 1024;
/// Rows per file written by compaction.
pub const TARGET_FILE_ROWS: usize = 1024 * 1024;
/// Rows gathered into one Arrow batch while a compaction writes a file.
const WRITE_SLICE_ROWS: usize = 64 * 1024;

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
    /// Memory is bounded by the rows read: files are taken until their
    /// live rows reach one output file's worth (the rest wait for the next
    /// run), held once as read, and the output is streamed from them in key
    /// order a slice at a time, never concatenated or sorted as a copy.
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
        let mut parts = Vec::new();
        for &i in &chosen {
            parts.extend(self.live_rows_of(i, &schema).await?);
        }
        let enc = self.keys.as_ref().expect("index built");
        let keys = parts
            .iter()
            .map(|p| enc.encode(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<(u32, u32)> = keys
            .iter()
            .enumerate()
            .flat_map(|(p, k)| (0..k.num_rows() as u32).map(move |r| (p as u32, r)))
            .collect();
        let key_of = |&(p, r): &(u32, u32)| keys[p as usize].row(r as usize);
        order.sort_unstable_by(|a, b| key_of(a).cmp(&key_of(b)));

        let now = now_ms();
        let mut actions: Vec<Action> = chosen
            .iter()
            .map(|&i| Action::Remove(remove_of(&self.files[i].add, false, now)))
            .collect();
        let sources: Vec<&RecordBatch> = parts.iter().collect();
        let mut written = Vec::new();
        // Equal shares, so a run over the file size leaves no small tail.
        let files = order.len().div_ceil(self.compact_rows).max(1);
        let per_file = order.len().div_ceil(files).max(1);
        for file_rows in order.chunks(per_file) {
            let mut out = FileBuilder::new(schema.clone())?;
            let mut file_keys = FileKeys::default();
            for slice in file_rows.chunks(WRITE_SLICE_ROWS) {
                let idx: Vec<(usize, usize)> = slice
                    .iter()
                    .map(|&(p, r)| (p as usize, r as usize))
                    .collect();
                // The output's index comes from the sort's keys, in order.
                for (n, at) in slice.iter().enumerate() {
                    file_keys.push_in_order(key_of(at).as_ref(), (out.rows() + n) as u32);
                }
                out.write(&interleave_record_batch(&sources, &idx)?)?;
            }
            let rows = out.rows() as u64;
            let add = self.put_data_file(out, false).await?;
            actions.push(Action::Add(add.clone()));
            written.push(LiveFile::indexed(add, rows, file_keys));
        }
        drop(sources);
        drop(parts);
        drop(keys);
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
