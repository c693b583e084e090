"""Helpers for the source end-to-end tests (tests/python/test_source_*.py).

Each test gets its own MariaDB database, connector name (so its own topics,
subjects and `{name}.offsets` topic) and replication server_id, a connector
file in `tmp_path`, and a `binlake run FILE --role source` process whose
stderr goes to a log file that is printed when the test fails.

Servers: the ones `scripts/servers.sh start` runs (MariaDB 3307, Kafka 9092,
registry 8081), or whatever BINLAKE_TEST_MYSQL_URL / BINLAKE_TEST_BROKERS /
BINLAKE_TEST_REGISTRY point at. Messages are decoded with confluent-kafka's
own AvroDeserializer (fastavro), independently of binlake's Avro code.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import random
import re
import signal
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import pymysql
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

# ---------------------------------------------------------------- settings

MYSQL_URL = os.environ.get(
    "BINLAKE_TEST_MYSQL_URL",
    f"mysql://binlake_admin:admin-secret@127.0.0.1:{os.environ.get('BINLAKE_MYSQL_PORT', '3307')}",
)
BROKERS = os.environ.get("BINLAKE_TEST_BROKERS", f"127.0.0.1:{os.environ.get('BINLAKE_KAFKA_PORT', '9092')}")
REGISTRY = os.environ.get(
    "BINLAKE_TEST_REGISTRY", f"http://127.0.0.1:{os.environ.get('BINLAKE_REGISTRY_PORT', '8081')}"
)
CDC_PASSWORD = os.environ.get("BINLAKE_MYSQL_PASSWORD", "cdc-secret")

_url = urllib.parse.urlparse(MYSQL_URL)
MYSQL_HOST = _url.hostname or "127.0.0.1"
MYSQL_PORT = _url.port or 3306
MYSQL_ADMIN = urllib.parse.unquote(_url.username or "root")
MYSQL_ADMIN_PASSWORD = urllib.parse.unquote(_url.password or "")


def built_binlake() -> pathlib.Path:
    explicit = os.environ.get("BINLAKE_BIN")
    if explicit:
        return pathlib.Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/binlake/target"))
    return pathlib.Path(target) / "debug" / "binlake"


_BIN_SNAPSHOT: Optional[pathlib.Path] = None


def binlake_bin() -> pathlib.Path:
    """A private copy of the built binary, taken once per test session, so a
    rebuild during the run (others share the target dir) cannot swap the
    program between a test's start and its restart."""
    global _BIN_SNAPSHOT
    if _BIN_SNAPSHOT is None:
        built = built_binlake()
        if not built.exists():
            pytest.fail(f"binlake binary {built} not found: build it (cargo build) or set BINLAKE_BIN")
        snap_dir = pathlib.Path(tempfile.mkdtemp(prefix="binlake-bin-"))
        atexit.register(shutil.rmtree, snap_dir, True)
        _BIN_SNAPSHOT = snap_dir / "binlake"
        shutil.copy2(built, _BIN_SNAPSHOT)
    return _BIN_SNAPSHOT


# ---------------------------------------------------------------- MySQL


def mysql_connect(db: Optional[str] = None, **kw) -> pymysql.connections.Connection:
    kw.setdefault("autocommit", True)
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=MYSQL_ADMIN,
        password=MYSQL_ADMIN_PASSWORD,
        database=db,
        charset="utf8mb4",
        **kw,
    )


def servers_reachable() -> Optional[str]:
    """None when MariaDB, Kafka and the registry answer, else why not."""
    try:
        mysql_connect().close()
    except Exception as e:  # noqa: BLE001
        return f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT}: {e}"
    try:
        AdminClient({"bootstrap.servers": BROKERS}).list_topics(timeout=5)
    except Exception as e:  # noqa: BLE001
        return f"Kafka at {BROKERS}: {e}"
    try:
        urllib.request.urlopen(f"{REGISTRY}/subjects", timeout=5).read()
    except Exception as e:  # noqa: BLE001
        return f"registry at {REGISTRY}: {e}"
    return None


# ---------------------------------------------------------------- registry


def registry_get(path: str) -> Any:
    """GET a registry path; None on 404."""
    try:
        with urllib.request.urlopen(f"{REGISTRY}{path}", timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def subject_versions(subject: str) -> list[int]:
    return registry_get(f"/subjects/{urllib.parse.quote(subject, safe='')}/versions") or []


def subject_schema(subject: str, version: Any = "latest") -> dict:
    body = registry_get(f"/subjects/{urllib.parse.quote(subject, safe='')}/versions/{version}")
    assert body is not None, f"subject {subject} version {version} is not in the registry"
    return body


# ---------------------------------------------------------------- Kafka


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key_bytes: Optional[bytes]
    value_bytes: Optional[bytes]
    headers: dict
    timestamp_ms: int
    key: Any = None
    value: Any = None

    @property
    def order(self) -> Optional[tuple]:
        """`binlake.order` header as a comparable tuple."""
        raw = self.headers.get("binlake.order")
        if raw is None:
            return None
        return tuple(int(x) for x in raw.decode().split(":"))

    @property
    def schema_id(self) -> Optional[int]:
        if not self.value_bytes:
            return None
        return int.from_bytes(self.value_bytes[1:5], "big")

    @property
    def op(self) -> Optional[str]:
        return None if self.value is None else self.value["op"]


def topic_partitions(topic: str) -> Optional[int]:
    # Asked through a consumer: librdkafka's admin (a producer handle) asks
    # for one topic with auto-creation allowed, and a broker that honours it
    # (nisshi, Kafka with auto.create.topics.enable) would create the topic
    # with its own default partitions before binlake creates it.
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "binlake-test-metadata"})
    try:
        md = c.list_topics(topic=topic, timeout=10)
    finally:
        c.close()
    t = md.topics.get(topic)
    if t is None or t.error is not None or not t.partitions:
        return None
    return len(t.partitions)


def topic_exists(topic: str) -> bool:
    md = AdminClient({"bootstrap.servers": BROKERS}).list_topics(timeout=10)
    t = md.topics.get(topic)
    return t is not None and t.error is None and bool(t.partitions)


def new_consumer(partition_fetch_bytes: Optional[int] = None) -> Consumer:
    conf = {
        "bootstrap.servers": BROKERS,
        "group.id": f"binlake-test-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }
    if partition_fetch_bytes is not None:
        # tansu (sqlite) looks each fetched record's headers up one by one,
        # so when only a few records are wanted, fetch little more than them.
        conf.update(
            {
                "max.partition.fetch.bytes": partition_fetch_bytes,
                "fetch.max.bytes": max(1000, partition_fetch_bytes),
                "message.max.bytes": 1000,
            }
        )
    return Consumer(conf)


def watermarks(topic: str, consumer: Optional[Consumer] = None) -> list[tuple[int, int]]:
    """(low, high) per partition; [] when the topic does not exist."""
    n = topic_partitions(topic)
    if not n:
        return []
    c = consumer or new_consumer()
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) for p in range(n)]
    finally:
        if consumer is None:
            c.close()


def record_count(topic: str) -> int:
    return sum(high - low for low, high in watermarks(topic))


def wait_for_count(
    topic: str, expected: int, timeout: float, proc: Optional["SourceProcess"] = None, interval: float = 0.25
) -> int:
    """Polls the watermarks until the topic holds at least `expected` records."""
    deadline = time.monotonic() + timeout
    n = 0
    c = new_consumer()
    try:
        while time.monotonic() < deadline:
            n = sum(high - low for low, high in watermarks(topic, c))
            if n >= expected:
                return n
            if proc is not None and not proc.alive():
                raise AssertionError(f"binlake exited ({proc.returncode}) with {n}/{expected} records in {topic}")
            time.sleep(interval)
    finally:
        c.close()
    raise AssertionError(f"{topic}: {n} records after {timeout}s, expected {expected}")


def read_topic(
    topic: str,
    decode: bool = True,
    timeout: float = 60.0,
    start: Optional[dict[int, int]] = None,
    limit: Optional[int] = None,
) -> list[Record]:
    """Every record of every partition up to the current high watermarks,
    in (partition, offset) order; keys and values decoded unless `decode`
    is false."""
    marks = watermarks(topic)
    if not marks:
        return []
    # ~130-300 bytes per record in these tests
    c = new_consumer(None if limit is None or limit > 5000 else max(512, 200 * limit))
    out: list[Record] = []
    try:
        remaining = {}
        tps = []
        for p, (low, high) in enumerate(marks):
            first = max(low, (start or {}).get(p, low))
            if limit is not None:
                high = min(high, first + limit)
            if high > first:
                remaining[p] = high
                tps.append(TopicPartition(topic, p, first))
        if not tps:
            return []
        c.assign(tps)
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise AssertionError(f"reading {topic} timed out; still waiting for {remaining}")
            batch = c.consume(num_messages=10000, timeout=1.0)
            for m in batch:
                if m.error():
                    raise AssertionError(f"reading {topic}: {m.error()}")
                p = m.partition()
                if p not in remaining or m.offset() >= remaining[p]:
                    continue
                out.append(
                    Record(
                        topic=topic,
                        partition=p,
                        offset=m.offset(),
                        key_bytes=m.key(),
                        value_bytes=m.value(),
                        headers=dict(m.headers() or []),
                        timestamp_ms=m.timestamp()[1],
                    )
                )
                if m.offset() >= remaining[p] - 1:
                    del remaining[p]
    finally:
        c.close()
    out.sort(key=lambda r: (r.partition, r.offset))
    if decode:
        Decoder().decode_all(out)
    return out


class Decoder:
    """confluent-kafka's AvroDeserializer (writer schema by the id in each
    message), for keys and values."""

    def __init__(self):
        self.client = SchemaRegistryClient({"url": REGISTRY})
        self.deser = AvroDeserializer(self.client)

    def decode(self, r: Record) -> Record:
        if r.key_bytes is not None:
            r.key = self.deser(r.key_bytes, SerializationContext(r.topic, MessageField.KEY))
        if r.value_bytes is not None:
            r.value = self.deser(r.value_bytes, SerializationContext(r.topic, MessageField.VALUE))
        return r

    def decode_all(self, records: Iterable[Record]) -> None:
        for r in records:
            self.decode(r)


def offsets_records(name: str) -> list[dict]:
    """The JSON positions in `{name}.offsets`, oldest first."""
    recs = read_topic(f"{name}.offsets", decode=False)
    return [json.loads(r.value_bytes) for r in recs if r.value_bytes]


# ---------------------------------------------------------------- binlake process


class SourceProcess:
    """One `binlake run FILE --role source` process, stderr+stdout to a log."""

    def __init__(self, config: pathlib.Path, log_path: pathlib.Path, env: Optional[dict] = None):
        self.config = config
        self.log_path = log_path
        self.env = env
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None
        self.peak_rss_kb = 0
        self._log_offset = 0

    def start(self) -> "SourceProcess":
        binary = binlake_bin()
        env = dict(os.environ)
        env["BINLAKE_MYSQL_PASSWORD"] = CDC_PASSWORD
        env.setdefault("RUST_LOG", "info")
        env.pop("RUST_BACKTRACE", None)
        env.update(self.env or {})
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            log.write(f"==== start {time.strftime('%H:%M:%S')} {binary} run {self.config} --role source\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(binary), "run", str(self.config), "--role", "source"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.returncode = None
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        if self.proc is None:
            return False
        rc = self.proc.poll()
        if rc is not None:
            self.returncode = rc
            return False
        return True

    def log_text(self, since_start: bool = False) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if since_start:
            data = data[self._log_offset :]
        return data.decode("utf-8", "replace")

    def sample_rss(self) -> int:
        """Reads VmHWM (peak resident set, kB) while the process lives."""
        if not self.alive():
            return self.peak_rss_kb
        try:
            text = pathlib.Path(f"/proc/{self.pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return self.peak_rss_kb
        m = re.search(r"^VmHWM:\s+(\d+)\s+kB", text, re.M)
        if m:
            self.peak_rss_kb = max(self.peak_rss_kb, int(m.group(1)))
        return self.peak_rss_kb

    def cpu_seconds(self) -> Optional[float]:
        """User + system CPU time used so far (None once it has exited)."""
        if not self.alive():
            return None
        try:
            fields = pathlib.Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_streaming(self, timeout: float = 60.0) -> None:
        """Waits until the source follows the binlog ("streaming binlog" in
        its log, which comes after its start position is in `{name}.offsets`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "streaming binlog" in self.log_text(since_start=True):
                return
            if not self.alive():
                raise AssertionError(f"binlake exited with {self.returncode} before streaming")
            time.sleep(0.1)
        raise AssertionError(f"binlake not streaming after {timeout}s")

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"binlake still running after {timeout}s")
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> Optional[int]:
        """Sends `sig` (by pid) and waits; returns the exit code."""
        if self.proc is None:
            return self.returncode
        self.sample_rss()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = self.proc.returncode
                self.proc = None
                raise AssertionError(f"binlake ignored signal {sig} for {timeout}s")
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode


# ---------------------------------------------------------------- one test's world


def _toml_str(s: str) -> str:
    return json.dumps(s)  # JSON strings are valid TOML basic strings


@dataclass
class SourceCase:
    """A test's own database, connector name and server_id."""

    tmp_path: pathlib.Path
    db: str
    name: str
    server_id: int
    processes: list = field(default_factory=list)
    _conn: Any = None

    # -- SQL
    @property
    def conn(self) -> pymysql.connections.Connection:
        if self._conn is None or not self._conn.open:
            self._conn = mysql_connect(self.db)
        return self._conn

    def sql(self, stmt: str, args: Any = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(stmt, args)
            return list(cur.fetchall())

    def sql_many(self, stmts: Iterable[str]) -> None:
        for s in stmts:
            self.sql(s)

    def topic(self, table: str) -> str:
        return f"{self.name}.{self.db}.{table}"

    @property
    def offsets_topic(self) -> str:
        return f"{self.name}.offsets"

    # -- connector file
    def write_config(
        self,
        tables: Optional[list[str]] = None,
        exclude_tables: Optional[list[str]] = None,
        exclude_columns: Optional[list[str]] = None,
        key_columns: Optional[dict[str, list[str]]] = None,
        name: Optional[str] = None,
        filename: str = "connector.toml",
        extra_source: str = "",
        snapshot: str = "never",
    ) -> pathlib.Path:
        tables = tables or [f"{self.db}.*"]
        lines = [
            f"name = {_toml_str(name or self.name)}",
            "",
            "[source]",
            f"url = {_toml_str(f'mysql://cdc@{MYSQL_HOST}:{MYSQL_PORT}')}",
            'password_env = "BINLAKE_MYSQL_PASSWORD"',
            f"server_id = {self.server_id}",
            f"tables = [{', '.join(_toml_str(t) for t in tables)}]",
            f"snapshot = {_toml_str(snapshot)}",
            'heartbeat = "1s"',
        ]
        if exclude_tables:
            lines.append(f"exclude_tables = [{', '.join(_toml_str(t) for t in exclude_tables)}]")
        if exclude_columns:
            lines.append(f"exclude_columns = [{', '.join(_toml_str(t) for t in exclude_columns)}]")
        if key_columns:
            inner = ", ".join(
                f"{_toml_str(k)} = [{', '.join(_toml_str(c) for c in v)}]" for k, v in key_columns.items()
            )
            lines.append(f"key_columns = {{ {inner} }}")
        if extra_source:
            lines.append(extra_source)
        lines += [
            "",
            "[kafka]",
            f"brokers = {_toml_str(BROKERS)}",
            "",
            "[registry]",
            f"url = {_toml_str(REGISTRY)}",
            "",
        ]
        path = self.tmp_path / filename
        path.write_text("\n".join(lines))
        return path

    # -- processes
    def source(self, config: Optional[pathlib.Path] = None, log_name: str = "binlake.log") -> SourceProcess:
        """A (not yet started) source process for `config` (default: a fresh
        default connector file)."""
        config = config or self.write_config()
        p = SourceProcess(config, self.tmp_path / log_name)
        self.processes.append(p)
        return p

    def start_source(self, config: Optional[pathlib.Path] = None, log_name: str = "binlake.log") -> SourceProcess:
        p = self.source(config, log_name).start()
        p.wait_streaming()
        return p

    def logs(self) -> str:
        seen = set()
        parts = []
        for p in self.processes:
            if p.log_path in seen:
                continue
            seen.add(p.log_path)
            parts.append(f"----- {p.log_path} -----\n{p.log_text()}")
        return "\n".join(parts)

    def close(self) -> None:
        for p in self.processes:
            try:
                p.stop(signal.SIGTERM, timeout=30)
            except AssertionError:
                pass
        if self._conn is not None and self._conn.open:
            self._conn.close()
        try:
            with mysql_connect() as c, c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.db}`")
        except Exception:  # noqa: BLE001
            pass
        # Topics are left in place on purpose: tansu 0.6's DeleteTopics
        # deletes every topic of the cluster (topic_delete_by.sql matches on
        # the cluster only), not just the one named.


def new_case(tmp_path: pathlib.Path, prefix: str = "src") -> SourceCase:
    tag = uuid.uuid4().hex[:8]
    case = SourceCase(
        tmp_path=tmp_path,
        db=f"{prefix}_{tag}",
        name=f"t{prefix}{tag}",
        server_id=random.randint(100_000, 4_000_000_000),
    )
    with mysql_connect() as c, c.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{case.db}` CHARACTER SET utf8mb4")
    return case


@pytest.fixture
def case(request, tmp_path):
    """A SourceCase; binlake's logs are printed when the test fails."""
    why = servers_reachable()
    if why is not None:
        pytest.fail(f"servers not reachable ({why}); start them with: bash scripts/servers.sh start")
    c = new_case(tmp_path)
    failed_before = request.session.testsfailed
    try:
        yield c
    finally:
        c.close()
        if request.session.testsfailed > failed_before:
            print(f"\n===== binlake logs for {request.node.nodeid} =====\n{c.logs()}")


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
