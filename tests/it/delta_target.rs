//! The Delta table writer on a real local table: upserts, deletes, key
//! collapse, deletion vectors, schema widening, compaction and reopening,
//! each checked against an in-memory model and read back by an independent
//! reader (Python `deltalake`, which reads deletion vectors via the kernel).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use binlake::sink::delta::TableTarget;
use deltalake::arrow::array::{Array, Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::Transaction;

type Model = BTreeMap<i64, (String, Option<String>)>;

fn schema(with_note: bool) -> SchemaRef {
    let mut f = vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ];
    if with_note {
        f.push(Field::new("note", DataType::Utf8, true));
    }
    Arc::new(Schema::new(f))
}

/// `changes`: (id, Some(name)) upserts, (id, None) deletes, in order.
fn batch(
    schema: &SchemaRef,
    changes: &[(i64, Option<&str>)],
    note: Option<&str>,
) -> (RecordBatch, Vec<bool>) {
    let ids: Vec<i64> = changes.iter().map(|c| c.0).collect();
    let names: Vec<Option<String>> = changes
        .iter()
        .map(|c| Some(c.1.map(str::to_owned).unwrap_or_else(|| "gone".into())))
        .collect();
    let mut cols: Vec<Arc<dyn deltalake::arrow::array::Array>> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(names)),
    ];
    if schema.fields().len() == 3 {
        cols.push(Arc::new(StringArray::from(vec![note; changes.len()])));
    }
    let deletes = changes.iter().map(|c| c.1.is_none()).collect();
    (RecordBatch::try_new(schema.clone(), cols).unwrap(), deletes)
}

fn apply_model(m: &mut Model, changes: &[(i64, Option<&str>)], note: Option<&str>) {
    for (id, name) in changes {
        match name {
            Some(n) => {
                m.insert(*id, (n.to_string(), note.map(str::to_owned)));
            }
            None => {
                m.remove(id);
            }
        }
    }
}

/// The table as read by Python `deltalake`: `id|name|note` lines sorted by
/// id. `scan()` applies deletion vectors; `to_pyarrow_table()` (pyarrow
/// datasets, what polars and older tools use) refuses tables that have them.
fn read_with_python(path: &std::path::Path) -> Vec<String> {
    python_rows(path, "pa.table(DeltaTable(sys.argv[1]).scan().read_all())")
}

fn read_with_pyarrow_dataset(path: &std::path::Path) -> Vec<String> {
    python_rows(path, "DeltaTable(sys.argv[1]).to_pyarrow_table()")
}

fn python_rows(path: &std::path::Path, read: &str) -> Vec<String> {
    let script = format!(
        r#"
import sys
import pyarrow as pa
from deltalake import DeltaTable
t = {read}.to_pylist()
for r in sorted(t, key=lambda r: r["id"]):
    print(f'{{r["id"]}}|{{r["name"]}}|{{r.get("note")}}')
# pyarrow's dataset threads can abort the interpreter's teardown
# ("terminate called without an active exception"); the rows are out.
sys.stdout.flush()
import os
os._exit(0)
"#
    );
    run_python(&script, path)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs a Python script with the table's path as its argument; its stdout.
fn run_python(script: &str, path: &std::path::Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python deltalake failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn expected(m: &Model) -> Vec<String> {
    m.iter()
        .map(|(id, (name, note))| {
            format!(
                "{id}|{name}|{}",
                note.clone().unwrap_or_else(|| "None".into())
            )
        })
        .collect()
}

fn key() -> Vec<String> {
    vec!["id".to_string()]
}

/// A new table `t` in a fresh temporary directory (kept alive by the
/// returned guard), with or without deletion vectors.
async fn new_table(dv: bool) -> (tempfile::TempDir, std::path::PathBuf, TableTarget) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let mut t = TableTarget::open(path.to_str().unwrap()).await.unwrap();
    assert!(!t.exists());
    t.create(schema(false), dv).await.unwrap();
    (dir, path, t)
}

#[tokio::test]
async fn upserts_deletes_widening_compaction_and_reopen() {
    scenario(true).await;
}

/// The same without deletion vectors: touched files are rewritten, and
/// readers without deletion-vector support read the table.
#[tokio::test]
async fn the_same_by_rewriting_files() {
    scenario(false).await;
}

async fn scenario(dv: bool) {
    let (_dir, path, mut t) = new_table(dv).await;
    let loc = path.to_str().unwrap();
    assert_eq!(t.uses_deletion_vectors(), dv);
    let read_with_python = |p: &std::path::Path| {
        if dv {
            read_with_python(p)
        } else {
            read_with_pyarrow_dataset(p)
        }
    };
    let mut model = Model::new();
    let app = "shop-shop.db.t-0";

    // 1: inserts.
    let ins: Vec<(i64, Option<&str>)> = (1..=100).map(|i| (i, Some("a"))).collect();
    let (b, d) = batch(&schema(false), &ins, None);
    let r = t
        .apply(&key(), &b, &d, vec![Transaction::new(app, 10)], None)
        .await
        .unwrap();
    assert_eq!((r.upserted, r.deleted, r.replaced), (100, 0, 0));
    apply_model(&mut model, &ins, None);

    // 2: updates, deletes, inserts, and one key changed twice (last wins).
    let mut ch: Vec<(i64, Option<&str>)> = (1..=10).map(|i| (i, Some("b"))).collect();
    ch.extend((11..=20).map(|i| (i, None)));
    ch.extend((101..=110).map(|i| (i, Some("new"))));
    ch.push((5, Some("twice")));
    ch.push((15, Some("back")));
    let (b, d) = batch(&schema(false), &ch, None);
    let r = t
        .apply(&key(), &b, &d, vec![Transaction::new(app, 20)], None)
        .await
        .unwrap();
    assert_eq!(r.replaced, 20, "10 updated + 10 deleted rows marked");
    assert_eq!(r.files_touched, 1);
    apply_model(&mut model, &ch, None);
    assert_eq!(read_with_python(&path), expected(&model));
    assert_eq!(t.txn_version(app).await.unwrap(), Some(20));

    // 3: a new column; older rows read it as null.
    let wide = t
        .evolve(&[("note".into(), DataType::Utf8)])
        .unwrap()
        .expect("note is new");
    let ch: Vec<(i64, Option<&str>)> = vec![(1, Some("c")), (200, Some("d"))];
    let (b, d) = batch(&schema(true), &ch, Some("hi"));
    t.apply(&key(), &b, &d, vec![Transaction::new(app, 30)], Some(wide))
        .await
        .unwrap();
    apply_model(&mut model, &ch, Some("hi"));
    assert_eq!(read_with_python(&path), expected(&model));
    assert!(
        t.evolve(&[("note".into(), DataType::Int64)]).is_err(),
        "a type change is refused"
    );

    // 4: many small batches, then compaction keeps the content.
    for i in 0..10 {
        let ch: Vec<(i64, Option<&str>)> = vec![(300 + i, Some("s")), (2 + i, None)];
        let (b, d) = batch(&schema(true), &ch, None);
        t.apply(&key(), &b, &d, vec![Transaction::new(app, 40 + i)], None)
            .await
            .unwrap();
        apply_model(&mut model, &ch, None);
    }
    assert!(t.needs_compaction());
    let before = t.file_count();
    t.compact(&key()).await.unwrap().expect("compacted");
    assert!(
        t.file_count() < before,
        "{} files after, {before} before",
        t.file_count()
    );
    assert_eq!(t.live_rows() as usize, model.len());
    assert_eq!(read_with_python(&path), expected(&model));

    // 5: a fresh process finds the offsets and the rows (deletion vectors read back).
    let mut t2 = TableTarget::open(loc).await.unwrap();
    assert_eq!(t2.txn_version(app).await.unwrap(), Some(49));
    let ch: Vec<(i64, Option<&str>)> = vec![(300, None), (1, Some("e"))];
    let (b, d) = batch(&schema(true), &ch, Some("x"));
    let r = t2
        .apply(&key(), &b, &d, vec![Transaction::new(app, 50)], None)
        .await
        .unwrap();
    assert_eq!(r.replaced, 2);
    apply_model(&mut model, &ch, Some("x"));
    assert_eq!(read_with_python(&path), expected(&model));

    // 6: a stale writer (the first handle) conflicts instead of overwriting.
    let ch: Vec<(i64, Option<&str>)> = vec![(1, Some("stale"))];
    let (b, d) = batch(&schema(true), &ch, None);
    let err = t
        .apply(&key(), &b, &d, vec![Transaction::new(app, 50)], None)
        .await;
    assert!(
        matches!(err, Err(binlake::sink::delta::TableError::Conflict(_))),
        "{err:?}"
    );
    assert_eq!(read_with_python(&path), expected(&model));
}

/// Compaction reads a bounded share of the small files per run and writes
/// them as key-sorted files of equal size; the content never changes.
#[tokio::test]
async fn compaction_runs_in_bounded_shares_and_sorts_by_key() {
    let (_dir, path, mut t) = new_table(true).await;
    t.set_compaction_rows(100);
    let mut model = Model::new();
    // Ten files of 30 rows; file i holds keys i, i+10, i+20, ... so every
    // file spans the whole key range.
    for i in 0..10i64 {
        let ch: Vec<(i64, Option<&str>)> = (0..30).map(|j| (i + 10 * j, Some("v"))).collect();
        let (b, d) = batch(&schema(false), &ch, None);
        t.apply(&key(), &b, &d, vec![Transaction::new("a-t-0", i)], None)
            .await
            .unwrap();
        apply_model(&mut model, &ch, None);
    }
    // Some rows of the first files deleted: compaction drops them.
    let del: Vec<(i64, Option<&str>)> = vec![(0, None), (11, None), (22, None)];
    let (b, d) = batch(&schema(false), &del, None);
    t.apply(&key(), &b, &d, vec![Transaction::new("a-t-0", 10)], None)
        .await
        .unwrap();
    apply_model(&mut model, &del, None);
    assert_eq!(t.file_count(), 10, "a batch of deletes writes no file");
    assert!(t.needs_compaction());

    // Files 0..4 hold 117 live rows (the fourth crosses 100): two files of
    // 59 and 58 rows, in place of four.
    t.compact(&key()).await.unwrap().expect("compacted");
    assert_eq!(t.file_count(), 8);
    assert_eq!(t.live_rows() as usize, model.len());
    let files = t.scan().await.unwrap();
    let ids = |b: &RecordBatch| -> Vec<i64> {
        let c = b.column_by_name("id").unwrap();
        let c = c.as_any().downcast_ref::<Int64Array>().unwrap();
        c.values().to_vec()
    };
    let out: Vec<Vec<i64>> = files[files.len() - 2..].iter().map(ids).collect();
    assert_eq!((out[0].len(), out[1].len()), (59, 58));
    let joined: Vec<i64> = out.concat();
    assert!(
        joined.windows(2).all(|w| w[0] < w[1]),
        "compacted files are sorted by key and do not overlap: {joined:?}"
    );
    assert_eq!(read_with_python(&path), expected(&model));
    // The compacted files' in-memory key index finds their rows: keys 1
    // and 13 now live only in them.
    let ch: Vec<(i64, Option<&str>)> = vec![(1, Some("w")), (13, None)];
    let (b, d) = batch(&schema(false), &ch, None);
    let r = t
        .apply(&key(), &b, &d, vec![Transaction::new("a-t-0", 11)], None)
        .await
        .unwrap();
    assert_eq!(r.replaced, 2);
    apply_model(&mut model, &ch, None);
    assert_eq!(read_with_python(&path), expected(&model));

    // Nine small files are left: the next run takes the next share.
    assert!(t.needs_compaction());
    t.compact(&key()).await.unwrap().expect("compacted again");
    assert_eq!(t.live_rows() as usize, model.len());
    assert_eq!(read_with_python(&path), expected(&model));
    let fresh = TableTarget::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(fresh.live_rows() as usize, model.len());
    assert_eq!(fresh.file_count(), t.file_count());
}

/// Files another writer appended, in no key order, are merged with
/// binlake's own key-ordered ones (which compaction reads as streams,
/// here in chunks of a few rows): the content stays, the output is sorted.
#[tokio::test]
async fn compaction_merges_files_of_another_writer_in_no_key_order() {
    // No deletion vectors: the other writer (Python `deltalake`) appends.
    let (_dir, path, _) = new_table(false).await;
    let mut model = Model::new();
    // Four files of 25 rows from the other writer, ids shuffled; file f
    // holds ids 1000*f + (7*j mod 25).
    let script = r#"
import sys
import pyarrow as pa
from deltalake import write_deltalake
for f in range(4):
    ids = [1000 * f + (7 * j) % 25 for j in range(25)]
    t = pa.table({"id": pa.array(ids, pa.int64()),
                  "name": pa.array([f"p{i}" for i in ids], pa.string())})
    write_deltalake(sys.argv[1], t, mode="append")
"#;
    run_python(script, &path);
    for f in 0..4i64 {
        for j in 0..25i64 {
            let id = 1000 * f + (7 * j) % 25;
            model.insert(id, (format!("p{id}"), None));
        }
    }
    let mut t = TableTarget::open(path.to_str().unwrap()).await.unwrap();
    t.set_compaction_rows(120);
    // Five binlake batches of 20 rows interleaving the same key range; the
    // first also updates and deletes rows of the other writer's files
    // (which are rewritten without them, still in no key order).
    for b in 0..5i64 {
        let mut ch: Vec<(i64, Option<&str>)> =
            (0..20).map(|j| (500 + 5 * j + b, Some("own"))).collect();
        if b == 0 {
            ch.extend([(3, Some("upd")), (1007, None), (2024, None)]);
        }
        let (batch, d) = batch(&schema(false), &ch, None);
        t.apply(&key(), &batch, &d, vec![Transaction::new("o-t-0", b)], None)
            .await
            .unwrap();
        apply_model(&mut model, &ch, None);
    }
    assert_eq!(t.file_count(), 9);
    assert!(t.needs_compaction());
    t.compact(&key()).await.unwrap().expect("compacted");
    assert_eq!(t.live_rows() as usize, model.len());
    assert_eq!(read_with_python(&path), expected(&model));
    let ids: Vec<i64> = t
        .scan()
        .await
        .unwrap()
        .iter()
        .rev()
        .take(1)
        .flat_map(|b| {
            let c = b.column_by_name("id").unwrap();
            c.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert!(
        ids.len() > 1 && ids.windows(2).all(|w| w[0] < w[1]),
        "the newest compacted file is sorted by key: {ids:?}"
    );
    // A fresh process reads the same table.
    let fresh = TableTarget::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(fresh.live_rows() as usize, model.len());
    assert_eq!(fresh.file_count(), t.file_count());
}

#[tokio::test]
async fn a_commit_with_only_offsets_advances_the_version() {
    let (_dir, _, mut t) = new_table(true).await;
    let (b, d) = batch(&schema(false), &[], None);
    t.apply(&key(), &b, &d, vec![Transaction::new("a-t-0", 7)], None)
        .await
        .unwrap();
    assert_eq!(t.txn_version("a-t-0").await.unwrap(), Some(7));
}

#[tokio::test]
async fn checkpoints_keep_deletion_vectors_and_offsets() {
    let (_dir, path, mut t) = new_table(true).await;
    let loc = path.to_str().unwrap();
    let mut model = Model::new();
    // 105 commits: delta-rs writes a checkpoint at version 100.
    for i in 0..105i64 {
        let ch: Vec<(i64, Option<&str>)> = vec![(i, Some("a")), (i / 2, Some("b")), (i / 3, None)];
        let (b, d) = batch(&schema(false), &ch, None);
        t.apply(&key(), &b, &d, vec![Transaction::new("a-t-0", i)], None)
            .await
            .unwrap();
        apply_model(&mut model, &ch, None);
    }
    let checkpoints = std::fs::read_dir(path.join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("checkpoint")
        })
        .count();
    assert!(checkpoints > 0, "no checkpoint written");
    assert_eq!(read_with_python(&path), expected(&model));
    let t2 = TableTarget::open(loc).await.unwrap();
    assert_eq!(t2.txn_version("a-t-0").await.unwrap(), Some(104));
    assert_eq!(t2.live_rows() as usize, model.len());
}
