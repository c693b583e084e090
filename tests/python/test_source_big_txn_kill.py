"""kill -9 of the source inside one 200,000-row MySQL transaction, on the
default path (idempotent producer, no Kafka transactions): after a restart
every row is in the topic exactly once.

The first source is killed while it is producing the transaction, so part
of it is in Kafka and no position past it is stored. The restarted source
reads the transaction again from its start; the partition's last record
tells it how much is already there. Exactly once is checked three ways:
the topic holds exactly ROWS records (a double would add one, a loss take
one away), the restarted source reports skipping exactly the records the
first one landed, and records decoded around the seam (and at both ends
and at random offsets) carry the id their offset implies (one partition,
ids inserted in order).
"""

import os
import random
import signal
import time

from source_harness import case, offsets_records, read_topic, wait_for_count, watermarks  # noqa: F401

ROWS = int(os.environ.get("BINLAKE_KILL_TXN_ROWS", "200000"))


def seq_of(gtid_set: str, domain: str) -> int:
    """MariaDB: the sequence number of `domain` in a `d-s-n,...` GTID list."""
    for g in (gtid_set or "").split(","):
        d, _, n = g.strip().split("-")
        if d == domain:
            return int(n)
    return 0


def test_kill_9_inside_a_200k_row_transaction(case):
    case.sql("CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, pad CHAR(8) NOT NULL)")
    first = case.start_source()
    topic = case.topic("big")

    case.sql(f"INSERT INTO big SELECT seq, seq % 1000, 'padpadpa' FROM seq_1_to_{ROWS}")
    gtid = case.sql("SELECT @@last_gtid")[0][0]
    domain, _, seq = gtid.split("-")

    # Kill once a good part of the transaction is in Kafka, well before its end.
    wait_for_count(topic, ROWS // 10, 300, first, interval=0.05)
    first.stop(signal.SIGKILL)
    time.sleep(3)  # requests already sent land or fail
    (low, high), = watermarks(topic)
    landed = high - low
    assert 0 < landed < ROWS, f"the kill must fall inside the transaction: {landed} of {ROWS} landed"

    stored = offsets_records(case.name)[-1]
    assert seq_of(stored.get("gtid_set"), domain) < int(seq), (
        f"the stored position {stored} must lie before the killed transaction {gtid}"
    )

    second = case.source(first.config, log_name="binlake-restart.log")
    t0 = time.time()
    second.start()
    second.wait_streaming()
    wait_for_count(topic, ROWS, 600, second)
    t_done = time.time()
    time.sleep(3)  # a double would arrive after the count was reached
    (low, high), = watermarks(topic)
    assert high - low == ROWS, f"{high - low} records for {ROWS} rows: doubles"

    log = second.log_text(since_start=True)
    assert f"skipped={landed}" in log, f"the restart must skip exactly the {landed} landed records"

    offsets = [0, 1, landed - 2, landed - 1, landed, landed + 1, ROWS - 2, ROWS - 1]
    offsets += random.sample(range(2, ROWS - 2), 5)
    for off in sorted(set(o for o in offsets if 0 <= o < ROWS)):
        rec, = read_topic(topic, start={0: low + off}, limit=1)[:1]
        assert rec.key == {"id": off + 1}, (off, rec.key)
        assert rec.value["after"] == {"id": off + 1, "v": (off + 1) % 1000, "pad": "padpadpa"}
        assert rec.value["transaction"]["id"] == gtid
        assert rec.value["transaction"]["total_order"] == off + 1

    print(
        f"\nkill -9 inside a {ROWS}-row transaction: {landed} records landed before the kill; "
        f"the restart skipped them and wrote the other {ROWS - landed} "
        f"({t_done - t0:.1f}s from restart to the last record)"
    )
    assert second.stop() == 0
