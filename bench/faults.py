"""The fault suite by hand, for long runs:

    python3 bench/faults.py [--runs N] [--kills K] [--seed S]

Each run gets a fresh database and connector, a seeded workload and K fault
points (kill -9 of the source or the sink, restarts of the broker, the
registry and MariaDB); it ends with `binlake verify` clean and no Delta key
held twice, or stops with the seed to replay. Needs the local servers
(bash scripts/servers.sh start) and a built binlake."""

import argparse
import pathlib
import sys
import tempfile
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

from fault_suite import FaultRun, new_seed  # noqa: E402
from sink_harness import new_sink_case  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--kills", type=int, default=20, help="fault points per run")
    ap.add_argument("--seed", type=int, default=None, help="seed of the first run (then +1 per run)")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else new_seed()
    total_faults = 0
    t0 = time.monotonic()
    for i in range(a.runs):
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"binlake-faults-{uuid.uuid4().hex[:6]}-"))
        case = new_sink_case(tmp, prefix="flt")
        try:
            summary = FaultRun(case, seed + i, a.kills).run()
        finally:
            case.close()
        total_faults += len(summary["faults"])
        kinds = {k: summary["faults"].count(k) for k in sorted(set(summary["faults"]))}
        print(f"run {i + 1}/{a.runs} seed {summary['seed']}: {len(summary['faults'])} faults {kinds}, "
              f"{summary['transactions']} transactions, rows {summary['tables']}, {summary['seconds']} s: verify clean, no duplicate keys",
              flush=True)
    print(f"{a.runs} runs, {total_faults} fault points, 0 differences, {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
