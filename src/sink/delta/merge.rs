//! Compaction's merge: the live rows of several files written out as new
//! files in key order, a slice at a time.
//!
//! Every file's key index already lists its keys in order with their row
//! positions, so the output order is known before any data is read. A file
//! whose rows are in key order (every file binlake writes: batches go out
//! in key order, compaction writes in key order) is then read as a stream
//! of small chunks, and memory no longer follows the rows merged; only a
//! file from another writer, in no particular order, is held whole.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use deltalake::arrow::compute::{concat_batches, interleave_record_batch};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::Action;
use deltalake::parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStream};
use deltalake::parquet::arrow::ParquetRecordBatchStreamBuilder;
use deltalake::DeltaTableError;
use futures_util::TryStreamExt;
use roaring::RoaringTreemap;
use url::Url;

use super::files::FileBuilder;
use super::keys::FileKeys;
use super::{conform, LiveFile, TableError, TableTarget};

/// Rows gathered into one Arrow batch before it goes to the file writer.
const WRITE_SLICE_ROWS: usize = 64 * 1024;
/// Most rows decoded at a time from a key-ordered input.
const CHUNK_ROWS: usize = 8 * 1024;

/// One file being merged: its keys in order, and its rows.
struct Input<'a> {
    keys: &'a FileKeys,
    dv: &'a RoaringTreemap,
    /// The next entry of `keys` not yet written and not deleted.
    next: usize,
    rows: Rows,
}

enum Rows {
    /// A file in no key order, read whole: row `r` is row `r` here.
    Whole(RecordBatch),
    /// A key-ordered file read in chunks; `chunk` holds rows from `start`.
    Stream {
        stream: Box<ParquetRecordBatchStream<ParquetObjectReader>>,
        chunk: RecordBatch,
        start: usize,
    },
}

impl<'a> Input<'a> {
    /// The next live (key, row position), if any.
    fn head(&self) -> Option<(&'a [u8], u32)> {
        (self.next < self.keys.len()).then(|| self.keys.entry(self.next))
    }

    fn skip_deleted(&mut self) {
        while let Some((_, r)) = self.head() {
            if !self.dv.contains(u64::from(r)) {
                break;
            }
            self.next += 1;
        }
    }

    fn current(&self) -> &RecordBatch {
        match &self.rows {
            Rows::Whole(b) => b,
            Rows::Stream { chunk, .. } => chunk,
        }
    }

    /// Where row `r` is in [`current`](Self::current), or `None` when the
    /// stream must move on to a later chunk first.
    fn locate(&self, r: usize) -> Option<usize> {
        match &self.rows {
            Rows::Whole(_) => Some(r),
            Rows::Stream { chunk, start, .. } => {
                (r >= *start && r < start + chunk.num_rows()).then(|| r - start)
            }
        }
    }

    /// Moves a stream to its next chunk.
    async fn advance(&mut self, schema: &SchemaRef, uri: &Url) -> Result<(), TableError> {
        let Rows::Stream {
            stream,
            chunk,
            start,
        } = &mut self.rows
        else {
            return Ok(());
        };
        let Some(next) = stream.try_next().await? else {
            return Err(TableError::delta(
                uri,
                DeltaTableError::Generic("a data file has fewer rows than its key index".into()),
            ));
        };
        *start += chunk.num_rows();
        *chunk = conform(&next, schema)?;
        Ok(())
    }
}

impl TableTarget {
    /// Writes the live rows of files `chosen` in key order into new files
    /// of equal shares of at most `compact_rows` rows, pushing their `add`
    /// actions onto `actions`; returns the new files, indexed.
    pub(super) async fn merge_files(
        &self,
        chosen: &[usize],
        schema: &SchemaRef,
        actions: &mut Vec<Action>,
    ) -> Result<Vec<LiveFile>, TableError> {
        let mut inputs = Vec::with_capacity(chosen.len());
        // A sixteenth of an output file at most, so what is held per input
        // stays a small share of the output even when files are small.
        let chunk_rows = (self.compact_rows / 16).clamp(1, CHUNK_ROWS);
        let mut live = 0usize;
        for &i in chosen {
            let f = &self.files[i];
            let keys = f.keys.as_ref().expect("index built before merging");
            let rows = if keys.in_row_order() {
                let stream = ParquetRecordBatchStreamBuilder::new(self.reader(&f.add))
                    .await?
                    .with_batch_size(chunk_rows)
                    .build()?;
                Rows::Stream {
                    stream: Box::new(stream),
                    chunk: RecordBatch::new_empty(schema.clone()),
                    start: 0,
                }
            } else {
                Rows::Whole(self.whole_file(i, schema).await?)
            };
            let mut input = Input {
                keys,
                dv: &f.dv,
                next: 0,
                rows,
            };
            input.skip_deleted();
            live += f.live_rows() as usize;
            inputs.push(input);
        }
        let mut heap: BinaryHeap<Reverse<(&[u8], usize)>> = inputs
            .iter()
            .enumerate()
            .filter_map(|(p, inp)| inp.head().map(|(k, _)| Reverse((k, p))))
            .collect();

        // Equal shares, so a run over the file size leaves no small tail.
        let files = live.div_ceil(self.compact_rows).max(1);
        let per_file = live.div_ceil(files).max(1);
        let mut written = Vec::with_capacity(files);
        let mut out = self.file_builder(schema.clone())?;
        let mut out_keys = FileKeys::default();
        // (input, row in its current batch) of rows not yet written.
        let mut pending: Vec<(usize, usize)> = Vec::with_capacity(WRITE_SLICE_ROWS);
        while let Some(Reverse((key, p))) = heap.pop() {
            let (_, r) = inputs[p].head().expect("an input in the heap has a head");
            let at = loop {
                if let Some(at) = inputs[p].locate(r as usize) {
                    break at;
                }
                // The chunk about to be replaced may hold pending rows.
                write_pending(&mut out, &inputs, &mut pending)?;
                inputs[p].advance(schema, &self.uri).await?;
            };
            out_keys.push_in_order(key, (out.rows() + pending.len()) as u32);
            pending.push((p, at));
            inputs[p].next += 1;
            inputs[p].skip_deleted();
            if let Some((k, _)) = inputs[p].head() {
                heap.push(Reverse((k, p)));
            }
            if pending.len() >= WRITE_SLICE_ROWS {
                write_pending(&mut out, &inputs, &mut pending)?;
            }
            if out.rows() + pending.len() >= per_file || heap.is_empty() {
                write_pending(&mut out, &inputs, &mut pending)?;
                let full = std::mem::replace(&mut out, self.file_builder(schema.clone())?);
                let rows = full.rows() as u64;
                let add = self.put_data_file(full, false).await?;
                actions.push(Action::Add(add.clone()));
                written.push(LiveFile::indexed(add, rows, std::mem::take(&mut out_keys)));
            }
        }
        Ok(written)
    }

    /// Every row of file `i`, deleted ones included, as one batch.
    async fn whole_file(&self, i: usize, schema: &SchemaRef) -> Result<RecordBatch, TableError> {
        let mut stream = ParquetRecordBatchStreamBuilder::new(self.reader(&self.files[i].add))
            .await?
            .build()?;
        let mut parts = Vec::new();
        while let Some(b) = stream.try_next().await? {
            parts.push(conform(&b, schema)?);
        }
        Ok(concat_batches(schema, &parts)?)
    }
}

fn write_pending(
    out: &mut FileBuilder,
    inputs: &[Input<'_>],
    pending: &mut Vec<(usize, usize)>,
) -> Result<(), TableError> {
    if pending.is_empty() {
        return Ok(());
    }
    let sources: Vec<&RecordBatch> = inputs.iter().map(Input::current).collect();
    out.write(&interleave_record_batch(&sources, pending)?)?;
    pending.clear();
    Ok(())
}
