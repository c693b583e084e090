"""`binlake verify`: equal tables pass over every type of docs/contract.md; a row changed
by hand in Delta and one deleted by hand are reported, exit 1. MySQL is
read in primary-key chunks of `snapshot_chunk_rows` rows (2 here, so every
table spans several chunks, a composite key too)."""

import os
import signal
import subprocess

from deltalake import DeltaTable

from sink_harness import sink_case  # noqa: F401
from source_harness import binlake_bin
from test_sink_e2e import COLS, VALUES, WAIT, insert_row


def verify(config, *args):
    return subprocess.run(
        [str(binlake_bin()), "verify", str(config), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )


def test_verify_passes_then_catches_hand_edits(sink_case):
    case = sink_case
    ddl = ",\n  ".join(f"`{n}` {t}" for n, t, _ in COLS)
    case.sql(f"CREATE TABLE alltypes (\n  {ddl}\n) CHARACTER SET utf8mb4")
    case.sql("CREATE TABLE other (id INT PRIMARY KEY, v VARCHAR(10))")
    case.sql("CREATE TABLE pairs (a INT, b VARCHAR(5), v INT, PRIMARY KEY (a, b))")
    config = case.write_sink_config(extra_source="snapshot_chunk_rows = 2")
    proc = case.start_all(config)
    case.sql("SET SESSION sql_mode = ''")  # zero dates, truncation: as test_sink_e2e
    for rid, values in VALUES.items():
        case.sql(insert_row(rid, values))
    case.sql("UPDATE alltypes SET vc = 'changed', dbl = 2.5 WHERE id = 3")
    case.sql("INSERT INTO other VALUES (1, 'a'), (2, 'b')")
    case.sql("INSERT INTO pairs VALUES (1, 'x', 1), (1, 'y', 2), (2, 'x', 3), (2, 'y', 4), (2, 'z', 5), (3, 'x', 6), (4, 'a', 7)")
    for t, key in (("alltypes", ["id"]), ("other", ["id"]), ("pairs", ["a", "b"])):
        case.wait_delta_equals_mysql(t, WAIT, key=key, procs=[proc])
    assert proc.stop(signal.SIGTERM) == 0

    ok = verify(config)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"ok    {case.db}.alltypes: 5 rows equal (3 key chunks)" in ok.stdout, ok.stdout
    assert f"ok    {case.db}.other: 2 rows equal (2 key chunks)" in ok.stdout, ok.stdout
    assert f"ok    {case.db}.pairs: 7 rows equal (4 key chunks)" in ok.stdout, ok.stdout

    # By hand, behind binlake's back.
    path = str(case.table_path("alltypes"))
    DeltaTable(path).update(updates={"vc": "'edited by hand'"}, predicate="id = 1")
    DeltaTable(path).delete("id = 2")
    bad = verify(config, "--table", f"{case.db}.alltypes")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "missing in Delta: id=2" in bad.stdout, bad.stdout
    assert "different: id=1" in bad.stdout, bad.stdout
    assert "other" not in bad.stdout, "--table limits the check"
    assert "different: id=3" not in bad.stdout

    # A composite key read across chunks: a row in the middle chunk.
    DeltaTable(str(case.table_path("pairs"))).delete("a = 2 AND b = 'y'")
    bad = verify(config, "--table", f"{case.db}.pairs")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "missing in Delta: a=2,b=y" in bad.stdout, bad.stdout
    assert "MySQL 7 rows, Delta 6 rows; 1 missing in Delta, 0 extra in Delta, 0 different" in bad.stdout, bad.stdout
