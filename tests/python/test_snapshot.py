"""Snapshots (`snapshot = "initial"` and `binlake snapshot`) on the real
servers: existing rows are read in key chunks while writers keep changing
the table, merged with the binlog by watermarks, and the Delta tables end
equal to MySQL row for row.

- a snapshot of two tables while a writer inserts, updates (including key
  changes) and deletes in multi-row transactions;
- a source killed -9 mid-snapshot resumes after the last chunk it stored:
  every untouched row is read, and only rows handed to Kafka after the
  last stored progress are read twice;
- a column added mid-snapshot is read by the chunks after the ALTER;
- a table added to the connector file later is snapshotted on the next
  start, and the tables already done are not read again;
- a backfill of a key range restores rows deleted from Delta by hand.
"""

import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest
from deltalake import DeltaTable

from sink_harness import (  # noqa: F401
    binlake_bin,
    check_no_duplicate_keys,
    mysql_connect,
    sink_case,
    wait_until,
)
from source_harness import CDC_PASSWORD, read_topic

ENV = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}

WAIT = 180.0


def snapshot_state(config):
    """The stored snapshot progress, as `binlake status --json` reads it
    (tansu's watermarks on compacted topics are not to be trusted)."""
    out = subprocess.run(
        [str(binlake_bin()), "status", "--json", str(config)], capture_output=True, text=True, timeout=60, env=ENV
    )
    assert out.returncode == 0, out.stderr
    src = json.loads(out.stdout).get("source") or {}
    return src.get("snapshot")


def snapshot_finished(config, tables):
    s = snapshot_state(config)
    return s is not None and not s["jobs"] and all(t in s["done"] for t in tables)


def fill(case, table, rows, start=1):
    case.sql(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, v VARCHAR(64), n INT NOT NULL, pad VARCHAR(200))")
    with mysql_connect(case.db) as c, c.cursor() as cur:
        for lo in range(start, start + rows, 5000):
            hi = min(lo + 5000, start + rows)
            cur.executemany(
                f"INSERT INTO {table} VALUES (%s, %s, %s, %s)",
                [(i, f"v{i}", 0, "x" * 100) for i in range(lo, hi)],
            )
        c.commit()


class Writer(threading.Thread):
    """Random transactions of 1–5 changes on ids of `touch` (a predicate on
    the id): inserts of new ids, value updates, key changes, deletes."""

    def __init__(self, db, tables, max_id, touch=lambda i: True, seed=None):
        super().__init__(daemon=True)
        self.db, self.tables, self.max_id, self.touch = db, tables, max_id, touch
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.stop = threading.Event()
        self.txns = 0
        self.error = None
        self.next_id = 10_000_000

    def pick(self):
        while True:
            i = self.rng.randint(1, self.max_id)
            if self.touch(i):
                return i

    def run(self):
        try:
            with mysql_connect(self.db) as c, c.cursor() as cur:
                while not self.stop.is_set():
                    for _ in range(self.rng.randint(1, 5)):
                        t = self.rng.choice(self.tables)
                        kind = self.rng.random()
                        if kind < 0.3:
                            self.next_id += 1
                            cur.execute(f"INSERT INTO {t} VALUES (%s, 'new', 0, 'p')", (self.next_id,))
                        elif kind < 0.7:
                            cur.execute(f"UPDATE {t} SET v = %s, n = n + 1 WHERE id = %s", (f"u{self.txns}", self.pick()))
                        elif kind < 0.85:
                            self.next_id += 1
                            cur.execute(f"UPDATE {t} SET id = %s WHERE id = %s", (self.next_id, self.pick()))
                        else:
                            cur.execute(f"DELETE FROM {t} WHERE id = %s", (self.pick(),))
                    c.commit()
                    self.txns += 1
                    time.sleep(0.002)
        except Exception as e:  # reported by the test
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(30)
        assert self.error is None, f"writer (seed {self.seed}) failed: {self.error!r}"


def test_snapshot_under_writes_equals_mysql(sink_case):
    case = sink_case
    fill(case, "items", 40_000)
    fill(case, "other", 8_000)
    config = case.write_sink_config(
        snapshot="initial",
        extra_source="snapshot_chunk_rows = 1000\nsnapshot_parallelism = 2",
    )
    writer = Writer(case.db, ["items", "other"], 40_000)
    writer.start()
    proc = case.start_all(config)
    tables = [f"{case.db}.items", f"{case.db}.other"]
    before = writer.txns
    wait_until(lambda: snapshot_finished(config, tables), WAIT, "the snapshot to finish")
    during = writer.txns - before
    time.sleep(1)
    writer.finish()
    print(f"writer seed {writer.seed}: {during} transactions during the snapshot")
    assert during > 50, "writes must keep flowing while the snapshot reads"
    for t in ("items", "other"):
        case.wait_delta_equals_mysql(t, WAIT, procs=[proc])
        check_no_duplicate_keys(case.table_path(t))
    ops = {r.value["op"] for r in read_topic(case.topic("items")) if r.value}
    assert {"r", "c", "u", "d"} <= ops


def test_kill_mid_snapshot_resumes_after_the_last_stored_chunk(sink_case):
    case = sink_case
    rows, chunk = 100_000, 500
    fill(case, "items", rows)
    config = case.write_sink_config(
        snapshot="initial", extra_source=f"snapshot_chunk_rows = {chunk}\nsnapshot_parallelism = 1"
    )
    # The writer leaves ids that are not multiples of 7 alone: each of those
    # must be read by the snapshot.
    writer = Writer(case.db, ["items"], rows, touch=lambda i: i % 7 == 0)
    writer.start()
    src = case.binlake(config, "source", "source-1.log").start()

    def stored_chunks():
        s = snapshot_state(config)
        return s and s["jobs"] and s["jobs"][0]["chunks"] >= 8

    wait_until(stored_chunks, WAIT, "a few chunks to be stored")
    src.kill9()
    killed_ms = time.time() * 1000
    after = snapshot_state(config)["jobs"][0]["after"]
    assert after and after[0]["t"] == "int", f"progress must name the key to resume after: {after}"
    resume_key = after[0]["v"]
    src2 = case.binlake(config, "source", "source-2.log").start()
    src2.wait_streaming()
    wait_until(lambda: snapshot_finished(config, [f"{case.db}.items"]), WAIT, "the snapshot to finish")
    writer.finish()
    assert f"resume_after=Some([Int({resume_key})])" in src2.log_text(), src2.log_text()[-3000:]

    reads = [
        (r.key["id"], r.value["source"]["ts_ms"])
        for r in read_topic(case.topic("items"))
        if r.value and r.value["op"] == "r"
    ]
    before = {i for i, ts in reads if ts <= killed_ms}
    again = [i for i, ts in reads if ts > killed_ms]
    assert again, "the restarted source must go on reading"
    # The restart starts after the stored key: only rows the killed source
    # handed to Kafka after its last stored progress are read twice.
    assert min(again) > resume_key, (min(again), resume_key)
    twice = [i for i in again if i in before]
    assert all(i > resume_key for i in twice)
    print(f"resumed after id {resume_key}; {len(twice)} rows read twice (emitted after the last stored progress)")
    untouched = [i for i in range(1, rows + 1) if i % 7]
    seen = before | set(again)
    missing = [i for i in untouched if i not in seen]
    assert not missing, f"{len(missing)} untouched rows never read, e.g. {missing[:10]}"

    sink = case.start_sink(config)
    case.wait_delta_equals_mysql("items", WAIT, procs=[src2, sink])
    check_no_duplicate_keys(case.table_path("items"))


def test_a_column_added_mid_snapshot_is_read_by_the_later_chunks(sink_case):
    """ALTER TABLE ADD COLUMN while the snapshot reads, then rows given a
    value in it: chunks read after the ALTER must carry the new column, or
    they would overwrite those rows in Delta with a NULL."""
    case = sink_case
    rows, chunk = 300_000, 200
    fill(case, "items", rows)
    config = case.write_sink_config(
        snapshot="initial", extra_source=f"snapshot_chunk_rows = {chunk}\nsnapshot_parallelism = 1"
    )
    proc = case.start_all(config)

    def some_chunks_stored():
        s = snapshot_state(config)
        return s and s["jobs"] and s["jobs"][0]["chunks"] >= 3

    wait_until(some_chunks_stored, WAIT, "a few chunks to be stored")
    case.sql("ALTER TABLE items ADD COLUMN extra VARCHAR(20) NULL")
    # The stream carries these updates; the snapshot reaches the rows later.
    case.sql(f"UPDATE items SET extra = CONCAT('x', id) WHERE id > {rows - 20_000}")
    wait_until(lambda: snapshot_finished(config, [f"{case.db}.items"]), WAIT, "the snapshot to finish")
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
    check_no_duplicate_keys(case.table_path("items"))
    reads = [r.value["after"] for r in read_topic(case.topic("items")) if r.value and r.value["op"] == "r"]
    assert any((a.get("extra") or "").startswith("x") for a in reads), "no chunk was read after the UPDATE"
    assert "reading its shape again" in proc.log_text()


def test_a_table_added_to_the_file_later_is_snapshotted_alone(sink_case):
    case = sink_case
    fill(case, "items", 2_000)
    fill(case, "later", 1_500)
    items, later = f"{case.db}.items", f"{case.db}.later"

    def reads(table):
        return sum(1 for r in read_topic(case.topic(table)) if r.value and r.value["op"] == "r")

    config = case.write_sink_config(snapshot="initial", tables=[items])
    proc = case.start_all(config)
    wait_until(lambda: snapshot_finished(config, [items]), WAIT, "the first snapshot")
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
    assert proc.stop(signal.SIGTERM) == 0
    assert reads("items") == 2_000

    config = case.write_sink_config(snapshot="initial", tables=[items, later])
    proc = case.start_all(config)
    wait_until(lambda: snapshot_finished(config, [items, later]), WAIT, "the added table's snapshot")
    case.sql("UPDATE later SET n = 7 WHERE id <= 10")
    case.wait_delta_equals_mysql("later", WAIT, procs=[proc])
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
    assert reads("later") == 1_500
    assert reads("items") == 2_000, "a table already snapshotted must not be read again"


def test_backfill_restores_a_key_range_deleted_from_delta(sink_case):
    case = sink_case
    fill(case, "items", 3_000)
    config = case.write_sink_config(snapshot="initial")
    proc = case.start_all(config)
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
    # Rows lost downstream, e.g. removed by a mistaken job.
    DeltaTable(str(case.table_path("items"))).delete("id >= 1000 AND id < 1500")
    assert case.diff("items"), "the hand delete must show as a difference"
    out = subprocess.run(
        [str(binlake_bin()), "snapshot", str(config), "--table", f"{case.db}.items", "--where", "id BETWEEN 1000 AND 1499"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "requested" in out.stdout
    rows = case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
    restored = [r for r in rows if 1000 <= r["id"] < 1500]
    assert len(restored) == 500 and all(r["__op"] == "r" for r in restored)
    # Only that range was read again.
    reads = [r.key["id"] for r in read_topic(case.topic("items")) if r.value and r.value["op"] == "r"]
    assert len(reads) == 3_000 + 500
    verify = subprocess.run([str(binlake_bin()), "verify", str(config)], capture_output=True, text=True, timeout=120, env=ENV)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_bad_backfill_requests_are_refused(sink_case):
    case = sink_case
    config = case.write_sink_config()
    out = subprocess.run(
        [str(binlake_bin()), "snapshot", str(config), "--table", "nope.items"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0 and "not a table this connector captures" in out.stderr


def test_a_bad_backfill_condition_drops_only_that_request(sink_case):
    """The server refuses the condition: that backfill is dropped and logged,
    the source keeps streaming."""
    case = sink_case
    fill(case, "items", 200)
    config = case.write_sink_config(snapshot="initial")
    proc = case.start_all(config)
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
    out = subprocess.run(
        [str(binlake_bin()), "snapshot", str(config), "--table", f"{case.db}.items", "--where", "no_such_column > 1"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    wait_until(lambda: "snapshot job abandoned" in proc.log_text(), 60, "the bad backfill to be dropped")
    assert "no_such_column" in proc.log_text()
    wait_until(lambda: not snapshot_state(config)["jobs"], 30, "the dropped job to leave the stored progress")
    assert proc.alive()
    case.sql("INSERT INTO items VALUES (1000, 'after', 0, 'p')")
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
