"""ALTER TABLE while streaming: each table shape gets its own registry
version, every row decodes with the schema it was written with, and no row
around an ALTER is lost."""

import json
import time
import urllib.request

from source_harness import (  # noqa: F401
    REGISTRY,
    case,
    read_topic,
    subject_schema,
    subject_versions,
    wait_for_count,
)


def row_fields(subject, version):
    schema = json.loads(subject_schema(subject, version)["schema"])
    return [f["name"] for f in schema["fields"][0]["type"][1]["fields"]]


def test_add_and_drop_nullable_columns_while_streaming(case):
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    src = case.start_source()
    topic = case.topic("t")
    subject = f"{topic}-value"

    case.sql("INSERT INTO t VALUES (1, 10), (2, 20)")
    case.sql("INSERT INTO t VALUES (3, 30)")
    case.sql("ALTER TABLE t ADD COLUMN b VARCHAR(20) NULL")
    case.sql("INSERT INTO t VALUES (4, 40, 'four')")
    case.sql("UPDATE t SET b = 'one' WHERE id = 1")
    case.sql("INSERT INTO t (id, a) VALUES (5, 50)")
    case.sql("ALTER TABLE t DROP COLUMN a")
    case.sql("INSERT INTO t VALUES (6, 'six')")
    case.sql("UPDATE t SET b = 'two' WHERE id = 2")
    case.sql("DELETE FROM t WHERE id = 3")

    wait_for_count(topic, 10, 60, src)  # 9 changes + 1 tombstone
    time.sleep(1)
    recs = read_topic(topic)
    got = [(r.op, r.key["id"], r.value and r.value["after"]) for r in recs]
    assert got == [
        ("c", 1, {"id": 1, "a": 10}),
        ("c", 2, {"id": 2, "a": 20}),
        ("c", 3, {"id": 3, "a": 30}),
        ("c", 4, {"id": 4, "a": 40, "b": "four"}),
        ("u", 1, {"id": 1, "a": 10, "b": "one"}),
        ("c", 5, {"id": 5, "a": 50, "b": None}),
        ("c", 6, {"id": 6, "b": "six"}),
        ("u", 2, {"id": 2, "b": "two"}),
        ("d", 3, None),
        (None, 3, None),
    ], got
    # before images follow the table shape at the time of the change
    assert recs[4].value["before"] == {"id": 1, "a": 10, "b": None}
    assert recs[7].value["before"] == {"id": 2, "b": None}
    assert recs[8].value["before"] == {"id": 3, "b": None}

    versions = subject_versions(subject)
    assert versions == [1, 2, 3], f"one registry version per table shape, got {versions}"
    assert row_fields(subject, 1) == ["id", "a"]
    assert row_fields(subject, 2) == ["id", "a", "b"]
    assert row_fields(subject, 3) == ["id", "b"]
    ids = [subject_schema(subject, v)["id"] for v in versions]
    assert [r.schema_id for r in recs if r.value_bytes] == [ids[0]] * 3 + [ids[1]] * 3 + [ids[2]] * 3
    assert subject_versions(f"{topic}-key") == [1], "the key did not change"
    assert src.alive()


def test_add_not_null_column_with_default(case):
    """ADD COLUMN ... NOT NULL DEFAULT 0: the new Avro field is a plain int.
    Without a default in the Avro schema, BACKWARD compatibility (the
    registry's default level) rejects it; then the source must stop with a
    message naming the subject and how to proceed. With a default (as
    Debezium would register), rows keep flowing. Either outcome is checked;
    which one happened is printed."""
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    src = case.start_source()
    topic = case.topic("t")
    subject = f"{topic}-value"
    case.sql("INSERT INTO t VALUES (1, 10)")
    wait_for_count(topic, 1, 60, src)
    case.sql("ALTER TABLE t ADD COLUMN n INT NOT NULL DEFAULT 0")
    case.sql("INSERT INTO t VALUES (2, 20, 7)")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and src.alive() and len(read_topic(topic, decode=False)) < 2:
        time.sleep(0.2)
    if src.alive() and len(read_topic(topic, decode=False)) >= 2:
        recs = read_topic(topic)
        assert recs[1].value["after"] == {"id": 2, "a": 20, "n": 7}
        assert subject_versions(subject) == [1, 2]
        schema = json.loads(subject_schema(subject, 2)["schema"])
        n = [f for f in schema["fields"][0]["type"][1]["fields"] if f["name"] == "n"][0]
        print(f"\nADD COLUMN NOT NULL DEFAULT 0: accepted, registered field {n}")
        return
    rc = src.wait_exit(30)
    log = src.log_text()
    print(f"\nADD COLUMN NOT NULL DEFAULT 0: source exited {rc}; last log lines:\n" + "\n".join(log.splitlines()[-3:]))
    assert rc != 0, "the source must not exit 0 after refusing a change"
    assert subject in log, "the message must name the subject"
    assert "incompatible" in log.lower()
    assert "compatibility" in log.lower(), "the message should say how to relax the level"
    assert subject_versions(subject) == [1]
    # The row after the ALTER must not be lost: a restart after relaxing the
    # level picks it up (nothing for it was stored as done).
    req = urllib.request.Request(
        f"{REGISTRY}/config/{subject}",
        data=json.dumps({"compatibility": "NONE"}).encode(),
        method="PUT",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    urllib.request.urlopen(req, timeout=10).read()
    src2 = case.start_source(src.config)
    wait_for_count(topic, 2, 60, src2)
    recs = read_topic(topic)
    assert [(r.op, r.value["after"]) for r in recs] == [
        ("c", {"id": 1, "a": 10}),
        ("c", {"id": 2, "a": 20, "n": 7}),
    ]
