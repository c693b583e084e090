#!/usr/bin/env python3
"""Prints a Delta table's rows, sorted, as an independent reader sees them.

Usage: python3 scripts/delta_dump.py PATH [PATH ...]
Reads through `DeltaTable.scan()`, which applies deletion vectors.
"""
import sys

import pyarrow
from deltalake import DeltaTable


def main(paths):
    for path in paths:
        table = DeltaTable(path)
        rows = pyarrow.table(table.scan().read_all()).to_pylist()
        key = next(iter(rows[0])) if rows else None
        print(f"== {path} (version {table.version()}, {len(rows)} rows)")
        for row in sorted(rows, key=lambda r: (r[key] is None, r[key])):
            print(row)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
