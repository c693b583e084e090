"""SIGTERM under load: `binlake run --role all` drains, commits and exits 0
within a bounded time; after a restart Delta equals MySQL, one row per key."""

import signal
import threading
import time

from sink_harness import check_no_duplicate_keys, sink_case  # noqa: F401
from test_sink_e2e import WAIT


def test_sigterm_under_load_loses_nothing(sink_case):
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT, s VARCHAR(40))")
    config = case.write_sink_config()
    proc = case.start_all(config)
    proc.wait_streaming()

    stop = threading.Event()
    errors = []

    def writer():
        from source_harness import mysql_connect

        conn = mysql_connect(case.db)
        conn.autocommit(True)
        i = 0
        try:
            with conn.cursor() as c:
                while not stop.is_set():
                    i += 1
                    c.execute("INSERT INTO t VALUES (%s, %s, %s)", (i, i, f"row {i}"))
                    if i % 3 == 0:
                        c.execute("UPDATE t SET v = v + 1 WHERE id = %s", (i // 2,))
                    if i % 7 == 0:
                        c.execute("DELETE FROM t WHERE id = %s", (i // 3,))
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
        finally:
            conn.close()

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    time.sleep(6)  # several sink batches in flight
    t0 = time.monotonic()
    rc = proc.stop(signal.SIGTERM, timeout=30)
    took = time.monotonic() - t0
    assert rc == 0, f"exit code {rc}"
    assert took < 30, f"SIGTERM took {took:.1f}s"
    time.sleep(3)  # changes keep coming while binlake is down
    stop.set()
    w.join(timeout=30)
    assert not errors, errors

    proc2 = case.start_all(config, log_name="binlake-all-2.log")
    case.wait_delta_equals_mysql("t", WAIT, procs=[proc2])
    check_no_duplicate_keys(case.table_path("t"))
    assert proc2.stop(signal.SIGTERM) == 0
    print(f"\nSIGTERM to exit: {took:.2f} s")
