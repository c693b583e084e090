"""A healthy pipeline logs no ERROR line: a first start (the sink subscribes
before the source has created any table topic, the source snapshots), a
stream of changes, a clean stop, and a restart (the source reads back the
ends of its partitions and of `{name}.offsets`). What librdkafka reports
along the way is expected there, not an error.
"""

import re
import signal

from sink_harness import sink_case  # noqa: F401  (pytest fixture)

# A text log line: timestamp, level, then the rest.
LEVEL = re.compile(r"^\S+\s+(ERROR|WARN|INFO|DEBUG|TRACE)\b")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if (m := LEVEL.match(line)) and m.group(1) == "ERROR"]


def test_a_healthy_start_and_restart_log_no_error(sink_case):  # noqa: F811
    c = sink_case
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    c.sql("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    config = c.write_sink_config(snapshot="initial")  # as the demo: existing rows first

    first = c.start_all(config)
    c.wait_delta_equals_mysql("t", procs=[first])
    c.sql_many(
        [
            "INSERT INTO t VALUES (4, 'd')",
            "UPDATE t SET v = 'B' WHERE id = 2",
            "DELETE FROM t WHERE id = 3",
        ]
    )
    c.wait_delta_equals_mysql("t", procs=[first])
    assert first.stop(signal.SIGTERM) == 0, c.logs()

    again = c.start_all(config, log_name="binlake-restart.log")
    c.sql("INSERT INTO t VALUES (5, 'e')")
    c.wait_delta_equals_mysql("t", procs=[again])
    assert again.stop(signal.SIGTERM) == 0, c.logs()

    text = first.log_text() + again.log_text()
    # The lines parse, so an empty result means no ERROR, not no match.
    assert sum(1 for line in text.splitlines() if LEVEL.match(line)) > 10, text[:2000]
    errors = error_lines(text)
    assert not errors, "ERROR lines in a healthy run:\n" + "\n".join(errors)
