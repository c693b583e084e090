"""What the broker sustains at a steady rate, without binlake: a plain
producer replays records binlake wrote (key, value and headers as they
are) at --rate records/s while a plain consumer reads them, the way the
source and the sink load the broker in bench/freshness.py.

    python3 bench/broker_pace.py --from-topic TOPIC [--rate 15000] [--seconds 60]

TOPIC is a topic binlake filled (freshness.py and catchup.py leave theirs
in place); its first rate × seconds records are read into memory, then
produced to a fresh one-partition topic in 10 ms ticks of rate/100
records, paced against a monotonic schedule as freshness.py's writer is,
by a confluent-kafka producer with binlake's producer settings
(idempotent, acks=all, linger.ms 20, batch.num.messages 10000). A
consumer in another process reads the new topic from the start. Per
record: produce call → delivery report (the broker's acknowledgement),
and the record's CreateTime → the consumer's arrival. Prints markdown:
the achieved rate, p50/p99/max of both, records never read. Exits 3 when
records never arrived. Needs the local servers (bash scripts/servers.sh
start)."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import pathlib
import sys
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

from confluent_kafka import Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from source_harness import BROKERS, new_consumer  # noqa: E402


def read_records(topic: str, n: int) -> list:
    c = new_consumer()
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out, idle = [], time.monotonic()
        while len(out) < n and time.monotonic() - idle < 10:
            for m in c.consume(num_messages=10_000, timeout=1.0):
                if m.error() or m.value() is None:
                    continue
                out.append((m.key(), m.value(), m.headers() or []))
                idle = time.monotonic()
        return out[:n]
    finally:
        c.close()


def consume(topic: str, expect: int, done, queue) -> None:
    c = new_consumer()
    lat, last = [], time.monotonic()
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        # Until every record is read, or 30 s pass without one after the
        # producer has finished.
        while len(lat) < expect and not (done.is_set() and time.monotonic() - last > 30):
            for m in c.consume(num_messages=10_000, timeout=0.2):
                if m.error():
                    continue
                lat.append(time.time() * 1000 - m.timestamp()[1])
                last = time.monotonic()
    finally:
        c.close()
    queue.put(lat)


def pct(xs: list, p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-topic", required=True)
    ap.add_argument("--rate", type=int, default=15_000)
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    total = a.rate * a.seconds
    records = read_records(a.from_topic, total)
    if len(records) < total:
        print(f"{a.from_topic} holds {len(records)} records, {total} needed", file=sys.stderr)
        return 1
    topic = f"binlake-bench-pace-{uuid.uuid4().hex[:8]}"
    p = Producer(
        {
            "bootstrap.servers": BROKERS,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.kbytes": 65_536,
        }
    )
    # One partition, as binlake creates its table topics (a topic the
    # broker auto-creates on produce gets its default count, four on nisshi).
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    p.produce(topic, key=b"warm-up", value=b"")
    p.flush(30)
    queue, done = mp.Queue(), mp.Event()
    reader = mp.Process(target=consume, args=(topic, total + 1, done, queue))
    reader.start()
    time.sleep(1.0)

    acks: list[float] = []

    def delivered(sent: float):
        def cb(err, _msg):
            if err is None:
                acks.append((time.monotonic() - sent) * 1000)

        return cb

    per_tick = max(1, a.rate // 100)
    started = time.monotonic()
    i = 0
    tick = 0
    while i < total:
        due = started + tick * 0.01
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        sent = time.monotonic()
        cb = delivered(sent)
        for key, value, headers in records[i : i + per_tick]:
            while True:
                try:
                    p.produce(topic, key=key, value=value, headers=headers, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.01)
        i += per_tick
        tick += 1
        p.poll(0)
    produce_secs = time.monotonic() - started
    p.flush(120)
    done.set()
    lat = queue.get(timeout=600)
    reader.join(timeout=10)
    lat = lat[1:]  # the warm-up record
    lost = total - len(lat)
    print(f"| plain producer + consumer, {a.rate:,} records/s target for {a.seconds} s, records of `{a.from_topic}` | p50 | p99 | max |")
    print("|---|---:|---:|---:|")
    print(f"| produce → acknowledged (ms) | {pct(acks, .5):.0f} | {pct(acks, .99):.0f} | {max(acks, default=0):.0f} |")
    print(f"| CreateTime → consumer (ms) | {pct(lat, .5):.0f} | {pct(lat, .99):.0f} | {max(lat, default=0):.0f} |")
    print()
    print(f"produced {total:,} records in {produce_secs:.1f} s ({total / produce_secs:,.0f} records/s); "
          f"acknowledged {len(acks):,}; read {len(lat):,}; never read {lost:,}")
    return 3 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
