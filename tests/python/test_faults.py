"""The fault suite in CI: one seeded run (see fault_suite.py) in which the
source and the sink are killed -9 and the broker, the registry and MariaDB
are each restarted once, while the workload runs; `binlake verify` must end
clean and no Delta key may appear twice. BINLAKE_FAULT_SEED replays a seed;
BINLAKE_FAULT_KILLS sets the number of fault points (default 8)."""

import os

from fault_suite import FaultRun, new_seed
from sink_harness import sink_case  # noqa: F401


def test_faults_leave_delta_equal_to_mysql(sink_case):
    seed = new_seed()
    print(f"fault suite seed {seed} (replay: BINLAKE_FAULT_SEED={seed})")
    kills = int(os.environ.get("BINLAKE_FAULT_KILLS", "8"))
    summary = FaultRun(sink_case, seed, kills).run()
    print(summary)
    assert len(summary["faults"]) == kills
