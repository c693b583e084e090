"""Helpers for the Delta sink end-to-end tests (tests/python/test_sink_*.py).

Built on source_harness: each test gets its own MariaDB database, connector
name (its own topics, consumer group and Delta app ids) and server_id, and
a connector file with [source], [kafka], [registry] and [sink] whose Delta
tables live under the test's `tmp_path` (`file://{tmp}/lake/{db}/{table}`).

binlake runs as `binlake run FILE --role all|source|sink`, each process
logging to its own file (printed when a test fails). Delta tables are read
with the Python `deltalake` package (delta-rs, independent of binlake's
writer), MySQL tables with pymysql, and both are normalised to the Python
values the contract's type table (docs/contract.md) implies, so they can be compared row by row:

| MySQL | value compared |
|---|---|
| integer types, YEAR | int |
| BIGINT UNSIGNED, DECIMAL(p ≤ 38) | Decimal |
| DECIMAL(p > 38) | str (plain notation) |
| FLOAT / DOUBLE | float (FLOAT rounded to float32) |
| BIT(1) / BIT(n) | bool / bytes (big-endian) |
| DATE / DATETIME / TIMESTAMP | date / naive datetime / UTC-aware datetime (zero dates: None) |
| TIME | int microseconds |
| CHAR, VARCHAR, TEXT, ENUM, SET, JSON | str |
| BINARY, VARBINARY, BLOB | bytes |
| GEOMETRY | bytes (WKB, as ST_AsBinary) |
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import json
import os
import pathlib

import pyarrow
import random
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import pytest
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, DeltaProtocolError, TableNotFoundError

from source_harness import (
    BROKERS,
    CDC_PASSWORD,
    REGISTRY,
    SourceCase,
    SourceProcess,
    _toml_str,
    binlake_bin,
    mysql_connect,
    servers_reachable,
    watermarks,
)

UTC = dt.timezone.utc

META_COLUMNS = ("__op", "__source_ts_ms", "__source_pos", "__deleted")

FAILPOINT_ENV = "BINLAKE_FAILPOINT"
FAILPOINT_AFTER_DELTA_COMMIT = "sink_after_delta_commit"


# ---------------------------------------------------------------- is there a sink?

_SINK_PROBE: Optional[tuple[Optional[str]]] = None  # (reason,) once probed


def sink_missing_reason(wait: float = 3.0) -> Optional[str]:
    """Why the built binlake has no Delta sink, or None when it has one.

    Runs `binlake run` on a sink-only connector file (nothing to consume:
    the name matches no topic) and looks for the "not part of this build"
    refusal within `wait` seconds. A process still running then is a sink
    that started; it is stopped again. Cached for the session."""
    global _SINK_PROBE
    if _SINK_PROBE is not None:
        return _SINK_PROBE[0]
    binary = binlake_bin()
    work = pathlib.Path(tempfile.mkdtemp(prefix="binlake-sink-probe-"))
    name = f"probe{uuid.uuid4().hex[:10]}"
    config = work / "probe.toml"
    config.write_text(
        "\n".join(
            [
                f"name = {_toml_str(name)}",
                "",
                "[kafka]",
                f"brokers = {_toml_str(BROKERS)}",
                "",
                "[registry]",
                f"url = {_toml_str(REGISTRY)}",
                "",
                "[sink]",
                f"table_uri = {_toml_str(f'file://{work}/lake/{{db}}/{{table}}')}",
                'flush_interval = "1s"',
                "",
            ]
        )
    )
    log_path = work / "probe.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "run", str(config), "--role", "sink"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
        )
    reason: Optional[str] = None
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        pass
    text = log_path.read_text(errors="replace")
    if "not part of this build" in text:
        reason = "this binlake build has no Delta sink (" + text.strip().splitlines()[-1][:200] + ")"
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(work, ignore_errors=True)
    _SINK_PROBE = (reason,)
    return reason


# ---------------------------------------------------------------- binlake process


class BinlakeProcess(SourceProcess):
    """One `binlake run FILE --role ROLE` process, stdout+stderr to a log.

    `stop()` (SIGTERM, or `signal.SIGKILL` for kill -9), `alive()`,
    `wait_exit()`, `log_text()` and, for roles that run the source,
    `wait_streaming()` come from SourceProcess."""

    def __init__(self, config: pathlib.Path, log_path: pathlib.Path, role: str = "all", env: Optional[dict] = None):
        assert role in ("all", "source", "sink"), role
        super().__init__(config, log_path, env)
        self.role = role

    def start(self) -> "BinlakeProcess":
        binary = binlake_bin()
        env = dict(os.environ)
        env["BINLAKE_MYSQL_PASSWORD"] = CDC_PASSWORD
        env.setdefault("RUST_LOG", "info")
        env.pop("RUST_BACKTRACE", None)
        env.pop(FAILPOINT_ENV, None)
        env.update(self.env or {})
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            extra = f" {FAILPOINT_ENV}={env[FAILPOINT_ENV]}" if FAILPOINT_ENV in env else ""
            log.write(
                f"==== start {time.strftime('%H:%M:%S')}{extra} {binary} run {self.config} --role {self.role}\n".encode()
            )
            log.flush()
            self.proc = subprocess.Popen(
                [str(binary), "run", str(self.config), "--role", self.role],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.returncode = None
        return self

    def kill9(self) -> Optional[int]:
        """kill -9, waits; returns the exit code (-9)."""
        return self.stop(signal.SIGKILL, timeout=30)


# ---------------------------------------------------------------- Delta side


def delta_table(path: pathlib.Path) -> Optional[DeltaTable]:
    """The Delta table at `path` as of now, or None when there is none yet."""
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


def delta_raw_rows(path: pathlib.Path) -> Optional[list[dict]]:
    """Every row of the Delta table at `path` (metadata columns included),
    freshly opened; None when the table does not exist yet."""
    t = delta_table(path)
    if t is None:
        return None
    # scan() applies deletion vectors; to_pyarrow_table() refuses such tables.
    return pyarrow.table(t.scan().read_all()).to_pylist()


def delta_rows(path: pathlib.Path, key: Iterable[str] = ("id",), keep_meta: bool = False) -> Optional[list[dict]]:
    """The Delta table's rows as dicts sorted by `key`, without the
    metadata columns (`__op`, `__source_ts_ms`, `__source_pos`,
    `__deleted`) unless `keep_meta`; None when the table does not exist."""
    rows = delta_raw_rows(path)
    if rows is None:
        return None
    key = tuple(key)
    if not keep_meta:
        rows = [{k: v for k, v in r.items() if k not in META_COLUMNS} for r in rows]
    return sorted(rows, key=lambda r: _sort_key(r, key))


def delta_schema(path: pathlib.Path) -> dict[str, str]:
    """Column name → Delta type string (`integer`, `decimal(20,0)`,
    `timestamp_ntz`, …), in table order."""
    t = delta_table(path)
    assert t is not None, f"no Delta table at {path}"
    return {f.name: _delta_type_str(f.type) for f in t.schema().fields}


def _delta_type_str(t: Any) -> str:
    inner = getattr(t, "type", None)
    return inner if isinstance(inner, str) else str(t)


def delta_txn_version(path: pathlib.Path, app_id: str) -> Optional[int]:
    t = delta_table(path)
    return None if t is None else t.transaction_version(app_id)


def delta_log_txns(path: pathlib.Path) -> list[tuple[int, str, int]]:
    """(commit version, appId, txn version) of every `txn` action in the
    table's JSON commit files, in commit order."""
    out = []
    log_dir = pathlib.Path(path) / "_delta_log"
    for f in sorted(log_dir.glob("*.json")):
        try:
            version = int(f.name.split(".")[0])
        except ValueError:
            continue
        for line in f.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            action = json.loads(line)
            txn = action.get("txn")
            if txn is not None:
                out.append((version, txn["appId"], int(txn["version"])))
    return out


def check_txn_versions_rise(path):
    """Per appId, each commit's txn version is above every earlier one: a
    batch replayed after a crash was skipped, not committed again."""
    seen = {}
    bad = []
    for commit, app, version in delta_log_txns(path):
        prev = seen.get(app)
        if prev is not None and version <= prev[1]:
            bad.append(f"{app}: commit {commit} has txn version {version}, commit {prev[0]} already had {prev[1]}")
        seen[app] = (commit, version)
    assert not bad, "Delta txn versions must rise per app id (a replay was applied again):\n" + "\n".join(bad)
    return {app: v for app, (_, v) in seen.items()}


def check_no_duplicate_keys(path, key="id"):
    raw = delta_raw_rows(path)
    assert raw is not None, f"no Delta table at {path}"
    counts = collections.Counter(r[key] for r in raw)
    dup = sorted((k, n) for k, n in counts.items() if n > 1)
    assert not dup, f"keys with more than one Delta row: {dup[:20]}"
    return raw


# ---------------------------------------------------------------- MySQL side


def column_kinds(conn, db: str, table: str) -> dict[str, str]:
    """Column → comparison kind (see `mysql_value`), in table order, from
    information_schema."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        cols = cur.fetchall()
    assert cols, f"{db}.{table} has no columns (does it exist?)"
    return {name: _kind(data_type.lower(), column_type.lower(), precision) for name, data_type, column_type, precision in cols}


def _kind(data_type: str, column_type: str, precision: Optional[int]) -> str:
    if data_type in ("tinyint", "smallint", "mediumint", "int", "integer", "year"):
        return "int"
    if data_type == "bigint":
        return "biguns" if "unsigned" in column_type else "int"
    if data_type == "decimal":
        return "decstr" if (precision or 0) > 38 else "dec"
    if data_type == "float":
        return "f32"
    if data_type == "double":
        return "f64"
    if data_type == "bit":
        return "bool" if column_type.replace(" ", "") == "bit(1)" else "bytes"
    if data_type in ("date", "datetime", "timestamp", "time"):
        return data_type
    if data_type in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return "bytes"
    if data_type in (
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
    ):
        return "wkb"
    # char, varchar, *text, enum, set, json (MariaDB: longtext)
    return "text"


def _select_expr(name: str, kind: str) -> str:
    if kind == "wkb":
        return f"ST_AsBinary(`{name}`)"
    if kind == "decstr":
        return f"CAST(`{name}` AS CHAR)"
    if kind == "f32":
        # The text protocol prints FLOAT with 6 digits; as DOUBLE it is exact.
        return f"CAST(`{name}` AS DOUBLE)"
    return f"`{name}`"


def mysql_value(kind: str, v: Any) -> Any:
    """The Python value the Delta column must hold, from a SELECT value."""
    if v is None:
        return None
    if kind == "int":
        return int(v)
    if kind == "biguns":
        return decimal.Decimal(int(v))
    if kind == "decstr":
        return v if isinstance(v, str) else v.decode()
    if kind == "dec":
        return decimal.Decimal(v)
    if kind == "f32":
        return struct.unpack("<f", struct.pack("<f", float(v)))[0]
    if kind == "f64":
        return float(v)
    if kind == "bool":
        return int.from_bytes(v, "big") != 0
    if kind in ("bytes", "wkb"):
        return bytes(v)
    if kind in ("date", "datetime"):
        return None if isinstance(v, (str, bytes)) else v  # pymysql gives zero dates as text
    if kind == "timestamp":
        return None if isinstance(v, (str, bytes)) else v.replace(tzinfo=UTC)
    if kind == "time":
        return (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
    if kind == "text":
        return v if isinstance(v, str) else v.decode()
    raise AssertionError(kind)


def mysql_rows(
    db: str, table: str, key: Iterable[str] = ("id",), kinds: Optional[dict[str, str]] = None
) -> tuple[list[dict], dict[str, str]]:
    """The MySQL table's rows as dicts of normalised values sorted by `key`,
    and the column kinds. Reads in a UTC session on a fresh connection."""
    key = tuple(key)
    with mysql_connect(db) as conn:
        kinds = kinds or column_kinds(conn, db, table)
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            select = ", ".join(_select_expr(n, k) for n, k in kinds.items())
            cur.execute(f"SELECT {select} FROM `{table}`")
            raw = cur.fetchall()
    rows = [{n: mysql_value(k, v) for (n, k), v in zip(kinds.items(), r)} for r in raw]
    return sorted(rows, key=lambda r: _sort_key(r, key)), kinds


# ---------------------------------------------------------------- comparison


def same_value(kind: str, got: Any, want: Any) -> bool:
    """`got` (from Delta) equals `want` (from mysql_value) with the Python
    type the contract's Delta type reads as."""
    if want is None or got is None:
        return got is None and want is None
    if kind in ("f32", "f64"):
        return isinstance(got, float) and got == want
    if kind in ("dec", "biguns"):
        return isinstance(got, decimal.Decimal) and got == want
    if kind == "bool":
        return got is want
    if kind in ("int", "time"):
        return type(got) is int and got == want
    if kind == "datetime":
        return isinstance(got, dt.datetime) and got.tzinfo is None and got == want
    if kind == "timestamp":
        return isinstance(got, dt.datetime) and got.tzinfo is not None and got == want
    if kind == "date":
        return type(got) is dt.date and got == want
    if kind in ("bytes", "wkb"):
        return isinstance(got, (bytes, bytearray)) and bytes(got) == want
    return type(got) is type(want) and got == want


def diff_rows(
    delta: Optional[list[dict]], mysql: list[dict], kinds: dict[str, str], key: Iterable[str] = ("id",)
) -> list[str]:
    """Human-readable differences between Delta rows and MySQL rows (both
    without metadata columns); [] when they are equal row for row."""
    key = tuple(key)
    if delta is None:
        return ["no Delta table yet"]
    out = []
    d_by = {}
    for r in delta:
        k = tuple(r.get(c) for c in key)
        if k in d_by:
            out.append(f"key {k}: more than one Delta row")
        d_by[k] = r
    m_by = {tuple(r[c] for c in key): r for r in mysql}
    for k in sorted(set(m_by) - set(d_by), key=_none_first):
        out.append(f"key {k}: in MySQL, missing in Delta")
    for k in sorted(set(d_by) - set(m_by), key=_none_first):
        out.append(f"key {k}: in Delta, not in MySQL: {_short(d_by[k])}")
    for k in sorted(set(m_by) & set(d_by), key=_none_first):
        d, m = d_by[k], m_by[k]
        extra = set(d) - set(m)
        if extra:
            out.append(f"key {k}: Delta has columns MySQL lacks: {sorted(extra)}")
        for col, kind in kinds.items():
            if col not in d:
                out.append(f"key {k} column {col}: missing in Delta")
            elif not same_value(kind, d[col], m[col]):
                out.append(f"key {k} column {col} ({kind}): delta {_short(d[col])} != mysql {_short(m[col])}")
    return out


def _short(v: Any, n: int = 120) -> str:
    s = repr(v)
    return s if len(s) <= n else s[:n] + f"…({len(s)} chars)"


def _none_first(k: tuple) -> tuple:
    return tuple((v is not None, v) for v in k)


def _sort_key(r: dict, key: tuple) -> tuple:
    return _none_first(tuple(r.get(c) for c in key))


# ---------------------------------------------------------------- waiting


def wait_until(pred: Callable[[], Any], timeout: float, what: Any = "condition", interval: float = 0.5) -> Any:
    """Polls `pred` until it returns something truthy (returned); on timeout
    fails with `what` (a string, or a callable giving one at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            msg = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {msg}")
        time.sleep(interval)


# ---------------------------------------------------------------- one test's world


@dataclass
class SinkCase(SourceCase):
    """A SourceCase whose connector file also has a [sink] writing Delta
    tables under `tmp_path / "lake"`."""

    lake: pathlib.Path = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        if self.lake is None:
            self.lake = self.tmp_path / "lake"

    def table_path(self, table: str) -> pathlib.Path:
        return self.lake / self.db / table

    def app_id(self, table: str, partition: int) -> str:
        return f"{self.name}-{self.topic(table)}-{partition}"

    def write_sink_config(
        self,
        deletes: str = "hard",
        flush_interval: str = "1s",
        max_batch_rows: int = 1000,
        filename: str = "connector.toml",
        partitions: str = "all",
        **source_kw,
    ) -> pathlib.Path:
        """A connector file with [source] (see SourceCase.write_config),
        [kafka], [registry] and [sink]. One sink per test assigns itself
        every partition (`partitions = "all"`): the tansu 0.6 broker here
        never expires a group member that stopped (README, "The bundled
        tansu 0.6 broker's groups"), so a killed or restarted sink in group
        mode can wait for partitions for good. Tests of several sinks pass
        "group"."""
        assert deletes in ("hard", "soft"), deletes
        assert partitions in ("all", "group"), partitions
        path = self.write_config(filename=filename, **source_kw)
        uri = f"file://{self.lake}/{{db}}/{{table}}"
        text = path.read_text().rstrip("\n") + "\n\n" + "\n".join(
            [
                "[sink]",
                f"table_uri = {_toml_str(uri)}",
                f"flush_interval = {_toml_str(flush_interval)}",
                f"max_batch_rows = {max_batch_rows}",
                f"deletes = {_toml_str(deletes)}",
                f"partitions = {_toml_str(partitions)}",
                "",
            ]
        )
        path.write_text(text)
        return path

    # -- processes
    def binlake(
        self, config: pathlib.Path, role: str = "all", log_name: Optional[str] = None, env: Optional[dict] = None
    ) -> BinlakeProcess:
        """A (not yet started) `binlake run config --role role` process."""
        p = BinlakeProcess(config, self.tmp_path / (log_name or f"binlake-{role}.log"), role=role, env=env)
        self.processes.append(p)
        return p

    def start_all(self, config: pathlib.Path, log_name: str = "binlake-all.log") -> BinlakeProcess:
        """Starts `--role all` and waits until its source streams."""
        p = self.binlake(config, "all", log_name).start()
        p.wait_streaming()
        return p

    def start_source_role(self, config: pathlib.Path, log_name: str = "binlake-source.log") -> BinlakeProcess:
        p = self.binlake(config, "source", log_name).start()
        p.wait_streaming()
        return p

    def start_sink(
        self, config: pathlib.Path, log_name: str = "binlake-sink.log", env: Optional[dict] = None
    ) -> BinlakeProcess:
        return self.binlake(config, "sink", log_name, env).start()

    # -- comparison
    def mysql_rows(self, table: str, key: Iterable[str] = ("id",)) -> tuple[list[dict], dict[str, str]]:
        return mysql_rows(self.db, table, key)

    def delta_rows(self, table: str, key: Iterable[str] = ("id",), keep_meta: bool = False) -> Optional[list[dict]]:
        return delta_rows(self.table_path(table), key, keep_meta)

    def diff(self, table: str, key: Iterable[str] = ("id",)) -> list[str]:
        m, kinds = self.mysql_rows(table, key)
        return diff_rows(self.delta_rows(table, key), m, kinds, key)

    def wait_delta_equals_mysql(
        self,
        table: str,
        timeout: float = 90.0,
        key: Iterable[str] = ("id",),
        procs: Iterable[BinlakeProcess] = (),
    ) -> list[dict]:
        """Polls (re-opening the Delta table each time) until the Delta table
        equals the MySQL table row for row; returns the Delta rows with their
        metadata columns. Fails early when one of `procs` exits."""
        key = tuple(key)
        procs = list(procs)
        last: list[str] = []

        def check():
            nonlocal last
            for p in procs:
                if not p.alive():
                    raise AssertionError(
                        f"binlake --role {p.role} exited ({p.returncode}) while waiting for {table}; "
                        f"differences then: {last[:10]}"
                    )
            try:
                last = self.diff(table, key)
            except DeltaProtocolError as e:
                # Not transient: the contract wants tables any Delta reader can read.
                raise AssertionError(f"Python deltalake cannot read {self.table_path(table)}: {e}") from e
            except (OSError, ValueError, DeltaError) as e:  # e.g. a file vacuumed under the reader
                last = [f"reading Delta failed: {e!r}"]
                return False
            return not last

        def what():
            more = f" (+{len(last) - 15} more)" if len(last) > 15 else ""
            return f"Delta {self.db}.{table} to equal MySQL; differences:\n  " + "\n  ".join(last[:15]) + more

        wait_until(check, timeout, what)
        return self.delta_rows(table, key, keep_meta=True) or []

    def logs(self, tail_chars: int = 40_000) -> str:
        """Each process log (once per file), only its last `tail_chars`
        characters when longer: the sink's Delta libraries log a lot."""
        seen = set()
        parts = []
        for p in self.processes:
            if p.log_path in seen:
                continue
            seen.add(p.log_path)
            text = p.log_text()
            if len(text) > tail_chars:
                text = f"[… {len(text) - tail_chars} characters cut …]\n" + text[-tail_chars:]
            parts.append(f"----- {p.log_path} -----\n{text}")
        return "\n".join(parts)

    def partitions_with_data(self, table: str) -> list[int]:
        return [p for p, (low, high) in enumerate(watermarks(self.topic(table))) if high > low]


def new_sink_case(tmp_path: pathlib.Path, prefix: str = "snk") -> SinkCase:
    tag = uuid.uuid4().hex[:8]
    case = SinkCase(
        tmp_path=tmp_path,
        db=f"{prefix}_{tag}",
        name=f"t{prefix}{tag}",
        server_id=random.randint(100_000, 4_000_000_000),
    )
    with mysql_connect() as c, c.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{case.db}` CHARACTER SET utf8mb4")
    return case


@pytest.fixture
def sink_case(request, tmp_path):
    """A SinkCase; binlake's logs are printed when the test fails."""
    why = servers_reachable()
    if why is not None:
        pytest.fail(f"servers not reachable ({why}); start them with: bash scripts/servers.sh start")
    c = new_sink_case(tmp_path)
    failed_before = request.session.testsfailed
    try:
        yield c
    finally:
        c.close()
        if request.session.testsfailed > failed_before:
            print(f"\n===== binlake logs for {request.node.nodeid} =====\n{c.logs()}")
