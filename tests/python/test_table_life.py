"""Tables that appear and vanish while binlake runs (docs/contract.md,
"Tables created, dropped or renamed"). While rows stream into a captured
table: a matching table is created and written at once, another created
LIKE one and one AS SELECT; a captured table is dropped; one is renamed to
a name not captured and one to another captured name; a table not captured
is renamed into the capture. The process never stops; Kafka holds every
change of each new table once; Delta equals MySQL for every living table
(`binlake verify`); the Delta tables of the vanished ones are kept; the
log names what happened. Then a table created while binlake is stopped
arrives once after the restart (streamed, not also snapshotted)."""

import collections
import os
import subprocess
import threading
import time

from sink_harness import (  # noqa: F401
    CDC_PASSWORD,
    binlake_bin,
    check_no_duplicate_keys,
    delta_rows,
    mysql_connect,
    sink_case,
    wait_until,
)
from source_harness import read_topic, topic_exists

WAIT = 120


def verify(config) -> tuple[int, str]:
    env = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
    r = subprocess.run(
        [str(binlake_bin()), "verify", str(config)], capture_output=True, text=True, env=env, timeout=300
    )
    return r.returncode, r.stdout + r.stderr


def create(case, table, rows=0):
    case.sql(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(40))")
    if rows:
        case.sql(f"INSERT INTO {table} (id, v) VALUES " + ", ".join(f"({i}, 'v{i}')" for i in range(1, rows + 1)))


class Writer(threading.Thread):
    """Inserts and updates t_live without pause until stopped."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db = db
        self.stop_flag = threading.Event()
        self.next_id = 1000
        self.error = None

    def run(self):
        try:
            with mysql_connect(self.db) as c, c.cursor() as cur:
                while not self.stop_flag.is_set():
                    cur.execute("INSERT INTO t_live (id, v) VALUES (%s, 'w')", (self.next_id,))
                    cur.execute("UPDATE t_live SET v = CONCAT(v, '+') WHERE id = %s", (self.next_id % 50 + 1,))
                    c.commit()
                    self.next_id += 1
                    time.sleep(0.01)
        except Exception as e:  # noqa: BLE001
            self.error = e


def changes_by_key(topic):
    """(op, id) of every record with a value, and the records themselves."""
    recs = [r for r in read_topic(topic) if r.value is not None]
    ids = []
    for r in recs:
        row = r.value["after"] or r.value["before"]
        ids.append((r.op, row["id"] if row else None))
    return ids, recs


def check_once(topic, inserted, updated, deleted):
    """The topic holds each change of a table created and written at once
    exactly once, all streamed: no snapshot read."""
    got, _ = changes_by_key(topic)
    counts = collections.Counter(got)
    assert not [k for k in counts if k[0] == "r"], f"a created table needs no snapshot: {got[:20]}"
    want = collections.Counter(
        [("c", i) for i in inserted] + [("u", i) for i in updated] + [("d", i) for i in deleted]
    )
    assert counts == want, f"extra {counts - want}, missing {want - counts}"


def check_read_or_streamed(topic, ids, created):
    got, _ = changes_by_key(topic)
    reads = collections.Counter(i for op, i in got if op == "r")
    streamed = {i for op, i in got if op != "r"}
    assert all(n == 1 for n in reads.values()), reads
    assert not (set(reads) & streamed), f"read and streamed: {set(reads) & streamed}"
    assert set(reads) | streamed == set(ids), sorted(set(reads) | streamed)
    assert {i for op, i in got if op == "c"} == created


def test_tables_created_dropped_and_renamed_while_streaming(sink_case):
    case = sink_case
    db = case.db
    create(case, "t_live", 50)
    create(case, "t_drop", 20)
    create(case, "t_away", 15)
    create(case, "t_from", 30)
    create(case, "stage", 40)  # not captured until renamed into the capture
    create(case, "brief", 10)  # renamed in and straight out again
    # Small chunks: a table renamed in is read in several, each after the
    # stream has carried some of its keys.
    config = case.write_sink_config(tables=[f"{db}.t_*"], snapshot="initial", extra_source="snapshot_chunk_rows = 7")
    proc = case.start_all(config)
    for t in ("t_live", "t_drop", "t_away", "t_from"):
        case.wait_delta_equals_mysql(t, WAIT, procs=[proc])

    writer = Writer(db)
    writer.start()
    try:
        time.sleep(1)
        # Created and written at once: inserts, updates, deletes.
        case.sql("CREATE TABLE t_new (id INT PRIMARY KEY, v VARCHAR(40))")
        for lo in range(1, 101, 20):
            case.sql("INSERT INTO t_new (id, v) VALUES " + ", ".join(f"({i}, 'n{i}')" for i in range(lo, lo + 20)))
        case.sql("UPDATE t_new SET v = 'upd' WHERE id <= 10")
        case.sql("DELETE FROM t_new WHERE id > 90")
        case.sql("DROP TABLE t_drop")
        case.sql("RENAME TABLE t_away TO arch_away")
        case.sql("RENAME TABLE t_from TO t_to")
        # Renamed into the capture and written at once: snapshot and stream meet.
        case.sql("RENAME TABLE stage TO t_staged")
        case.sql("UPDATE t_staged SET v = 'after-rename' WHERE id IN (1, 2, 3, 39, 40)")
        case.sql("DELETE FROM t_staged WHERE id IN (4, 38)")
        case.sql("INSERT INTO t_staged (id, v) VALUES (41, 'new'), (42, 'new')")
        case.sql("UPDATE t_to SET v = 'moved' WHERE id <= 5")
        # In and out again before its snapshot can read it: the job waits for
        # the stream to reach the second rename and is called off, no error.
        case.sql("RENAME TABLE brief TO t_brief")
        case.sql("RENAME TABLE t_brief TO brief_done")
        case.sql("CREATE TABLE t_like LIKE t_live")
        case.sql("INSERT INTO t_like (id, v) VALUES (1, 'l1'), (2, 'l2')")
        case.sql("CREATE TABLE t_copy (PRIMARY KEY (id)) AS SELECT id, v FROM t_live WHERE id <= 10")
        case.sql("UPDATE t_copy SET v = 'copied' WHERE id = 1")
        # The table is there: nothing happens to it (no truncate).
        case.sql("CREATE TABLE IF NOT EXISTS t_live (id INT PRIMARY KEY, v VARCHAR(40))")
        time.sleep(3)
    finally:
        writer.stop_flag.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert proc.alive(), "binlake stopped"

    for t in ("t_live", "t_new", "t_to", "t_staged", "t_like", "t_copy"):
        case.wait_delta_equals_mysql(t, WAIT, procs=[proc])
    rc, out = verify(config)
    assert rc == 0, out

    check_once(case.topic("t_new"), inserted=range(1, 101), updated=range(1, 11), deleted=range(91, 101))
    check_once(case.topic("t_like"), inserted=[1, 2], updated=[], deleted=[])
    check_once(case.topic("t_copy"), inserted=range(1, 11), updated=[1], deleted=[])
    live, _ = changes_by_key(case.topic("t_live"))
    assert "t" not in {op for op, _ in live}, "CREATE TABLE IF NOT EXISTS of a live table truncated it"

    # Tables renamed into the capture: each row once, by the snapshot or by
    # the stream, never both.
    check_read_or_streamed(case.topic("t_staged"), range(1, 43), created={41, 42})
    check_read_or_streamed(case.topic("t_to"), range(1, 31), created=set())

    # Vanished tables: Delta kept as it was, nothing written under the old
    # names after they vanished.
    assert sorted(r["id"] for r in delta_rows(case.table_path("t_drop"))) == list(range(1, 21))
    assert sorted(r["id"] for r in delta_rows(case.table_path("t_away"))) == list(range(1, 16))
    assert sorted(r["id"] for r in delta_rows(case.table_path("t_from"))) == list(range(1, 31))
    assert not topic_exists(case.topic("arch_away")) and not topic_exists(case.topic("stage"))
    for t in ("t_live", "t_new", "t_staged", "t_to"):
        check_no_duplicate_keys(case.table_path(t))

    log = proc.log_text()
    for table, words in [
        ("t_new", "captured table created"),
        ("t_like", "captured table created"),
        ("t_copy", "captured table created"),
        ("t_drop", "captured table dropped"),
        ("t_away", f"captured table renamed to {db}.arch_away"),
        ("t_from", f"captured table renamed to {db}.t_to"),
        ("t_to", "table renamed into the capture"),
        ("t_staged", "table renamed into the capture"),
        ("t_brief", "table renamed into the capture"),
        ("t_brief", f"captured table renamed to {db}.brief_done"),
    ]:
        lines = [ln for ln in log.splitlines() if words in ln and f"{db}.{table}" in ln]
        assert lines, f"no log line names {db}.{table} with '{words}'"
    assert " ERROR " not in log, [ln for ln in log.splitlines() if " ERROR " in ln][:5]
    assert proc.alive()

    # A table dropped and created again under its captured name starts empty
    # in Delta too (a truncate event precedes its rows).
    case.sql("DROP TABLE t_new")
    case.sql("CREATE TABLE t_new (id INT PRIMARY KEY, v VARCHAR(40))")
    case.sql("INSERT INTO t_new (id, v) VALUES (500, 'again')")
    rows = case.wait_delta_equals_mysql("t_new", WAIT, procs=[proc])
    assert [r["id"] for r in rows] == [500]

    # Created while binlake is stopped: after the restart it is streamed
    # from its CREATE, not also snapshotted.
    assert proc.stop() == 0
    create(case, "t_offline", 25)
    case.sql("UPDATE t_offline SET v = 'x' WHERE id = 1")
    proc = case.start_all(config, "binlake-all-2.log")
    case.wait_delta_equals_mysql("t_offline", WAIT, procs=[proc])
    time.sleep(3)  # a snapshot planned at start would have landed by now
    check_once(case.topic("t_offline"), inserted=range(1, 26), updated=[1], deleted=[])
    rc, out = verify(config)
    assert rc == 0, out
    log = proc.log_text()
    assert any("captured table created" in ln and f"{db}.t_offline" in ln for ln in log.splitlines()), log[-3000:]
    assert proc.alive()
