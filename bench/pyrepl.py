"""python-mysql-replication decoding a binlog range, for comparison with
binlake's decoder on the same events.

    python3 bench/pyrepl.py --range FILE:POS..FILE:POS [--table DB.TABLE]

`cargo bench --bench source_rate` prints the range of its million-row
transaction as `binlog range: FILE:POS..FILE:POS (table DB.t)`; pass that
line's range (and table) here, or let `bash bench/run.sh` do it. The range
is read with pymysqlreplication's BinLogStreamReader (only WriteRowsEvent,
resume_stream from FILE:POS, stopped once past the end position), every
value of every row is touched so that the rows are really decoded, and one
markdown table is printed: rows, seconds (wall), CPU seconds, rows/s and
this process's peak RSS (ru_maxrss).

Connects as the administrative user of the local test server
(BINLAKE_TEST_MYSQL_URL, default binlake_admin@127.0.0.1:3307). The table
may be dropped already: with binlog_row_metadata=FULL the column names come
from the binlog itself."""

import argparse
import importlib.metadata
import pathlib
import random
import re
import resource
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

from source_harness import MYSQL_ADMIN, MYSQL_ADMIN_PASSWORD, MYSQL_HOST, MYSQL_PORT  # noqa: E402

from pymysqlreplication import BinLogStreamReader  # noqa: E402
from pymysqlreplication.row_event import WriteRowsEvent  # noqa: E402

RANGE = re.compile(r"^(?P<f1>[^:\s]+):(?P<p1>\d+)\.\.(?P<f2>[^:\s]+):(?P<p2>\d+)$")


def file_pos_key(file, pos):
    """Orders binlog positions: by the file's numeric suffix, then offset."""
    stem, _, num = file.rpartition(".")
    return (stem, int(num) if num.isdigit() else num, pos)


def decode_range(start_file, start_pos, end_file, end_pos, schema=None, table=None):
    """Reads WriteRowsEvents from start to end; returns (rows, values touched,
    wall seconds, CPU seconds)."""
    stream = BinLogStreamReader(
        connection_settings={
            "host": MYSQL_HOST,
            "port": MYSQL_PORT,
            "user": MYSQL_ADMIN,
            "passwd": MYSQL_ADMIN_PASSWORD,
        },
        server_id=random.randint(100_000, 4_000_000_000),
        only_events=[WriteRowsEvent],
        only_schemas=[schema] if schema else None,
        only_tables=[table] if table else None,
        resume_stream=True,
        log_file=start_file,
        log_pos=start_pos,
        # The reader compares offsets only; that is right when the range
        # lies in one file (a transaction never spans two).
        end_log_pos=end_pos if start_file == end_file else None,
        blocking=False,
        enable_logging=False,
    )
    end = file_pos_key(end_file, end_pos)
    rows = 0
    touched = 0
    t0, c0 = time.monotonic(), time.process_time()
    try:
        for event in stream:
            # The event's end position: events after the range are not counted.
            if file_pos_key(stream.log_file, event.packet.log_pos) > end:
                break
            for row in event.rows:  # decodes the row images
                for v in row["values"].values():
                    if v is not None:
                        touched += 1
                rows += 1
    finally:
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
        stream.close()
    return rows, touched, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--range", required=True, help="FILE:POS..FILE:POS (as source_rate prints it)")
    ap.add_argument("--table", default=None, help="DB.TABLE: count only this table's rows")
    ap.add_argument("--expect", type=int, default=None, help="fail unless exactly this many rows were decoded")
    a = ap.parse_args()
    m = RANGE.match(a.range.strip())
    if not m:
        raise SystemExit(f"bad --range {a.range!r}: want FILE:POS..FILE:POS")
    schema, table = (a.table.split(".", 1) if a.table else (None, None))
    rows, touched, wall, cpu = decode_range(
        m["f1"], int(m["p1"]), m["f2"], int(m["p2"]), schema, table
    )
    if rows == 0:
        raise SystemExit(f"no rows in {a.range} (purged binlog, or wrong range?)")
    if a.expect is not None and rows != a.expect:
        raise SystemExit(f"decoded {rows} rows in {a.range}, expected {a.expect}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    version = importlib.metadata.version("mysql-replication")
    print(f"| python-mysql-replication {version} | rows | seconds | CPU s | rows/s | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| decode {a.range}{' of ' + a.table if a.table else ''}, every value touched ({touched:,} non-null) "
        f"| {rows:,} | {wall:.2f} | {cpu:.2f} | {rows / wall:,.0f} | {peak_kb / 1024:.0f} MiB |"
    )


if __name__ == "__main__":
    main()
