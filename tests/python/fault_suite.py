"""The fault suite: a seeded mixed workload on three tables while binlake's
source and sink are killed -9 at random moments and the broker, the schema
registry and MariaDB are each restarted; at the end `binlake verify` must
find no difference and no Delta table may hold a key twice.

Used by tests/python/test_faults.py (CI, a few kill points) and by
bench/faults.py (`--runs N` for long runs). Every run prints its seed;
`--seed S` replays the same workload and the same fault schedule (the
interleaving with real time still varies).

The workload: transactions of 1–6 changes across the tables — inserts,
updates, key changes (single and composite keys), deletes, multi-row
updates — and, once, ALTER TABLE ADD COLUMN. Tables start with rows, so
the initial snapshot runs under the same faults.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import random
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

import pymysql

from sink_harness import BinlakeProcess, SinkCase, delta_raw_rows
from source_harness import CDC_PASSWORD, binlake_bin, mysql_connect, servers_reachable

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVERS = ["bash", str(ROOT / "scripts" / "servers.sh")]

TABLES = {
    "accounts": ("CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, "
                 "balance DECIMAL(12,2) NOT NULL, updated DATETIME(6) NOT NULL)", ("id",)),
    "order_lines": ("CREATE TABLE order_lines (grp INT NOT NULL, id BIGINT NOT NULL, qty INT NOT NULL, "
              "note VARCHAR(100), PRIMARY KEY (grp, id))", ("grp", "id")),
    "events": ("CREATE TABLE events (id INT PRIMARY KEY, kind ENUM('a','b','c') NOT NULL, "
               "payload TEXT, at TIMESTAMP(3) NULL)", ("id",)),
}
INITIAL = {"accounts": 30000, "order_lines": 5000, "events": 2000}
ACTIONS = ["kill_source", "kill_sink", "restart_kafka", "restart_registry", "restart_mariadb"]


def log_default(msg: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Workload(threading.Thread):
    """Seeded transactions until stopped; survives MariaDB restarts."""

    def __init__(self, db: str, seed: int, log: Callable[[str], None]):
        super().__init__(daemon=True)
        self.db, self.rng, self.log = db, random.Random(seed), log
        self.stop = threading.Event()
        self.txns = 0
        self.failed_txns = 0
        self.altered = False
        self.next_id = 1_000_000
        self.error: Optional[BaseException] = None

    def connect(self):
        deadline = time.monotonic() + 120
        while True:
            try:
                return mysql_connect(self.db)
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def one_change(self, cur):
        r = self.rng
        t = r.choice(list(TABLES))
        x = r.random()
        self.next_id += 1
        nid = self.next_id
        if t == "accounts":
            pick = r.randint(1, INITIAL["accounts"])
            if x < 0.3:
                extra = ", extra" if self.altered else ""
                val = ", 'x'" if self.altered else ""
                cur.execute(f"INSERT INTO accounts (id, owner, balance, updated{extra}) VALUES (%s, %s, %s, NOW(6){val})",
                            (nid, f"o{nid}", r.randint(0, 10**6) / 100))
            elif x < 0.6:
                cur.execute("UPDATE accounts SET balance = balance + 1.25, updated = NOW(6) WHERE id = %s", (pick,))
            elif x < 0.7:
                cur.execute("UPDATE accounts SET id = %s WHERE id = %s", (nid, pick))
            elif x < 0.8:
                cur.execute("UPDATE accounts SET balance = balance - 0.5 WHERE id BETWEEN %s AND %s", (pick, pick + 15))
            else:
                cur.execute("DELETE FROM accounts WHERE id = %s", (pick,))
        elif t == "order_lines":
            g, pick = r.randint(0, 9), r.randint(1, INITIAL["order_lines"])
            if x < 0.35:
                cur.execute("INSERT INTO order_lines VALUES (%s, %s, %s, %s)", (g, nid, r.randint(1, 9), "n" * r.randint(0, 90)))
            elif x < 0.65:
                cur.execute("UPDATE order_lines SET qty = qty + 1 WHERE id = %s", (pick,))
            elif x < 0.8:
                cur.execute("UPDATE order_lines SET grp = grp + 10 WHERE id = %s", (pick,))  # composite key change
            else:
                cur.execute("DELETE FROM order_lines WHERE id = %s", (pick,))
        else:
            pick = r.randint(1, INITIAL["events"])
            if x < 0.4:
                cur.execute("INSERT INTO events VALUES (%s, %s, %s, NOW(3))", (nid % 2_000_000_000, r.choice("abc"), "p" * r.randint(0, 500)))
            elif x < 0.7:
                cur.execute("UPDATE events SET kind = %s, payload = CONCAT(IFNULL(payload, ''), 'u') WHERE id = %s", (r.choice("abc"), pick))
            else:
                cur.execute("DELETE FROM events WHERE id = %s", (pick,))

    def run(self):
        conn = None
        try:
            while not self.stop.is_set():
                if conn is None:
                    conn = self.connect()
                try:
                    with conn.cursor() as cur:
                        if not self.altered and self.txns >= 300:
                            cur.execute("ALTER TABLE accounts ADD COLUMN extra VARCHAR(20) NULL")
                            self.altered = True
                            self.log("workload: ALTER TABLE accounts ADD COLUMN extra")
                        for _ in range(self.rng.randint(1, 6)):
                            self.one_change(cur)
                    conn.commit()
                    self.txns += 1
                except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
                    # MariaDB restarting: the transaction's fate does not
                    # matter, only that Delta ends equal to MySQL.
                    self.failed_txns += 1
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn = None
                    time.sleep(0.2)
                time.sleep(0.003)
        except BaseException as e:  # reported by finish()
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(60)
        if self.error is not None:
            raise AssertionError(f"workload failed: {self.error!r}")


@dataclass
class FaultRun:
    case: SinkCase
    seed: int
    kills: int
    log: Callable[[str], None] = log_default
    procs: dict = field(default_factory=dict)
    actions: list = field(default_factory=list)

    def start(self, role: str, env: Optional[dict] = None) -> BinlakeProcess:
        n = sum(1 for a in self.actions if role in a) + 1
        p = self.case.binlake(self.config, role, f"{role}-{n}.log", env=env).start()
        self.procs[role] = p
        return p

    def servers(self, *args: str) -> None:
        subprocess.run(SERVERS + list(args), check=True, capture_output=True, timeout=300)

    def schedule(self) -> list[str]:
        rng = random.Random(self.seed + 1)
        extra = max(self.kills - len(ACTIONS), 0)
        plan = ACTIONS + [rng.choice(["kill_source", "kill_sink"]) for _ in range(extra)]
        rng.shuffle(plan)
        return plan

    def act(self, action: str) -> None:
        # Faults hit a sink that is processing (see wait_assigned).
        if "sink" in self.procs and self.procs["sink"].alive():
            self.wait_assigned(self.procs["sink"])
        self.log(f"fault: {action}")
        self.actions.append(action)
        if action in ("kill_source", "kill_sink"):
            role = action.split("_")[1]
            self.procs[role].kill9()
            time.sleep(random.Random(self.seed + len(self.actions)).uniform(0, 1.5))
            p = self.start(role)
            if role == "sink":
                self.wait_assigned(p)
        else:
            server = action.split("_")[1]
            self.servers("stop", server)
            time.sleep(1)
            self.servers("start", server)

    def wait_assigned(self, p: BinlakeProcess, timeout: float = 60.0) -> None:
        """Waits until the sink holds its partitions before the next fault,
        so kill points fall within its processing. The sink assigns itself
        every table-topic partition (`partitions = "all"`, see
        SinkCase.write_sink_config): no group rebalance is involved."""
        deadline = time.monotonic() + timeout
        while "partitions assigned" not in p.log_text(since_start=True):
            assert p.alive(), f"seed {self.seed}: binlake --role sink exited ({p.returncode})"
            assert time.monotonic() < deadline, f"seed {self.seed}: the sink took no partitions in {timeout:.0f} s"
            time.sleep(0.2)

    def run(self) -> dict:
        case = self.case
        self.log(f"seed {self.seed}: db {case.db}, connector {case.name}, {self.kills} fault points")
        for t, (ddl, _) in TABLES.items():
            case.sql(ddl)
        with mysql_connect(case.db) as c, c.cursor() as cur:
            for i in range(1, INITIAL["accounts"] + 1, 500):
                cur.executemany("INSERT INTO accounts VALUES (%s, %s, %s, NOW(6))",
                                [(j, f"o{j}", j / 100) for j in range(i, min(i + 500, INITIAL["accounts"] + 1))])
            cur.executemany("INSERT INTO order_lines VALUES (%s, %s, %s, 'init')",
                            [(j % 10, j, 1) for j in range(1, INITIAL["order_lines"] + 1)])
            cur.executemany("INSERT INTO events VALUES (%s, 'a', 'init', NOW(3))",
                            [(j,) for j in range(1, INITIAL["events"] + 1)])
            c.commit()
        self.config = case.write_sink_config(
            snapshot="initial", flush_interval="1s", max_batch_rows=2000,
            extra_source="snapshot_chunk_rows = 100",
        )
        workload = Workload(case.db, self.seed, self.log)
        rng = random.Random(self.seed + 2)
        started = time.monotonic()
        try:
            self.start("source")
            self.start("sink")
            workload.start()
            for action in self.schedule():
                time.sleep(rng.uniform(1.0, 4.0))
                self.act(action)
            time.sleep(2)
        finally:
            workload.finish()
            self.servers("start")
        self.log(f"workload: {workload.txns} transactions ({workload.failed_txns} cut by restarts); waiting for Delta")
        report = self.wait_verified(timeout=420)
        dups = self.duplicate_keys()
        assert not dups, f"seed {self.seed}: keys held twice in Delta: {dups}"
        return {
            "seed": self.seed,
            "faults": list(self.actions),
            "transactions": workload.txns,
            "seconds": round(time.monotonic() - started, 1),
            "tables": {r["table"]: r["mysql_rows"] for r in report},
        }

    def verify(self) -> tuple[int, list]:
        env = {**os.environ, "BINLAKE_MYSQL_PASSWORD": CDC_PASSWORD}
        out = subprocess.run([str(binlake_bin()), "verify", "--json", str(self.config)],
                             capture_output=True, text=True, timeout=300, env=env)
        try:
            return out.returncode, json.loads(out.stdout)
        except json.JSONDecodeError:
            return out.returncode, [{"error": out.stderr[-2000:]}]

    def wait_verified(self, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while True:
            for role, p in self.procs.items():
                assert p.alive(), f"seed {self.seed}: binlake --role {role} exited ({p.returncode})"
            rc, report = self.verify()
            if rc == 0:
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"seed {self.seed}: verify still finds differences: {json.dumps(report)[:4000]}")
            time.sleep(5)

    def duplicate_keys(self) -> dict:
        out = {}
        for t, (_, key) in TABLES.items():
            rows = delta_raw_rows(self.case.table_path(t)) or []
            counts = collections.Counter(tuple(r[k] for k in key) for r in rows)
            dup = [k for k, n in counts.items() if n > 1]
            if dup:
                out[t] = dup[:10]
        return out


def new_seed() -> int:
    return int(os.environ.get("BINLAKE_FAULT_SEED") or random.randrange(1 << 31))
