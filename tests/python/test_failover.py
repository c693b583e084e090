"""The source on a database that fails over, or whose binlog is reset.

A MariaDB primary and its GTID replica sit behind one address (a TCP proxy,
as a virtual IP or a DNS name would). binlake streams from the primary; the
primary is killed, the replica promoted, the address moved, and writes go
on. The replica's binlog files are numbered lower than the primary's, which
is what made an earlier binlake skip every later change as "already in
Kafka". Delta must end equal to the new primary, with no change doubled in
Kafka. After `RESET MASTER` the stored position is gone from the server's
history: binlake must stop with a clear error, never skip.
"""

from __future__ import annotations

import collections
import os
import pathlib
import random
import subprocess
import threading
import time
import uuid

import pytest

from mariadb_pair import CDC_PASSWORD, MariaPair, TcpProxy
from sink_harness import SinkCase, check_no_duplicate_keys, sink_missing_reason, wait_until
from source_harness import binlake_bin, read_topic


@pytest.fixture
def pair(tmp_path):
    p = MariaPair(tmp_path / "servers", base_id=random.randint(10, 1000) * 10 + 1)
    try:
        yield p.start()
    finally:
        p.stop()


def failover_case(tmp_path: pathlib.Path, proxy: TcpProxy) -> tuple[SinkCase, pathlib.Path]:
    tag = uuid.uuid4().hex[:8]
    case = SinkCase(tmp_path=tmp_path, db=f"fo_{tag}", name=f"tfo{tag}", server_id=random.randint(100_000, 4_000_000))
    config = case.write_sink_config(snapshot="initial", flush_interval="1s")
    text = config.read_text()
    lines = [
        f'url = "mysql://cdc@127.0.0.1:{proxy.port}"' if line.startswith('url = "mysql://') else line
        for line in text.splitlines()
    ]
    config.write_text("\n".join(lines) + "\n")
    return case, config


class Writer(threading.Thread):
    """Random inserts, updates and deletes in small transactions against
    whichever server is primary now; pauses on request."""

    def __init__(self, db: str, server):
        super().__init__(daemon=True)
        self.db = db
        self.server = server
        self.rng = random.Random(7)
        self.next_id = 1000
        self.go = threading.Event()
        self.idle = threading.Event()
        self.done = False
        self.transactions = 0
        self.error: Exception | None = None

    def run(self) -> None:
        conn = None
        while not self.done:
            if not self.go.is_set():
                self.idle.set()
                if conn is not None:
                    conn.close()
                    conn = None
                time.sleep(0.02)
                continue
            self.idle.clear()
            try:
                if conn is None:
                    conn = self.server.admin(self.db)
                with conn.cursor() as cur:
                    cur.execute("BEGIN")
                    for _ in range(self.rng.randint(1, 4)):
                        r = self.rng.random()
                        if r < 0.5:
                            self.next_id += 1
                            cur.execute("INSERT INTO t (id, v, note) VALUES (%s, %s, %s)",
                                        (self.next_id, self.rng.randint(0, 10**6), uuid.uuid4().hex))
                        elif r < 0.85:
                            cur.execute("UPDATE t SET v = v + 1, note = %s WHERE id = %s",
                                        (uuid.uuid4().hex, self.rng.randint(1, self.next_id)))
                        else:
                            cur.execute("DELETE FROM t WHERE id = %s", (self.rng.randint(1, self.next_id),))
                    cur.execute("COMMIT")
                self.transactions += 1
            except Exception as e:  # noqa: BLE001
                self.error = e
                self.done = True

    def pause(self) -> None:
        self.go.clear()
        assert self.idle.wait(10), "writer did not pause"
        if self.error:
            raise self.error

    def resume(self, server) -> None:
        self.server = server
        self.go.set()


def verify(config: pathlib.Path) -> tuple[int, str]:
    env = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
    r = subprocess.run([str(binlake_bin()), "verify", str(config)], capture_output=True, text=True,
                       env=env, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_failover_to_a_promoted_replica_loses_and_doubles_nothing(tmp_path, pair):
    why = sink_missing_reason()
    if why:
        pytest.fail(why)
    proxy = TcpProxy(pair.primary.port)
    case, config = failover_case(tmp_path, proxy)
    primary, replica = pair.primary, pair.replica
    primary.sql(f"CREATE DATABASE {case.db}")
    primary.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64))", case.db)
    primary.sql("INSERT INTO t (id, v, note) SELECT seq, seq, 'seed' FROM seq_1_to_300", case.db)
    # The primary's binlog files get numbers the replica's never reach.
    for _ in range(4):
        primary.sql("FLUSH BINARY LOGS")
    writer = Writer(case.db, primary)
    writer.start()
    proc = case.binlake(config, "all", "binlake.log")
    try:
        proc.start()
        proc.wait_streaming()
        writer.resume(primary)
        time.sleep(6)
        writer.pause()
        gtid = pair.wait_replica_caught_up()
        primary_file = primary.sql("SHOW MASTER STATUS")[0][0]
        replica_file = replica.sql("SHOW MASTER STATUS")[0][0]
        assert primary_file > replica_file, (primary_file, replica_file)
        before = writer.transactions

        # Failover: the primary dies, the replica is promoted, the address moves.
        primary.kill9()
        pair.promote_replica()
        proxy.switch(replica.port)
        writer.resume(replica)
        time.sleep(4)
        # A kill -9 mid-stream on the new primary: the restart reads the
        # partition tails written before and after the failover.
        proc.kill9()
        proc.start()
        proc.wait_streaming()
        time.sleep(4)
        writer.pause()
        writer.done = True
        after = writer.transactions - before
        assert before > 20 and after > 20, (before, after)

        def clean():
            assert proc.alive(), f"binlake exited ({proc.returncode})"
            rc, out = verify(config)
            return rc == 0 and out
        out = wait_until(clean, 120, "binlake verify clean against the new primary")
        assert f"{case.db}.t" in out

        log = proc.log_text()
        assert "server behind the source's address changed" in log, "the failover was not noticed"
        assert "skipped as already in Kafka after newer records" not in log
        check_no_duplicate_keys(case.table_path("t"))

        # Kafka: every streamed change once (GTID, index, part unique).
        records = read_topic(case.topic("t"), decode=False)
        seen = collections.Counter()
        for r in records:
            g = r.headers.get("binlake.gtid")
            order = r.headers.get("binlake.order")
            if g is None:
                continue
            _, _, index, part = order.decode().split(":")
            seen[(g.decode(), index, part)] += 1
        doubled = [k for k, n in seen.items() if n > 1]
        assert not doubled, f"changes written twice: {doubled[:10]}"
        streamed_after = [k for k in seen if k[0].split("-")[1] == str(replica.server_id)]
        assert streamed_after, "no change written by the promoted replica reached Kafka"
        print(f"failover: {before} transactions before, {after} after; GTID at failover {gtid}; "
              f"{len(records)} records, {len(streamed_after)} from the new primary")
    finally:
        writer.done = True
        proc.stop()
        proxy.close()


def test_reset_master_stops_the_source_with_the_fix(tmp_path, pair):
    proxy = TcpProxy(pair.primary.port)
    case, config = failover_case(tmp_path, proxy)
    primary = pair.primary
    primary.sql(f"CREATE DATABASE {case.db}")
    primary.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64))", case.db)
    for _ in range(3):
        primary.sql("FLUSH BINARY LOGS")
    proc = case.binlake(config, "source", "binlake.log")
    try:
        proc.start()
        proc.wait_streaming()
        for i in range(50):
            primary.sql(f"INSERT INTO t VALUES ({i}, {i}, 'before')", case.db)
        wait_until(lambda: len(read_topic(case.topic("t"), decode=False)) >= 50, 60, "50 records in Kafka")
        assert proc.stop() == 0
        primary.sql("RESET MASTER")
        for i in range(50, 80):
            primary.sql(f"INSERT INTO t VALUES ({i}, {i}, 'after')", case.db)
        proc.start()
        rc = proc.wait_exit(60)
        log = proc.log_text(since_start=True)
        assert rc != 0, log
        assert "binlog history changed" in log and "RESET MASTER" in log, log[-3000:]
        assert len(read_topic(case.topic("t"), decode=False)) == 50, "nothing may be written from another history"
    finally:
        proc.stop()
        proxy.close()
