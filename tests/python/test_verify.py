"""`binlake verify`: equal tables pass over every SPEC type; a row changed
by hand in Delta and one deleted by hand are reported, exit 1."""

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
    config = case.write_sink_config()
    proc = case.start_all(config)
    case.sql("SET SESSION sql_mode = ''")  # zero dates, truncation: as test_sink_e2e
    for rid, values in VALUES.items():
        case.sql(insert_row(rid, values))
    case.sql("UPDATE alltypes SET vc = 'changed', dbl = 2.5 WHERE id = 3")
    case.sql("INSERT INTO other VALUES (1, 'a'), (2, 'b')")
    case.wait_delta_equals_mysql("alltypes", WAIT, procs=[proc])
    case.wait_delta_equals_mysql("other", WAIT, procs=[proc])
    assert proc.stop(signal.SIGTERM) == 0

    ok = verify(config)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"ok    {case.db}.alltypes: 5 rows equal" in ok.stdout, ok.stdout
    assert f"ok    {case.db}.other: 2 rows equal" in ok.stdout, ok.stdout

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
