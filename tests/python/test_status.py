"""`binlake status`: positions and lags read from Kafka, the consumer group
and the Delta log, for a running pipeline and after it stopped."""

import json
import os
import signal
import subprocess

from sink_harness import sink_case  # noqa: F401
from source_harness import binlake_bin

WAIT = 90.0


def status(config, *args):
    out = subprocess.run(
        [str(binlake_bin()), "status", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_status_reports_positions_and_lag(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    config = case.write_sink_config()
    proc = case.start_all(config)
    case.sql("INSERT INTO t VALUES " + ",".join(f"({i}, {i})" for i in range(1, 201)))
    case.sql("UPDATE t SET v = v + 1 WHERE id <= 50")
    case.sql("DELETE FROM t WHERE id > 190")
    case.wait_delta_equals_mysql("t", WAIT, procs=[proc])
    assert proc.stop(signal.SIGTERM) == 0

    # Stopped pipeline: everything produced is in Delta, nothing is behind.
    report = json.loads(status(config, "--json"))
    assert report["name"] == case.name
    src = report["source"]
    assert src["error"] is None, src
    assert src["position"], src
    assert src["bytes_behind"] is not None
    topic = f"{case.name}.{case.db}.t"
    [t] = [t for t in report["topics"] if t["topic"] == topic]
    assert t["table"]["version"] >= 1
    assert t["table"]["live_rows"] == 190
    produced = sum(p["end_offset"] for p in t["partitions"])
    assert produced > 0
    for p in t["partitions"]:
        if p["end_offset"] > 0:
            assert p["delta_offset"] is not None, p
            assert p["lag"] == 0, p

    # Changes made while nothing runs show up as source bytes behind.
    case.sql("INSERT INTO t VALUES (1000, 1)")
    later = json.loads(status(config, "--json"))
    assert later["source"]["bytes_behind"] > 0, later["source"]
    text = status(config)
    assert f"topic    {topic}" in text and "version" in text, text
