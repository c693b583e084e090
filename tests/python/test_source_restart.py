"""Restarts: after SIGTERM, and after kill -9 in the middle of a stream of
small transactions, every change lands in Kafka exactly once, in order per
key (tansu has no transactions, so this relies on binlake skipping what a
partition already holds)."""

import collections
import signal
import threading
import time

import random

from confluent_kafka.admin import AdminClient, NewTopic

from source_harness import (  # noqa: F401
    BROKERS,
    case,
    mysql_connect,
    read_topic,
    record_count,
    topic_partitions,
    wait_for_count,
    watermarks,
)

ROWS_PER_TXN = 10
HOT_KEYS = 10


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed int32."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = data[length - length % 4 :]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def test_murmur2_matches_kafka_vectors():
    # From Kafka's UtilsTest.testMurmur2.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def write_txns(db, first_txn, n_txns, stop=None, pause=0.0):
    """Transaction i inserts ids i*10+1..i*10+10 (v = 0) and increments v of
    hot key (i % 10) + 1 (inserted by transaction 0). Returns how many were
    committed."""
    conn = mysql_connect(db, autocommit=False)
    done = 0
    try:
        with conn.cursor() as cur:
            for i in range(first_txn, first_txn + n_txns):
                if stop is not None and stop.is_set():
                    break
                base = i * ROWS_PER_TXN
                cur.executemany(
                    "INSERT INTO t (id, v) VALUES (%s, 0)", [(base + k,) for k in range(1, ROWS_PER_TXN + 1)]
                )
                cur.execute("UPDATE t SET v = v + 1 WHERE id = %s", ((i % HOT_KEYS) + 1,))
                conn.commit()
                done += 1
                if pause:
                    time.sleep(pause)
    finally:
        conn.close()
    return done


def check_exactly_once(case, records, n_txns):
    """All changes of transactions 0..n_txns-1, each once, in order per key."""
    assert all(r.value is not None for r in records), "no deletes in this workload"
    by_key = collections.defaultdict(list)
    for r in records:
        by_key[r.key["id"]].append(r)
    creates = collections.Counter(r.key["id"] for r in records if r.op == "c")
    expected_ids = set(range(1, n_txns * ROWS_PER_TXN + 1))
    missing = sorted(expected_ids - set(creates))
    dup = sorted(k for k, n in creates.items() if n > 1)
    extra = sorted(set(creates) - expected_ids)
    assert not missing and not dup and not extra, (
        f"missing creates {missing[:20]} ({len(missing)}), duplicated {dup[:20]} ({len(dup)}), unexpected {extra[:20]}"
    )
    final = dict(case.sql(f"SELECT id, v FROM t WHERE id <= {HOT_KEYS}"))
    for key in range(1, HOT_KEYS + 1):
        recs = by_key[key]
        assert recs[0].op == "c" and recs[0].value["after"]["v"] == 0, (key, recs[0].value)
        seq = [r.value["after"]["v"] for r in recs[1:]]
        assert all(r.op == "u" for r in recs[1:])
        # Updates of one key arrive once each and in order: v = 1, 2, 3, ...
        assert seq == list(range(1, len(seq) + 1)), f"key {key}: update sequence {seq[:50]}..."
        assert [r.value["before"]["v"] for r in recs[1:]] == list(range(0, len(seq)))
        assert len(seq) == final[key], f"key {key}: {len(seq)} updates in Kafka, v = {final[key]} in MySQL"
    for key, recs in by_key.items():
        if key > HOT_KEYS:
            assert len(recs) == 1, f"key {key}: {[(r.op, r.offset) for r in recs]}"
    expected_total = n_txns * (ROWS_PER_TXN + 1)
    assert len(records) == expected_total, f"{len(records)} records, expected {expected_total}"
    # The order header rises strictly within each partition: no replays.
    for p in {r.partition for r in records}:
        orders = [r.order for r in records if r.partition == p]
        bad = [(a, b) for a, b in zip(orders, orders[1:]) if not a < b]
        assert not bad, f"partition {p}: binlake.order not strictly increasing: {bad[:5]}"


def test_sigterm_then_restart_no_duplicates_no_loss(case):
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
    config = case.write_config()
    topic = case.topic("t")
    src = case.start_source(config)
    write_txns(case.db, 0, 30)
    wait_for_count(topic, 30 * 11, 60, src)
    write_txns(case.db, 30, 10)  # possibly still in flight at SIGTERM
    assert src.stop(signal.SIGTERM) == 0, "SIGTERM must end the source cleanly"
    assert "source stopped" in src.log_text()

    write_txns(case.db, 40, 30)  # written while the source is down
    src2 = case.start_source(config)
    assert "resuming from the stored position" in src2.log_text(since_start=True)
    write_txns(case.db, 70, 30)
    wait_for_count(topic, 100 * 11, 60, src2)
    time.sleep(2)  # duplicates, if any, would arrive now
    check_exactly_once(case, read_topic(topic), 100)
    assert src2.stop(signal.SIGTERM) == 0


def kill_and_restart_while_writing(case, config, topic, kills=2, every=2.0, pause=0.002):
    """Runs a writer thread and kill -9s the source `kills` times, `every`
    seconds apart, restarting it at once; the writer keeps writing until the
    kills are done, however fast the machine is. Returns the last process
    and the number of transactions written."""
    src = case.start_source(config)
    result = {}
    stop = threading.Event()
    writer = threading.Thread(
        target=lambda: result.update(done=write_txns(case.db, 0, 10**6, stop=stop, pause=pause)),
        daemon=True,
    )
    t0 = time.monotonic()
    writer.start()
    last = 0
    for kill in range(1, kills + 1):
        time.sleep(every)
        before = record_count(topic)
        assert src.alive(), "source died on its own"
        assert writer.is_alive(), "writer stopped early"
        assert before > last, f"the source produced nothing since the last kill ({before} records); kill later"
        last = before
        src.stop(signal.SIGKILL)
        print(f"kill -9 #{kill} after {time.monotonic() - t0:.1f}s with {before} records in {topic}")
        time.sleep(0.3)
        src = case.start_source(config)
    time.sleep(1)  # a little writing after the last restart, too
    stop.set()
    writer.join(timeout=300)
    assert not writer.is_alive(), "writer did not finish"
    n_txns = result["done"]
    print(f"{n_txns} transactions written in {time.monotonic() - t0:.1f}s")
    return src, n_txns


def test_kill_9_mid_stream_then_restart_exactly_once(case):
    # Each transaction inserts 10 rows and updates one of 10 hot keys.
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
    config = case.write_config()
    topic = case.topic("t")
    src, n_txns = kill_and_restart_while_writing(case, config, topic)
    wait_for_count(topic, n_txns * 11, 120, src)
    time.sleep(2)
    records = read_topic(topic)
    check_exactly_once(case, records, n_txns)
    assert src.stop(signal.SIGTERM) == 0


def test_kill_9_with_pre_created_partitions(case):
    """A topic pre-created with 3 partitions: keys go where Kafka's Java
    partitioner puts them (murmur2 of the key bytes), and after kill -9 each
    partition resumes on its own, exactly once."""
    partitions = 3
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
    topic = case.topic("t")
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    assert topic_partitions(topic) == partitions
    config = case.write_config()
    # A restart first reads the last record of each partition (~1 s each
    # against tansu), so leave it time to produce again before the next kill.
    src, n_txns = kill_and_restart_while_writing(case, config, topic, kills=2, every=4.5, pause=0.005)
    wait_for_count(topic, n_txns * 11, 120, src)
    time.sleep(2)
    records = read_topic(topic)
    wrong = [
        (r.key, r.partition)
        for r in records
        if r.partition != (murmur2(r.key_bytes) & 0x7FFFFFFF) % partitions
    ]
    assert not wrong, f"records not in murmur2(key) % {partitions}: {wrong[:10]}"
    counts = collections.Counter(r.partition for r in records)
    assert len(counts) == partitions, f"keys should spread over every partition: {counts}"
    check_exactly_once(case, records, n_txns)
    assert src.stop(signal.SIGTERM) == 0


def test_kill_9_inside_a_large_transaction(case):
    """kill -9 while a 200,000-row transaction is being produced: the restart
    resumes before the transaction and skips the rows Kafka already has."""
    rows = 200_000
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
    config = case.write_config()
    topic = case.topic("t")
    src = case.start_source(config)
    case.sql(f"INSERT INTO t SELECT seq, seq % 7 FROM seq_1_to_{rows}")
    at_kill = wait_for_count(topic, rows // 4, 120, src, interval=0.05)
    src.stop(signal.SIGKILL)
    at_kill = record_count(topic)
    print(f"kill -9 with {at_kill}/{rows} records of the transaction in {topic}")
    assert at_kill < rows, "the transaction was complete before the kill; use more rows"
    src = case.start_source(config)
    wait_for_count(topic, rows, 180, src)
    time.sleep(2)
    low, high = watermarks(topic)[0]
    assert high - low == rows, f"{high - low} records for {rows} rows"
    # Record at offset o is row o+1 (one INSERT ... SELECT in id order):
    # check around the kill point and a random sample.
    window = read_topic(topic, start={0: max(low, low + at_kill - 30)}, limit=60)
    samples = window + [r for off in random.sample(range(low, high), 10) for r in read_topic(topic, start={0: off}, limit=1)[:1]]
    for r in samples:
        assert r.key == {"id": r.offset - low + 1}, (r.offset, r.key)
        assert r.value["after"]["id"] == r.offset - low + 1 and r.op == "c"
        assert r.value["transaction"]["total_order"] == r.offset - low + 1
    orders = [r.order for r in window]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert src.stop(signal.SIGTERM) == 0
