"""Row changes as Debezium messages: c/u/d with before/after, tombstones,
key-changing updates, transactions across tables, exclusions, and tables
without a primary key."""

import json
import signal
import time

from source_harness import (  # noqa: F401
    case,
    mysql_connect,
    read_topic,
    registry_get,
    subject_versions,
    topic_exists,
    wait_for_count,
)


def last_gtid(case):
    return case.sql("SELECT @@last_gtid")[0][0]


def check_source_block(rec, case, table, gtid, server_id):
    s = rec.value["source"]
    assert s["connector"] == "mysql"
    assert s["name"] == case.name
    assert s["db"] == case.db and s["table"] == table
    assert s["snapshot"] in ("false", None)
    assert s["server_id"] == server_id
    assert s["gtid"] == gtid
    assert s["file"].startswith("mysql-bin.") and s["pos"] > 0
    assert s["query"] is None
    now_ms = time.time() * 1000
    assert now_ms - 120_000 < s["ts_ms"] <= now_ms + 1000, s["ts_ms"]
    # Top-level ts_ms: when binlake handled the event, not before the commit's second.
    assert rec.value["ts_ms"] is not None and rec.value["ts_ms"] >= s["ts_ms"]
    assert rec.value["transaction"]["id"] == gtid


def test_insert_update_delete_key_change_and_exclusions(case):
    db = case.db
    case.sql("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), qty INT NOT NULL, `Secret` VARCHAR(20), internal_note TEXT)")
    case.sql("CREATE TABLE tmp_scratch (id INT PRIMARY KEY, v INT)")
    case.sql("CREATE TABLE tmpkeep (id INT PRIMARY KEY)")
    config = case.write_config(
        exclude_tables=[f"{db}.tmp_*"],
        exclude_columns=[f"{db}.items.secret", f"{db}.*.internal_*"],
    )
    src = case.start_source(config)
    server_id = case.sql("SELECT @@server_id")[0][0]

    gtids = []
    for stmt in [
        "INSERT INTO items VALUES (1, 'a', 1, 's1', 'n1')",
        "UPDATE items SET qty = 2, `Secret` = 's1b' WHERE id = 1",
        "DELETE FROM items WHERE id = 1",
        "INSERT INTO items VALUES (2, 'b', 5, 's2', 'n2')",
        "UPDATE items SET id = 3 WHERE id = 2",
        "INSERT INTO tmp_scratch VALUES (1, 1)",
        "INSERT INTO tmpkeep VALUES (7)",
    ]:
        case.sql(stmt)
        gtids.append(last_gtid(case))

    topic = case.topic("items")
    wait_for_count(topic, 8, 60, src)
    wait_for_count(case.topic("tmpkeep"), 1, 30, src)
    time.sleep(1)  # anything extra would show up now
    recs = read_topic(topic)
    summary = [(r.op, r.key) for r in recs]
    assert summary == [
        ("c", {"id": 1}),
        ("u", {"id": 1}),
        ("d", {"id": 1}),
        (None, {"id": 1}),  # tombstone
        ("c", {"id": 2}),
        ("d", {"id": 2}),  # key change: delete of the old key
        (None, {"id": 2}),  # + tombstone
        ("c", {"id": 3}),  # + create of the new key
    ], summary

    c1, u1, d1, t1, c2, d2, t2, c3 = recs
    assert c1.value["before"] is None
    assert c1.value["after"] == {"id": 1, "name": "a", "qty": 1}, "excluded columns must not appear"
    assert u1.value["before"] == {"id": 1, "name": "a", "qty": 1}
    assert u1.value["after"] == {"id": 1, "name": "a", "qty": 2}
    assert d1.value["before"] == {"id": 1, "name": "a", "qty": 2} and d1.value["after"] is None
    assert t1.value_bytes is None and t1.key_bytes == d1.key_bytes
    assert c2.value["after"] == {"id": 2, "name": "b", "qty": 5}
    assert d2.value["before"] == {"id": 2, "name": "b", "qty": 5} and d2.value["after"] is None
    assert t2.value_bytes is None and t2.key_bytes == d2.key_bytes
    assert c3.value["before"] is None and c3.value["after"] == {"id": 3, "name": "b", "qty": 5}
    # The key change is one transaction: the delete comes first, then the create.
    assert d2.value["transaction"]["id"] == c3.value["transaction"]["id"] == gtids[4]
    assert (d2.value["transaction"]["total_order"], c3.value["transaction"]["total_order"]) == (1, 2)

    for rec, gtid in [(c1, gtids[0]), (u1, gtids[1]), (d1, gtids[2]), (c2, gtids[3]), (d2, gtids[4]), (c3, gtids[4])]:
        check_source_block(rec, case, "items", gtid, server_id)
    assert c1.value["transaction"]["total_order"] == 1

    # Excluded columns are not in the registered schema either.
    schema = json.loads(registry_get(f"/subjects/{topic}-value/versions/latest")["schema"])
    row = schema["fields"][0]["type"][1]
    assert [f["name"] for f in row["fields"]] == ["id", "name", "qty"]

    # Excluded tables get no topic and no subject.
    assert not topic_exists(case.topic("tmp_scratch"))
    assert subject_versions(f"{case.topic('tmp_scratch')}-value") == []
    assert [r.key for r in read_topic(case.topic("tmpkeep"))] == [{"id": 7}]
    assert src.alive()


def test_transaction_spanning_two_tables(case):
    case.sql("CREATE TABLE items (id INT PRIMARY KEY, v INT)")
    case.sql("CREATE TABLE orders (id INT PRIMARY KEY, item INT, state VARCHAR(10))")
    src = case.start_source()
    server_id = case.sql("SELECT @@server_id")[0][0]

    case.sql("BEGIN")
    case.sql("INSERT INTO items VALUES (10, 1)")
    case.sql("INSERT INTO orders VALUES (100, 10, 'new')")
    case.sql("INSERT INTO items VALUES (11, 1), (12, 1)")
    case.sql("UPDATE orders SET state = 'paid' WHERE id = 100")
    case.sql("DELETE FROM items WHERE id = 10")
    case.sql("COMMIT")
    gtid = last_gtid(case)
    case.sql("INSERT INTO orders VALUES (101, 11, 'new')")
    gtid2 = last_gtid(case)
    assert gtid != gtid2

    wait_for_count(case.topic("items"), 5, 60, src)  # 3 c + d + tombstone
    wait_for_count(case.topic("orders"), 3, 60, src)
    items = read_topic(case.topic("items"))
    orders = read_topic(case.topic("orders"))
    changes = [r for r in items + orders if r.value is not None]
    in_txn = sorted((r for r in changes if r.value["transaction"]["id"] == gtid), key=lambda r: r.value["transaction"]["total_order"])
    got = [
        (r.value["source"]["table"], r.op, r.key["id"], r.value["transaction"]["total_order"], r.value["transaction"]["data_collection_order"])
        for r in in_txn
    ]
    assert got == [
        ("items", "c", 10, 1, 1),
        ("orders", "c", 100, 2, 1),
        ("items", "c", 11, 3, 2),
        ("items", "c", 12, 4, 3),
        ("orders", "u", 100, 5, 2),
        ("items", "d", 10, 6, 4),
    ], got
    for r in in_txn:
        check_source_block(r, case, r.value["source"]["table"], gtid, server_id)
    # Rows of one rows event are numbered by `row`.
    assert [r.value["source"]["row"] for r in in_txn if r.key["id"] in (11, 12)] == [0, 1]
    assert len({r.value["source"]["pos"] for r in in_txn}) == 1, "source.pos is the transaction's position"

    after = [r for r in changes if r.value["transaction"]["id"] == gtid2]
    assert [(r.key["id"], r.value["transaction"]["total_order"], r.value["transaction"]["data_collection_order"]) for r in after] == [(101, 1, 1)]
    check_source_block(after[0], case, "orders", gtid2, server_id)
    assert len(changes) == 7
    # In each topic the records follow binlog order.
    for recs in (items, orders):
        orders_hdr = [r.order for r in recs]
        assert orders_hdr == sorted(orders_hdr) and len(set(orders_hdr)) == len(orders_hdr)


def test_table_without_primary_key_is_refused_unless_key_columns(case):
    db = case.db
    case.sql("CREATE TABLE events (event_id BIGINT NOT NULL, kind VARCHAR(10), UNIQUE KEY (kind))")

    # 1. Without key_columns: the source stops with an error naming the table and the fix.
    src = case.source(case.write_config(), log_name="nokey.log").start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and src.alive() and "streaming binlog" not in src.log_text():
        time.sleep(0.1)
    if src.alive():
        case.sql("INSERT INTO events VALUES (1, 'a')")
    rc = src.wait_exit(60)
    assert rc != 0, "a table without a primary key must stop the source"
    log = src.log_text()
    assert f"{db}.events" in log and "key_columns" in log, log[-2000:]
    assert not any(r.value is not None for r in read_topic(case.topic("events"))), "no record without a key"

    # 2. With key_columns naming a column: the table streams, keyed by it.
    name2 = case.name + "k"
    config = case.write_config(key_columns={f"{db}.events": ["event_id"]}, name=name2, filename="keyed.toml")
    src2 = case.start_source(config, log_name="keyed.log")
    case.sql("INSERT INTO events VALUES (2, 'b'), (3, 'c')")
    case.sql("UPDATE events SET kind = 'bb' WHERE event_id = 2")
    case.sql("DELETE FROM events WHERE event_id = 3")
    topic = f"{name2}.{db}.events"
    wait_for_count(topic, 5, 60, src2)
    recs = read_topic(topic)
    assert [(r.op, r.key) for r in recs] == [
        ("c", {"event_id": 2}),
        ("c", {"event_id": 3}),
        ("u", {"event_id": 2}),
        ("d", {"event_id": 3}),
        (None, {"event_id": 3}),
    ]
    assert recs[2].value["before"] == {"event_id": 2, "kind": "b"}
    assert recs[2].value["after"] == {"event_id": 2, "kind": "bb"}
    assert src2.stop() == 0


def test_xa_rollback_is_not_published(case):
    """MariaDB (10.5+) binlogs an XA transaction at XA PREPARE; its outcome
    comes later as XA COMMIT or XA ROLLBACK. Only committed changes may be
    published."""
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    src = case.start_source()
    for xid, row, outcome in [("xa_rb", 1, "ROLLBACK"), ("xa_ok", 2, "COMMIT")]:
        case.sql(f"XA START '{xid}'")
        case.sql(f"INSERT INTO t VALUES ({row}, '{outcome.lower()}')")
        case.sql(f"XA END '{xid}'")
        case.sql(f"XA PREPARE '{xid}'")
        case.sql(f"XA {outcome} '{xid}'")
    case.sql("INSERT INTO t VALUES (3, 'plain')")
    assert [r[0] for r in case.sql("SELECT id FROM t ORDER BY id")] == [2, 3]
    wait_for_count(case.topic("t"), 2, 60, src)
    time.sleep(2)
    got = [(r.op, r.key["id"]) for r in read_topic(case.topic("t"))]
    assert ("c", 1) not in got, f"a rolled-back XA transaction was published: {got}"
    assert got == [("c", 2), ("c", 3)], got


def test_row_larger_than_the_producer_limit_is_not_a_silent_stall(case):
    """A 3 MB row is over librdkafka's default message.max.bytes (1 MB).
    Acceptable: it is delivered, or the source stops with an error naming the
    setting to raise. Not acceptable: retrying the same record forever while
    every later change waits."""
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT)")
    src = case.start_source()
    case.sql("INSERT INTO t VALUES (1, REPEAT('x', 3000000))")
    case.sql("INSERT INTO t VALUES (2, 'after')")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and src.alive():
        if len(read_topic(case.topic("t"), decode=False)) >= 2:
            recs = read_topic(case.topic("t"))
            assert [r.key["id"] for r in recs] == [1, 2]
            assert len(recs[0].value["after"]["v"]) == 3_000_000
            return
        time.sleep(0.5)
    if src.alive():
        retries = src.log_text().count("MessageSizeTooLarge")
        raise AssertionError(
            f"source neither delivered the 3 MB row nor stopped within 30 s "
            f"({retries} 'MessageSizeTooLarge' retries in its log; row 2 is stuck behind it)"
        )
    log = src.log_text()
    assert src.returncode != 0
    assert "message.max.bytes" in log, "the error should name the setting to raise: " + log[-1500:]


def test_xa_prepared_before_a_kill_is_published_after_restart(case):
    """The resume position stays before an unresolved XA PREPARE: a source
    killed while an XA transaction waits for its outcome still publishes its
    rows once the XA COMMIT arrives, and later changes only once."""
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    src = case.start_source()
    case.sql("XA START 'held'")
    case.sql("INSERT INTO t VALUES (1, 'prepared')")
    case.sql("XA END 'held'")
    case.sql("XA PREPARE 'held'")
    # A second session: the first is still inside the XA transaction.
    plain = mysql_connect(case.db)
    with plain.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (10, 'after')")
    plain.commit()
    wait_for_count(case.topic("t"), 1, 60, src)
    time.sleep(2.5)  # the position is stored at most every second
    src.stop(signal.SIGKILL)
    case.sql("XA COMMIT 'held'")
    src2 = case.start_source()
    wait_for_count(case.topic("t"), 2, 60, src2)
    time.sleep(2)
    got = [(r.op, r.key["id"]) for r in read_topic(case.topic("t"))]
    assert got == [("c", 10), ("c", 1)], got
    assert src2.stop() == 0
