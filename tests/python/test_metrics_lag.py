"""/metrics while a large transaction streams: the source lag rises while
the source works through it and falls back near zero; the sink's metrics
agree with the Delta table afterwards."""

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
