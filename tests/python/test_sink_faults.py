"""Faults the Delta sink must survive without stopping.

- poison records produced straight into a table topic (not Confluent
  framing; an unknown schema id; a registered schema that is not a Debezium
  envelope) go to `{name}.dlq` with their original key/value and the
  `binlake.error.*` headers, and the rows around them still reach Delta;
- a source type change Delta cannot take (INT → BIGINT: Delta integer →
  long) sends that table's new records to `{name}.dlq` as
  "incompatible-schema" while other tables keep flowing;
- two sinks in one consumer group (static membership, distinct
  BINLAKE_SINK_INSTANCE) share a 3-partition topic; one is killed -9 and
  started again while changes keep coming: Delta ends equal to MySQL, one
  row per key, Delta txn versions rising per app id.

Skipped while binlake says its sink is "not part of this build".
"""

import collections
import json
import random
import re
import signal
import socket
import threading
import time
import urllib.request

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from sink_harness import (  # noqa: F401
    check_no_duplicate_keys,
    check_txn_versions_rise,
    delta_log_txns,
    delta_raw_rows,
    delta_table,
    mysql_connect,
    sink_case,
    sink_missing_reason,
    wait_until,
)
from source_harness import (
    BROKERS,
    REGISTRY,
    read_topic,
    record_count,
    topic_partitions,
    wait_for_count,
    watermarks,
)

WAIT = 120.0  # seconds to wait for Delta to catch up
LONG_WAIT = 400.0  # with group rebalances on the way (tansu can be slow)


@pytest.fixture(autouse=True, scope="module")
def _needs_sink():
    why = sink_missing_reason()
    if why is not None:
        pytest.skip(why)


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_metrics(config):
    """Adds a [metrics] section on a free port; returns the /metrics URL."""
    port = free_port()
    config.write_text(config.read_text().rstrip("\n") + f'\n\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    return f"http://127.0.0.1:{port}/metrics"


def metric_value(url, name, labels):
    """The sample of `name` whose labels include `labels`, else None."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{(.*)\}\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def produce(topic, records):
    """Produces (key, value) pairs; returns their (partition, offset) from
    the delivery reports, in order."""
    p = Producer({"bootstrap.servers": BROKERS, "acks": "all"})
    reports = [None] * len(records)

    def report(i):
        def cb(err, msg):
            reports[i] = err if err is not None else (msg.partition(), msg.offset())

        return cb

    for i, (key, value) in enumerate(records):
        p.produce(topic, key=key, value=value, on_delivery=report(i))
        p.flush(30)  # one at a time: keeps them in this order
    assert p.flush(30) == 0, "undelivered poison records"
    for i, r in enumerate(reports):
        assert isinstance(r, tuple), f"poison record {i} not delivered: {r}"
    return reports


def register_schema(subject, schema):
    req = urllib.request.Request(
        f"{REGISTRY}/subjects/{subject}/versions",
        data=json.dumps({"schema": json.dumps(schema)}).encode(),
        method="POST",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["id"]


def dlq_records(name, expected, timeout=WAIT):
    topic = f"{name}.dlq"
    wait_until(
        lambda: record_count(topic) >= expected,
        timeout,
        lambda: f"{expected} records in {topic} (has {record_count(topic)})",
    )
    return read_topic(topic, decode=False)


def header_text(rec, name):
    v = rec.headers.get(name)
    return None if v is None else v.decode()


def check_dead_letter(rec, reason, topic, partition, offset, key, value):
    where = f"dead letter for {topic}[{partition}]@{offset}"
    assert header_text(rec, "binlake.error.reason") == reason, (where, rec.headers)
    assert header_text(rec, "binlake.error.topic") == topic, (where, rec.headers)
    assert header_text(rec, "binlake.error.partition") == str(partition), (where, rec.headers)
    assert header_text(rec, "binlake.error.offset") == str(offset), (where, rec.headers)
    assert header_text(rec, "binlake.error.message"), (where, "empty binlake.error.message", rec.headers)
    assert rec.key_bytes == key, (where, rec.key_bytes, key)
    assert rec.value_bytes == value, (where, rec.value_bytes, value)


# ---------------------------------------------------------------- 1. poison records


def test_poison_messages_go_to_the_dlq(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT, s VARCHAR(40))")
    config = case.write_sink_config()
    metrics_url = with_metrics(config)
    proc = case.start_all(config)
    topic = case.topic("t")
    path = case.table_path("t")

    case.sql("INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')")
    case.sql("UPDATE t SET v = 20 WHERE id = 2")
    case.wait_delta_equals_mysql("t", WAIT, procs=[proc])
    real = read_topic(topic, decode=False)
    real_key = real[0].key_bytes  # a well-formed key: the value is what fails

    not_envelope_id = register_schema(
        f"{case.name}.poison-value",
        {"type": "record", "name": "NotAnEnvelope", "fields": [{"name": "a", "type": "int"}]},
    )
    poison = [
        (b"k", b"garbage"),  # no Confluent framing at all
        (real_key, b"\x00" + (999999).to_bytes(4, "big") + b"\x02"),  # unknown schema id
        (real_key, b"\x00" + not_envelope_id.to_bytes(4, "big") + b"\x02"),  # {"a": 1}: not an envelope
    ]
    where = produce(topic, poison)
    print(f"\npoison records at {where}; non-envelope schema id {not_envelope_id}")

    # Real changes after the poison must still be applied.
    case.sql("INSERT INTO t VALUES (4, 4, 'd'), (5, 5, 'e')")
    case.sql("UPDATE t SET s = 'changed' WHERE id IN (1, 4)")
    case.sql("DELETE FROM t WHERE id = 3")
    case.sql("INSERT INTO t VALUES (6, 6, 'f')")  # last: no tombstone at the end
    case.wait_delta_equals_mysql("t", WAIT, procs=[proc])

    dead = dlq_records(case.name, len(poison))
    assert len(dead) == len(poison), [(d.headers, d.value_bytes) for d in dead]
    for rec, (key, value), (partition, offset) in zip(dead, poison, where):
        check_dead_letter(rec, "undecodable", topic, partition, offset, key, value)
    messages = [header_text(d, "binlake.error.message") for d in dead]
    print("dead-letter messages:\n  " + "\n  ".join(messages))
    assert "999999" in messages[1], messages[1]

    # The poison offsets count as consumed: Delta's txn version for the
    # partition reaches the last record.
    for p, (low, high) in enumerate(watermarks(topic)):
        if high > low:
            app = case.app_id("t", p)
            wait_until(
                lambda: (delta_table(path).transaction_version(app) or -1) >= high - 1,
                WAIT,
                lambda: f"{app} txn version {delta_table(path).transaction_version(app)} to reach {high - 1}",
            )
    check_txn_versions_rise(path)

    check_dead_letters_then_stop(proc, metrics_url, topic, "undecodable", len(poison), "after dead letters")


def check_dead_letters_then_stop(proc, metrics_url, topic, reason, expected, after):
    """binlake_sink_dead_letters_total{topic,reason} reaches exactly
    `expected`, the sink is still running, and SIGTERM stops it with 0."""
    n = wait_until(
        lambda: metric_value(metrics_url, "binlake_sink_dead_letters_total", {"topic": topic, "reason": reason}),
        30,
        f"binlake_sink_dead_letters_total{{reason={reason}}}",
    )
    assert n == expected, n
    assert proc.alive(), f"the sink must keep running {after}"
    assert proc.stop(signal.SIGTERM) == 0


# ---------------------------------------------------------------- 2. incompatible type change


def test_incompatible_type_change_goes_to_the_dlq(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t1 (id INT PRIMARY KEY, v INT, s VARCHAR(40))")
    case.sql("CREATE TABLE t2 (id INT PRIMARY KEY, v INT, s VARCHAR(40))")
    config = case.write_sink_config()
    metrics_url = with_metrics(config)
    proc = case.start_all(config)
    t1_topic = case.topic("t1")

    for t in ("t1", "t2"):
        case.sql(f"INSERT INTO {t} VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')")
        case.sql(f"UPDATE {t} SET v = 30 WHERE id = 3")
    case.wait_delta_equals_mysql("t1", WAIT, procs=[proc])
    case.wait_delta_equals_mysql("t2", WAIT, procs=[proc])
    t1_before = case.delta_rows("t1")
    t1_old = read_topic(t1_topic, decode=False)
    old_schema_ids = {r.schema_id for r in t1_old if r.value_bytes}
    assert len(old_schema_ids) == 1, old_schema_ids

    # A change no compatible schema expresses (INT -> VARCHAR; a widening
    # such as INT -> BIGINT is taken by the table instead). Under BACKWARD
    # the source stops on it; with the subject relaxed it publishes, and the
    # sink must dead-letter what its table cannot take.
    req = urllib.request.Request(
        f"{REGISTRY}/config/{t1_topic}-value",
        data=json.dumps({"compatibility": "NONE"}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        method="PUT",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    case.sql("ALTER TABLE t1 MODIFY v VARCHAR(20)")
    case.sql("INSERT INTO t1 VALUES (4, 'five billion', 'big'), (5, '5', 'e')")
    case.sql("UPDATE t1 SET s = 'after alter' WHERE id = 1")
    case.sql("INSERT INTO t2 VALUES (4, 4, 'd'), (5, 5, 'e')")
    case.sql("UPDATE t2 SET s = 'after alter' WHERE id = 1")
    case.sql("DELETE FROM t2 WHERE id = 2")

    # The source either sends the new shape or refuses it; say which.
    t1_new_count = len(t1_old) + 3
    try:
        wait_for_count(t1_topic, t1_new_count, 60, proc)
    except AssertionError:
        tail = "\n".join(proc.log_text().splitlines()[-30:])
        raise AssertionError(f"the source did not publish t1's post-ALTER records; binlake log tail:\n{tail}")

    case.wait_delta_equals_mysql("t2", WAIT, procs=[proc])
    t1_all = read_topic(t1_topic, decode=False)
    t1_new = [r for r in t1_all if r.value_bytes and r.schema_id not in old_schema_ids]
    assert len(t1_new) == 3, [(r.offset, r.schema_id) for r in t1_all]

    dead = dlq_records(case.name, len(t1_new))
    assert len(dead) == len(t1_new), [(d.headers, d.offset) for d in dead]
    for rec, orig in zip(dead, t1_new):
        check_dead_letter(
            rec, "incompatible-schema", t1_topic, orig.partition, orig.offset, orig.key_bytes, orig.value_bytes
        )
    message = header_text(dead[0], "binlake.error.message")
    print(f"\nincompatible-schema message: {message}")
    assert "`v`" in message, message

    # t1 in Delta keeps its rows from before the change; t2 keeps flowing.
    assert case.delta_rows("t1") == t1_before
    case.sql("INSERT INTO t2 VALUES (6, 6, 'f')")
    case.wait_delta_equals_mysql("t2", WAIT, procs=[proc])
    assert case.delta_rows("t1") == t1_before

    check_dead_letters_then_stop(
        proc, metrics_url, t1_topic, "incompatible-schema", len(t1_new), "after an incompatible change"
    )


# ---------------------------------------------------------------- 3. two sinks in one group


def commits_in(proc, since_start=False):
    """Delta commits this process (or, by default, its log file) reports."""
    return proc.log_text(since_start=since_start).count("Delta commit table=")


def test_two_sinks_in_one_group(sink_case):
    """Two sinks share a 3-partition topic; the second one is killed -9
    mid-stream and started again.

    The sink killed is the one that joined second, so the group leader
    survives: the tansu 0.6 broker of the dev servers keeps a dead member as
    group leader (JoinGroup keeps answering with its member id, SyncGroup
    answers REBALANCE_IN_PROGRESS forever once anyone rejoins), so killing
    the leader stalls the whole group on tansu; and it never hands a dead
    member's partitions to the survivors, so those wait for the restart.
    Neither happens on Apache Kafka; whether the survivor took the dead
    sink's partitions over is printed, not asserted."""
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(60))")
    topic = case.topic("t")
    partitions = 3
    admin = AdminClient({"bootstrap.servers": BROKERS})  # kept alive until the result is in
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    assert topic_partitions(topic) == partitions
    config = case.write_sink_config(flush_interval="1s", max_batch_rows=500, partitions="group")
    path = case.table_path("t")
    src = case.start_source_role(config)
    lead_env = {"BINLAKE_SINK_INSTANCE": f"{case.name}-lead"}
    other_env = {"BINLAKE_SINK_INSTANCE": f"{case.name}-other"}
    timings = {}

    # Some rows before the sinks start, spread over the 3 partitions.
    with mysql_connect(case.db) as c, c.cursor() as cur:
        cur.executemany("INSERT INTO t VALUES (%s, 0, 'seed')", [(i,) for i in range(1, 201)])
    wait_for_count(topic, 200, 60, src)
    assert len(case.partitions_with_data("t")) == partitions, watermarks(topic)

    # The first sink alone: it becomes the group leader and takes every partition.
    t0 = time.monotonic()
    lead = case.start_sink(config, "binlake-sink-lead.log", env=lead_env)
    case.wait_delta_equals_mysql("t", LONG_WAIT, procs=[src, lead])
    timings["first sink: seed rows in Delta"] = time.monotonic() - t0

    # Writer: a few thousand changes (inserts, updates of random keys,
    # deletes, deleted keys inserted again) in small transactions, ~1 min.
    total = 3000
    progress = {"changes": 0, "txns": 0, "ops": collections.Counter()}
    errors = []

    def writer():
        rng = random.Random(20240611)
        live = set(range(1, 201))
        dead = []
        next_id = 201
        conn = mysql_connect(case.db, autocommit=False)
        try:
            with conn.cursor() as cur:
                while progress["changes"] < total:
                    for _ in range(rng.randint(1, 5)):
                        r = rng.random()
                        n = progress["changes"]
                        if r < 0.30 or len(live) < 20:
                            if dead and rng.random() < 0.3:
                                k = dead.pop(rng.randrange(len(dead)))  # a deleted key comes back
                            else:
                                k, next_id = next_id, next_id + 1
                            cur.execute("INSERT INTO t VALUES (%s, %s, %s)", (k, n, f"ins {k} at {n}"))
                            live.add(k)
                            op = "insert"
                        elif r < 0.80:
                            k = rng.choice(sorted(live))
                            cur.execute("UPDATE t SET v = v + 1, s = %s WHERE id = %s", (f"upd at {n}", k))
                            op = "update"
                        else:
                            k = rng.choice(sorted(live))
                            cur.execute("DELETE FROM t WHERE id = %s", (k,))
                            live.discard(k)
                            dead.append(k)
                            op = "delete"
                        progress["changes"] += 1
                        progress["ops"][op] += 1
                    conn.commit()
                    progress["txns"] += 1
                    time.sleep(0.05)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            conn.close()

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    tw = time.monotonic()

    # The second sink joins: the group rebalances and it gets partitions.
    t1 = time.monotonic()
    other = case.start_sink(config, "binlake-sink-other.log", env=other_env)
    wait_until(
        lambda: commits_in(other) > 0,
        LONG_WAIT,
        "the second sink's first Delta commit (a share of the partitions after the rebalance)",
        interval=0.5,
    )
    timings["second sink start -> its first Delta commit"] = time.monotonic() - t1

    wait_until(lambda: progress["changes"] >= total // 3 or not w.is_alive(), 300, "a third of the changes")
    assert not errors, errors
    assert lead.alive() and other.alive(), "a sink died on its own"
    lead_commits_before = commits_in(lead)
    other_commits_before = commits_in(other)
    print(f"\nbefore the kill: lead {lead_commits_before} Delta commits, other {other_commits_before}")

    # kill -9 the second sink while changes keep coming.
    tk = time.monotonic()
    other.kill9()
    marks_at_kill = watermarks(topic)

    def caught_up_to(marks):
        t = delta_table(path)
        for p, (low, high) in enumerate(marks):
            v = t.transaction_version(case.app_id("t", p))
            if high > low and (v is None or v < high - 1):
                return False
        return True

    # Down for ~25 s (past the 10 s session timeout), then started again.
    took_over = None
    while time.monotonic() - tk < 25:
        if took_over is None and caught_up_to(marks_at_kill):
            took_over = time.monotonic() - tk
        assert lead.alive(), "the surviving sink died"
        time.sleep(0.5)
    timings["kill -9 -> survivor applied every partition up to the kill (None: not within 25 s)"] = took_over
    assert not errors, errors
    tr = time.monotonic()
    other = case.start_sink(config, "binlake-sink-other.log", env=other_env)
    wait_until(
        lambda: commits_in(other, since_start=True) > 0 or caught_up_to(watermarks(topic)),
        LONG_WAIT,
        "the restarted sink to commit (or the survivor to have caught up)",
        interval=0.5,
    )
    timings["restart -> restarted sink's first Delta commit"] = time.monotonic() - tr

    w.join(timeout=600)
    assert not w.is_alive(), "writer did not finish"
    assert not errors, errors
    timings["writer"] = time.monotonic() - tw
    print(f"writer: {progress['changes']} changes in {progress['txns']} transactions, ops {dict(progress['ops'])}")

    tf = time.monotonic()
    case.wait_delta_equals_mysql("t", LONG_WAIT, procs=[src, lead, other])
    timings["writer done -> Delta equals MySQL"] = time.monotonic() - tf
    time.sleep(5)  # a late replay, if any, would be committed now
    case.wait_delta_equals_mysql("t", WAIT, procs=[src, lead, other])
    check_no_duplicate_keys(path)
    final = check_txn_versions_rise(path)

    marks = watermarks(topic)
    t = delta_table(path)
    for p, (low, high) in enumerate(marks):
        assert high > low, f"partition {p} got no records: {marks}"
        app = case.app_id("t", p)
        v = t.transaction_version(app)
        assert v is not None and low <= v <= high - 1, f"{app}: txn version {v}, partition offsets {low}..{high}"

    print(f"timings (s): { {k: (None if v is None else round(v, 1)) for k, v in timings.items()} }")
    print(
        f"Delta commits: lead {commits_in(lead)}, other {commits_in(other)} (both runs); "
        f"Delta version {t.version()}; final txn versions {final}"
    )
    assert lead_commits_before > 0 and other_commits_before > 0, (
        f"both sinks should have had partitions before the kill (lead {lead_commits_before}, "
        f"other {other_commits_before})"
    )
    assert lead.stop(signal.SIGTERM) == 0
    assert other.stop(signal.SIGTERM) == 0
    assert src.stop(signal.SIGTERM) == 0
