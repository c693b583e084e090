"""Resume time of the source with many table topics: how long a restarted
source takes to read the last record of every partition it has written.

Creates TOPICS table topics of PARTITIONS partitions for one connector name
on the test broker, puts one binlake-stamped record in each partition, then
starts `binlake run --role source` (snapshot never) on a database with one
table, inserts a row, and reports the source's own log line "read the last
record of every table topic partition" (topics, partitions, elapsed_ms),
beside the same tails read one partition at a time with confluent-kafka, as
the source did before.

    python3 bench/resume.py [--topics 200] [--partitions 3]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "python"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from source_harness import BROKERS, new_case  # noqa: E402


def create_topics(names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for i in range(0, len(names), 50):
        futures = admin.create_topics([NewTopic(n, partitions) for n in names[i : i + 50]])
        for f in futures.values():
            f.result()


def stamp(names: list[str], partitions: int) -> None:
    p = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True})
    for n in names:
        for part in range(partitions):
            p.produce(n, key=b"k", value=b"v", partition=part,
                      headers=[("binlake.order", b"1:4:1:0"), ("binlake.server", b"bench/mysql-bin"),
                               ("binlake.gtid", b"0-1-1"), ("binlake.gtids", b"0-1-1")])
    assert p.flush(60) == 0


def sequential_tails(names: list[str], partitions: int) -> float:
    """The old way: one partition at a time, to its end."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "bench-resume", "enable.partition.eof": True,
                  "enable.auto.commit": False})
    started = time.monotonic()
    for n in names:
        for part in range(partitions):
            low, high = c.get_watermark_offsets(TopicPartition(n, part), timeout=10)
            c.assign([TopicPartition(n, part, high - 1)])
            while True:
                m = c.poll(1.0)
                if m is None:
                    continue
                if m.error() or m.offset() >= high - 1:
                    break
    c.close()
    return time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--topics", type=int, default=200)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--skip-sequential", action="store_true")
    args = ap.parse_args()
    case = new_case(pathlib.Path(tempfile.mkdtemp(prefix="binlake-resume-")), prefix="rsm")
    try:
        names = [case.topic(f"t{i:03d}") for i in range(args.topics)]
        t0 = time.monotonic()
        create_topics(names, args.partitions)
        stamp(names, args.partitions)
        print(f"setup: {args.topics} topics x {args.partitions} partitions in {time.monotonic() - t0:.1f} s",
              flush=True)
        case.sql("CREATE TABLE t000 (id INT PRIMARY KEY)")
        proc = case.start_source(case.write_config(tables=[f"{case.db}.t000"]))
        case.sql("INSERT INTO t000 VALUES (1)")
        deadline = time.monotonic() + 600
        line = None
        while time.monotonic() < deadline and line is None:
            m = re.search(r"read the last record of every table topic partition.*", proc.log_text())
            line = m.group(0) if m else None
            time.sleep(0.2)
        proc.stop()
        fields = dict(re.findall(r"(\w+)=(\d+)", line or ""))
        result = {"topics": int(fields.get("topics", 0)), "partitions": int(fields.get("partitions", 0)),
                  "binlake_ms": int(fields.get("elapsed_ms", -1))}
        if not args.skip_sequential:
            result["sequential_ms"] = round(sequential_tails(names, args.partitions) * 1000)
        print(json.dumps(result))
    finally:
        case.close()


if __name__ == "__main__":
    main()
