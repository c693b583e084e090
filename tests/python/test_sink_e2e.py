"""The Delta sink end to end: MariaDB → binlake source → Kafka (tansu) →
binlake sink → Delta tables, read back with the Python `deltalake` package
(delta-rs) and compared row for row with MySQL.

- every type of docs/contract.md through inserts, updates, deletes, a key-changing update
  and a multi-row transaction, with the metadata columns;
- a crash between the Delta commit and the Kafka offset commit (failpoint
  `BINLAKE_FAILPOINT=sink_after_delta_commit`), then kill -9: no loss, no
  duplicate, no batch applied twice (Delta `txn` versions);
- a column added mid-stream becomes a nullable Delta column;
- soft deletes keep the row with `__deleted = true`.

The whole module is skipped while binlake says its sink is "not part of
this build".
"""

import datetime as dt
import decimal
import json
import signal
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from sink_harness import (  # noqa: F401
    check_no_duplicate_keys,
    check_txn_versions_rise,
    FAILPOINT_AFTER_DELTA_COMMIT,
    FAILPOINT_ENV,
    META_COLUMNS,
    UTC,
    delta_log_txns,
    delta_raw_rows,
    delta_schema,
    delta_table,
    diff_rows,
    mysql_connect,
    sink_case,
    sink_missing_reason,
    wait_until,
)
from source_harness import BROKERS, topic_partitions, wait_for_count, watermarks

WAIT = 90.0  # seconds to wait for Delta to catch up


@pytest.fixture(autouse=True, scope="module")
def _needs_sink():
    why = sink_missing_reason()
    if why is not None:
        pytest.skip(why)


def last_gtid(conn_or_case):
    if hasattr(conn_or_case, "sql"):
        return conn_or_case.sql("SELECT @@last_gtid")[0][0]
    with conn_or_case.cursor() as cur:
        cur.execute("SELECT @@last_gtid")
        return cur.fetchone()[0]


def strip_meta(row):
    return {k: v for k, v in row.items() if k not in META_COLUMNS}


def check_metadata(rows, now_ms=None):
    now_ms = now_ms or time.time() * 1000
    for r in rows:
        assert r["__op"] in ("c", "u", "r"), (r["id"], r["__op"])
        assert type(r["__source_ts_ms"]) is int, (r["id"], r["__source_ts_ms"])
        assert now_ms - 600_000 < r["__source_ts_ms"] <= now_ms + 5_000, (r["id"], r["__source_ts_ms"], now_ms)
        assert isinstance(r["__source_pos"], str) and r["__source_pos"], (r["id"], r["__source_pos"])


# ---------------------------------------------------------------- a. every type, mixed DML

# (column, DDL, Delta type per docs/contract.md) — the table of test_source_types.py.
COLS = [
    ("id", "INT NOT NULL PRIMARY KEY", "integer"),
    ("ti", "TINYINT", "integer"),
    ("tiu", "TINYINT UNSIGNED", "integer"),
    ("si", "SMALLINT", "integer"),
    ("siu", "SMALLINT UNSIGNED", "integer"),
    ("mi", "MEDIUMINT", "integer"),
    ("miu", "MEDIUMINT UNSIGNED", "integer"),
    ("i", "INT NOT NULL", "integer"),
    ("iu", "INT UNSIGNED", "long"),
    ("bi", "BIGINT", "long"),
    ("biu", "BIGINT UNSIGNED", "decimal(20,0)"),
    ("d65", "DECIMAL(65,30)", "string"),
    ("d38", "DECIMAL(38,10)", "decimal(38,10)"),
    ("d10u", "DECIMAL(10,2) UNSIGNED", "decimal(10,2)"),
    ("f", "FLOAT", "float"),
    ("dbl", "DOUBLE", "double"),
    ("b1", "BIT(1)", "boolean"),
    ("b13", "BIT(13)", "binary"),
    ("yr", "YEAR", "integer"),
    ("dte", "DATE", "date"),
    ("dtm", "DATETIME(6)", "timestamp_ntz"),
    ("dtm0", "DATETIME", "timestamp_ntz"),
    ("ts", "TIMESTAMP(6) NULL DEFAULT NULL", "timestamp"),
    ("ts2", "TIMESTAMP(2) NULL DEFAULT NULL", "timestamp"),
    ("tm", "TIME(6)", "long"),
    ("tm0", "TIME", "long"),
    ("c", "CHAR(10) CHARACTER SET utf8mb4", "string"),
    ("vc", "VARCHAR(300) CHARACTER SET utf8mb4", "string"),
    ("tx", "TEXT CHARACTER SET utf8mb4", "string"),
    ("lat", "VARCHAR(10) CHARACTER SET latin1", "string"),
    ("latc", "CHAR(5) CHARACTER SET latin1", "string"),
    ("u2", "VARCHAR(5) CHARACTER SET ucs2", "string"),
    ("cp", "VARCHAR(5) CHARACTER SET cp1251", "string"),
    ("sj", "CHAR(4) CHARACTER SET sjis", "string"),
    ("bin", "BINARY(16)", "binary"),
    ("vb", "VARBINARY(20)", "binary"),
    ("bl", "BLOB", "binary"),
    ("en", "ENUM('a','b','ç') CHARACTER SET utf8mb4", "string"),
    ("st", "SET('x','y','z')", "string"),
    ("js", "JSON", "string"),
    ("geo", "GEOMETRY", "binary"),
    ("pt", "POINT", "binary"),
]
NAMES = [c[0] for c in COLS]

D65_MAX = "99999999999999999999999999999999999.999999999999999999999999999999"
D38_MAX = "9999999999999999999999999999.9999999999"

# Values after the id, per row.
VALUES = {
    # maxima
    1: (
        "127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, "
        "9223372036854775807, 18446744073709551615, "
        f"'{D65_MAX}', '{D38_MAX}', 99999999.99, 3.4028234e38, 1.7976931348623157e308, "
        "b'1', b'1111111111111', 2155, '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59', "
        "'2038-01-19 03:14:07.999999', '2038-01-19 03:14:07.99', '838:59:59.999999', '838:59:59', "
        "'😀ab', REPEAT('€', 300), 'text ü 😀 𝄞', X'80E9', X'8080', 'Ωa', X'C6E6', 'ｱｲ', "
        "X'01020300', X'DEADBEEF00', X'00FF0000', 'ç', 'x,z', '{\"a\": [1, 2.5, \"x\"], \"b\": null}', "
        "ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 2))'), POINT(1.5, -2)"
    ),
    # minima
    2: (
        "-128, 0, -32768, 0, -8388608, 0, -2147483648, 0, "
        "-9223372036854775808, 0, "
        f"'-{D65_MAX}', '-{D38_MAX}', 0, -1.17549435e-38, -2.2250738585072014e-308, "
        "b'0', b'0', 1901, '1000-01-01', '1000-01-01 00:00:00.000000', '1000-01-01 00:00:00', "
        "'1970-01-01 00:00:01.000000', '1970-01-01 00:00:01.01', '-838:59:59.000000', '-838:59:59', "
        "'', '', '', '', '', '', '', '', "
        "X'', X'', X'', 'a', '', '[]', "
        "ST_GeomFromText('POINT(0 0)'), POINT(0, 0)"
    ),
    # odd values: zero dates, negative MEDIUMINT, YEAR 0, fractions, tiny decimals
    3: (
        "-1, 1, -1, 1, -1234567, 1, -1, 1, -1, 1, "
        "'-123.45', '0.0000000001', 0.01, 1e-3, 0.1, "
        "b'1', b'0000000000001', 0, '0000-00-00', '0000-00-00 00:00:00.000000', '2020-00-15 00:00:00', "
        "'0000-00-00 00:00:00', '2024-02-29 12:34:56.5', '-00:00:00.000001', '-00:00:01', "
        "'a  ', 'tab\\there', REPEAT('x', 70000), 'é', 'x', 'é', 'ж', 'ab', "
        "X'00000000000000000000000000000000', X'00', X'00', 'b', 'y', '\"s\"', "
        "ST_GeomFromText('LINESTRING(0 0,1 1,-1.25 3e10)'), POINT(-0.0, 1e-300)"
    ),
    # every nullable column NULL
    4: ", ".join("0" if n == "i" else "NULL" for n in NAMES[1:]),
    # values around the epoch
    5: (
        "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
        "'0.000000000000000000000000000001', '-0.0000000001', 0.00, 0, -0.0, "
        "b'0', b'1000000000000', 1970, '1970-01-01', '1969-12-31 23:59:59.999999', '1970-01-01 00:00:00', "
        "'1970-01-01 00:00:00.000001', '2000-02-29 23:59:59.99', '00:00:00.000001', '24:00:00', "
        "'\\0nul', 'quote\\'s', 'ß', 'ÿ', '€', '𝄞', 'ё', '', "
        "X'FF', X'0000', X'00', 'ç', 'x,y,z', '{}', "
        "ST_GeomFromText('MULTIPOINT(1 1,2 2)'), POINT(180, -90)"
    ),
}


def insert_row(rid, values):
    return f"INSERT INTO alltypes VALUES ({rid}, {values})"


def test_every_type_through_mixed_dml(sink_case):
    case = sink_case
    ddl = ",\n  ".join(f"`{n}` {t}" for n, t, _ in COLS)
    case.sql(f"CREATE TABLE alltypes (\n  {ddl}\n) CHARACTER SET utf8mb4")
    config = case.write_sink_config(deletes="hard")
    # A process time zone far from UTC: DATETIME must not shift, TIMESTAMP
    # must be UTC whatever the zone of the process or of the writing session.
    proc = case.binlake(config, "all")
    proc.env = {"TZ": "Asia/Kolkata"}
    proc.start().wait_streaming()
    path = case.table_path("alltypes")

    # Phase 1: inserts (the MERGE's insert path).
    case.sql("SET SESSION sql_mode = ''")
    case.sql("SET SESSION time_zone = '+00:00'")
    for rid, values in VALUES.items():
        case.sql(insert_row(rid, values))
        assert not [w for w in case.sql("SHOW WARNINGS") if w[0] == "Error"], rid
    case.sql("SET SESSION time_zone = '+05:30'")  # TIMESTAMP stored (and sent) as UTC
    case.sql(
        "INSERT INTO alltypes (id, i, dtm, ts) "
        "VALUES (6, 6, '2020-06-01 12:00:00.123456', '2020-06-01 12:00:00.123456')"
    )
    case.sql("SET SESSION time_zone = '+00:00'")
    rows = case.wait_delta_equals_mysql("alltypes", WAIT, procs=[proc])
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r["__op"] == "c" for r in rows), [(r["id"], r["__op"]) for r in rows]

    # Delta column types as the contract's table says; metadata columns; no
    # __deleted with hard deletes.
    schema = delta_schema(path)
    want = {n: t for n, _, t in COLS}
    want.update({"__op": "string", "__source_ts_ms": "long", "__source_pos": "string"})
    wrong = [f"{n}: {schema.get(n)} != {t}" for n, t in want.items() if schema.get(n) != t]
    assert not wrong, "Delta column types:\n" + "\n".join(wrong)
    assert set(schema) == set(want), f"unexpected Delta columns: {sorted(set(schema) - set(want))}"

    # Phase 2: updates of rows already in Delta, a delete, a key change and
    # one transaction touching several rows (the MERGE's update/delete paths
    # and the collapse of several changes of one key in one batch).
    case.sql(
        "UPDATE alltypes SET vc = 'updated ü', ts = '2001-02-03 04:05:06.7', d38 = -1.5, "
        "biu = 18446744073709551614, b13 = b'101', b1 = b'0', js = '{\"k\": 1}', tm = '-12:00:00.5', "
        "dtm = '2024-02-29 23:59:59.000001', dte = '2024-02-29', f = 1.5, d65 = '1.5' WHERE id = 1"
    )
    gtid_update_1 = last_gtid(case)
    case.sql(
        "UPDATE alltypes SET ti = 1, tiu = 2, si = 3, siu = 4, mi = 5, miu = 6, iu = 7, bi = 8, biu = 9, "
        "d65 = '10.5', d38 = '11.25', d10u = 12.5, f = 13.5, dbl = 14.5, b1 = b'1', b13 = b'11', yr = 2024, "
        "dte = '2024-01-02', dtm = '2024-01-02 03:04:05.678901', dtm0 = '2024-01-02 03:04:05', "
        "ts = '2024-01-02 03:04:05.678901', ts2 = '2024-01-02 03:04:05.67', tm = '100:00:00', tm0 = '-01:02:03', "
        "c = 'c', vc = 'vc', tx = 'tx', lat = 'l€', latc = 'lc', u2 = 'u2', cp = 'ж', sj = 'ｱ', "
        "bin = X'01', vb = X'02', bl = X'03', en = 'b', st = 'x,y', js = '[1]', "
        "geo = ST_GeomFromText('POINT(1 2)'), pt = POINT(3, 4) WHERE id = 4"
    )
    case.sql("UPDATE alltypes SET vc = NULL, bl = NULL, dtm = NULL, ts = NULL, biu = NULL WHERE id = 2")
    case.sql("DELETE FROM alltypes WHERE id = 3")
    case.sql("UPDATE alltypes SET id = 60 WHERE id = 6")  # key change: delete 6, create 60
    gtid_key_change = last_gtid(case)

    txn = mysql_connect(case.db, autocommit=False)
    try:
        with txn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")
            cur.execute("SET SESSION time_zone = '+00:00'")
            txn.begin()
            cur.execute(insert_row(7, VALUES[1]))
            cur.execute(insert_row(8, VALUES[5]))
            cur.execute("UPDATE alltypes SET i = 55 WHERE id = 5")
            cur.execute("UPDATE alltypes SET i = 56, tx = 'twice' WHERE id = 5")
            cur.execute("DELETE FROM alltypes WHERE id = 2")
            cur.execute(insert_row(2, VALUES[5]))  # deleted and created again in one transaction
            cur.execute("INSERT INTO alltypes (id, i) VALUES (9, 9)")
            cur.execute("UPDATE alltypes SET vc = 'in txn' WHERE id = 7")
            txn.commit()
        gtid_txn = last_gtid(txn)
    finally:
        txn.close()
    case.sql(insert_row(3, VALUES[3]))  # a hard-deleted key comes back
    gtid_reinsert_3 = last_gtid(case)

    rows = case.wait_delta_equals_mysql("alltypes", WAIT, procs=[proc])
    by_id = {r["id"]: r for r in rows}
    assert sorted(by_id) == [1, 2, 3, 4, 5, 7, 8, 9, 60]
    check_metadata(rows)
    ops = {k: r["__op"] for k, r in by_id.items()}
    assert ops == {1: "u", 2: "c", 3: "c", 4: "u", 5: "u", 7: "u", 8: "c", 9: "c", 60: "c"}, ops
    # __source_pos is the transaction's GTID on MariaDB.
    assert by_id[1]["__source_pos"] == gtid_update_1
    assert by_id[60]["__source_pos"] == gtid_key_change
    assert by_id[3]["__source_pos"] == gtid_reinsert_3
    for k in (2, 5, 7, 8, 9):
        assert by_id[k]["__source_pos"] == gtid_txn, (k, by_id[k]["__source_pos"], gtid_txn)
    assert len({by_id[k]["__source_ts_ms"] for k in (2, 5, 7, 8, 9)}) == 1, "one transaction, one commit time"

    # Spot checks independent of the SELECT conversions.
    assert by_id[7]["biu"] == decimal.Decimal(18446744073709551615)
    assert by_id[1]["biu"] == decimal.Decimal(18446744073709551614)
    assert by_id[7]["d65"] == D65_MAX and by_id[1]["d65"] == "1.500000000000000000000000000000"
    assert by_id[3]["d65"] == "-123.450000000000000000000000000000"
    assert by_id[7]["d38"] == decimal.Decimal(D38_MAX)
    assert by_id[1]["ts"] == dt.datetime(2001, 2, 3, 4, 5, 6, 700000, tzinfo=UTC)
    assert by_id[7]["ts"] == dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC)
    assert by_id[60]["ts"] == dt.datetime(2020, 6, 1, 6, 30, 0, 123456, tzinfo=UTC)
    assert by_id[60]["dtm"] == dt.datetime(2020, 6, 1, 12, 0, 0, 123456)
    assert by_id[7]["dtm"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert by_id[2]["dtm"] == dt.datetime(1969, 12, 31, 23, 59, 59, 999999)
    assert by_id[1]["tm"] == -(12 * 3600 * 1_000_000 + 500_000)
    assert by_id[7]["tm"] == (838 * 3600 + 59 * 60 + 59) * 1_000_000 + 999_999
    assert by_id[3]["tm"] == -1 and by_id[4]["tm"] == 100 * 3600 * 1_000_000
    for zero in ("dte", "dtm", "dtm0", "ts"):
        assert by_id[3][zero] is None, f"zero date in {zero} must be null"
    assert by_id[1]["b1"] is False and by_id[7]["b1"] is True
    assert by_id[1]["b13"] == bytes([0x00, 0x05]) and by_id[7]["b13"] == bytes([0x1F, 0xFF])
    assert by_id[7]["bin"] == bytes([1, 2, 3]) + bytes(13), "BINARY keeps its trailing zero bytes"
    assert by_id[7]["lat"] == "€é" and by_id[4]["lat"] == "l€"
    assert json.loads(by_id[7]["js"]) == {"a": [1, 2.5, "x"], "b": None}
    assert by_id[7]["vc"] == "in txn" and by_id[5]["i"] == 56 and by_id[5]["tx"] == "twice"
    for name in NAMES[1:]:
        if name != "i":
            assert by_id[9][name] is None, f"NULL in {name}"

    assert proc.stop(signal.SIGTERM) == 0, "SIGTERM must drain and exit 0"


# ---------------------------------------------------------------- b. crash between Delta and Kafka commits


def write_batch(db, first, n, per_txn=25):
    """Inserts ids first..first+n-1, `per_txn` rows per transaction."""
    conn = mysql_connect(db, autocommit=False)
    try:
        with conn.cursor() as cur:
            for start in range(first, first + n, per_txn):
                ids = range(start, min(start + per_txn, first + n))
                cur.executemany("INSERT INTO t (id, v, s) VALUES (%s, %s, %s)", [(i, i, f"row {i}") for i in ids])
                conn.commit()
    finally:
        conn.close()


def test_crash_after_delta_commit_before_offset_commit(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(50))")
    topic = case.topic("t")
    partitions = 2  # one Delta app id per partition
    admin = AdminClient({"bootstrap.servers": BROKERS})  # kept alive until the result is in
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    assert topic_partitions(topic) == partitions
    config = case.write_sink_config(deletes="hard")
    path = case.table_path("t")
    src = case.start_source_role(config)

    # Phase 1, all in Kafka before the sink starts: 250 inserts, 20
    # updates, 10 deletes (+ tombstones).
    write_batch(case.db, 1, 250)
    case.sql("UPDATE t SET v = v + 1000 WHERE id <= 20")
    case.sql("DELETE FROM t WHERE id > 240")
    wait_for_count(topic, 250 + 20 + 10 * 2, 60, src)

    crashing = case.start_sink(config, "binlake-sink-failpoint.log", env={FAILPOINT_ENV: FAILPOINT_AFTER_DELTA_COMMIT})
    try:
        rc = crashing.wait_exit(WAIT)
    except AssertionError:
        raise AssertionError(
            f"{FAILPOINT_ENV}={FAILPOINT_AFTER_DELTA_COMMIT}: the sink still runs after {WAIT}s; "
            "it should abort right after its first Delta commit"
        )
    assert rc != 0, f"the failpoint must abort the sink, not exit {rc}"
    t = delta_table(path)
    assert t is not None and t.version() >= 0, "the sink aborted before any Delta commit"
    at_crash = check_txn_versions_rise(path)
    print(f"crashed with exit code {rc} at Delta version {t.version()}, txn versions {at_crash}")

    # Restart without the failpoint and nothing new in Kafka: what the crashed
    # commit covered must be skipped (not committed again), the rest applied.
    sink = case.start_sink(config)
    case.wait_delta_equals_mysql("t", WAIT, procs=[src, sink])
    time.sleep(3)  # a replayed batch, if any, would be committed now
    check_txn_versions_rise(path)
    check_no_duplicate_keys(path)

    # Phase 2: updates, deletes, a key change and inserts on a running sink.
    case.sql("UPDATE t SET v = v + 1, s = CONCAT(s, ' (2)') WHERE id <= 100")
    case.sql("DELETE FROM t WHERE id BETWEEN 21 AND 30")
    case.sql("UPDATE t SET id = 1040 WHERE id = 40")
    write_batch(case.db, 251, 50)
    case.wait_delta_equals_mysql("t", WAIT, procs=[src, sink])

    # Phase 3: kill -9 the sink while rows keep coming, then restart it.
    stop = threading.Event()
    written = {}

    def writer():
        n = 0
        conn = mysql_connect(case.db, autocommit=False)
        try:
            with conn.cursor() as cur:
                while not stop.is_set() and n < 400:
                    base = 2000 + n * 5
                    cur.executemany("INSERT INTO t (id, v, s) VALUES (%s, 0, 'p3')", [(base + k,) for k in range(5)])
                    cur.execute("UPDATE t SET v = v + 1 WHERE id = %s", (1 + n % 10,))
                    conn.commit()
                    n += 1
                    time.sleep(0.02)
        finally:
            conn.close()
            written["txns"] = n

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    time.sleep(3)
    assert sink.alive(), "sink died on its own"
    sink.kill9()
    time.sleep(1)
    stop.set()
    w.join(timeout=120)
    assert not w.is_alive()
    print(f"phase 3: {written['txns']} transactions written around the kill -9")
    sink = case.start_sink(config, "binlake-sink-2.log")
    rows = case.wait_delta_equals_mysql("t", WAIT, procs=[src, sink])
    time.sleep(3)
    rows = check_no_duplicate_keys(path)
    check_metadata(rows)
    final = check_txn_versions_rise(path)

    # The offsets consumed are in Delta as txn actions, app id per partition.
    marks = watermarks(topic)
    t = delta_table(path)
    for p, (low, high) in enumerate(marks):
        if high <= low:
            continue
        app = case.app_id("t", p)
        v = t.transaction_version(app)
        assert v is not None, f"no txn version for {app} (txn actions seen: {final})"
        assert low <= v <= high, f"{app}: txn version {v} outside the partition's offsets {low}..{high}"
        if app in at_crash:
            assert v >= at_crash[app]

    assert sink.stop(signal.SIGTERM) == 0, "SIGTERM must drain and exit 0"
    assert src.stop(signal.SIGTERM) == 0


# ---------------------------------------------------------------- c. a column added mid-stream


def test_column_added_mid_stream(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    config = case.write_sink_config()
    proc = case.start_all(config)
    path = case.table_path("t")

    case.sql("INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)")
    case.wait_delta_equals_mysql("t", WAIT, procs=[proc])
    assert "note" not in delta_schema(path)

    case.sql("ALTER TABLE t ADD COLUMN note VARCHAR(20) NULL")
    case.sql("INSERT INTO t VALUES (4, 40, 'four'), (5, 50, 'five')")
    case.sql("UPDATE t SET note = 'one' WHERE id = 1")
    case.sql("INSERT INTO t (id, a) VALUES (6, 60)")
    case.sql("UPDATE t SET a = 31 WHERE id = 3")
    rows = case.wait_delta_equals_mysql("t", WAIT, procs=[proc])

    schema = delta_table(path).schema()
    note = [f for f in schema.fields if f.name == "note"]
    assert note, f"no column note in Delta: {[f.name for f in schema.fields]}"
    assert note[0].nullable and delta_schema(path)["note"] == "string"
    notes = {r["id"]: r["note"] for r in rows}
    assert notes == {1: "one", 2: None, 3: None, 4: "four", 5: "five", 6: None}, notes
    assert {r["id"]: r["a"] for r in rows} == {1: 10, 2: 20, 3: 31, 4: 40, 5: 50, 6: 60}
    check_metadata(rows)
    assert proc.stop(signal.SIGTERM) == 0


# ---------------------------------------------------------------- d. soft deletes


def test_soft_deletes_keep_the_row(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT, s VARCHAR(20))")
    config = case.write_sink_config(deletes="soft")
    proc = case.start_all(config)
    path = case.table_path("t")

    case.sql("INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c'), (4, 4, 'd'), (5, 5, 'e'), (6, 6, 'f')")
    case.wait_delta_equals_mysql("t", WAIT, procs=[proc])
    assert delta_schema(path).get("__deleted") == "boolean"
    before = {r["id"]: strip_meta(r) for r in case.delta_rows("t", keep_meta=True)}

    case.sql("UPDATE t SET v = 22 WHERE id = 2")
    case.sql("DELETE FROM t WHERE id = 3")
    case.sql("DELETE FROM t WHERE id = 5")
    case.sql("UPDATE t SET id = 60 WHERE id = 6")  # the old key is deleted
    case.sql("DELETE FROM t WHERE id = 4")
    case.sql("INSERT INTO t VALUES (4, 44, 'd again')")  # a soft-deleted key comes back
    deleted = {3, 5, 6}

    last = []

    def converged():
        nonlocal last
        assert proc.alive(), f"binlake exited ({proc.returncode})"
        rows = case.delta_rows("t", keep_meta=True) or []
        mysql, kinds = case.mysql_rows("t")
        flags = {r["id"]: r.get("__deleted") for r in rows}
        live = [strip_meta(r) for r in rows if r.get("__deleted") is False]
        last = diff_rows(live, mysql, kinds)
        gone = {k for k, f in flags.items() if f is True}
        if gone != deleted:
            last.append(f"rows with __deleted = true: {sorted(gone)}, expected {sorted(deleted)}")
        odd = {k: f for k, f in flags.items() if not isinstance(f, bool)}
        if odd:
            last.append(f"__deleted must be true or false, not {odd}")
        return not last and rows

    rows = wait_until(converged, WAIT, lambda: "soft deletes in Delta:\n  " + "\n  ".join(last[:15]))
    by_id = {r["id"]: r for r in rows}
    assert sorted(by_id) == [1, 2, 3, 4, 5, 6, 60]
    for k in deleted:
        assert by_id[k]["__deleted"] is True
        assert strip_meta(by_id[k]) == before[k], f"a soft-deleted row keeps its last values: {by_id[k]}"
    for k in (1, 2, 4, 60):
        assert by_id[k]["__deleted"] is False, by_id[k]
        assert by_id[k]["__op"] in ("c", "u", "r")
    assert by_id[4]["v"] == 44 and by_id[4]["s"] == "d again"
    assert by_id[60]["v"] == 6 and by_id[2]["v"] == 22
    assert proc.stop(signal.SIGTERM) == 0
