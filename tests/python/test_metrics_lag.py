"""/metrics while a large transaction streams: the source lag rises while
the source works through it and falls back near zero; the sink's metrics
agree with the Delta table afterwards."""

import json
import re
import signal
import time
import urllib.request

from sink_harness import sink_case  # noqa: F401
from test_sink_faults import with_metrics

ROWS = 120_000


def scrape(url):
    """{(name, frozenset(labels)): value}."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})?\s+(\S+)$", line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    want = set(labels.items())
    for (n, ls), v in samples.items():
        if n == name and want <= set(ls):
            return v
    return None


def test_lag_rises_under_load_and_falls_back(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT, s VARCHAR(40))")
    config = case.write_sink_config(max_batch_rows=20000)
    url = with_metrics(config)
    proc = case.start_all(config)
    proc.wait_streaming()
    ready = urllib.request.urlopen(url.replace("/metrics", "/readyz"), timeout=5)
    assert ready.status == 200

    # One transaction of ROWS rows: its commit time is fixed, so the lag
    # grows while the source reads it.
    case.sql(
        "INSERT INTO t SELECT seq, seq, CONCAT('row ', seq) FROM seq_1_to_%d" % ROWS
    )
    peak = 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 180:
        s = scrape(url)
        lag = value(s, "binlake_source_lag_seconds")
        if lag is not None:
            peak = max(peak, lag)
        rows = value(s, "binlake_sink_rows_total", op="c") or 0
        if rows >= ROWS and lag is not None and lag < 2:
            break
        time.sleep(0.5)
    s = scrape(url)
    assert peak >= 2, f"source lag never rose (peak {peak})"
    assert value(s, "binlake_source_lag_seconds") < 2, s
    assert value(s, "binlake_sink_rows_total", op="c") == ROWS
    case.wait_delta_equals_mysql("t", 90, procs=[proc])
    from deltalake import DeltaTable

    version = DeltaTable(str(case.table_path("t"))).version()
    assert value(s, "binlake_sink_delta_version") == version or value(scrape(url), "binlake_sink_delta_version") == version
    assert value(s, "binlake_sink_commit_seconds_count") >= 1
    assert value(s, "binlake_source_events_total", op="c") == ROWS
    assert proc.stop(signal.SIGTERM) == 0
    print(f"\npeak source lag {peak:.1f} s")


def test_idle_caught_up_pipeline_reports_small_end_to_end_lag(sink_case):
    """An idle pipeline is as fresh as its heartbeats: end-to-end lag stays
    near heartbeat (1 s) + flush_interval (1 s) long after the last write,
    also for a sink restarted while nothing is written."""
    case = sink_case
    case.sql("CREATE TABLE idle (id INT PRIMARY KEY, v INT)")
    config = case.write_sink_config(flush_interval="1s")
    source = case.binlake(config, "source", "source.log").start()
    source.wait_streaming()
    sink_config = config.with_name("sink.toml")
    sink_config.write_text(config.read_text())
    url = with_metrics(sink_config)
    sink = case.binlake(sink_config, "sink", "sink.log").start()
    case.sql("INSERT INTO idle SELECT seq, seq FROM seq_1_to_10")
    case.wait_delta_equals_mysql("idle", 90, procs=[source, sink])
    last_write = time.monotonic()

    def lag():
        return value(scrape(url), "binlake_end_to_end_lag_seconds", table=f"{case.db}.idle")

    bound = 1 + 1 + 1.5  # heartbeat + flush_interval + one sink tick and poll
    time.sleep(max(0.0, 20 - (time.monotonic() - last_write)))
    samples = []
    for _ in range(10):
        samples.append(lag())
        time.sleep(1)
    assert time.monotonic() - last_write >= 29
    assert all(s is not None and s <= bound for s in samples), samples

    # `binlake status` says the same from Kafka and the Delta log.
    from test_status import status

    report = json.loads(status(sink_config, "--json"))
    [topic] = [t for t in report["topics"] if t["topic"].endswith(".idle")]
    assert topic["stale_seconds"] is not None and topic["stale_seconds"] <= bound, topic
    assert "everything committed in MySQL over" in status(sink_config)

    # A sink restarted on the idle pipeline reads no record, yet the table
    # is as fresh as the source's heartbeats.
    assert sink.stop(signal.SIGTERM) == 0
    sink = case.binlake(sink_config, "sink", "sink2.log").start()
    deadline = time.monotonic() + 60
    seen = None
    while time.monotonic() < deadline:
        seen = lag()
        if seen is not None and seen <= bound:
            break
        time.sleep(0.5)
    assert seen is not None and seen <= bound, seen
    samples = []
    for _ in range(5):
        samples.append(lag())
        time.sleep(1)
    assert all(s is not None and s <= bound for s in samples), samples

    # Writes still move it: a row committed now is applied within bounds.
    case.sql("INSERT INTO idle VALUES (11, 11)")
    case.wait_delta_equals_mysql("idle", 60, procs=[source, sink])
    assert lag() <= bound
    assert sink.stop(signal.SIGTERM) == 0
    assert source.stop(signal.SIGTERM) == 0
