"""The lake on object storage, and a lake that stays clean.

- The pipeline writes `s3://` (moto's S3 server) and `az://` (Azurite):
  a snapshot, streaming changes, a sink crashing right after a Delta
  commit (failpoint), two sinks in one group committing to one table
  (conditional-put commits), one of them killed -9 mid-stream and started
  again, and VACUUM running all along with a short retention. Delta ends
  equal to MySQL with one row per key; on S3 `binlake verify` and `status`
  read the tables, and DuckDB's delta extension and polars read them equal
  to MySQL too. After a last VACUUM only the files the current version
  references are left in the bucket.
- Many small batches on a local table (compaction, a checkpoint): DuckDB,
  polars and Python deltalake read it equal to MySQL; a VACUUM with a short
  retention then leaves exactly the files the current version references.
- The lake is the truth for progress: a Delta table moved away is rebuilt
  from the topic's beginning (the group's committed offsets are ahead), and
  a topic recreated under the same name stops the sink with an error that
  names the fix, instead of skipping to the old offset.

The servers come from scripts/servers.sh (`s3`, `azurite`); their
endpoints from scripts/env.sh (BINLAKE_TEST_S3_ENDPOINT,
BINLAKE_TEST_AZURITE_ENDPOINT). GCS has no emulator here that speaks the
XML API object_store uses: it is covered by build and configuration tests.
"""

import base64
import email.utils
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pyarrow
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from deltalake import DeltaTable

from sink_harness import (  # noqa: F401
    FAILPOINT_AFTER_DELTA_COMMIT,
    FAILPOINT_ENV,
    META_COLUMNS,
    check_no_duplicate_keys,
    diff_rows,
    mysql_connect,
    mysql_rows,
    sink_case,
    sink_missing_reason,
    wait_until,
)
from source_harness import BROKERS, binlake_bin, topic_partitions, wait_for_count, watermarks

WAIT = 120.0
S3_ENDPOINT = os.environ.get("BINLAKE_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
AZURITE_ENDPOINT = os.environ.get("BINLAKE_TEST_AZURITE_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1")
# Azurite's well-known development account (public, documented by Microsoft).
AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(autouse=True, scope="module")
def _needs_sink():
    why = sink_missing_reason()
    if why is not None:
        pytest.skip(why)


# ---------------------------------------------------------------- stores


class Lake:
    """Where a test's tables live: the connector's table_uri and
    [sink.storage], the credentials binlake gets from its environment, and
    the options Python readers take."""

    def __init__(self, kind, root, storage, env, py_opts):
        self.kind, self.root, self.storage, self.env, self.py_opts = kind, root, storage, env, py_opts

    def uri(self, db, table):
        return f"{self.root}/{db}/{table}"


def _reachable(url):
    # A refused connection fails at once; a server that answers slowly
    # (moto loading its backend on a busy machine) is still there.
    try:
        urllib.request.urlopen(url, timeout=60)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def s3_lake():
    if not _reachable(S3_ENDPOINT):
        pytest.fail(f"no S3 server at {S3_ENDPOINT}; start it with: bash scripts/servers.sh start s3")
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    urllib.request.urlopen(urllib.request.Request(f"{S3_ENDPOINT}/{bucket}", method="PUT"), timeout=10).read()
    creds = {"AWS_ACCESS_KEY_ID": "binlake-test", "AWS_SECRET_ACCESS_KEY": "binlake-test-secret"}
    return Lake(
        "s3",
        f"s3://{bucket}",
        {"endpoint": S3_ENDPOINT, "region": "us-east-1", "allow_http": "true"},
        creds,
        {"AWS_ENDPOINT_URL": S3_ENDPOINT, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", **creds},
    )


def azurite_create_container(name):
    """PUT a container with a SharedKey-signed request (object_store does
    not create containers)."""
    date = email.utils.formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
    canon = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{AZ_ACCOUNT}/{AZ_ACCOUNT}/{name}\nrestype:container"
    to_sign = "PUT\n" + "\n" * 11 + canon + resource
    sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {AZ_ACCOUNT}:{sig}"
    req = urllib.request.Request(f"{AZURITE_ENDPOINT}/{name}?restype=container", method="PUT", headers=headers)
    urllib.request.urlopen(req, timeout=10).read()


def azurite_lake():
    if not _reachable(AZURITE_ENDPOINT):
        pytest.fail(f"no Azurite at {AZURITE_ENDPOINT}; start it with: bash scripts/servers.sh start azurite")
    container = f"lake{uuid.uuid4().hex[:10]}"
    azurite_create_container(container)
    # use_emulator: object_store then filters listings itself (Azurite
    # ignores the list offset Delta's log listing needs) and uses the
    # well-known account; AZURITE_BLOB_STORAGE_URL says where it listens.
    blob_url = AZURITE_ENDPOINT.rsplit("/", 1)[0]
    os.environ["AZURITE_BLOB_STORAGE_URL"] = blob_url  # for the Python readers
    return Lake(
        "azurite",
        f"az://{container}",
        {"use_emulator": "true", "allow_http": "true"},
        {"AZURITE_BLOB_STORAGE_URL": blob_url},
        {"use_emulator": "true", "allow_http": "true"},
    )


def s3_keys(lake, prefix):
    """Object names under `prefix` in the lake's bucket (boto3, path style)."""
    import boto3

    bucket = lake.root[len("s3://"):]
    s3 = boto3.client(
        "s3",
        endpoint_url=S3_ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=lake.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=lake.env["AWS_SECRET_ACCESS_KEY"],
    )
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"][len(prefix):] for o in page.get("Contents", []))
    return keys


def write_config(case, lake=None, sink_extra=(), **kw):
    """The case's connector file (snapshot on) with [sink] on `lake` (None:
    local) plus `sink_extra` lines and [sink.storage]."""
    kw.setdefault("snapshot", "initial")
    path = case.write_sink_config(**kw)
    text = path.read_text()
    if lake is not None:
        local = f'table_uri = "file://{case.lake}/{{db}}/{{table}}"'
        assert local in text, text
        text = text.replace(local, f'table_uri = "{lake.root}/{{db}}/{{table}}"')
    text = text.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in sink_extra)
    if lake is not None:
        text += "\n[sink.storage]\n" + "".join(f'{k} = "{v}"\n' for k, v in lake.storage.items())
    path.write_text(text)
    return path


# ---------------------------------------------------------------- readers


def _strip(rows, key=("id",)):
    rows = [{k: v for k, v in r.items() if k not in META_COLUMNS} for r in rows]
    return sorted(rows, key=lambda r: tuple(r[k] for k in key))


def deltalake_rows(uri, opts=None):
    t = DeltaTable(uri, storage_options=opts or {})
    return pyarrow.table(t.scan().read_all()).to_pylist()


def duckdb_rows(uri, lake=None):
    import duckdb
    import duckdb_extensions

    con = duckdb.connect()
    if lake is not None:
        duckdb_extensions.import_extension("httpfs", con=con)
    duckdb_extensions.import_extension("delta", con=con)
    if lake is not None:
        host = S3_ENDPOINT.split("://", 1)[1]
        con.sql(
            f"CREATE SECRET (TYPE s3, KEY_ID '{lake.env['AWS_ACCESS_KEY_ID']}', "
            f"SECRET '{lake.env['AWS_SECRET_ACCESS_KEY']}', REGION 'us-east-1', ENDPOINT '{host}', "
            "URL_STYLE 'path', USE_SSL false)"
        )
    rel = con.sql(f"SELECT * FROM delta_scan('{uri}')")
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


def polars_rows(uri, opts=None):
    import polars

    os.environ["POLARS_DELTA_READER_FEATURE_DV"] = "1"
    return polars.read_delta(uri, storage_options=opts or None).to_dicts()


def equal_to_mysql(case, table, rows, reader):
    m, kinds = mysql_rows(case.db, table, ("id",))
    diff = diff_rows(_strip(rows), m, kinds, ("id",))
    assert not diff, f"{reader} differs from MySQL: {diff[:10]}"


def wait_lake_equals_mysql(case, table, uri, opts, procs=(), timeout=WAIT):
    last = []

    def check():
        nonlocal last
        for p in procs:
            assert p.alive(), f"binlake --role {p.role} exited ({p.returncode}); differences then: {last[:10]}"
        try:
            rows = deltalake_rows(uri, opts)
        except Exception as e:  # noqa: BLE001  (not created yet, or a file vacuumed under the reader)
            last = [f"reading Delta failed: {e!r}"]
            return False
        m, kinds = mysql_rows(case.db, table, ("id",))
        last = diff_rows(_strip(rows), m, kinds, ("id",))
        return not last

    wait_until(check, timeout, lambda: f"{uri} to equal MySQL; differences: {last[:10]}")


def referenced_files(read_log):
    """Data and deletion-vector files the table's current version uses,
    from a replay of every JSON commit (`read_log()` yields their texts in
    version order; the tests keep the whole log)."""
    live = {}
    for text in read_log():
        actions = [json.loads(line) for line in text.splitlines() if line.strip()]
        for a in actions:
            if "remove" in a:
                live.pop(a["remove"]["path"], None)
        for a in actions:
            if "add" in a:
                dv = a["add"].get("deletionVector")
                live[a["add"]["path"]] = dv_file_name(dv["pathOrInlineDv"]) if dv else None
    return set(live) | {d for d in live.values() if d}


def local_log(path):
    def read():
        log = path / "_delta_log"
        for name in sorted(n for n in os.listdir(log) if n.endswith(".json")):
            yield (log / name).read_text()
    return read


def s3_log(lake, prefix):
    def read():
        import boto3

        s3 = boto3.client("s3", endpoint_url=S3_ENDPOINT, region_name="us-east-1",
                          aws_access_key_id=lake.env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=lake.env["AWS_SECRET_ACCESS_KEY"])
        bucket = lake.root[len("s3://"):]
        names = sorted(n for n in s3_keys(lake, prefix + "_delta_log/") if n.endswith(".json"))
        for n in names:
            yield s3.get_object(Bucket=bucket, Key=prefix + "_delta_log/" + n)["Body"].read().decode()
    return read


def dv_file_name(z85_path):
    """`deletion_vector_<uuid>.bin` from a descriptor's z85-encoded UUID."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
    enc = z85_path[-20:]
    out = bytearray()
    for i in range(0, 20, 5):
        n = 0
        for ch in enc[i:i + 5]:
            n = n * 85 + alphabet.index(ch)
        out += n.to_bytes(4, "big")
    return f"deletion_vector_{uuid.UUID(bytes=bytes(out))}.bin"


def table_files(names):
    return sorted(n for n in names if "/" not in n and (n.endswith(".parquet") or n.startswith("deletion_vector_")))


# ---------------------------------------------------------------- workload


def writer(case, total, errors, progress, seed=7, first_new=1000):
    rng = random.Random(seed)
    conn = mysql_connect(case.db, autocommit=True)
    live = [r[0] for r in case.sql("SELECT id FROM t")]
    next_id = first_new
    try:
        with conn.cursor() as cur:
            while progress["n"] < total:
                r = rng.random()
                if r < 0.3 or len(live) < 10:
                    cur.execute("INSERT INTO t VALUES (%s, %s, %s)", (next_id, progress["n"], f"ins {next_id}"))
                    live.append(next_id)
                    next_id += 1
                elif r < 0.85:
                    cur.execute("UPDATE t SET v = v + 1, s = %s WHERE id = %s", (f"upd {progress['n']}", rng.choice(live)))
                else:
                    k = live.pop(rng.randrange(len(live)))
                    cur.execute("DELETE FROM t WHERE id = %s", (k,))
                progress["n"] += 1
                time.sleep(0.01)
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
    finally:
        conn.close()


def commits_in(proc, since_start=False):
    return proc.log_text(since_start=since_start).count("Delta commit table=")


def run_cli(*args, env=None):
    e = dict(os.environ)
    e["BINLAKE_MYSQL_PASSWORD"] = "cdc-secret"
    e.update(env or {})
    return subprocess.run([str(binlake_bin()), *args], capture_output=True, text=True, timeout=120, env=e)


# ---------------------------------------------------------------- 1. pipeline on S3 and Azurite


@pytest.mark.parametrize("store", ["s3", "azurite"])
def test_pipeline_on_object_store(sink_case, store):
    case = sink_case
    lake = s3_lake() if store == "s3" else azurite_lake()
    t0 = time.monotonic()
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(60))")
    # On S3 enough snapshot rows for 100+ small batches: a checkpoint.
    seed = 850 if store == "s3" else 300
    with mysql_connect(case.db) as c, c.cursor() as cur:
        cur.executemany("INSERT INTO t VALUES (%s, %s, 'seed')", [(i, i) for i in range(1, seed + 1)])
    topic = case.topic("t")
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    config = write_config(
        case, lake, flush_interval="1s", max_batch_rows=8, partitions="group",
        sink_extra=['vacuum_retention = "3s"', 'vacuum_interval = "5s"'],
    )
    uri = lake.uri(case.db, "t")
    # check: a real write, a refused second conditional write and a delete
    # in the location; a missing bucket is one line naming the fix.
    check = run_cli("check", str(config), env=lake.env)
    assert "[sink].table_uri" not in check.stdout + check.stderr, check.stdout + check.stderr
    missing = config.with_name("missing.toml")
    missing.write_text(config.read_text().replace(lake.root, lake.root + "-missing"))
    bad = run_cli("check", str(missing), env=lake.env)
    lines = [l for l in (bad.stdout + bad.stderr).splitlines() if "[sink].table_uri" in l]
    assert bad.returncode != 0 and len(lines) == 1, bad.stdout + bad.stderr
    assert "does not exist: create it" in lines[0], lines[0]

    src = case.start_source_role(config)
    wait_for_count(topic, seed, 60, src)  # the snapshot

    # A sink that aborts right after its first Delta commit, before Kafka's;
    # restarted under the same static member id (tansu 0.6 keeps a dead
    # member as group leader until that id comes back).
    lead_env = {**lake.env, "BINLAKE_SINK_INSTANCE": f"{case.name}-lead"}
    crashing = case.start_sink(config, "binlake-sink-failpoint.log", env={**lead_env, FAILPOINT_ENV: FAILPOINT_AFTER_DELTA_COMMIT})
    rc = crashing.wait_exit(WAIT)
    assert rc != 0 and "failpoint sink_after_delta_commit" in crashing.log_text(), crashing.log_text()[-3000:]

    lead = case.start_sink(config, "binlake-sink-lead.log", env=lead_env)
    wait_lake_equals_mysql(case, "t", uri, lake.py_opts, [src, lead])

    errors, progress = [], {"n": 0}
    w = threading.Thread(target=writer, args=(case, 160, errors, progress), daemon=True)
    w.start()
    other_env = {**lake.env, "BINLAKE_SINK_INSTANCE": f"{case.name}-other"}
    other = case.start_sink(config, "binlake-sink-other.log", env=other_env)
    wait_until(lambda: commits_in(other) > 0, 180, "the second sink's first Delta commit", interval=0.5)
    two_writers = commits_in(lead, since_start=True) > 0 and commits_in(other) > 0
    other.kill9()  # mid-stream, with commits going on
    time.sleep(2)
    other = case.start_sink(config, "binlake-sink-other.log", env=other_env)
    w.join(timeout=120)
    assert not w.is_alive() and not errors, errors
    wait_lake_equals_mysql(case, "t", uri, lake.py_opts, [src, lead, other], timeout=180)
    time.sleep(3)  # a late replay, if any, would be committed by now
    wait_lake_equals_mysql(case, "t", uri, lake.py_opts, [src, lead, other])
    rows = deltalake_rows(uri, lake.py_opts)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a key appears twice in Delta"
    assert two_writers, "both sinks should have committed to the table"
    conflicts = (lead.log_text() + other.log_text()).count("Delta commit conflict")
    vacuums = (lead.log_text() + other.log_text()).count("vacuumed")
    assert vacuums > 0, "VACUUM should have run on the store"

    # A last VACUUM once the retention (3 s + 3 s slack) has passed, with
    # the pipeline still running: rows inserted a vacuum interval apart
    # make the flushes that run it.
    prefix = f"{case.db}/t/"
    before = table_files(s3_keys(lake, prefix)) if store == "s3" else []
    marks = [p.log_text().count("vacuumed") for p in (lead, other)]
    time.sleep(7)
    for i in range(20):
        case.sql(f"INSERT INTO t VALUES ({90000 + i}, 1, 'last')")
        time.sleep(2)
        if any(p.log_text().count("vacuumed") > m for p, m in zip((lead, other), marks)):
            break
    wait_lake_equals_mysql(case, "t", uri, lake.py_opts, [src, lead, other])
    for p in (lead, other):
        assert p.stop(signal.SIGTERM) == 0
    assert src.stop(signal.SIGTERM) == 0
    versions = DeltaTable(uri, storage_options=lake.py_opts).version() + 1
    print(f"\n{store}: {versions} versions, {conflicts} commit conflicts retried, {vacuums} vacuums, "
          f"{time.monotonic() - t0:.1f} s")
    if store != "s3":
        return

    left = table_files(s3_keys(lake, prefix))
    used = referenced_files(s3_log(lake, prefix))
    assert used <= set(left), f"a file the current version uses is gone: {sorted(used - set(left))[:5]}"
    # Beyond those: only files younger than the last VACUUM's cutoff, or
    # written by the commits after it.
    assert len(left) <= len(used) + 20, (len(left), len(used))

    # verify and status read the tables on S3.
    v = run_cli("verify", str(config), env=lake.env)
    assert v.returncode == 0, v.stdout + v.stderr
    assert f"ok    {case.db}.t:" in v.stdout, v.stdout
    st = run_cli("status", str(config), env=lake.env)
    assert st.returncode == 0, st.stdout + st.stderr
    assert f"delta  {uri} version" in st.stdout, st.stdout

    # Independent readers, after compactions and binlake's checkpoint, on S3.
    checkpoints = [n for n in s3_keys(lake, prefix + "_delta_log/") if ".checkpoint." in n]
    assert checkpoints, f"no checkpoint after {versions} versions"
    history = DeltaTable(uri, storage_options=lake.py_opts).history()
    assert any(h.get("operation") == "OPTIMIZE" for h in history), "the sink should have compacted"
    equal_to_mysql(case, "t", duckdb_rows(uri, lake), "DuckDB delta_scan on S3")
    equal_to_mysql(case, "t", polars_rows(uri, lake.py_opts), "polars read_delta on S3")
    print(
        f"s3: checkpoints {checkpoints}; data+DV files before the last VACUUM {len(before)} "
        f"({sum(1 for f in before if f.startswith('deletion_vector_'))} deletion vectors), after {len(left)}, "
        f"{len(used)} used by the current version; {time.monotonic() - t0:.1f} s"
    )


# ---------------------------------------------------------------- 2. a clean lake, read by others


def test_many_batches_then_vacuum_local(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(60))")
    with mysql_connect(case.db) as c, c.cursor() as cur:
        cur.executemany("INSERT INTO t VALUES (%s, %s, 'seed')", [(i, i) for i in range(1, 201)])
    # VACUUM with a 1 s retention, first due 30 s after the first batch:
    # the batches and the reads below come before it, without a restart
    # (tansu 0.6 can leave a restarted group member unassigned).
    config = write_config(case, None, flush_interval="1s", max_batch_rows=5,
                          sink_extra=['vacuum_interval = "30s"', 'vacuum_retention = "1s"'])
    path = case.table_path("t")
    src = case.start_source_role(config)
    sink = case.start_sink(config)
    errors, progress = [], {"n": 0}
    t0 = time.monotonic()
    writer(case, 400, errors, progress, seed=11)
    assert not errors, errors
    case.wait_delta_equals_mysql("t", WAIT, procs=[src, sink])
    took = time.monotonic() - t0

    t = DeltaTable(str(path))
    versions = t.version() + 1
    history = t.history()
    optimizes = sum(1 for h in history if h.get("operation") == "OPTIMIZE")
    checkpoints = [p for p in os.listdir(path / "_delta_log") if ".checkpoint." in p]
    assert optimizes > 0, "the sink should have compacted"
    assert checkpoints, f"no checkpoint after {versions} versions"
    equal_to_mysql(case, "t", duckdb_rows(str(path)), "DuckDB delta_scan")
    equal_to_mysql(case, "t", polars_rows(str(path)), "polars read_delta")
    equal_to_mysql(case, "t", deltalake_rows(str(path)), "Python deltalake")
    early = "vacuumed" in sink.log_text()
    before = table_files(os.listdir(path))
    dv_before = sum(1 for f in before if f.startswith("deletion_vector_"))

    for i in range(40):  # rows until a flush finds the VACUUM due
        if "vacuumed" in sink.log_text():
            break
        case.sql(f"INSERT INTO t VALUES ({99000 + i}, 1, 'after')")
        time.sleep(1.5)
    assert "vacuumed" in sink.log_text(), sink.log_text()[-3000:]
    case.wait_delta_equals_mysql("t", WAIT, procs=[src, sink])
    assert sink.stop(signal.SIGTERM) == 0
    assert src.stop(signal.SIGTERM) == 0
    after = table_files(os.listdir(path))
    used = referenced_files(local_log(path))
    assert used <= set(after), f"a file the current version uses is gone: {sorted(used - set(after))[:5]}"
    # What is left beyond the current version's files is at most what the
    # commits after the VACUUM replaced (younger than the retention + slack).
    if not early:  # else the machine was too slow for the 30 s before the first VACUUM
        assert len(after) < len(before) / 3, (len(before), len(after))
    equal_to_mysql(case, "t", duckdb_rows(str(path)), "DuckDB delta_scan after VACUUM")
    equal_to_mysql(case, "t", polars_rows(str(path)), "polars read_delta after VACUUM")
    print(
        f"\n{versions} versions ({optimizes} compactions, checkpoints {sorted(checkpoints)}) in {took:.1f} s; "
        f"files before VACUUM: {len(before)} ({dv_before} deletion vectors); after: {len(after)} "
        f"({sum(1 for f in after if f.startswith('deletion_vector_'))} deletion vectors), "
        f"{len(used)} used by the current version"
    )


# ---------------------------------------------------------------- 3. progress from the lake


def test_reset_table_is_rebuilt_and_recreated_topic_refused(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(60))")
    with mysql_connect(case.db) as c, c.cursor() as cur:
        cur.executemany("INSERT INTO t VALUES (%s, %s, 'seed')", [(i, i) for i in range(1, 51)])
    config = write_config(case, None, flush_interval="1s", max_batch_rows=100)
    path = case.table_path("t")
    topic = case.topic("t")
    src = case.start_source_role(config)
    sink = case.start_sink(config)
    case.wait_delta_equals_mysql("t", WAIT, procs=[src, sink])
    time.sleep(2)  # the group's offsets are committed (at most one a second)
    assert sink.stop(signal.SIGTERM) == 0
    assert src.stop(signal.SIGTERM) == 0

    # The table moved away: the group's offsets say "done", Delta says
    # nothing applied; the sink rebuilds it from the topic's beginning.
    shutil.move(str(path), str(path) + ".old")
    sink = case.start_sink(config, "binlake-sink-rebuild.log")
    case.wait_delta_equals_mysql("t", WAIT, procs=[sink])
    assert "partition starts where its Delta table ends" in sink.log_text(since_start=True)
    assert sink.stop(signal.SIGTERM) == 0
    applied = {p: DeltaTable(str(path)).transaction_version(case.app_id("t", p)) for p in range(topic_partitions(topic))}

    # The topic recreated under the same name, holding fewer records than
    # the table applied: the sink must stop and say why, not skip.
    # (tansu 0.6 deletes every topic of the cluster on any DeleteTopics,
    # which takes a while once a test run has written a few 100k records.)
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.delete_topics([topic], operation_timeout=300)[topic].result(300)
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, 300, "the topic to be deleted")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    prod = Producer({"bootstrap.servers": BROKERS})
    prod.produce(topic, key=b"junk", value=b"not applied")
    prod.flush(10)
    version_before = DeltaTable(str(path)).version()
    sink = case.start_sink(config, "binlake-sink-recreated.log")
    rc = sink.wait_exit(60)
    text = sink.log_text(since_start=True)
    assert rc != 0, text[-3000:]
    assert "the topic was recreated or truncated" in text, text[-3000:]
    assert "move the Delta table away" in text, text[-3000:]
    assert DeltaTable(str(path)).version() == version_before, "nothing may be applied from the new topic"
    print(f"\napplied before the topic was recreated: {applied}; watermarks now {watermarks(topic)}")
