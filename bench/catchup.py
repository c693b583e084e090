"""Sink catch-up: how fast `binlake run --role sink` turns records already
in Kafka into a Delta table, beside a plain consumer reading the same topic
from the same broker and a plain Delta append of the same rows.

    python3 bench/catchup.py [--rows 1000000] [--max-batch-rows 100000]
                             [--flush-interval 1s] [--kafka-option KEY=VALUE]
                             [--bin PATH] [--keep]

1. Fills a fresh table's topic: `binlake run CONFIG --role source` streams
   `--rows` inserts (10,000-row transactions) into a one-partition topic,
   then stops. Not timed.
2. A plain consumer (confluent-kafka, librdkafka defaults) reads the topic
   from its beginning to its end: records/s.
3. `binlake run CONFIG --role sink` starts on the full topic; the time runs
   from its start until the Delta table's `txn` version for the partition
   reaches the topic's last offset (read from `_delta_log`). Its peak RSS
   (VmHWM) is sampled meanwhile; the table is then checked to hold every
   row exactly once.
4. The rows the sink wrote, read back into Arrow and appended by the
   `deltalake` Python package (delta-rs) to a new table in commits of
   `--max-batch-rows`: rows/s without Kafka, Avro or key handling.

Prints markdown. Exits 3 when the Delta table does not hold every row once,
1 on any other failure. Needs the local servers (bash scripts/servers.sh
start). The database and the work dir are removed unless --keep."""

from __future__ import annotations

import argparse
import pathlib
import shutil
import signal
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

import pyarrow  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from confluent_kafka import TopicPartition  # noqa: E402
from deltalake import write_deltalake  # noqa: E402

from freshness import DDL, TABLE, new_bench_case, values_sql  # noqa: E402
from sink_harness import BinlakeProcess, delta_log_txns, delta_table  # noqa: E402
from source_harness import mysql_connect, new_consumer, watermarks  # noqa: E402

FILL_TXN_ROWS = 10_000


def fill_topic(case, config: pathlib.Path, tmp: pathlib.Path, rows: int, topic: str) -> None:
    source = BinlakeProcess(config, tmp / "source.log", role="source")
    try:
        source.start()
        source.wait_streaming(timeout=120)
        with mysql_connect(case.db, autocommit=False) as conn, conn.cursor() as cur:
            first = 1
            while first <= rows:
                n = min(FILL_TXN_ROWS, rows - first + 1)
                cur.execute(f"INSERT INTO {TABLE} VALUES {values_sql(first, n)}")
                conn.commit()
                first += n
        started = time.monotonic()
        last, last_progress = -1, time.monotonic()
        while True:
            marks = watermarks(topic)
            count = sum(high - low for low, high in marks)
            if count >= rows:
                break
            if count != last:
                last, last_progress = count, time.monotonic()
            if not source.alive() or time.monotonic() - last_progress > 120:
                raise SystemExit(f"the topic holds {count}/{rows} records; source log:\n{source.log_text()[-3000:]}")
            time.sleep(1)
        print(f"topic filled: {rows} records, {time.monotonic() - started:.0f} s after the last INSERT", file=sys.stderr)
    finally:
        source.stop(signal.SIGTERM, timeout=60)


def plain_consumer(topic: str, end: int) -> tuple[int, float]:
    c = new_consumer()
    try:
        started = time.monotonic()
        c.assign([TopicPartition(topic, 0, 0)])
        got, last_offset = 0, -1
        while last_offset < end - 1:
            for m in c.consume(num_messages=10_000, timeout=5.0):
                if m.error():
                    continue
                got += 1
                last_offset = m.offset()
            if time.monotonic() - started > 1800:
                raise SystemExit(f"plain consumer: {got} records after 30 minutes")
        return got, time.monotonic() - started
    finally:
        c.close()


def run(a) -> int:
    tmp, case = new_bench_case(a, "catchup", "benchcu")
    config = case.write_sink_config(flush_interval=a.flush_interval, max_batch_rows=a.max_batch_rows)
    if a.kafka_option:
        options = [f'"{k}" = "{v}"' for k, v in (o.split("=", 1) for o in a.kafka_option)]
        config.write_text(config.read_text() + "\n[kafka.options]\n" + "\n".join(options) + "\n")
    topic = case.topic(TABLE)
    table_dir = case.table_path(TABLE)
    app_id = case.app_id(TABLE, 0)
    print(f"catch-up: db {case.db}, connector {case.name}, work dir {tmp}", file=sys.stderr)
    with mysql_connect(case.db) as c, c.cursor() as cur:
        cur.execute(DDL)

    ok = False
    try:
        fill_topic(case, config, tmp, a.rows, topic)
        ((low, end),) = watermarks(topic)
        records = end - low

        consumed, consumer_secs = plain_consumer(topic, end)
        print(f"plain consumer: {consumed} records in {consumer_secs:.1f} s", file=sys.stderr)

        sink = BinlakeProcess(config, tmp / "sink.log", role="sink")
        started = time.monotonic()
        sink.start()
        applied = None
        last_progress = time.monotonic()
        while True:
            versions = [v for _, app, v in delta_log_txns(table_dir) if app == app_id] if table_dir.exists() else []
            now_applied = max(versions, default=None)
            if now_applied != applied:
                applied, last_progress = now_applied, time.monotonic()
            if applied is not None and applied >= end - 1:
                break
            if not sink.alive() or time.monotonic() - last_progress > 120:
                raise SystemExit(f"the sink applied through offset {applied} of {end - 1}; log:\n{sink.log_text()[-3000:]}")
            sink.sample_rss()
            time.sleep(0.2)
        sink_secs = time.monotonic() - started
        rss_kb = sink.sample_rss()
        sink.stop(signal.SIGTERM, timeout=60)

        table = pyarrow.table(delta_table(table_dir).scan().read_all())
        ids = table.column("id")
        distinct = len(pc.unique(ids))
        ok = table.num_rows == a.rows and distinct == a.rows
        data = table.drop_columns([c for c in table.column_names if c.startswith("__")])

        append_dir = tmp / "append"
        appended = 0
        t0 = time.monotonic()
        for batch_start in range(0, data.num_rows, a.max_batch_rows):
            write_deltalake(str(append_dir), data.slice(batch_start, a.max_batch_rows), mode="append")
            appended += min(a.max_batch_rows, data.num_rows - batch_start)
        append_secs = time.monotonic() - t0
    finally:
        if not a.keep:
            with mysql_connect() as c, c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{case.db}`")

    sink_rate = records / sink_secs
    consumer_rate = consumed / consumer_secs
    print(
        f"| sink catch-up: {records:,} records in Kafka → Delta, max_batch_rows {a.max_batch_rows:,}, "
        f"flush_interval {a.flush_interval} | records | seconds | records/s | peak RSS |"
    )
    print("|---|---:|---:|---:|---:|")
    print(f"| binlake --role sink (start → txn version at the topic's end) | {records:,} | {sink_secs:.1f} | {sink_rate:,.0f} | {rss_kb / 1024:.0f} MiB |")
    print(f"| plain consumer (confluent-kafka), same topic and broker | {consumed:,} | {consumer_secs:.1f} | {consumer_rate:,.0f} | |")
    print(f"| plain Delta append (Python deltalake), same rows, {a.max_batch_rows:,} per commit | {appended:,} | {append_secs:.1f} | {appended / append_secs:,.0f} | |")
    print()
    print(f"sink / plain consumer: {sink_rate / consumer_rate:.2f}; Delta rows {table.num_rows:,}, distinct keys {distinct:,}")
    if not ok:
        print(f"the Delta table holds {table.num_rows} rows, {distinct} distinct keys; expected {a.rows}; kept {tmp}", file=sys.stderr)
        return 3
    if a.keep:
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--max-batch-rows", type=int, default=100_000)
    ap.add_argument("--flush-interval", default="1s")
    ap.add_argument("--bin", type=pathlib.Path, default=None)
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--kafka-option", action="append", default=[], metavar="KEY=VALUE", help="[kafka.options] entry (repeatable)"
    )
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
