//! One Delta table kept equal to one source table.
//!
//! A batch is applied as one commit whose cost follows the batch, not the
//! table: the rows a batch replaces or deletes are found through per-file
//! key indexes and marked in deletion vectors, and the batch's new row
//! images go to one new file. Nothing already written is rewritten, except
//! by [`TableTarget::compact`], which merges small files and files mostly
//! deleted, on its own schedule. The consumed Kafka offsets commit in the
//! same commit as `txn` actions.

// delta-rs marks `add_action` and parquet its object-store reader as
// deprecated in favour of APIs not yet settled; they are what 1.1 offers.
#![allow(deprecated)]

mod apply;
pub mod dv;
mod error;
pub mod files;
pub mod keys;
mod merge;
pub mod probe;
pub mod progress;
mod repair;
pub mod storage;
mod upkeep;
mod vacuum;
pub mod widen;

pub use error::TableError;
pub use storage::StorageOptions;
pub use upkeep::{SMALL_FILE_ROWS, TARGET_FILE_ROWS};

use std::collections::HashMap;
use std::sync::Arc;

use delta_kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use deltalake::arrow::array::{Array, BooleanArray};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::{
    CommitBuilder, CommitProperties, FinalizedCommit, TransactionError,
};
use deltalake::kernel::{Action, Add, Remove, StructType};
use deltalake::parquet::arrow::async_reader::ParquetObjectReader;
use deltalake::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTable, DeltaTableError, Path};
use futures_util::TryStreamExt;
use object_store::ObjectStoreExt;
use roaring::RoaringTreemap;
use url::Url;

use self::keys::{FileKeys, KeyEncoder};

/// A live data file: its `add`, its deleted rows, and its key index.
struct LiveFile {
    add: Add,
    rows: u64,
    dv: RoaringTreemap,
    keys: Option<FileKeys>,
}

impl LiveFile {
    /// A file binlake has just written from `batch`: nothing deleted, its
    /// keys indexed from the batch rather than read back.
    fn written(add: Add, batch: &RecordBatch, enc: &KeyEncoder) -> Result<Self, ArrowError> {
        let mut keys = FileKeys::default();
        keys.append(&enc.encode(batch)?, 0);
        Ok(LiveFile::indexed(add, batch.num_rows() as u64, keys))
    }

    /// A file binlake has just written, of `rows` rows indexed by `keys`.
    fn indexed(add: Add, rows: u64, mut keys: FileKeys) -> Self {
        keys.shrink_to_fit();
        LiveFile {
            add,
            rows,
            dv: RoaringTreemap::new(),
            keys: Some(keys),
        }
    }

    fn live_rows(&self) -> u64 {
        self.rows.saturating_sub(self.dv.len())
    }
}

/// What one [`TableTarget::apply`] did.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub version: i64,
    pub upserted: usize,
    pub deleted: usize,
    /// Existing rows replaced or deleted (marked in deletion vectors).
    pub replaced: usize,
    pub files_touched: usize,
}

pub struct TableTarget {
    uri: Url,
    storage: StorageOptions,
    table: DeltaTable,
    state: Option<DeltaTableState>,
    schema: Option<SchemaRef>,
    files: Vec<LiveFile>,
    keys: Option<KeyEncoder>,
    /// Live rows a compaction reads and writes per file.
    compact_rows: usize,
}

pub fn table_url(location: &str) -> Result<Url, TableError> {
    let bad = || TableError::Location(location.to_owned());
    // `file://./x` and `file://x` are paths relative to the working directory.
    let relative_file = location
        .strip_prefix("file://")
        .filter(|rest| !rest.starts_with('/'));
    if let Some(rest) = relative_file {
        let p = std::path::absolute(rest).map_err(|_| bad())?;
        return Url::from_directory_path(p).map_err(|_| bad());
    }
    if location.contains("://") {
        let mut u = Url::parse(location).map_err(|_| bad())?;
        if !u.path().ends_with('/') {
            u.set_path(&format!("{}/", u.path()));
        }
        Ok(u)
    } else {
        let p = std::path::absolute(location).map_err(|_| bad())?;
        Url::from_directory_path(p).map_err(|_| bad())
    }
}

impl TableTarget {
    /// Opens the local table at `location`, or prepares to create it on
    /// the first commit.
    pub async fn open(location: &str) -> Result<Self, TableError> {
        Self::open_with(location, &StorageOptions::new()).await
    }

    /// Opens the table at `location` (a path or an object-store URL) with
    /// the `[sink.storage]` options, or prepares to create it.
    pub async fn open_with(location: &str, storage: &StorageOptions) -> Result<Self, TableError> {
        let uri = table_url(location)?;
        if uri.scheme() == "file" {
            if let Ok(p) = uri.to_file_path() {
                std::fs::create_dir_all(&p).map_err(|e| TableError::Delta {
                    uri: uri.to_string(),
                    source: Box::new(DeltaTableError::Generic(format!(
                        "cannot create directory: {e}"
                    ))),
                })?;
            }
        }
        let table = storage::builder(&uri, storage)
            .map_err(|e| TableError::delta(&uri, e))?
            .build()
            .map_err(|e| TableError::delta(&uri, e))?;
        let mut t = TableTarget {
            uri,
            storage: storage.clone(),
            table,
            state: None,
            schema: None,
            files: Vec::new(),
            keys: None,
            compact_rows: TARGET_FILE_ROWS,
        };
        t.reload().await?;
        Ok(t)
    }

    pub fn uri(&self) -> &Url {
        &self.uri
    }

    /// Re-reads the table from its log (after a conflict, or to start).
    pub async fn reload(&mut self) -> Result<(), TableError> {
        let exists = self
            .table
            .verify_deltatable_existence()
            .await
            .map_err(|e| TableError::delta(&self.uri, e))?;
        self.files.clear();
        self.state = None;
        self.schema = None;
        if !exists {
            return Ok(());
        }
        self.table
            .load()
            .await
            .map_err(|e| TableError::delta(&self.uri, e))?;
        let state = self
            .table
            .snapshot()
            .map_err(|e| TableError::delta(&self.uri, e))?
            .clone();
        let arrow: ArrowSchema = state
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| TableError::delta(&self.uri, DeltaTableError::Arrow { source: e }))?;
        self.schema = Some(Arc::new(arrow));
        let mut dv_files: HashMap<String, bytes::Bytes> = HashMap::new();
        let store = self.table.object_store();
        for view in state.log_data().iter() {
            let add = view.add_action();
            let rows = view.num_records().map(|n| n as u64);
            let rows = match rows {
                Some(n) => n,
                None => self.count_rows(&add).await?,
            };
            let mut dv = RoaringTreemap::new();
            if let Some(d) = &add.deletion_vector {
                let path = dv::relative_path(d)?;
                let bytes = match dv_files.get(&path) {
                    Some(b) => b.clone(),
                    None => {
                        let b = store.get(&Path::from(path.as_str())).await?.bytes().await?;
                        dv_files.insert(path.clone(), b.clone());
                        b
                    }
                };
                dv = dv::parse(&bytes, d)?;
            }
            self.files.push(LiveFile {
                add,
                rows,
                dv,
                keys: None,
            });
        }
        self.state = Some(state);
        Ok(())
    }

    async fn count_rows(&self, add: &Add) -> Result<u64, TableError> {
        let reader = self.reader(add);
        let b = ParquetRecordBatchStreamBuilder::new(reader).await?;
        Ok(b.metadata().file_metadata().num_rows() as u64)
    }

    fn reader(&self, add: &Add) -> ParquetObjectReader {
        ParquetObjectReader::new(self.table.object_store(), Path::from(add.path.as_str()))
            .with_file_size(add.size as u64)
    }

    /// Whether the table marks replaced rows in deletion vectors (its
    /// protocol has the feature) or rewrites the files holding them.
    pub fn uses_deletion_vectors(&self) -> bool {
        self.state.as_ref().is_some_and(|s| {
            s.protocol()
                .reader_features()
                .is_some_and(|f| f.iter().any(|x| x.to_string() == "deletionVectors"))
        })
    }

    pub fn exists(&self) -> bool {
        self.state.is_some()
    }

    pub fn version(&self) -> Option<i64> {
        self.state.as_ref().map(|s| s.version() as i64)
    }

    /// The table's columns as Arrow (None before the first commit).
    pub fn schema(&self) -> Option<&SchemaRef> {
        self.schema.as_ref()
    }

    /// Rows per file compaction writes, and live rows it reads a run
    /// (default [`TARGET_FILE_ROWS`]); smaller values bound its memory.
    pub fn set_compaction_rows(&mut self, rows: usize) {
        self.compact_rows = rows.max(1);
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    pub fn live_rows(&self) -> u64 {
        self.files.iter().map(LiveFile::live_rows).sum()
    }

    /// Bytes held by the key indexes.
    pub fn index_bytes(&self) -> usize {
        self.files
            .iter()
            .filter_map(|f| f.keys.as_ref())
            .map(FileKeys::heap_bytes)
            .sum()
    }

    /// The last offset recorded for `app_id` (`{name}-{topic}-{partition}`).
    pub async fn txn_version(&self, app_id: &str) -> Result<Option<i64>, TableError> {
        match &self.state {
            None => Ok(None),
            Some(s) => s
                .transaction_version(self.table.log_store().as_ref(), app_id)
                .await
                .map_err(|e| TableError::delta(&self.uri, e)),
        }
    }

    /// Creates the table with `schema`: protocol 3/7 with timestamp_ntz and,
    /// when `deletion_vectors`, deletion vectors (readers that lack them,
    /// such as pyarrow datasets, need `false`).
    pub async fn create(
        &mut self,
        schema: SchemaRef,
        deletion_vectors: bool,
    ) -> Result<(), TableError> {
        let delta_schema = StructType::try_from_arrow(schema.as_ref())
            .map_err(|e| TableError::delta(&self.uri, DeltaTableError::Arrow { source: e }))?;
        let features: &[&str] = if deletion_vectors {
            &["deletionVectors", "timestampNtz"]
        } else {
            &["timestampNtz"]
        };
        let protocol: deltalake::kernel::Protocol = serde_json::from_value(serde_json::json!({
            "minReaderVersion": 3,
            "minWriterVersion": 7,
            "readerFeatures": features,
            "writerFeatures": features,
        }))
        .map_err(|e| TableError::delta(&self.uri, DeltaTableError::Generic(e.to_string())))?;
        let config: &[(&str, &str)] = if deletion_vectors {
            &[("delta.enableDeletionVectors", "true")]
        } else {
            &[]
        };
        let metadata = deltalake::kernel::new_metadata(
            &delta_schema,
            Vec::<String>::new(),
            config.iter().copied(),
        )
        .map_err(|e| TableError::delta(&self.uri, e.into()))?;
        let op = DeltaOperation::Create {
            mode: SaveMode::ErrorIfExists,
            location: self.uri.clone(),
            protocol: protocol.clone(),
            metadata: metadata.clone(),
        };
        let result = CommitBuilder::default()
            .with_actions(vec![Action::Protocol(protocol), Action::Metadata(metadata)])
            .build(None, self.table.log_store(), op)
            .await;
        match result {
            Ok(_) => {}
            // Another sink created it first: use theirs.
            Err(DeltaTableError::VersionAlreadyExists(_))
            | Err(DeltaTableError::Transaction {
                source: TransactionError::VersionAlreadyExists(_),
            }) => {}
            Err(e) => return Err(TableError::delta(&self.uri, e)),
        }
        self.reload().await
    }

    /// The table schema extended by columns of `incoming` it lacks (new
    /// source columns become nullable columns; files written before have
    /// none and read as null). `None` when nothing is new.
    pub fn evolve(
        &self,
        incoming: &[(String, deltalake::arrow::datatypes::DataType)],
    ) -> Result<Option<SchemaRef>, TableError> {
        match &self.schema {
            Some(current) => widen::evolve_schema(current, self.uri.as_str(), incoming),
            None => Ok(None),
        }
    }

    /// Builds (once) the key index of every live file.
    async fn ensure_index(&mut self, key: &[String]) -> Result<(), TableError> {
        let schema = self.schema.clone().ok_or_else(|| {
            TableError::delta(
                &self.uri,
                DeltaTableError::Generic("table not created".into()),
            )
        })?;
        let same = self.keys.as_ref().is_some_and(|k| k.names() == key);
        if !same {
            let mut types = Vec::with_capacity(key.len());
            for k in key {
                let f = schema
                    .field_with_name(k)
                    .map_err(|_| TableError::NoKeyColumn {
                        uri: self.uri.to_string(),
                        column: k.clone(),
                    })?;
                types.push(f.data_type().clone());
            }
            self.keys = Some(KeyEncoder::new(key.to_vec(), types)?);
            for f in &mut self.files {
                f.keys = None;
            }
        }
        for i in 0..self.files.len() {
            if self.files[i].keys.is_none() {
                let k = self.read_keys(&self.files[i].add).await?;
                self.files[i].keys = Some(k);
            }
        }
        Ok(())
    }

    /// Writes `batch` as a new data file and returns its `add` action.
    async fn write_data_file(
        &self,
        batch: &RecordBatch,
        data_change: bool,
    ) -> Result<Add, TableError> {
        let mut f = self.file_builder(batch.schema())?;
        f.write(batch)?;
        self.put_data_file(f, data_change).await
    }

    /// A new data file of `schema`. binlake writes each key once per file,
    /// so a one-column key holds no value twice there.
    fn file_builder(&self, schema: SchemaRef) -> Result<files::FileBuilder, TableError> {
        let unique = match self.keys.as_ref().map(KeyEncoder::names) {
            Some([column]) => Some(column.as_str()),
            _ => None,
        };
        files::FileBuilder::new(schema, unique)
    }

    /// Stores the file `f` has built and returns its `add` action.
    async fn put_data_file(
        &self,
        f: files::FileBuilder,
        data_change: bool,
    ) -> Result<Add, TableError> {
        let (bytes, stats) = f.finish()?;
        let size = bytes.len();
        let name = files::new_file_name();
        self.table
            .object_store()
            .put(&Path::from(name.as_str()), bytes.into())
            .await?;
        Ok(files::add_action(name, size, &stats, data_change))
    }

    async fn read_keys(&self, add: &Add) -> Result<FileKeys, TableError> {
        let enc = self
            .keys
            .as_ref()
            .expect("key encoder set before reading keys");
        let builder = ParquetRecordBatchStreamBuilder::new(self.reader(add)).await?;
        let mask = ProjectionMask::columns(
            builder.parquet_schema(),
            enc.names().iter().map(String::as_str),
        );
        let mut stream = builder.with_projection(mask).build()?;
        let mut keys = FileKeys::default();
        let mut offset = 0u32;
        while let Some(batch) = stream.try_next().await? {
            let rows = enc.encode(&batch)?;
            keys.append(&rows, offset);
            offset += batch.num_rows() as u32;
        }
        keys.shrink_to_fit();
        Ok(keys)
    }

    /// Commits `actions` on top of `state`, once: a conflict is the
    /// caller's to handle (it re-reads the table and decides again).
    async fn commit_once(
        &self,
        state: &DeltaTableState,
        actions: Vec<Action>,
        op: DeltaOperation,
        props: CommitProperties,
    ) -> Result<FinalizedCommit, TableError> {
        CommitBuilder::from(props)
            .with_actions(actions)
            .with_max_retries(0)
            .build(Some(state), self.table.log_store(), op)
            .await
            .map_err(|e| TableError::delta(&self.uri, e))
    }

    /// The live rows of file `i` (its deletion vector applied), in `schema`.
    async fn live_rows_of(
        &self,
        i: usize,
        schema: &SchemaRef,
    ) -> Result<Vec<RecordBatch>, TableError> {
        self.rows_without(i, &RoaringTreemap::new(), schema).await
    }

    /// The live rows of file `i` but those at positions in `drop`.
    async fn rows_without(
        &self,
        i: usize,
        drop: &RoaringTreemap,
        schema: &SchemaRef,
    ) -> Result<Vec<RecordBatch>, TableError> {
        let f = &self.files[i];
        let builder = ParquetRecordBatchStreamBuilder::new(self.reader(&f.add)).await?;
        let mut stream = builder.build()?;
        let mut offset = 0u64;
        let mut out = Vec::new();
        while let Some(batch) = stream.try_next().await? {
            let n = batch.num_rows() as u64;
            let keep: BooleanArray = (offset..offset + n)
                .map(|r| Some(!f.dv.contains(r) && !drop.contains(r)))
                .collect();
            offset += n;
            let batch = filter_record_batch(&batch, &keep)?;
            out.push(conform(&batch, schema)?);
        }
        Ok(out)
    }

    /// Every live row of the table, file by file, in the table's schema.
    pub async fn scan(&self) -> Result<Vec<RecordBatch>, TableError> {
        let Some(schema) = self.schema.clone() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for i in 0..self.files.len() {
            out.extend(self.live_rows_of(i, &schema).await?);
        }
        Ok(out)
    }
}

fn remove_of(add: &Add, data_change: bool, now: i64) -> Remove {
    Remove {
        path: add.path.clone(),
        data_change,
        deletion_timestamp: Some(now),
        extended_file_metadata: Some(true),
        partition_values: Some(add.partition_values.clone()),
        size: Some(add.size),
        tags: add.tags.clone(),
        deletion_vector: add.deletion_vector.clone(),
        base_row_id: add.base_row_id,
        default_row_commit_version: add.default_row_commit_version,
    }
}

/// `batch` in `schema`: columns by name, null where the file predates a
/// column.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let n = batch.num_rows();
    let cols = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => deltalake::arrow::compute::cast(c, f.data_type()),
            None => Ok(deltalake::arrow::array::new_null_array(f.data_type(), n)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_become_directory_urls() {
        assert_eq!(table_url("file:///d/t").unwrap().as_str(), "file:///d/t/");
        assert_eq!(table_url("s3://b/x").unwrap().as_str(), "s3://b/x/");
        let cwd = std::env::current_dir().unwrap();
        let rel = table_url("file://./d/t").unwrap();
        assert_eq!(rel.to_file_path().unwrap(), cwd.join("d/t"));
        assert_eq!(
            table_url("d/t").unwrap().to_file_path().unwrap(),
            cwd.join("d/t")
        );
    }
}
