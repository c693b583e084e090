"""Freshness: how long after a MySQL COMMIT a row is in Kafka and in Delta,
while a writer inserts at a steady rate.

    python3 bench/freshness.py [--rate 10000] [--seconds 60] [--flush-interval 1s]
                               [--max-batch-rows 100000] [--kafka-option KEY=VALUE]
                               [--bin PATH] [--keep]

Runs `binlake run CONFIG --role source` and `binlake run CONFIG --role sink`
as two processes, or with --one-process the whole pipeline as one `binlake
run CONFIG`, as the demo runs it (the release binary unless --bin or BINLAKE_BENCH_BIN
says otherwise; BINLAKE_BIN, which scripts/env.sh points at the debug build
for the tests, is not read) on a fresh database and connector name. Once the source logs
"streaming binlog" and a warm-up row has reached Delta, a writer inserts
`--rate` rows/s for `--seconds` s: one multi-row INSERT of rate/100 rows
every 10 ms, one transaction each, paced against a monotonic schedule (a
late tick goes at once, no catching up in bursts), and the wall-clock time
just after each COMMIT returns is the commit time of its rows. Then, per row:

- to Kafka: the record's timestamp (CreateTime, set when binlake produces)
  minus its commit time; the row is found by the Confluent Avro key. The
  server can send the binlog event to binlake before the writer's COMMIT
  call has returned, so values near 0 ms, even slightly below, are real;
- to Delta: the commitInfo timestamp of the first Delta version whose new
  data file holds the row, minus its commit time (`_delta_log/*.json` in
  version order, OPTIMIZE commits and dataChange=false adds skipped, each
  added Parquet file read once with pyarrow, first occurrence wins).

Prints markdown: the achieved write rate, p50/p99/max of both, the rows
that never arrived, and the peak RSS (VmHWM, sampled just before stopping)
of the source and the sink process. Exits 3 when rows never arrived, 1 on
any other failure. Needs the local servers (bash scripts/servers.sh start).
Topics are left in place (deleting one on tansu deletes all); the database
and the work dir (connector file, logs, Delta table) are removed unless
--keep, or the run failed (then the work dir stays for its logs)."""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import shutil
import signal
import sys
import time
import urllib.parse
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

import fastavro  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from sink_harness import BinlakeProcess, new_sink_case  # noqa: E402
from source_harness import (  # noqa: E402
    mysql_connect,
    read_topic,
    record_count,
    registry_get,
)

TABLE = "ev"
DDL = f"""CREATE TABLE {TABLE} (
  id BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  status VARCHAR(16) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  note VARCHAR(64),
  created_at DATETIME(3) NOT NULL
)"""
STATUSES = ("new", "paid", "sent", "done")
TICK = 0.010  # seconds between transactions at rates of 100 rows/s and more


def release_binary() -> pathlib.Path:
    explicit = os.environ.get("BINLAKE_BENCH_BIN")
    if explicit:
        return pathlib.Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/binlake/target"))
    return pathlib.Path(target) / "release" / "binlake"


def values_sql(first: int, n: int) -> str:
    return ",".join(
        f"({i},{i % 100000},'{STATUSES[i % 4]}',{i % 100000 / 100:.2f},'note {i}',NOW(3))"
        for i in range(first, first + n)
    )


# ---------------------------------------------------------------- Delta log


class DeltaFirstSeen:
    """Reads a Delta table's JSON commits incrementally, in version order,
    and remembers for each id the commitInfo timestamp (ms) of the first
    version whose newly added data file holds it."""

    def __init__(self, table: pathlib.Path):
        self.table = table
        self.next_version = 0
        self.paths: set[str] = set()
        self.first_ms: dict[int, int] = {}
        self.skipped_commits = 0

    def poll(self) -> int:
        """Reads the commits written since the last call; returns how many."""
        read = 0
        log = self.table / "_delta_log"
        while True:
            f = log / f"{self.next_version:020d}.json"
            try:
                text = f.read_text()
            except FileNotFoundError:
                return read
            actions = [json.loads(line) for line in text.splitlines() if line.strip()]
            info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
            ts = info.get("timestamp")
            if str(info.get("operation", "")).upper() == "OPTIMIZE":
                self.skipped_commits += 1
            else:
                for a in actions:
                    add = a.get("add")
                    if add is None or add.get("dataChange") is False:
                        continue
                    path = urllib.parse.unquote(add["path"])
                    if path in self.paths:
                        continue
                    self.paths.add(path)
                    if ts is None:
                        raise SystemExit(f"{f} has no commitInfo.timestamp")
                    full = pathlib.Path(path) if path.startswith("/") else self.table / path
                    ids = pq.read_table(full, columns=["id"]).column("id").to_pylist()
                    for i in ids:
                        if i is not None and i not in self.first_ms:
                            self.first_ms[i] = int(ts)
            self.next_version += 1
            read += 1


# ---------------------------------------------------------------- Kafka keys


class KeyDecoder:
    """Confluent Avro keys: magic byte 0, a 4-byte schema id, then the
    Avro-encoded key record (read with fastavro by the writer schema the
    registry holds for that id)."""

    def __init__(self):
        self.schemas: dict[int, object] = {}

    def id_of(self, key: bytes) -> int:
        if not key or key[0] != 0 or len(key) < 6:
            raise ValueError(f"not a Confluent Avro key: {key!r}")
        sid = int.from_bytes(key[1:5], "big")
        schema = self.schemas.get(sid)
        if schema is None:
            body = registry_get(f"/schemas/ids/{sid}")
            if body is None:
                raise ValueError(f"schema id {sid} is not in the registry")
            schema = fastavro.parse_schema(json.loads(body["schema"]))
            self.schemas[sid] = schema
        return int(fastavro.schemaless_reader(io.BytesIO(key[5:]), schema)["id"])


# ---------------------------------------------------------------- figures


def pct(sorted_vals: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def fmt_ms(ms: float) -> str:
    if ms != ms:  # NaN
        return "n/a"
    if abs(ms) >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{round(ms) or 0} ms"  # no "-0 ms"


def vm_hwm_kb(proc: BinlakeProcess) -> int:
    return proc.sample_rss()


# ---------------------------------------------------------------- run


def new_bench_case(a, kind: str, prefix: str):
    """The binary under test (--bin, else BINLAKE_BENCH_BIN, else the release
    build) handed to the harness, a fresh work dir `binlake-{kind}-*` and a
    test case in it (its database created)."""
    binary = a.bin or release_binary()
    if not binary.exists():
        raise SystemExit(f"binlake binary {binary} not found: cargo build --release --locked (or pass --bin)")
    # sink_harness copies BINLAKE_BIN (else the debug build) once per run.
    os.environ["BINLAKE_BIN"] = str(binary)
    tmp = pathlib.Path(a.work_dir or "/tmp") / f"binlake-{kind}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    return tmp, new_sink_case(tmp, prefix=prefix)


def run(a) -> int:
    # The tests' connector file (one database, snapshot "never", heartbeat
    # 1s) with this run's flush settings.
    tmp, case = new_bench_case(a, "freshness", "benchfr")
    db, name = case.db, case.name
    config = case.write_sink_config(flush_interval=a.flush_interval, max_batch_rows=a.max_batch_rows)
    if a.kafka_option:
        options = [f'"{k}" = "{v}"' for k, v in (o.split("=", 1) for o in a.kafka_option)]
        config.write_text(config.read_text() + "\n[kafka.options]\n" + "\n".join(options) + "\n")
    table_dir = case.table_path(TABLE)
    topic = case.topic(TABLE)
    print(f"freshness: db {db}, connector {name}, work dir {tmp}", file=sys.stderr)

    with mysql_connect(db) as c, c.cursor() as cur:
        cur.execute(DDL)

    if a.one_process:
        source = sink = BinlakeProcess(config, tmp / "run.log", role="all")
    else:
        source = BinlakeProcess(config, tmp / "source.log", role="source")
        sink = BinlakeProcess(config, tmp / "sink.log", role="sink")
    processes = [source] if a.one_process else [source, sink]
    conn = None
    failed = False
    try:
        source.start()
        source.wait_streaming(timeout=120)
        conn = mysql_connect(db, autocommit=False)
        cur = conn.cursor()
        # A warm-up row creates the topic and the Delta table, so the sink's
        # subscription and first commit are not part of what is measured.
        cur.execute(f"INSERT INTO {TABLE} VALUES {values_sql(0, 1)}")
        conn.commit()
        deadline = time.monotonic() + 120
        while record_count(topic) < 1:
            if time.monotonic() > deadline or not source.alive():
                raise SystemExit(f"the warm-up row did not reach {topic}; source log:\n{source.log_text()[-3000:]}")
            time.sleep(0.2)
        if not a.one_process:
            sink.start()
        seen = DeltaFirstSeen(table_dir)
        deadline = time.monotonic() + 180
        while 0 not in seen.first_ms:
            seen.poll()
            if time.monotonic() > deadline or not sink.alive():
                raise SystemExit(f"the warm-up row did not reach Delta; sink log:\n{sink.log_text()[-3000:]}")
            time.sleep(0.2)
        print(f"warm-up row in Kafka and Delta; writing {a.rate} rows/s for {a.seconds} s", file=sys.stderr)

        # The writer.
        per_tick = max(1, round(a.rate * TICK))
        interval = per_tick / a.rate
        ticks = max(1, int(round(a.seconds / interval)))
        commits: list[tuple[int, int, float]] = []  # (first id, rows, wall-clock commit time)
        next_id = 1
        late_max = 0.0
        t0 = time.monotonic()
        for k in range(ticks):
            due = t0 + k * interval
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            else:
                late_max = max(late_max, now - due)
            cur.execute(f"INSERT INTO {TABLE} VALUES {values_sql(next_id, per_tick)}")
            conn.commit()
            commits.append((next_id, per_tick, time.time()))
            next_id += per_tick
        write_secs = time.monotonic() - t0
        written = next_id - 1
        print(f"wrote {written} rows in {write_secs:.1f} s; waiting for the pipeline", file=sys.stderr)

        # Wait for every row in Kafka and Delta; give up after 60 s without
        # progress on either side, or after a generous overall bound.
        want = written + 1  # and the warm-up row
        last_progress = time.monotonic()
        hard = time.monotonic() + max(300.0, 10 * a.seconds)
        k_count = d_count = -1
        while True:
            seen.poll()
            kc = record_count(topic)
            dc = len(seen.first_ms)
            if (kc, dc) != (k_count, d_count):
                k_count, d_count = kc, dc
                last_progress = time.monotonic()
            if kc >= want and dc >= want:
                break
            dead = [p for p in processes if not p.alive()]
            if dead:
                failed = True
                for p in dead:
                    print(
                        f"binlake --role {p.role} exited ({p.returncode}) before every row arrived; "
                        f"its log ends:\n{p.log_text()[-3000:]}",
                        file=sys.stderr,
                    )
                break
            if time.monotonic() - last_progress > 60 or time.monotonic() > hard:
                print(f"gave up waiting: Kafka {kc}/{want}, Delta {dc}/{want} records", file=sys.stderr)
                break
            source.sample_rss()
            sink.sample_rss()
            time.sleep(0.5)
        drain_secs = time.monotonic() - t0 - write_secs
        rss_source = vm_hwm_kb(source)
        rss_sink = vm_hwm_kb(sink)
    finally:
        if conn is not None:
            conn.close()
        for p in reversed(processes):
            try:
                p.stop(signal.SIGTERM, timeout=60)
            except AssertionError as e:
                print(f"stopping --role {p.role}: {e}", file=sys.stderr)
        if not a.keep:
            with mysql_connect() as c, c.cursor() as cur2:
                cur2.execute(f"DROP DATABASE IF EXISTS `{db}`")

    # Kafka side: every record up to the high watermarks, keys decoded.
    records = read_topic(topic, decode=False, timeout=max(120.0, written / 2000))
    keys = KeyDecoder()
    kafka_ms: dict[int, int] = {}
    for r in records:
        i = keys.id_of(r.key_bytes)
        if i not in kafka_ms or r.timestamp_ms < kafka_ms[i]:
            kafka_ms[i] = r.timestamp_ms
    seen.poll()

    to_kafka: list[float] = []
    to_delta: list[float] = []
    for first, n, wall in commits:
        commit_ms = wall * 1000.0
        for i in range(first, first + n):
            if i in kafka_ms:
                to_kafka.append(kafka_ms[i] - commit_ms)
            if i in seen.first_ms:
                to_delta.append(seen.first_ms[i] - commit_ms)
    # Throughput through each stage: rows over the time from the first
    # measured COMMIT to the last arrival.
    first_commit_ms = commits[0][2] * 1000.0
    measured = range(1, written + 1)
    last_k = max((kafka_ms[i] for i in measured if i in kafka_ms), default=None)
    last_d = max((seen.first_ms[i] for i in measured if i in seen.first_ms), default=None)

    def through(last):
        if last is None or last <= first_commit_ms:
            return "n/a"
        return f"{len(measured) / ((last - first_commit_ms) / 1000):,.0f} rows/s"

    to_kafka.sort()
    to_delta.sort()
    miss_k = written - len(to_kafka)
    miss_d = written - len(to_delta)

    achieved = written / write_secs
    print(
        f"| freshness: {a.rate:,} rows/s target for {a.seconds:g} s, flush_interval {a.flush_interval}, "
        f"max_batch_rows {a.max_batch_rows:,}{', one process' if a.one_process else ''} "
        "| rows | arrived | never arrived | p50 | p99 | max |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for what, vals, miss in (
        ("MySQL COMMIT → Kafka record (CreateTime)", to_kafka, miss_k),
        ("MySQL COMMIT → Delta commit (commitInfo.timestamp)", to_delta, miss_d),
    ):
        print(
            f"| {what} | {written:,} | {len(vals):,} | {miss:,} | {fmt_ms(pct(vals, 50))} | "
            f"{fmt_ms(pct(vals, 99))} | {fmt_ms(vals[-1] if vals else float('nan'))} |"
        )
    print()
    print("| run | value |")
    print("|---|---:|")
    print(f"| achieved write rate | {achieved:,.0f} rows/s |")
    print(f"| rows written | {written:,} in {len(commits):,} transactions of {per_tick} rows over {write_secs:.1f} s |")
    print(f"| writer's worst lateness against its schedule | {late_max * 1000:.0f} ms |")
    print(f"| wait after the last write | {drain_secs:.1f} s |")
    print(f"| through to Kafka (first COMMIT to last record) | {through(last_k)} |")
    print(f"| through to Delta (first COMMIT to last Delta commit) | {through(last_d)} |")
    print(f"| Delta versions read | {seen.next_version} ({seen.skipped_commits} OPTIMIZE skipped) |")
    if a.one_process:
        print(f"| peak RSS, binlake run (source and sink) | {rss_source / 1024:.0f} MiB |")
    else:
        print(f"| peak RSS, binlake --role source | {rss_source / 1024:.0f} MiB |")
        print(f"| peak RSS, binlake --role sink | {rss_sink / 1024:.0f} MiB |")
    print(f"| rows that never arrived | Kafka {miss_k:,}, Delta {miss_d:,} |")

    bad = failed or miss_k or miss_d
    if a.keep or bad:
        print(f"kept {tmp} (connector file, logs, Delta table)", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if miss_k or miss_d:
        print(f"rows never arrived: Kafka {miss_k}, Delta {miss_d}; logs in {tmp}", file=sys.stderr)
        return 3
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=10_000, help="rows per second to insert")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to insert")
    ap.add_argument("--flush-interval", default="1s", help="the sink's flush_interval")
    ap.add_argument("--max-batch-rows", type=int, default=100_000, help="the sink's max_batch_rows")
    ap.add_argument("--bin", type=pathlib.Path, default=None, help="binlake binary (default: the release build)")
    ap.add_argument("--work-dir", default=None, help="where the connector file, logs and Delta tables go (/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the database, logs and Delta tables")
    ap.add_argument(
        "--one-process", action="store_true", help="the whole pipeline in one `binlake run` (default: source and sink apart)"
    )
    ap.add_argument(
        "--kafka-option", action="append", default=[], metavar="KEY=VALUE", help="[kafka.options] entry (repeatable)"
    )
    a = ap.parse_args()
    if a.rate < 1 or a.seconds <= 0:
        raise SystemExit("--rate and --seconds must be positive")
    sys.exit(run(a))


if __name__ == "__main__":
    main()
