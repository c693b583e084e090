"""One MySQL transaction of 1,000,000 rows: every row arrives, and the
source's memory stays bounded (it must stream the transaction, not hold it).

Memory bound: binlake keeps at most 20,000 records awaiting acknowledgement
(MAX_IN_FLIGHT in src/kafka/writer.rs; librdkafka's queue is further capped
at 64 MiB by queue.buffering.max.kbytes). A record here is ~130 bytes of
key+value plus well under 1 KB of librdkafka and delivery-future overhead, so
the in-flight window costs at most ~25 MB over the ~20 MB the idle source
resides in (measured: ~40 MB peak). 150 MB leaves room for allocator
slack, yet a source that held the transaction would exceed it several times
over: 1,000,000 records are 130 MB of payload alone, before the decoded rows
and per-record overhead.

tansu's reads cost O(records after the fetch offset) per fetch, so the test
counts records by watermarks and decodes only a handful of them.
"""

import os
import random
import threading
import time

from source_harness import case, read_topic, wait_for_count, watermarks  # noqa: F401

ROWS = int(os.environ.get("BINLAKE_BIG_TXN_ROWS", "1000000"))
PEAK_RSS_LIMIT_MB = 150


def test_one_million_row_transaction(case):
    case.sql("CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, pad CHAR(8) NOT NULL)")
    src = case.start_source()
    topic = case.topic("big")

    # Sample VmHWM (peak RSS) all along; it is only readable while the process lives.
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            src.sample_rss()
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    baseline_kb = src.sample_rss()

    t0 = time.time()
    case.sql(f"INSERT INTO big SELECT seq, seq % 1000, 'padpadpa' FROM seq_1_to_{ROWS}")
    t_commit = time.time()
    gtid = case.sql("SELECT @@last_gtid")[0][0]
    try:
        wait_for_count(topic, ROWS, 600, src)
        t_done = time.time()
        time.sleep(2)
        src.sample_rss()
    finally:
        stop.set()
        sampler.join()

    marks = watermarks(topic)
    assert len(marks) == 1
    low, high = marks[0]
    assert high - low == ROWS, f"{high - low} records for {ROWS} rows"
    assert src.alive()

    cpu_s = src.cpu_seconds()
    # Decode a sample: the first two, the last two and some in between.
    sample_recs = read_topic(topic, start={0: low}, limit=2)[:2]
    for off in sorted(random.sample(range(low + 2, high - 2), 5)):
        sample_recs += read_topic(topic, start={0: off}, limit=1)[:1]
    sample_recs += read_topic(topic, start={0: high - 2}, limit=2)[:2]
    assert len(sample_recs) == 9
    first = sample_recs[0]
    last = sample_recs[-1]
    for r in sample_recs:
        rid = r.offset - low + 1
        assert r.key == {"id": rid}, (r.offset, r.key)
        assert r.op == "c"
        assert r.value["after"] == {"id": rid, "v": rid % 1000, "pad": "padpadpa"}
        txn = r.value["transaction"]
        assert txn["id"] == gtid and r.value["source"]["gtid"] == gtid
        assert txn["total_order"] == rid and txn["data_collection_order"] == rid

    span_s = max((last.timestamp_ms - first.timestamp_ms) / 1000, 1e-3)
    peak_mb = src.peak_rss_kb / 1024
    print(
        f"\nbig transaction: {ROWS} rows; INSERT+COMMIT took {t_commit - t0:.1f}s; "
        f"last record acked {t_done - t_commit:.1f}s after COMMIT -> {ROWS / (t_done - t_commit):,.0f} rows/s; "
        f"first-to-last record timestamps {span_s:.1f}s -> {ROWS / span_s:,.0f} rows/s; "
        f"source peak RSS (VmHWM) {peak_mb:.0f} MB (at streaming start {baseline_kb / 1024:.0f} MB); "
        f"source CPU {cpu_s:.1f}s"
    )
    assert src.stop() == 0
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB exceeds {PEAK_RSS_LIMIT_MB} MB"
