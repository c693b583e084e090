"""binlake against MySQL 8.0 and 8.4 as the MySQL-protocol stand-in
(mysql_standin.py) answers for them — a simulation from MySQL's manual, not
a MySQL server, which cannot be installed here.

- `binlake check`: the server part passes on 8.0 and 8.4, and names exactly
  the problems configured (PARTIAL_JSON, transaction compression, MINIMAL
  metadata, a 5.7 server);
- `binlake run` on a new pipeline reads the start position with the
  version's status statement (8.4 has no SHOW MASTER STATUS) and stores it
  in `{name}.offsets` (read back by `binlake status`),
  then fails at the binlog dump the stand-in does not serve — an error and a
  retry, not a panic;
- `binlake status` reads bytes behind from the 3-column SHOW BINARY LOGS.

`check` needs only the stand-in (Kafka and registry lines are ignored);
`run` and `status` need Kafka and the registry of scripts/servers.sh.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid
import urllib.request

import pytest
from confluent_kafka.admin import AdminClient

from mysql_standin import SERVER_UUID, OTHER_UUID, Standin, mysql_profile
from source_harness import BROKERS, CDC_PASSWORD, REGISTRY, SourceProcess, binlake_bin, wait_until

GTID_SET = f"{SERVER_UUID}:1-27,{OTHER_UUID}:1-5"


def write_config(tmp_path, port: int, name: str) -> "os.PathLike":
    path = tmp_path / "connector.toml"
    path.write_text(
        "\n".join(
            [
                f'name = "{name}"',
                "[source]",
                f'url = "mysql://cdc@127.0.0.1:{port}"',
                'password_env = "BINLAKE_MYSQL_PASSWORD"',
                f"server_id = {random.randint(100_000, 4_000_000_000)}",
                'tables = ["shop.*"]',
                'snapshot = "never"',
                'heartbeat = "1s"',
                "[kafka]",
                f'brokers = "{BROKERS}"',
                "[registry]",
                f'url = "{REGISTRY}"',
                "",
            ]
        )
    )
    return path


def binlake(*args: str, timeout: float = 120) -> tuple[int, str]:
    env = dict(os.environ)
    env["BINLAKE_MYSQL_PASSWORD"] = CDC_PASSWORD
    out = subprocess.run(
        [str(binlake_bin()), *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    return out.returncode, out.stdout + out.stderr


def mysql_lines(config, out: str) -> list[str]:
    """check's problem lines about MySQL: every line for this file but the
    Kafka and registry ones (those servers may not run for these tests)."""
    prefix = f"{config}: "
    lines = [l[len(prefix):] for l in out.splitlines() if l.startswith(prefix)]
    return [l for l in lines if not l.startswith(("Kafka", "schema registry"))]


def kafka_and_registry() -> None:
    """Fails the test when Kafka or the registry does not answer."""
    try:
        AdminClient({"bootstrap.servers": BROKERS}).list_topics(timeout=5)
        urllib.request.urlopen(f"{REGISTRY}/subjects", timeout=5).read()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"Kafka/registry not reachable ({e}); start them with: bash scripts/servers.sh start")


@pytest.mark.parametrize("version", ["8.0.36", "8.4.3"])
def test_check_passes_on_mysql_8(tmp_path, version):
    with Standin(mysql_profile(version)) as s:
        config = write_config(tmp_path, s.port, f"m8{uuid.uuid4().hex[:8]}")
        rc, out = binlake("check", str(config))
    assert mysql_lines(config, out) == [], out
    if f"{config}: " not in out:  # Kafka and the registry answered too
        assert rc == 0 and f"ok: {config}" in out, out
    assert "SELECT VERSION()" in s.statements, s.statements
    # The checks after the prepared statements ran (mysql-mimic's prepare
    # answer once desynchronised the connection and they failed silently).
    assert "SELECT @@GLOBAL.gtid_mode" in s.statements, s.statements
    variables = [q for q in s.statements if q.startswith("SHOW GLOBAL VARIABLES")]
    assert variables and all("log_bin_compress" not in q for q in variables), variables
    assert s.unknown == [], f"statements the stand-in does not model: {s.unknown}"


@pytest.mark.parametrize(
    "version, settings, expect",
    [
        ("8.4.3", {"binlog_row_value_options": "PARTIAL_JSON"},
         ["MySQL setting binlog_row_value_options=PARTIAL_JSON", "SET PERSIST binlog_row_value_options=''"]),
        ("8.0.36", {"binlog_transaction_compression": "ON"},
         ["MySQL setting binlog_transaction_compression=ON", "SET PERSIST binlog_transaction_compression=OFF"]),
        ("8.0.36", {"binlog_row_metadata": "MINIMAL"},
         ["MySQL setting binlog_row_metadata=MINIMAL (set binlog_row_metadata=FULL)"]),
        ("8.4.3", {"gtid_mode": "OFF"}, ["MySQL setting gtid_mode=OFF", "set gtid_mode=ON"]),
        ("5.7.44-log", {},
         ["MySQL 5.7.44 is not supported", "end of life",
          "binlake supports MySQL 8.0, 8.4 LTS and 9.x, and MariaDB 10.5 and later", "upgrade the server"]),
    ],
)
def test_check_names_each_mysql_problem_once(tmp_path, version, settings, expect):
    with Standin(mysql_profile(version, **settings)) as s:
        config = write_config(tmp_path, s.port, f"m8{uuid.uuid4().hex[:8]}")
        rc, out = binlake("check", str(config))
    assert rc == 1, out
    lines = mysql_lines(config, out)
    assert len(lines) == 1, out
    for part in expect:
        assert part in lines[0], out
    if version.startswith("5.7"):
        # Refused on its version: its settings are not asked about.
        assert not any(q.startswith("SHOW GLOBAL VARIABLES") for q in s.statements), s.statements
    assert s.unknown == [], f"statements the stand-in does not model: {s.unknown}"


@pytest.mark.parametrize(
    "version, status_stmt", [("8.4.3", "SHOW BINARY LOG STATUS"), ("8.0.36", "SHOW MASTER STATUS")]
)
def test_new_pipeline_reads_its_start_position_then_status_reads_bytes_behind(tmp_path, version, status_stmt):
    kafka_and_registry()
    name = f"m8{uuid.uuid4().hex[:8]}"
    with Standin(mysql_profile(version)) as s:
        config = write_config(tmp_path, s.port, name)
        src = SourceProcess(config, tmp_path / "binlake.log")
        src.start()
        try:
            # The start position: file, position and the GTID set (its line
            # breaks removed) from the one status row.
            line = wait_until(
                lambda: next(
                    (l for l in src.log_text().splitlines() if "no stored position: streaming from the server's current position" in l),
                    None,
                ),
                60,
                "the start position in the log",
            )
            assert "binlog.000002:4711" in line and GTID_SET in line, line
            # Then the binlog dump, which the stand-in does not serve: an
            # error and a retry, not a panic.
            wait_until(lambda: "cannot open the binlog stream" in src.log_text(), 60, "the binlog dump to fail")
            assert src.alive(), src.log_text()
        finally:
            rc = src.stop()
        log = src.log_text()
        assert rc == 0, log
        assert "panicked" not in log, log
        assert status_stmt in s.statements, s.statements
        if status_stmt == "SHOW BINARY LOG STATUS":
            assert "SHOW MASTER STATUS" not in s.statements, s.statements
        # The server has written on: 289 more bytes in binlog.000002 and a
        # new binlog.000003 of 700.
        s.profile.binlogs = [("binlog.000001", 180), ("binlog.000002", 5000), ("binlog.000003", 700)]
        rc, out = binlake("status", str(config), "--json")
        assert rc == 0, out
        status = json.loads(out[out.index("{"):])
        source = status["source"]
        assert source["error"] is None, source
        # The position stored in {name}.offsets is the start position.
        assert (source["position"], source["gtid"]) == ("binlog.000002:4711", GTID_SET), source
        assert source["bytes_behind"] == (5000 - 4711) + 700, source
        assert source["server_position"] == "binlog.000003:700", source
        assert "SHOW BINARY LOGS" in s.statements
        assert s.unknown == [], f"statements the stand-in does not model: {s.unknown}"
