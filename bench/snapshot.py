"""Snapshot throughput: a table of N rows (default 10,000,000) read by
`binlake run --role source` with snapshot = "initial" into Kafka, beside a
plain `SELECT *` of the same table by the mariadb client, in one run.

    python3 bench/snapshot.py [--rows N] [--chunk-rows N] [--parallelism N] [--bin PATH]

Needs the local servers (bash scripts/servers.sh start). Prints a markdown
table: rows/s, seconds, and binlake's peak RSS (VmHWM)."""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

from source_harness import (  # noqa: E402
    BROKERS,
    CDC_PASSWORD,
    MYSQL_HOST,
    MYSQL_PORT,
    REGISTRY,
    built_binlake,
    mysql_connect,
)

DDL = """CREATE TABLE orders (
  id BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  status VARCHAR(16) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  note VARCHAR(64),
  created_at DATETIME(3) NOT NULL,
  score DOUBLE
)"""


def fill(db, rows):
    with mysql_connect() as c, c.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")  # the fill is not what is measured
        cur.execute(f"CREATE DATABASE `{db}`")
        cur.execute(f"USE `{db}`")
        cur.execute(DDL)
        step = 1_000_000
        for lo in range(1, rows + 1, step):
            hi = min(lo + step - 1, rows)
            cur.execute(
                f"INSERT INTO orders SELECT seq, seq % 100000, ELT(1 + seq % 4, 'new', 'paid', 'sent', 'done'), "
                f"(seq % 100000) / 100, CONCAT('order note ', seq), "
                f"TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, seq * 0.5 FROM seq_{lo}_to_{hi}"
            )
            c.commit()


def plain_scan(db):
    cmd = [
        "mariadb", "--protocol=TCP", "-h", MYSQL_HOST, "-P", str(MYSQL_PORT), "-u", "root", "--quick",
        "-N", "-e", f"SELECT * FROM `{db}`.orders",
    ]
    env = dict(os.environ)
    t0 = time.monotonic()
    with open(os.devnull, "wb") as null:
        subprocess.run(cmd, stdout=null, check=True, env=env)
    return time.monotonic() - t0


def run_binlake(binary, db, rows, chunk_rows, parallelism, tmp):
    name = f"bench{uuid.uuid4().hex[:8]}"
    config = tmp / f"{name}.toml"
    config.write_text(
        "\n".join(
            [
                f'name = "{name}"',
                "[source]",
                f'url = "mysql://cdc@{MYSQL_HOST}:{MYSQL_PORT}"',
                'password_env = "BINLAKE_MYSQL_PASSWORD"',
                f"server_id = {int(time.time()) % 1_000_000 + 1000}",
                f'tables = ["{db}.orders"]',
                'snapshot = "initial"',
                f"snapshot_chunk_rows = {chunk_rows}",
                f"snapshot_parallelism = {parallelism}",
                "[kafka]",
                f'brokers = "{BROKERS}"',
                "[registry]",
                f'url = "{REGISTRY}"',
                "",
            ]
        )
    )
    log = tmp / f"{name}.log"
    env = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
    with open(log, "w") as out:
        proc = subprocess.Popen([str(binary), "run", str(config), "--role", "source"], stdout=out, stderr=subprocess.STDOUT, env=env)
    peak = 0
    try:
        while True:
            text = log.read_text()
            if "snapshot jobs finished" in text:
                break
            if proc.poll() is not None:
                raise SystemExit(f"binlake exited: {text[-3000:]}")
            time.sleep(0.2)
        peak = vm_hwm(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
    text = log.read_text()
    started = first_ts(text, "snapshot of table started")
    finished = first_ts(text, "snapshot jobs finished")
    m = re.search(r"snapshot jobs finished rows=(\d+)", text)
    return finished - started, int(m.group(1)) if m else rows, peak, name


def vm_hwm(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def first_ts(text, needle):
    import datetime as dt

    for line in text.splitlines():
        if needle in line:
            stamp = line.split()[0].rstrip("Z")
            return dt.datetime.fromisoformat(stamp).timestamp()
    raise SystemExit(f"no '{needle}' in the log")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk-rows", type=int, default=20_000)
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--bin", type=pathlib.Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the database, connector file and log")
    a = ap.parse_args()
    binary = a.bin or built_binlake()
    db = f"bench_{uuid.uuid4().hex[:8]}"
    tmp = pathlib.Path("/tmp") / db
    tmp.mkdir()
    t0 = time.monotonic()
    fill(db, a.rows)
    print(f"filled {a.rows} rows in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    try:
        scan = plain_scan(db)
        secs, rows, peak, name = run_binlake(binary, db, a.rows, a.chunk_rows, a.parallelism, tmp)
    finally:
        if not a.keep:
            with mysql_connect() as c, c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    print(f"| what | rows | seconds | rows/s | peak RSS |")
    print(f"|---|---:|---:|---:|---:|")
    print(f"| plain `SELECT *` (mariadb client) | {a.rows:,} | {scan:.1f} | {a.rows / scan:,.0f} | |")
    print(
        f"| binlake snapshot → Kafka (chunk {a.chunk_rows:,}, parallelism {a.parallelism}) | {rows:,} | {secs:.1f} | "
        f"{rows / secs:,.0f} | {peak / 2**20:.0f} MiB |"
    )
    print(f"binary {binary}; topics {name}.*", file=sys.stderr)
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)  # connector file and log; kept when a run fails


if __name__ == "__main__":
    main()
