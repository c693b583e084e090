//! The apply path: one batch of row images becomes one commit. The rows it
//! replaces or deletes are found through the key index and marked in
//! deletion vectors (or, on a table without them, their files rewritten);
//! the batch's new images go to one new file; the consumed offsets ride in
//! the same commit as `txn` actions.

use std::collections::BTreeMap;

use delta_kernel::engine::arrow_conversion::TryFromArrow;
use deltalake::arrow::array::UInt32Array;
use deltalake::arrow::compute::{concat_batches, take_record_batch};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{Action, Add, MetadataExt, StructType, Transaction};
use deltalake::protocol::DeltaOperation;
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTableError, Path};
use object_store::ObjectStoreExt;
use roaring::RoaringTreemap;

use super::dv::DvFile;
use super::{files, remove_of, Applied, LiveFile, TableError, TableTarget};
use crate::clock::now_ms;

/// Rows a batch replaces or deletes: row positions per file index.
type Marks = BTreeMap<usize, RoaringTreemap>;
/// Files rewritten without their marked rows (`None`: nothing was left).
type Rewrites = Vec<(usize, Option<(Add, RecordBatch)>)>;
/// Each touched file's merged deletion vector, and its new `add` (`None`:
/// every row is deleted, the file is gone).
type Marked = (Vec<(usize, RoaringTreemap)>, Vec<(usize, Option<Add>)>);

impl TableTarget {
    /// Applies `images` (rows in table schema, in change order) as one
    /// commit: for each key the last row wins; a row whose `hard_delete` is
    /// set removes the key, any other replaces or inserts it. `txns` and a
    /// widened `new_schema` land in the same commit.
    pub async fn apply(
        &mut self,
        key: &[String],
        images: &RecordBatch,
        hard_delete: &[bool],
        txns: Vec<Transaction>,
        new_schema: Option<SchemaRef>,
    ) -> Result<Applied, TableError> {
        self.apply_with(key, images, hard_delete, txns, new_schema, false)
            .await
    }

    /// [`Self::apply`] after a TRUNCATE when `truncate`: the same commit
    /// first removes every file.
    pub async fn apply_with(
        &mut self,
        key: &[String],
        images: &RecordBatch,
        hard_delete: &[bool],
        txns: Vec<Transaction>,
        new_schema: Option<SchemaRef>,
        truncate: bool,
    ) -> Result<Applied, TableError> {
        let Some(state) = self.state.clone() else {
            return Err(TableError::delta(
                &self.uri,
                DeltaTableError::Generic("table not created".into()),
            ));
        };
        if let Some(s) = &new_schema {
            self.schema = Some(s.clone());
        }
        let now = now_ms();
        let mut actions: Vec<Action> = Vec::new();
        // A truncate removes every file; they need no key index. (On a
        // failed commit the caller re-reads the table.)
        if truncate {
            for f in self.files.drain(..) {
                actions.push(Action::Remove(remove_of(&f.add, true, now)));
            }
        }
        self.ensure_index(key).await?;
        let enc = self.keys.as_ref().expect("index built");
        let rows = enc.encode(images)?;

        // The last change of every key, in key order.
        let mut last: BTreeMap<&[u8], usize> = BTreeMap::new();
        for i in 0..images.num_rows() {
            last.insert(rows.row(i).data(), i);
        }
        let (marks, replaced) = self.marks_of(last.keys().copied());

        let upserts: Vec<u32> = last
            .values()
            .filter(|&&i| !hard_delete[i])
            .map(|&i| i as u32)
            .collect();
        let deleted = last.len() - upserts.len();
        if let Some(s) = &new_schema {
            actions.push(self.metadata_with(&state, s)?);
        }
        let mut new_file = None;
        if !upserts.is_empty() {
            let batch = take_record_batch(images, &UInt32Array::from(upserts))?;
            let add = self.write_data_file(&batch, true).await?;
            actions.push(Action::Add(add.clone()));
            new_file = Some((add, batch));
        }
        let (rewrites, (merged, new_adds)) = if self.uses_deletion_vectors() {
            (Vec::new(), self.mark_rows(&marks, now, &mut actions).await?)
        } else {
            let rewrites = self.rewrite_without(&marks, now, &mut actions).await?;
            (rewrites, (Vec::new(), Vec::new()))
        };

        let op = DeltaOperation::Merge {
            predicate: None,
            merge_predicate: Some(format!("key({})", key.join(", "))),
            matched_predicates: vec![],
            not_matched_predicates: vec![],
            not_matched_by_source_predicates: vec![],
        };
        let props = CommitProperties::default().with_application_transactions(txns);
        let finalized = self.commit_once(&state, actions, op, props).await?;
        let version = finalized.version() as i64;

        self.mirror(&merged, new_adds, rewrites, new_file)?;
        self.state = Some(finalized.snapshot());
        Ok(Applied {
            version,
            upserted: last.len() - deleted,
            deleted,
            replaced,
            files_touched: marks.len(),
        })
    }

    /// The live rows holding one of `keys`, per file, and how many.
    fn marks_of<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> (Marks, usize) {
        let mut marks = Marks::new();
        let mut replaced = 0usize;
        for k in keys {
            for (fi, f) in self.files.iter().enumerate() {
                let Some(fk) = &f.keys else { continue };
                match (fk.min(), fk.max()) {
                    (Some(lo), Some(hi)) if k >= lo && k <= hi => {}
                    _ => continue,
                }
                for r in fk.find(k) {
                    let r = u64::from(r);
                    if !f.dv.contains(r) && marks.entry(fi).or_default().insert(r) {
                        replaced += 1;
                    }
                }
            }
        }
        (marks, replaced)
    }

    /// The table's metadata with a widened schema.
    pub(super) fn metadata_with(
        &self,
        state: &DeltaTableState,
        s: &SchemaRef,
    ) -> Result<Action, TableError> {
        let delta_schema = StructType::try_from_arrow(s.as_ref())
            .map_err(|e| TableError::delta(&self.uri, DeltaTableError::Arrow { source: e }))?;
        let md = state
            .metadata()
            .clone()
            .with_schema(&delta_schema)
            .map_err(|e| TableError::delta(&self.uri, e.into()))?;
        Ok(Action::Metadata(md))
    }

    /// Without deletion vectors, every touched file is rewritten without
    /// the rows the batch replaces or deletes.
    async fn rewrite_without(
        &self,
        marks: &Marks,
        now: i64,
        actions: &mut Vec<Action>,
    ) -> Result<Rewrites, TableError> {
        let schema = self.schema.clone().expect("table has a schema");
        let mut rewrites = Rewrites::new();
        for (fi, m) in marks {
            let parts = self.rows_without(*fi, m, &schema).await?;
            let rest = concat_batches(&schema, &parts)?;
            actions.push(Action::Remove(remove_of(&self.files[*fi].add, true, now)));
            if rest.num_rows() == 0 {
                rewrites.push((*fi, None));
                continue;
            }
            let add = self.write_data_file(&rest, true).await?;
            actions.push(Action::Add(add.clone()));
            rewrites.push((*fi, Some((add, rest))));
        }
        Ok(rewrites)
    }

    /// New deletion vectors: one file for every file touched.
    async fn mark_rows(
        &self,
        marks: &Marks,
        now: i64,
        actions: &mut Vec<Action>,
    ) -> Result<Marked, TableError> {
        let mut merged: Vec<(usize, RoaringTreemap)> = Vec::new();
        for (fi, m) in marks {
            let mut dv = self.files[*fi].dv.clone();
            dv |= m;
            merged.push((*fi, dv));
        }
        let partial: Vec<&RoaringTreemap> = merged
            .iter()
            .filter(|(fi, dv)| dv.len() < self.files[*fi].rows)
            .map(|(_, dv)| dv)
            .collect();
        let dv_file = if partial.is_empty() {
            None
        } else {
            let f = DvFile::write(&partial)?;
            self.table
                .object_store()
                .put(&Path::from(f.path().as_str()), f.bytes().to_vec().into())
                .await?;
            Some(f)
        };
        let mut next_dv = 0usize;
        let mut new_adds: Vec<(usize, Option<Add>)> = Vec::new();
        for (fi, dv) in &merged {
            let old = &self.files[*fi].add;
            actions.push(Action::Remove(remove_of(old, true, now)));
            if dv.len() < self.files[*fi].rows {
                let d = dv_file.as_ref().expect("written above").descriptors()[next_dv].clone();
                next_dv += 1;
                let mut add = old.clone();
                add.deletion_vector = Some(d);
                add.stats = files::loosen_stats(old.stats.as_deref()).or(add.stats);
                add.modification_time = now;
                add.data_change = true;
                actions.push(Action::Add(add.clone()));
                new_adds.push((*fi, Some(add)));
            } else {
                new_adds.push((*fi, None));
            }
        }
        Ok((merged, new_adds))
    }

    /// The commit is the truth now; mirror it in memory.
    fn mirror(
        &mut self,
        merged: &[(usize, RoaringTreemap)],
        new_adds: Vec<(usize, Option<Add>)>,
        rewrites: Rewrites,
        new_file: Option<(Add, RecordBatch)>,
    ) -> Result<(), TableError> {
        for (fi, add) in new_adds.iter().rev() {
            match add {
                Some(a) => {
                    let f = &mut self.files[*fi];
                    f.add = a.clone();
                    f.dv = merged
                        .iter()
                        .find(|(i, _)| i == fi)
                        .map(|(_, d)| d.clone())
                        .unwrap_or_default();
                }
                None => {
                    self.files[*fi].rows = 0;
                }
            }
        }
        let enc = self.keys.as_ref().expect("index built");
        for (fi, new) in rewrites {
            match new {
                Some((add, batch)) => self.files[fi] = LiveFile::written(add, &batch, enc)?,
                None => self.files[fi].rows = 0,
            }
        }
        self.files.retain(|f| f.rows > 0);
        if let Some((add, batch)) = new_file {
            self.files.push(LiveFile::written(add, &batch, enc)?);
        }
        Ok(())
    }
}
