"""TRUNCATE TABLE: a Debezium truncate event (op "t", before/after null,
null key) on every partition of the table's topic, in order with the rows;
the sink empties the Delta table of the rows written before it and keeps
those written after, also when the partitions reach the truncate at
different times and when the sink is killed around the barrier."""

import os
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from sink_harness import (  # noqa: F401
    BROKERS,
    CDC_PASSWORD,
    FAILPOINT_ENV,
    binlake_bin,
    check_no_duplicate_keys,
    check_txn_versions_rise,
    delta_rows,
    sink_case,
)
from source_harness import read_topic, topic_partitions, wait_for_count

WAIT = 90


def verify(config) -> tuple[int, str]:
    env = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
    r = subprocess.run(
        [str(binlake_bin()), "verify", str(config)], capture_output=True, text=True, env=env, timeout=120
    )
    return r.returncode, r.stdout + r.stderr


def insert(case, ids):
    case.sql("INSERT INTO t (id, v) VALUES " + ", ".join(f"({i}, 'v{i}')" for i in ids))


def create_topic(topic, partitions):
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    assert topic_partitions(topic) == partitions


def check_truncate_records(topic, partitions, before_ids, after_ids):
    """Each partition holds exactly one truncate record, after every row
    written before it and before every row written after it."""
    recs = read_topic(topic)
    truncates = [r for r in recs if r.value is not None and r.op == "t"]
    assert sorted(r.partition for r in truncates) == list(range(partitions)), [
        (r.partition, r.offset) for r in truncates
    ]
    for t in truncates:
        assert t.key_bytes is None, "a truncate record has a null key"
        assert t.value["before"] is None and t.value["after"] is None
        src = t.value["source"]
        assert src["table"] == "t" and src["pos"] > 0 and src["file"]
        assert t.headers.get("binlake.truncate.partitions") == str(partitions).encode()
        rows = [r for r in recs if r.partition == t.partition and r.value is not None and r.op != "t"]
        older = {r.key["id"] for r in rows if r.offset < t.offset}
        newer = {r.key["id"] for r in rows if r.offset > t.offset}
        assert older <= set(before_ids) and newer <= set(after_ids), (t.partition, older, newer)
    # Every row landed somewhere: none lost around the truncate.
    seen = {r.key["id"] for r in recs if r.value is not None and r.op == "c"}
    assert seen == set(before_ids) | set(after_ids)
    return truncates


@pytest.mark.parametrize("partitions", [1, 3])
def test_truncate_then_inserts(sink_case, partitions):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    topic = case.topic("t")
    create_topic(topic, partitions)
    config = case.write_sink_config(max_batch_rows=7)
    proc = case.start_all(config)

    before = list(range(1, 41))
    insert(case, before[:20])
    case.wait_delta_equals_mysql("t", WAIT, procs=[proc])
    insert(case, before[20:])
    case.sql("UPDATE t SET v = 'changed' WHERE id <= 5")
    case.sql("TRUNCATE TABLE t")
    after = list(range(100, 131))
    insert(case, after)
    case.sql("DELETE FROM t WHERE id = 100")
    case.sql("UPDATE t SET v = 'later' WHERE id = 101")
    rows = case.wait_delta_equals_mysql("t", WAIT, procs=[proc])
    assert sorted(r["id"] for r in rows) == after[1:]
    check_no_duplicate_keys(case.table_path("t"))
    check_txn_versions_rise(case.table_path("t"))
    rc, out = verify(config)
    assert rc == 0, out
    check_truncate_records(topic, partitions, before, after)
    assert proc.alive()


def test_a_sink_killed_after_the_truncate_commit_replays_nothing_twice(sink_case):
    """Everything is in Kafka first (3 partitions: rows, TRUNCATE, rows,
    TRUNCATE, rows); the sink aborts right after the first truncate's
    Delta commit, before its Kafka offsets commit, then runs again: the
    truncates read again are skipped as applied, Delta equals MySQL and no
    txn version is committed twice."""
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    topic = case.topic("t")
    create_topic(topic, 3)
    config = case.write_sink_config(max_batch_rows=5)
    src = case.start_source_role(config)
    insert(case, range(1, 31))
    case.sql("TRUNCATE t")
    insert(case, range(31, 61))
    case.sql("TRUNCATE TABLE t")
    insert(case, range(61, 91))
    case.sql("UPDATE t SET v = 'x' WHERE id BETWEEN 61 AND 65")
    wait_for_count(topic, 30 + 3 + 30 + 3 + 30 + 5, WAIT, src)

    path = case.table_path("t")
    crashing = case.start_sink(config, "binlake-sink-crash.log", env={FAILPOINT_ENV: "sink_after_truncate_commit"})
    assert crashing.wait_exit(WAIT) != 0
    at_crash = check_txn_versions_rise(path)
    assert len(at_crash) == 3, f"the truncate commit records every partition: {at_crash}"
    ids = {r["id"] for r in delta_rows(path)}
    assert ids and ids <= set(range(31, 61)), sorted(ids)

    sink = case.start_sink(config)
    rows = case.wait_delta_equals_mysql("t", WAIT, procs=[src, sink])
    assert sorted(r["id"] for r in rows) == list(range(61, 91))
    check_no_duplicate_keys(path)
    check_txn_versions_rise(path)
    rc, out = verify(config)
    assert rc == 0, out
