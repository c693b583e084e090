"""Runs every binlake benchmark and renders one markdown document.

    python3 bench/run.py [--quick] [--out bench/RESULTS.md] [--bin PATH]

Normally started by `bash bench/run.sh [--quick]`, which installs what is
missing, builds the release binary and starts the local servers first.
The pieces, run one after another (each one's output is parsed, never
re-derived):

| piece | full run | --quick |
|---|---|---|
| `cargo bench --bench source_rate` (binlog → Kafka acked, decode only, broker ceiling with and without binlake's headers) | 1,000,000-row transaction | 100,000 |
| `cargo bench --bench source_pipeline` (binlake's source into librdkafka's mock cluster beside decode only; then a snapshot into it beside a plain SELECT) | 1,000,000-row transaction in 5 rounds (the median round reported), 10,000,000-row table | 100,000 in 1 round, and 100,000 |
| `bench/pyrepl.py`: python-mysql-replication decoding the same binlog range | same range | same range |
| `cargo bench --bench snapshot_rate` (snapshot reads + Avro, no broker) | 10,000,000 rows | 100,000 |
| `bench/snapshot.py` (snapshot into Kafka beside a plain SELECT) | 10,000,000 rows | 100,000 |
| `cargo bench --bench sink_merge` (Delta upsert per batch beside a plain append) | 1,000,000 and 10,000,000 rows | 100,000 and 1,000,000 |
| `bench/catchup.py` (sink catch-up from records already in Kafka, beside a plain consumer and a plain Delta append) | 1,000,000 records | 100,000 |
| `bench/freshness.py` (MySQL COMMIT → Kafka and → Delta, separate source and sink processes) | 10,000 and 2,000 rows/s, 60 s each | 2,000 rows/s, 15 s |

The cargo benches are built once with `cargo bench --locked --no-run` and
their executables run directly, so that this script can read each bench
process's own peak RSS (VmHWM). The document (machine, versions, ONE
summary table with targets marked met/missed, the sections of the earlier
--out that other runs wrote, then each piece's raw output) goes to stdout
and to --out. A piece that fails is named in the
document with the tail of its output, and the exit code is 1."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.metadata
import json
import math
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Optional

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))

# Targets (the summary marks each row met or missed against these).
SOURCE_TARGET = 250_000  # rows/s
PIPELINE_SHARE_TARGET = 0.40  # source into the mock cluster ≥ 40% of decode only
BROKER_SHARE_TARGET = 0.8  # source on the test broker ≥ 0.8 of a plain producer, same records
CATCHUP_SHARE_TARGET = 0.8  # sink catch-up ≥ 0.8 of a plain consumer
KAFKA_ARRIVAL_TARGET_MS = 50  # COMMIT → Kafka p99 at 2,000 changes/s
KAFKA_ARRIVAL_RATE = 2_000
SNAPSHOT_TARGET = 300_000  # rows/s
SINK_TARGET = 100_000  # rows/s
SINK_SCALING_TARGET = 2.0  # per-batch time on the large table ≤ 2× the small one's
RSS_TARGET_MIB = 256
FLUSH_INTERVAL = "1s"
FLUSH_INTERVAL_S = 1.0
FRESHNESS_TARGET_MS = (FLUSH_INTERVAL_S + 1.0) * 1000

FULL = {
    "source_rows": 1_000_000,
    "snapshot_rows": 10_000_000,
    "pipeline_rows": 1_000_000,
    "pipeline_rounds": 5,
    "pipeline_snapshot_rows": 10_000_000,
    "catchup_rows": 1_000_000,
    "sink_rows": (1_000_000, 10_000_000),
    "freshness": ((10_000, 60), (2_000, 60)),
    "timeout": 4 * 3600,
}
QUICK = {
    "source_rows": 100_000,
    "snapshot_rows": 100_000,
    "pipeline_rows": 100_000,
    "pipeline_rounds": 1,
    "pipeline_snapshot_rows": 100_000,
    "catchup_rows": 100_000,
    "sink_rows": (100_000, 1_000_000),
    "freshness": ((2_000, 15),),
    "timeout": 20 * 60,
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- running pieces


@dataclasses.dataclass
class Piece:
    key: str
    title: str
    cmd: list[str]
    env: dict[str, str]
    rc: Optional[int] = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    peak_rss_kb: int = 0  # VmHWM of the process itself, sampled while it ran
    error: Optional[str] = None  # why it counts as failed
    parsed: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def command_line(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return (env + " " if env else "") + " ".join(self.cmd)

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why


def vm_hwm_kb(pid: int) -> Optional[int]:
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    m = re.search(r"^VmHWM:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) if m else None


def run_piece(piece: Piece, logdir: pathlib.Path, timeout: float) -> Piece:
    """Runs the piece's command with its output in files; samples the
    process's VmHWM every 0.2 s; kills its process group on timeout."""
    log(f"{piece.title}: {piece.command_line()}")
    out_path = logdir / f"{piece.key}.stdout"
    err_path = logdir / f"{piece.key}.stderr"
    env = {**os.environ, **piece.env}
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            proc = subprocess.Popen(piece.cmd, stdout=out, stderr=err, env=env, cwd=ROOT, start_new_session=True)
        except OSError as e:
            piece.fail(f"could not start: {e}")
            return piece
        timed_out = False
        while True:
            rc = proc.poll()
            if rc is not None:
                break
            hwm = vm_hwm_kb(proc.pid)
            if hwm:
                piece.peak_rss_kb = max(piece.peak_rss_kb, hwm)
            if time.monotonic() - t0 > timeout:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                except ProcessLookupError:
                    pass
                rc = proc.returncode
                break
            time.sleep(0.2)
    piece.seconds = time.monotonic() - t0
    piece.rc = rc
    piece.stdout = out_path.read_text(errors="replace")
    piece.stderr = err_path.read_text(errors="replace")
    if timed_out:
        piece.fail(f"timed out after {timeout:.0f} s")
    elif rc != 0:
        piece.fail(f"exit code {rc}")
    log(f"{piece.title}: {'ok' if piece.ok else piece.error} in {piece.seconds:.0f} s")
    return piece


def parse_into(piece: Piece, parser: Callable[[str], Any]) -> None:
    """Parses the piece's stdout (also after a failure, for what it did
    measure); a run whose output is not understood counts as failed."""
    try:
        piece.parsed = parser(piece.stdout)
    except Exception as e:  # noqa: BLE001
        piece.parsed = None
        piece.fail(f"output not understood ({e})")


# ---------------------------------------------------------------- parsing


def num(text: str) -> float:
    """'1,234.5' / '1,234' / '77 MiB' / '12 MB' → float (units dropped)."""
    m = re.search(r"-?[\d,]*\.?\d+(?:e[+-]?\d+)?|inf|NaN", text.replace("\u202f", ""))
    if not m:
        raise ValueError(f"no number in {text!r}")
    return float(m.group(0).replace(",", ""))


def duration_ms(text: str) -> float:
    """'123 ms' / '1.23 s' → milliseconds."""
    t = text.strip()
    if t.endswith("ms"):
        return num(t)
    if t.endswith("s"):
        return num(t) * 1000.0
    raise ValueError(f"not a duration: {text!r}")


def md_rows(text: str) -> list[list[str]]:
    """Every markdown table row as a list of cell strings; separator rows
    (|---|) are dropped, header rows kept."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip() for c in line[1:-1].split("|")]
        if all(re.fullmatch(r":?-+:?", c) for c in cells if c):
            continue
        rows.append(cells)
    return rows


def find_row(rows: list[list[str]], prefix: str) -> list[str]:
    for r in rows:
        if r and r[0].startswith(prefix):
            return r
    raise ValueError(f"no row starting with {prefix!r}")


def must(pattern: str, text: str) -> re.Match:
    m = re.search(pattern, text, re.M)
    if not m:
        raise ValueError(f"no line matching {pattern!r}")
    return m


def parse_source_rate(out: str) -> dict:
    rows = int(must(r"^rows: (\d+)", out).group(1))
    rng = must(r"^binlog range: (\S+) \(table (\S+)\)", out)
    acked = must(r"binlog → Kafka acked: ([\d.]+) s from INSERT start, ([\d.]+) rows/s; peak RSS (\S+)", out)
    decode = must(
        r"^decode only \(same binlog\): (\d+) rows, ([\d.]+) CPU s, (\S+) rows/CPU-s, (\S+) rows/s wall", out
    )
    ceiling = must(r"^plain producer ceiling .*: ([\d.]+) records/s", out)
    headed = must(r"^plain producer, the same records with binlake's four headers .*: ([\d.]+) records/s", out)
    rss = acked.group(3)
    return {
        "rows": rows,
        "range": rng.group(1),
        "table": rng.group(2),
        "acked_s": float(acked.group(1)),
        "acked_rate": float(acked.group(2)),
        # source_rate prints VmHWM kB / 1024 with the unit "MB": MiB.
        "source_rss_mib": None if rss == "n/a" else float(rss),
        "decoded": int(decode.group(1)),
        "decode_cpu_s": float(decode.group(2)),
        "decode_rate_cpu": float(decode.group(3)),
        "decode_rate_wall": float(decode.group(4)),
        "ceiling_rate": float(ceiling.group(1)),
        "headed_rate": float(headed.group(1)),
    }


def parse_source_pipeline(out: str) -> dict:
    rows = int(must(r"^rows: (\d+)", out).group(1))
    first = must(r"^the table's first change .*: COMMIT → acked (\d+) ms", out)
    acked = must(
        r"^binlake source → mock cluster, COMMIT → last record acked: ([\d.]+) s, (\d+) rows/s .*; peak RSS (\S+)",
        out,
    )
    cpu = must(r"^source CPU, COMMIT → last ack: (.+)$", out)
    decode = must(r"^decode only \(same binlog\): (\d+) rows, ([\d.]+) s, ([\d.]+) CPU s, (\d+) rows/s wall", out)
    avro = must(r"^decode \+ Avro key and value \(same binlog\): (\d+) rows, .* (\d+) rows/s wall", out)
    rss = acked.group(3)
    # With rounds, the figures below are the median round's; each round's share is listed.
    shares = [int(m) / 100 for m in re.findall(r"^round \d+ of \d+: .* pipeline / decode only (\d+)%$", out, re.M)]
    parsed = {
        "shares": shares,
        "rows": rows,
        "first_ms": float(first.group(1)),
        "seconds": float(acked.group(1)),
        "rate": float(acked.group(2)),
        "rss_mib": None if rss == "n/a" else float(rss),
        "cpu": cpu.group(1).strip(),
        "decoded": int(decode.group(1)),
        "decode_rate": float(decode.group(4)),
        "avro_rate": float(avro.group(2)),
    }
    snap = re.search(r"^snapshot table: (\d+) rows", out, re.M)
    if snap:
        took = must(
            r"^binlake snapshot → mock cluster, started → last record acked: ([\d.]+) s, (\d+) rows/s; peak RSS (\S+)",
            out,
        )
        plain = must(r"^plain SELECT \* \(mysql_async, rows dropped\): (\d+) rows, ([\d.]+) s, (\d+) rows/s", out)
        parsed["snapshot"] = {
            "rows": int(snap.group(1)),
            "seconds": float(took.group(1)),
            "rate": float(took.group(2)),
            "rss_mib": None if took.group(3) == "n/a" else float(took.group(3)),
            "plain_rate": float(plain.group(3)),
        }
    return parsed


def parse_catchup(out: str) -> dict:
    rows = md_rows(out)
    sink = find_row(rows, "binlake --role sink")
    consumer = find_row(rows, "plain consumer")
    append = find_row(rows, "plain Delta append")
    return {
        "records": int(num(sink[1])),
        "seconds": num(sink[2]),
        "rate": num(sink[3]),
        "rss_mib": num(sink[4]),
        "consumer_rate": num(consumer[3]),
        "append_rate": num(append[3]),
    }


def parse_pyrepl(out: str) -> dict:
    r = find_row(md_rows(out), "decode ")
    return {
        "rows": int(num(r[1])),
        "seconds": num(r[2]),
        "cpu_s": num(r[3]),
        "rate": num(r[4]),
        "rss_mib": num(r[5]),
    }


def parse_snapshot_py(out: str) -> dict:
    rows = md_rows(out)
    plain = find_row(rows, "plain `SELECT *`")
    binlake = find_row(rows, "binlake snapshot")
    return {
        "plain_rows": int(num(plain[1])),
        "plain_rate": num(plain[3]),
        "rows": int(num(binlake[1])),
        "seconds": num(binlake[2]),
        "rate": num(binlake[3]),
        "rss_mib": num(binlake[4]),
        "what": binlake[0],
    }


def parse_snapshot_rate(out: str) -> dict:
    rows = md_rows(out)
    plain = find_row(rows, "plain `SELECT *`")
    conv = find_row(rows, "binlake chunks, values converted")
    avro = find_row(rows, "binlake chunks + Avro")
    return {
        "plain_rate": num(plain[3]),
        "convert_rate": num(conv[3]),
        "rows": int(num(avro[1])),
        "avro_rate": num(avro[3]),
        "avro_cpu_s": num(avro[4]),
    }


def parse_sink_merge(out: str) -> dict:
    up = must(
        r"^upsert: (\d+) batches of (\d+) changes on a (\d+)-row table: median (\d+) ms, p90 (\d+) ms, "
        r"max (\d+) ms per batch; (\d+) changes/s",
        out,
    )
    comp = must(r"^compaction: (\d+) runs, ([\d.]+) s in all; .*peak RSS ([\d.]+) MB", out)
    app = must(r"^append: (\d+) batches of (\d+) rows: (\d+) ms per batch, (\d+) rows/s", out)
    return {
        "batches": int(up.group(1)),
        "batch": int(up.group(2)),
        "table_rows": int(up.group(3)),
        "median_ms": float(up.group(4)),
        "p90_ms": float(up.group(5)),
        "max_ms": float(up.group(6)),
        "rate": float(up.group(7)),
        "compactions": int(comp.group(1)),
        "compaction_s": float(comp.group(2)),
        "rss_mib": float(comp.group(3)),
        "append_ms": float(app.group(3)),
        "append_rate": float(app.group(4)),
    }


def parse_freshness(out: str) -> dict:
    rows = md_rows(out)
    k = find_row(rows, "MySQL COMMIT → Kafka")
    d = find_row(rows, "MySQL COMMIT → Delta")

    def lat(r):
        return {
            "rows": int(num(r[1])),
            "arrived": int(num(r[2])),
            "missing": int(num(r[3])),
            "p50": duration_ms(r[4]) if r[4] != "n/a" else math.nan,
            "p99": duration_ms(r[5]) if r[5] != "n/a" else math.nan,
            "max": duration_ms(r[6]) if r[6] != "n/a" else math.nan,
        }

    return {
        "kafka": lat(k),
        "delta": lat(d),
        "achieved": num(find_row(rows, "achieved write rate")[1]),
        "rss_source_mib": num(find_row(rows, "peak RSS, binlake --role source")[1]),
        "rss_sink_mib": num(find_row(rows, "peak RSS, binlake --role sink")[1]),
        "through_delta": find_row(rows, "through to Delta")[1],
    }


# ---------------------------------------------------------------- machine


def sh(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"n/a ({e})"
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0] if text and r.returncode == 0 else f"n/a (exit {r.returncode}: {text[-200:]})"


def machine() -> list[tuple[str, str]]:
    cpu = "n/a"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", pathlib.Path("/proc/meminfo").read_text()).group(1))
    try:
        from source_harness import mysql_connect

        with mysql_connect() as c, c.cursor() as cur:
            cur.execute("SELECT VERSION()")
            mariadb = cur.fetchone()[0]
    except Exception as e:  # noqa: BLE001
        mariadb = f"n/a ({e})"
    if os.environ.get("BINLAKE_BROKER", "nisshi") == "tansu":
        tools = os.environ.get("TANSU_BIN", str(pathlib.Path.home() / ".cache/binlake/tools/bin/tansu"))
        storage = "sqlite storage"
    else:
        tools = os.environ.get("NISSHI_BIN", str(pathlib.Path.home() / ".cache/binlake/tools/bin/nisshi"))
        storage = "PostgreSQL storage"
    commit = sh(["git", "rev-parse", "HEAD"])
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=ROOT).returncode
    if dirty == 1:
        commit += " (with uncommitted changes)"
    try:
        pyrepl = importlib.metadata.version("mysql-replication")
    except importlib.metadata.PackageNotFoundError:
        pyrepl = "not installed"
    return [
        ("cores (nproc)", sh(["nproc"])),
        ("memory", f"{mem_kb / 2**20:.1f} GiB"),
        ("CPU", cpu),
        ("MariaDB", mariadb),
        ("Kafka broker", f"{sh([tools, '--version'])} ({storage})"),
        ("rustc", sh(["rustc", "--version"])),
        ("binlake commit", commit),
        ("python-mysql-replication", pyrepl),
        ("Python", sys.version.split()[0]),
    ]


# ---------------------------------------------------------------- rendering


def rate(x: float) -> str:
    return f"{x:,.0f}"


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rss_cell(*parts: tuple[str, Optional[float]]) -> str:
    """'41 MiB' or 'source 41 MiB, sink 120 MiB', then the 256 MiB mark."""
    known = [(label, v) for label, v in parts if v is not None]
    if not known:
        return "n/a"
    text = ", ".join(f"{label + ' ' if label else ''}{v:,.0f} MiB" for label, v in known)
    return f"{text} (≤ {RSS_TARGET_MIB} MiB: {mark(all(v <= RSS_TARGET_MIB for _, v in known))})"


def failed_row(what: str, *pieces: Piece) -> list[str]:
    bad = ", ".join(f"`{p.key}` {p.error}" for p in pieces if not p.ok)
    return [what, f"failed: {bad} (see Failures)", "", "not measured", ""]


class Summary:
    def __init__(self):
        self.rows: list[list[str]] = []
        self.notes: list[str] = []

    def add(self, what: str, binlake: str, comparison: str, target: str, rss: str) -> None:
        self.rows.append([what, binlake, comparison, target, rss])

    def render(self) -> str:
        out = ["| what | binlake | comparison | target | peak RSS |", "|---|---|---|---|---|"]
        for r in self.rows:
            out.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |")
        return "\n".join(out)


def summarise(p: dict[str, Piece], cfg: dict, summary: Summary) -> None:
    src, pyr = p["source_rate"], p.get("pyrepl")
    # Source.
    if src.parsed:
        s = src.parsed
        py = pyr.parsed if pyr is not None and pyr.parsed else None
        py_txt = (
            f"python-mysql-replication decoding the same range: {rate(py['rate'])} rows/s"
            if py
            else f"python-mysql-replication: failed ({pyr.error if pyr else 'not run'})"
        )
        share = s["acked_rate"] / s["headed_rate"] if s["headed_rate"] else 0.0
        summary.add(
            f"Source on the test broker: binlog → Kafka acked, {s['rows']:,}-row transaction",
            f"{rate(s['acked_rate'])} rows/s = {share:.2f} of the plain producer with the same records",
            f"plain producer with binlake's four headers: {rate(s['headed_rate'])} records/s, without headers: "
            f"{rate(s['ceiling_rate'])} records/s; {py_txt}",
            f"≥ {BROKER_SHARE_TARGET:g} of the plain producer: {mark(share >= BROKER_SHARE_TARGET)} "
            f"(the broker sets this rate; ≥ {SOURCE_TARGET:,} rows/s is the mock-cluster row's target)",
            rss_cell(("source process", s["source_rss_mib"])),
        )
        py_dec = (
            f"python-mysql-replication: {rate(py['rate'])} rows/s wall, "
            f"{rate(py['rows'] / py['cpu_s']) if py['cpu_s'] else 'n/a'} rows/CPU-s ({py['rows']:,} rows)"
            if py
            else py_txt
        )
        summary.add(
            f"Source: decode only, same binlog range ({s['decoded']:,} rows)",
            f"{rate(s['decode_rate_wall'])} rows/s wall, {rate(s['decode_rate_cpu'])} rows/CPU-s",
            py_dec,
            f"≥ {SOURCE_TARGET:,} rows/s: {mark(s['decode_rate_wall'] >= SOURCE_TARGET)}",
            rss_cell(("bench process (decode, then the producer-ceiling run)", src.peak_rss_kb / 1024 or None))
            + (f"; python-mysql-replication {py['rss_mib']:,.0f} MiB" if py else ""),
        )
    else:
        summary.rows.append(failed_row("Source: binlog → Kafka acked, and decode only", src))
    if pyr is not None and not pyr.ok and src.parsed:
        summary.notes.append(f"python-mysql-replication failed: {pyr.error} (see Failures).")

    # The source's own pipeline, without the test broker.
    pipe = p["source_pipeline"]
    if pipe.parsed:
        s = pipe.parsed
        share = s["rate"] / s["decode_rate"] if s["decode_rate"] else 0.0
        ok = s["rate"] >= SOURCE_TARGET and share >= PIPELINE_SHARE_TARGET
        shares = s["shares"]
        rounds = (
            f"median of {len(shares)} rounds on fresh tables (each round's share: "
            + ", ".join(f"{100 * x:.0f}%" for x in shares)
            + f"; {sum(x >= PIPELINE_SHARE_TARGET for x in shares)} at ≥ {100 * PIPELINE_SHARE_TARGET:.0f}%): "
            if len(shares) > 1
            else ""
        )
        summary.add(
            f"Source pipeline → librdkafka's mock cluster, {s['rows']:,}-row transaction (after the table's first "
            f"row: {s['first_ms']:.0f} ms)",
            f"{rounds}{rate(s['rate'])} rows/s = {100 * share:.0f}% of decode only; source CPU {s['cpu']}",
            f"decode only, same binlog: {rate(s['decode_rate'])} rows/s; decode + Avro: {rate(s['avro_rate'])} rows/s",
            f"≥ {SOURCE_TARGET:,} rows/s and ≥ {100 * PIPELINE_SHARE_TARGET:.0f}% of decode only: {mark(ok)}",
            rss_cell(("source process", s["rss_mib"])),
        )
        snap = s.get("snapshot")
        if snap:
            summary.add(
                f"Snapshot → librdkafka's mock cluster, {snap['rows']:,}-row table",
                f"{rate(snap['rate'])} rows/s ({snap['seconds']:.1f} s)",
                f"plain `SELECT *` through mysql_async: {rate(snap['plain_rate'])} rows/s",
                f"≥ {SNAPSHOT_TARGET:,} rows/s: {mark(snap['rate'] >= SNAPSHOT_TARGET)}",
                rss_cell(("source process", snap["rss_mib"])),
            )
        else:
            summary.rows.append(["Snapshot → librdkafka's mock cluster", "not in the output", "", "not measured", ""])
    else:
        summary.rows.append(failed_row("Source pipeline → librdkafka's mock cluster", pipe))

    # Snapshot.
    snap, snap_rate = p["snapshot_py"], p["snapshot_rate"]
    if snap.parsed:
        s = snap.parsed
        summary.add(
            f"Snapshot → Kafka on the test broker, {s['rows']:,}-row table ({s['what'].removeprefix('binlake snapshot → Kafka ').strip('()')})",
            f"{rate(s['rate'])} rows/s",
            f"plain `SELECT *` (mariadb client): {rate(s['plain_rate'])} rows/s"
            + (f"; broker ceiling {rate(src.parsed['ceiling_rate'])} records/s" if src.parsed else ""),
            f"none on the test broker, which sets this rate; ≥ {SNAPSHOT_TARGET:,} rows/s is the mock-cluster "
            "row's target",
            rss_cell(("source process", s["rss_mib"])),
        )
    else:
        summary.rows.append(failed_row("Snapshot → Kafka", snap))
    if snap_rate.parsed:
        s = snap_rate.parsed
        summary.add(
            f"Snapshot read + Avro key and value, no broker ({s['rows']:,} rows)",
            f"{rate(s['avro_rate'])} rows/s",
            f"plain `SELECT *` through mysql_async: {rate(s['plain_rate'])} rows/s",
            f"≥ {SNAPSHOT_TARGET:,} rows/s: {mark(s['avro_rate'] >= SNAPSHOT_TARGET)}",
            rss_cell(("bench process", snap_rate.peak_rss_kb / 1024 or None)),
        )
    else:
        summary.rows.append(failed_row("Snapshot read + Avro, no broker", snap_rate))

    # Sink.
    sink_pieces = [p[f"sink_merge_{n}"] for n in cfg["sink_rows"]]
    for piece in sink_pieces:
        if piece.parsed:
            s = piece.parsed
            comp = (
                f"; {s['compactions']} compactions, {s['compaction_s']:.1f} s, not in the rate"
                if s["compactions"]
                else ""
            )
            summary.add(
                f"Sink: upsert {s['batches']} batches of {s['batch']:,} changes into a {s['table_rows']:,}-row Delta table",
                f"{rate(s['rate'])} changes/s; median {s['median_ms']:.0f} ms per batch (p90 {s['p90_ms']:.0f}, "
                f"max {s['max_ms']:.0f}){comp}",
                f"plain Delta append: {rate(s['append_rate'])} rows/s, {s['append_ms']:.0f} ms per batch",
                f"≥ {SINK_TARGET:,} rows/s: {mark(s['rate'] >= SINK_TARGET)}",
                rss_cell(("bench process", s["rss_mib"])),
            )
        else:
            summary.rows.append(failed_row(f"Sink: upsert ({piece.key})", piece))
    small, large = sink_pieces[0], sink_pieces[-1]
    if small.parsed and large.parsed:
        a, b = small.parsed, large.parsed
        ratio = b["median_ms"] / a["median_ms"] if a["median_ms"] else math.inf
        summary.add(
            f"Sink: per-batch time, {b['table_rows']:,}-row vs {a['table_rows']:,}-row table",
            f"median {b['median_ms']:.0f} ms vs {a['median_ms']:.0f} ms = {ratio:.2f}×",
            f"plain append: {b['append_ms']:.0f} ms vs {a['append_ms']:.0f} ms",
            f"≤ {SINK_SCALING_TARGET:g}×: {mark(ratio <= SINK_SCALING_TARGET)}",
            "",
        )
    else:
        summary.rows.append(failed_row("Sink: per-batch time, large vs small table", small, large))

    # Sink catch-up.
    cu = p["catchup"]
    if cu.parsed:
        c = cu.parsed
        share = c["rate"] / c["consumer_rate"] if c["consumer_rate"] else 0.0
        summary.add(
            f"Sink catch-up: {c['records']:,} records already in Kafka → Delta",
            f"{rate(c['rate'])} records/s = {share:.2f} of a plain consumer",
            f"plain consumer, same topic and broker: {rate(c['consumer_rate'])} records/s; "
            f"plain Delta append of the same rows: {rate(c['append_rate'])} rows/s",
            f"≥ {CATCHUP_SHARE_TARGET:g} of the plain consumer: {mark(share >= CATCHUP_SHARE_TARGET)}",
            rss_cell(("sink process", c["rss_mib"])),
        )
    else:
        summary.rows.append(failed_row("Sink catch-up", cu))

    # Freshness.
    for r, secs in cfg["freshness"]:
        piece = p[f"freshness_{r}"]
        f = piece.parsed
        if not f:
            summary.rows.append(failed_row(f"Freshness at {r:,} rows/s", piece))
            continue
        k, d = f["kafka"], f["delta"]
        missing = k["missing"] + d["missing"]
        ok = d["p99"] <= FRESHNESS_TARGET_MS and k["p99"] <= FRESHNESS_TARGET_MS and missing == 0
        target = f"p99 ≤ flush_interval {FLUSH_INTERVAL} + 1 s: {mark(ok)}"
        if missing:
            target += f" — {k['missing']:,} rows never reached Kafka, {d['missing']:,} never reached Delta"
        summary.add(
            f"Freshness, MySQL COMMIT → Delta, {r:,} rows/s target for {secs} s "
            f"(achieved {rate(f['achieved'])} rows/s; flush_interval {FLUSH_INTERVAL})",
            f"→ Delta: p50 {fmt_ms(d['p50'])}, p99 {fmt_ms(d['p99'])}, max {fmt_ms(d['max'])}; "
            f"{f['through_delta']} through to Delta",
            f"→ Kafka: p50 {fmt_ms(k['p50'])}, p99 {fmt_ms(k['p99'])}, max {fmt_ms(k['max'])}",
            target,
            rss_cell(("source", f["rss_source_mib"]), ("sink", f["rss_sink_mib"])),
        )
        if r == KAFKA_ARRIVAL_RATE:
            summary.add(
                f"MySQL COMMIT → Kafka record, {r:,} rows/s for {secs} s",
                f"p50 {fmt_ms(k['p50'])}, p99 {fmt_ms(k['p99'])}, max {fmt_ms(k['max'])}",
                "the freshness run above",
                f"p99 ≤ {KAFKA_ARRIVAL_TARGET_MS} ms: {mark(k['p99'] <= KAFKA_ARRIVAL_TARGET_MS and k['missing'] == 0)}",
                "",
            )
        if f["achieved"] < 0.95 * r:
            summary.notes.append(
                f"At {r:,} rows/s the writer reached only {rate(f['achieved'])} rows/s (MariaDB commits on this machine)."
            )


def fmt_ms(ms: float) -> str:
    if ms != ms:
        return "n/a"
    if abs(ms) >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{round(ms) or 0} ms"  # no "-0 ms"


def portable(text: str, subs: list[tuple[str, str]]) -> str:
    """`text` without this machine's paths: each (path, name) pair, most
    specific first, replaces the path by a name any reader's setup has
    (`$CARGO_TARGET_DIR`, `python3`, a path inside the clone)."""
    for path, name in subs:
        if path:
            text = text.replace(path, name)
    return text


def machine_paths(
    binary: pathlib.Path, built: pathlib.Path, logdir: pathlib.Path, target_dir: pathlib.Path
) -> list[tuple[str, str]]:
    """What `portable` replaces: the private copy of the binary by the build
    it copies, the data directory, the target directory, the interpreter,
    the clone and the home directory."""
    data = logdir.parent.parent
    try:
        data_name = str(data.relative_to(ROOT))
    except ValueError:
        data_name = "$BINLAKE_DATA"
    rest = [
        (str(data), data_name),
        (str(target_dir), "$CARGO_TARGET_DIR"),
        (sys.executable, "python3"),
        (str(ROOT) + "/", ""),
        (str(ROOT), "."),
        (str(pathlib.Path.home()), "~"),
    ]
    return [(str(binary), portable(str(built), rest)), *rest]


def raw_section(piece: Piece) -> str:
    body = piece.stdout.strip() or "(no output)"
    tabular = body.lstrip().startswith("|")
    status = "ok" if piece.ok else f"FAILED: {piece.error}"
    lines = [
        "<details>",
        f"<summary>{piece.title} — {status}, {piece.seconds:.0f} s</summary>",
        "",
        f"`{piece.command_line()}`",
        "",
    ]
    if tabular:
        lines += [body, ""]
    else:
        lines += ["```", body, "```", ""]
    lines.append("</details>")
    return "\n".join(lines)


def failure_section(piece: Piece) -> str:
    tail = (piece.stderr.strip() + "\n" + piece.stdout.strip()).strip()
    tail = "\n".join(tail.splitlines()[-40:])[-6000:] or "(no output)"
    return "\n".join(
        [
            f"### {piece.title}: {piece.error}",
            "",
            f"`{piece.command_line()}`",
            "",
            "```",
            tail.replace("```", "'''"),
            "```",
        ]
    )


def kept_sections(previous: str) -> list[str]:
    """The sections of the earlier document that runs outside this script
    wrote (headed `## … not from `bench/run.sh`)`): the new document keeps
    them after its summary, as they were."""
    sections: list[str] = []
    current: Optional[list[str]] = None
    for line in previous.splitlines():
        if line.startswith("## "):
            if current:
                sections.append("\n".join(current).rstrip())
            current = [line] if "not from `bench/run.sh`" in line else None
        elif current is not None:
            current.append(line)
    if current:
        sections.append("\n".join(current).rstrip())
    return sections


# ---------------------------------------------------------------- main


def bench_executables(logdir: pathlib.Path, timeout: float) -> tuple[dict[str, str], Piece]:
    """Builds the benches (`cargo bench --locked --no-run`) and returns
    their executables by name."""
    build = Piece(
        "cargo_bench_build",
        "build the benches",
        ["cargo", "bench", "--locked", "--no-run", "--message-format=json-render-diagnostics"],
        {},
    )
    run_piece(build, logdir, timeout)
    exes = {}
    for line in build.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and "bench" in msg["target"]["kind"]:
            exes[msg["target"]["name"]] = msg["executable"]
    build.stdout = "\n".join(f"{k}: {v}" for k, v in sorted(exes.items()))
    for name in ("source_rate", "source_pipeline", "snapshot_rate", "sink_merge"):
        if name not in exes:
            build.fail(f"no executable for bench {name}")
    return exes, build


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, to check that everything works")
    ap.add_argument("--out", type=pathlib.Path, default=HERE / "RESULTS.md")
    ap.add_argument("--bin", type=pathlib.Path, default=None, help="binlake binary (default: the release build)")
    a = ap.parse_args()
    cfg = QUICK if a.quick else FULL
    target_dir = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", pathlib.Path.home() / ".cache/binlake/target"))
    binary = a.bin or pathlib.Path(os.environ.get("BINLAKE_BENCH_BIN") or target_dir / "release" / "binlake")
    if not binary.exists():
        print(f"binlake binary {binary} not found: cargo build --release --locked", file=sys.stderr)
        return 1
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    data = pathlib.Path(os.environ.get("BINLAKE_DATA", ROOT / ".data"))
    logdir = data / "bench" / stamp
    logdir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now().astimezone()
    timeout = cfg["timeout"]
    py = sys.executable
    # A private copy: `cargo bench` relinks target/release/binlake with the
    # dev-dependencies' features, and others may rebuild during the run.
    built = binary
    binary = logdir / "binlake"
    shutil.copy2(built, binary)
    bin_env = {"BINLAKE_BIN": str(binary)}

    exes, build = bench_executables(logdir, timeout)
    pieces: dict[str, Piece] = {}

    def script_piece(
        key: str, title: str, args: list[str], parser: Callable[[str], Any], env: Optional[dict[str, str]] = None
    ) -> Piece:
        pc = Piece(key, title, [py, *args], env or {})
        run_piece(pc, logdir, timeout)
        parse_into(pc, parser)
        pieces[key] = pc
        return pc

    def cargo_piece(key: str, bench: str, env: dict[str, str]) -> Piece:
        pc = Piece(key, f"cargo bench --bench {bench}", [exes.get(bench, f"<{bench} not built>"), "--bench"], env)
        if bench not in exes:
            pc.fail(f"not built: {build.error}")
            return pc
        return run_piece(pc, logdir, timeout)

    # Source, and python-mysql-replication on the same binlog range.
    src = cargo_piece("source_rate", "source_rate", {"BINLAKE_BENCH_ROWS": str(cfg["source_rows"])})
    parse_into(src, parse_source_rate)
    pieces["source_rate"] = src
    pyr = Piece("pyrepl", "python-mysql-replication (bench/pyrepl.py)", [py, "bench/pyrepl.py"], {})
    if src.parsed:
        pyr.cmd += ["--range", src.parsed["range"], "--table", src.parsed["table"], "--expect", str(src.parsed["decoded"])]
        run_piece(pyr, logdir, timeout)
        parse_into(pyr, parse_pyrepl)
    else:
        pyr.fail("no binlog range: source_rate failed")
    pieces["pyrepl"] = pyr

    # The source's own pipeline into librdkafka's mock cluster (no test broker).
    pipe = cargo_piece(
        "source_pipeline",
        "source_pipeline",
        {
            "BINLAKE_BENCH_ROWS": str(cfg["pipeline_rows"]),
            "BINLAKE_BENCH_ROUNDS": str(cfg["pipeline_rounds"]),
            "BINLAKE_BENCH_SNAPSHOT_ROWS": str(cfg["pipeline_snapshot_rows"]),
            "BINLAKE_BENCH_BIN": str(binary),
        },
    )
    parse_into(pipe, parse_source_pipeline)
    pieces["source_pipeline"] = pipe

    # Snapshot.
    sr = cargo_piece("snapshot_rate", "snapshot_rate", {"BINLAKE_BENCH_ROWS": str(cfg["snapshot_rows"])})
    parse_into(sr, parse_snapshot_rate)
    pieces["snapshot_rate"] = sr
    script_piece(
        "snapshot_py",
        "snapshot into Kafka (bench/snapshot.py)",
        ["bench/snapshot.py", "--rows", str(cfg["snapshot_rows"]), "--bin", str(binary)],
        parse_snapshot_py,
    )

    # Sink.
    for n in cfg["sink_rows"]:
        pc = cargo_piece(f"sink_merge_{n}", "sink_merge", {"BINLAKE_BENCH_ROWS": str(n)})
        pc.title = f"cargo bench --bench sink_merge ({n:,} rows)"
        parse_into(pc, parse_sink_merge)
        pieces[f"sink_merge_{n}"] = pc

    # Sink catch-up.
    script_piece(
        "catchup",
        "sink catch-up (bench/catchup.py)",
        ["bench/catchup.py", "--rows", str(cfg["catchup_rows"]), "--bin", str(binary)],
        parse_catchup,
    )

    # Freshness.
    for r, secs in cfg["freshness"]:
        script_piece(
            f"freshness_{r}",
            f"freshness at {r:,} rows/s (bench/freshness.py)",
            ["bench/freshness.py", "--rate", str(r), "--seconds", str(secs), "--flush-interval", FLUSH_INTERVAL],
            parse_freshness,
            bin_env,
        )

    summary = Summary()
    summarise(pieces, cfg, summary)
    everything = [build, *pieces.values()]
    failed = [pc for pc in everything if not pc.ok]
    finished = dt.datetime.now().astimezone()

    doc = [
        f"# binlake benchmarks{' (--quick: small sizes, not for comparison)' if a.quick else ''}",
        "",
        f"`bash bench/run.sh{' --quick' if a.quick else ''}`, {started:%Y-%m-%d %H:%M %Z} – {finished:%H:%M}; "
        f"binary: a copy of `{built}`; raw logs in `{logdir}`. Every figure below comes from this run's output.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v.replace('|', '/')} |" for k, v in machine()],
        "",
        "## Summary",
        "",
        summary.render(),
        "",
        f"Targets: source into librdkafka's mock cluster ≥ {SOURCE_TARGET:,} rows/s and ≥ "
        f"{100 * PIPELINE_SHARE_TARGET:.0f}% of decode only, on the test broker ≥ {BROKER_SHARE_TARGET:g} of a plain "
        f"producer writing the same records; snapshot ≥ {SNAPSHOT_TARGET:,} rows/s (into the mock cluster, and read + "
        f"Avro without a broker); sink ≥ {SINK_TARGET:,} "
        f"rows/s and the per-batch time on the large table ≤ {SINK_SCALING_TARGET:g}× that on the small one; "
        f"sink catch-up ≥ {CATCHUP_SHARE_TARGET:g} of a plain consumer; "
        f"p99 freshness ≤ flush_interval + 1 s and no row lost; COMMIT → Kafka p99 ≤ {KAFKA_ARRIVAL_TARGET_MS} ms at "
        f"{KAFKA_ARRIVAL_RATE:,} rows/s; peak RSS ≤ {RSS_TARGET_MIB} MiB per process. "
        "Peak RSS is VmHWM: of the binlake process where one ran (reported by the bench), else of the bench "
        "process itself (sampled by this script every 0.2 s). The Kafka-bound rows share one broker (above); its ceiling is the plain-producer rate in the comparison column. Freshness → Kafka "
        "is the record's CreateTime minus the time the writer's COMMIT returned; the server may send the event "
        "to binlake before that, so values near 0 ms are possible.",
    ]
    if summary.notes:
        doc += ["", *[f"- {n}" for n in summary.notes]]
    if failed:
        doc += ["", f"## Failures ({len(failed)})", ""]
        for pc in failed:
            doc += [failure_section(pc), ""]
    previous = a.out.read_text() if a.out.exists() else ""
    for section in kept_sections(previous):
        doc += ["", section]
    doc += ["", "## Raw output", ""]
    for pc in everything:
        doc += [raw_section(pc), ""]
    # The document is committed: it names no path of this machine.
    text = portable("\n".join(doc).rstrip() + "\n", machine_paths(binary, built, logdir, target_dir))
    binary.unlink(missing_ok=True)  # the copy; the logs stay
    a.out.write_text(text)
    sys.stdout.write(text)
    if failed:
        log(f"{len(failed)} piece(s) failed: {', '.join(pc.key for pc in failed)}")
        return 1
    log(f"all pieces ran; the document is in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
