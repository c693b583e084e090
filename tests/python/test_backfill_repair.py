"""Backfills that repair, on the real servers: rows deleted and updated in
MySQL behind the binlog's back (`SET sql_log_bin = 0`) leave the lake
diverged, `binlake verify` says so; a `--where` backfill removes the lake
rows its condition covers that MySQL no longer holds and nothing else; a
whole-table backfill then makes `binlake verify` clean. Writers keep
changing the table all along, on a 1- and a 3-partition topic.
"""

import datetime
import os
import random
import subprocess
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from sink_harness import mysql_connect, sink_case, wait_until  # noqa: F401
from source_harness import BROKERS, CDC_PASSWORD, binlake_bin, read_topic, topic_partitions

ENV = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
WAIT = 180.0
ROWS = 2_000
DAY0 = datetime.date(2024, 1, 1)


def day(i):
    """Rows are dated by id: 100 ids a day from 2024-01-01."""
    return DAY0 + datetime.timedelta(days=i // 100)


def run(config, *args, timeout=180):
    return subprocess.run(
        [str(binlake_bin()), *args[:1], str(config), *args[1:]],
        capture_output=True, text=True, timeout=timeout, env=ENV,
    )


def finished(proc):
    return proc.log_text().count("snapshot of table finished")


class Writer(threading.Thread):
    """Transactions of inserts (new ids), updates and deletes of ids in
    `ids`, through the binlog as usual."""

    def __init__(self, db, ids, first_id):
        super().__init__(daemon=True)
        self.db, self.ids = db, ids
        self.rng = random.Random(first_id)
        self.stop = threading.Event()
        self.next_id = first_id
        self.error = None

    def run(self):
        try:
            with mysql_connect(self.db) as c, c.cursor() as cur:
                while not self.stop.is_set():
                    for _ in range(self.rng.randint(1, 4)):
                        k = self.rng.random()
                        if k < 0.4:
                            self.next_id += 1
                            cur.execute(
                                "INSERT INTO items VALUES (%s, %s, 'new', 0)",
                                (self.next_id, day(self.rng.choice(self.ids))),
                            )
                        elif k < 0.85:
                            cur.execute("UPDATE items SET v = 'w', n = n + 1 WHERE id = %s", (self.rng.choice(self.ids),))
                        else:
                            cur.execute("DELETE FROM items WHERE id = %s", (self.rng.choice(self.ids),))
                    c.commit()
                    time.sleep(0.005)
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(30)
        assert self.error is None, repr(self.error)


def ids_of(rows):
    return {r["id"] for r in rows}


@pytest.mark.parametrize("partitions", [1, 3])
def test_backfills_repair_what_the_binlog_never_carried(sink_case, partitions):
    case = sink_case
    case.sql("CREATE TABLE items (id BIGINT PRIMARY KEY, d DATE NOT NULL, v VARCHAR(64), n INT NOT NULL)")
    with mysql_connect(case.db) as c, c.cursor() as cur:
        cur.executemany("INSERT INTO items VALUES (%s, %s, %s, 0)", [(i, day(i), f"v{i}") for i in range(1, ROWS + 1)])
        c.commit()
    topic = case.topic("items")
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    assert topic_partitions(topic) == partitions
    config = case.write_sink_config(snapshot="initial", extra_source="snapshot_chunk_rows = 300")
    proc = case.start_all(config)
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])

    # Behind the binlog's back: deleted over a key range inside the --where
    # below (ids 500-699, dated 2024-01-06/07), deleted outside it (1500-1549),
    # and updated (800-809, dated 2024-01-09, outside it).
    with mysql_connect(case.db) as c, c.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("DELETE FROM items WHERE id BETWEEN 500 AND 699")
        cur.execute("DELETE FROM items WHERE id BETWEEN 1500 AND 1549")
        cur.execute("UPDATE items SET v = 'silent' WHERE id BETWEEN 800 AND 809")
        c.commit()
    bad = run(config, "verify")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "250 extra in Delta, 10 different" in bad.stdout, bad.stdout

    # Writers go on meanwhile, also on the keys the backfills cover (not on
    # the rows deleted silently, so what is left of them stays visible).
    busy = [i for i in range(1, ROWS + 1) if not (500 <= i <= 699 or 800 <= i <= 809 or 1500 <= i <= 1549)]
    writer = Writer(case.db, busy, 100_000)
    writer.start()
    out = run(config, "snapshot", "--table", f"{case.db}.items", "--where", "d BETWEEN '2024-01-06' AND '2024-01-08'", timeout=60)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: finished(proc) >= 2, WAIT, "the --where backfill to finish")
    time.sleep(2)
    writer.finish()

    def where_done():
        mysql = ids_of(case.mysql_rows("items")[0])
        lake = ids_of(case.delta_rows("items") or [])
        return lake - mysql == set(range(1500, 1550)) and mysql <= lake

    # Only the rows outside the --where stay extra; no row MySQL holds is gone.
    wait_until(where_done, WAIT, "the rows the --where covers that MySQL lacks to leave the lake")
    lake = {r["id"]: r for r in case.delta_rows("items")}
    assert all(lake[i]["v"] != "silent" for i in range(800, 810)), "rows outside the --where are not read again"

    # Markers: on partition 0, no key, no value, the cover in a header.
    markers = [r for r in read_topic(topic) if "binlake.backfill" in r.headers]
    assert markers and all(r.partition == 0 and r.key_bytes is None and r.value_bytes is None for r in markers)

    # A whole-table backfill while writes go on: verify is clean.
    writer = Writer(case.db, busy, 200_000)
    writer.start()
    out = run(config, "snapshot", "--table", f"{case.db}.items", timeout=60)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: finished(proc) >= 3, WAIT, "the whole-table backfill to finish")
    time.sleep(2)
    writer.finish()
    case.wait_delta_equals_mysql("items", WAIT, procs=[proc])
    ok = run(config, "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "backfill: deleting lake rows MySQL no longer holds" in proc.log_text()
