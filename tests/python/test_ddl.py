"""Common DDL under the registry's default BACKWARD level while rows
stream: every statement registers a compatible schema version (column
defaults are Avro defaults), the source never stops, and after each
statement Kafka and Delta hold what MySQL holds. Delta follows the table:
new columns added, widened types widened (the table rewritten), renamed
columns as new columns, dropped columns kept and null from then on. A type
change no compatible schema can express stops the source with the fix."""

import json
import os
import subprocess

from sink_harness import (  # noqa: F401
    CDC_PASSWORD,
    REGISTRY,
    binlake_bin,
    check_no_duplicate_keys,
    delta_rows,
    delta_schema,
    diff_rows,
    mysql_rows,
    same_value,
    sink_case,
    wait_until,
)
from source_harness import read_topic, registry_get, subject_schema, subject_versions

WAIT = 60

# Each step: a DDL statement, then changes that use its result.
STEPS = [
    ("ALTER TABLE t ADD COLUMN n1 INT NULL", "INSERT INTO t (id, small, f, v, nn, n1) VALUES ({i}, 1, 1.5, 'a', 1, 7)"),
    ("ALTER TABLE t ADD COLUMN flag TINYINT NOT NULL DEFAULT 1", "INSERT INTO t (id, small, f, v, nn, flag) VALUES ({i}, 2, 2.5, 'b', 2, 0)"),
    ("ALTER TABLE t ADD COLUMN z INT NOT NULL", "INSERT INTO t (id, small, f, v, nn, z) VALUES ({i}, 3, 3.5, 'c', 3, 9)"),
    ("ALTER TABLE t ADD COLUMN created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 4, 4.5, 'd', 4)"),
    ("ALTER TABLE t ADD COLUMN u VARCHAR(40) NOT NULL DEFAULT (uuid())", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 5, 5.5, 'e', 5)"),
    ("ALTER TABLE t ADD COLUMN s VARCHAR(10) NOT NULL DEFAULT 'it''s'", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 6, 6.5, 'f', 6)"),
    ("ALTER TABLE t ADD COLUMN d DECIMAL(10,2) NOT NULL DEFAULT 1.50", "INSERT INTO t (id, small, f, v, nn, d) VALUES ({i}, 7, 7.5, 'g', 7, 12345678.91)"),
    ("ALTER TABLE t DROP COLUMN n1", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 8, 8.5, 'h', 8)"),
    ("ALTER TABLE t RENAME COLUMN s TO s2", "INSERT INTO t (id, small, f, v, nn, s2) VALUES ({i}, 9, 9.5, 'i', 9, 'new')"),
    ("ALTER TABLE t MODIFY small INT NOT NULL", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 100000, 10.5, 'j', 10)"),
    ("ALTER TABLE t MODIFY small BIGINT NOT NULL", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 9000000000, 11.5, 'k', 11)"),
    ("ALTER TABLE t MODIFY f DOUBLE", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 12, 0.1, 'l', 12)"),
    ("ALTER TABLE t MODIFY v VARCHAR(300)", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 13, 13.5, REPEAT('m', 250), 13)"),
    ("ALTER TABLE t MODIFY d DECIMAL(14,4) NOT NULL DEFAULT 1.50", "INSERT INTO t (id, small, f, v, nn, d) VALUES ({i}, 14, 14.5, 'n', 14, 1234567890.1234)"),
    ("ALTER TABLE t MODIFY nn INT NULL", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 15, 15.5, 'o', NULL)"),
    ("ALTER TABLE t MODIFY nn INT NOT NULL DEFAULT 0", "INSERT INTO t (id, small, f, v, nn) VALUES ({i}, 16, 16.5, 'p', 16)"),
    ("ALTER TABLE t CHANGE v v2 VARCHAR(400)", "INSERT INTO t (id, small, f, v2, nn) VALUES ({i}, 17, 17.5, 'q', 17)"),
    ("ALTER TABLE t MODIFY f DOUBLE AFTER id", "INSERT INTO t (id, small, f, v2, nn) VALUES ({i}, 18, 18.5, 'r', 18)"),
]


# Statements whose effect on existing rows no row event carries: columns
# added with an expression default (MySQL computes each row's value) and
# renamed columns (Delta gets a new column, null in older rows). A backfill
# (`binlake snapshot --table`) brings those rows.
NEEDS_BACKFILL = ("DEFAULT CURRENT_TIMESTAMP", "DEFAULT (uuid())", "RENAME COLUMN", "CHANGE v v2")


def backfill(config, table) -> None:
    env = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
    r = subprocess.run(
        [str(binlake_bin()), "snapshot", str(config), "--table", table],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def verify(config) -> tuple[int, str]:
    env = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
    r = subprocess.run(
        [str(binlake_bin()), "verify", str(config)], capture_output=True, text=True, env=env, timeout=120
    )
    return r.returncode, r.stdout + r.stderr


def delta_vs_mysql(case) -> list[str]:
    """Differences between Delta, seen through MySQL's current columns, and
    MySQL (Delta keeps dropped and renamed columns)."""
    m, kinds = mysql_rows(case.db, "t")
    d = delta_rows(case.table_path("t"))
    if d is not None:
        d = [{k: v for k, v in r.items() if k in kinds} for r in d]
    return diff_rows(d, m, kinds)


def kafka_vs_mysql(case) -> list[str]:
    """The last image of each key in Kafka (decoded with the writer's
    schema) against MySQL, for the columns the image has."""
    m, kinds = mysql_rows(case.db, "t")
    last = {}
    for r in read_topic(case.topic("t")):
        if r.value is None:
            continue
        k = r.key["id"]
        last[k] = None if r.op == "d" else r.value["after"]
    last = {k: v for k, v in last.items() if v is not None}
    out = []
    if set(last) != {r["id"] for r in m}:
        out.append(f"keys differ: kafka {sorted(last)} mysql {sorted(r['id'] for r in m)}")
    for row in m:
        img = last.get(row["id"])
        for col, kind in kinds.items():
            if img is None or col not in img:
                continue
            got = img[col]
            if not same_value(kind, got, row[col]):
                out.append(f"id {row['id']} {col} ({kind}): kafka {got!r} != mysql {row[col]!r}")
    return out


def test_common_ddl_passes_backward_and_delta_follows(sink_case):
    case = sink_case
    level = registry_get("/config")
    assert level["compatibilityLevel"] == "BACKWARD", level
    case.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, small TINYINT NOT NULL, f FLOAT, v VARCHAR(20), nn INT NOT NULL)"
    )
    config = case.write_sink_config(flush_interval="500ms")
    proc = case.start_all(config)
    subject = f"{case.topic('t')}-value"

    # Rows that leave NOT NULL columns out take their implicit default.
    case.sql("SET SESSION sql_mode = ''")
    next_id = 1
    case.sql(f"INSERT INTO t VALUES ({next_id}, 1, 0.5, 'start', 1)")
    next_id += 1
    for ddl, dml in STEPS:
        # Rows around the statement: one before, the statement, one after,
        # and an update of an older row.
        case.sql(f"INSERT INTO t (id, small, nn) SELECT {next_id}, 1, 1")
        next_id += 1
        case.sql(ddl)
        case.sql(dml.format(i=next_id))
        next_id += 1
        case.sql(f"UPDATE t SET nn = nn + 1 WHERE id = {next_id - 3}")
        if any(k in ddl for k in NEEDS_BACKFILL):
            backfill(config, f"{case.db}.t")
        wait_until(lambda: not delta_vs_mysql(case), WAIT, lambda: f"after `{ddl}`: {delta_vs_mysql(case)[:8]}")
        assert proc.alive(), f"binlake stopped after `{ddl}`"
        assert not kafka_vs_mysql(case), (ddl, kafka_vs_mysql(case)[:8])
    case.sql("DELETE FROM t WHERE id = 2")
    wait_until(lambda: not delta_vs_mysql(case), WAIT, lambda: delta_vs_mysql(case)[:8])

    # Every version went through under BACKWARD; an unchanged table adds none.
    versions = subject_versions(subject)
    assert len(versions) >= 10, versions
    schema = json.loads(subject_schema(subject)["schema"])
    fields = {f["name"]: f for f in schema["fields"][0]["type"][1]["fields"]}
    assert all("default" in f for f in fields.values()), fields
    assert fields["flag"]["default"] == 1
    assert fields["s2"]["default"] == "it's"
    assert fields["z"]["default"] == 0
    # Made NOT NULL again after being nullable: stays a union (BACKWARD),
    # its literal default first.
    assert fields["nn"]["type"] == ["int", "null"] and fields["nn"]["default"] == 0, fields["nn"]

    # Delta: widened types, renamed and dropped columns kept.
    types = delta_schema(case.table_path("t"))
    assert types["small"] == "long" and types["f"] == "double", types
    assert types["d"] == "decimal(14,4)", types
    assert {"n1", "s", "v", "v2", "s2"} <= set(types), types
    raw = {r["id"]: r for r in delta_rows(case.table_path("t"))}
    assert raw[max(raw)]["n1"] is None and raw[max(raw)]["s"] is None
    check_no_duplicate_keys(case.table_path("t"))
    rc, out = verify(config)
    assert rc == 0, out

    # A restart registers nothing new.
    proc.stop()
    proc2 = case.start_all(config, "binlake-all-2.log")
    case.sql(f"INSERT INTO t (id, small, nn) VALUES ({next_id}, 1, 1)")
    wait_until(lambda: not delta_vs_mysql(case), WAIT, lambda: delta_vs_mysql(case)[:8])
    assert subject_versions(subject) == versions
    assert proc2.alive()


def test_incompatible_type_change_stops_the_source_with_the_fix(sink_case):
    """INT → VARCHAR: no BACKWARD-compatible schema can express it. The
    source stops before writing the change, naming the subject and how to
    proceed; nothing is written with a wrong value."""
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    config = case.write_sink_config(flush_interval="500ms")
    proc = case.start_all(config)
    case.sql("INSERT INTO t VALUES (1, 10)")
    wait_until(lambda: not delta_vs_mysql(case), WAIT, lambda: delta_vs_mysql(case)[:8])
    case.sql("ALTER TABLE t MODIFY a VARCHAR(20)")
    case.sql("INSERT INTO t VALUES (2, 'twenty')")
    rc = proc.wait_exit(WAIT)
    assert rc != 0
    log = proc.log_text()
    subject = f"{case.topic('t')}-value"
    assert subject in log and "incompatible" in log.lower() and "/config/" in log, log[-3000:]
    recs = read_topic(case.topic("t"))
    assert [r.value["after"] for r in recs if r.value] == [{"id": 1, "a": 10}]
