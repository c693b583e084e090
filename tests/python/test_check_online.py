"""`binlake check FILE` against the live servers: passes on the test setup,
and names the fix when the binlog settings are wrong, a table has no key,
or the broker is unreachable."""

import json
import os
import subprocess

import pytest

from sink_harness import sink_case  # noqa: F401
from source_harness import binlake_bin, mysql_connect, wait_for_count


def check(config):
    out = subprocess.run(
        [str(binlake_bin()), "check", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    return out.returncode, out.stdout + out.stderr


@pytest.fixture
def global_var():
    """Sets a global server variable for one test and restores it."""
    conn = mysql_connect()
    saved = {}

    def set_var(name, value):
        with conn.cursor() as c:
            c.execute(f"SELECT @@GLOBAL.{name}")
            saved.setdefault(name, c.fetchone()[0])
            c.execute(f"SET GLOBAL {name} = %s", (value,))

    yield set_var
    with conn.cursor() as c:
        for name, value in saved.items():
            c.execute(f"SET GLOBAL {name} = %s", (value,))
    conn.close()


def test_check_passes_on_the_test_servers(sink_case):
    sink_case.sql("CREATE TABLE t (id INT PRIMARY KEY)")
    rc, out = check(sink_case.write_sink_config())
    assert rc == 0, out
    assert out.startswith("ok: "), out


@pytest.mark.parametrize(
    "name, value, expect",
    [
        ("binlog_format", "STATEMENT", "binlog_format=STATEMENT (set binlog_format=ROW)"),
        ("binlog_row_metadata", "MINIMAL", "binlog_row_metadata=MINIMAL (set binlog_row_metadata=FULL); without it column names cannot be tracked"),
        ("binlog_row_image", "MINIMAL", "binlog_row_image=MINIMAL (set binlog_row_image=FULL)"),
    ],
)
def test_check_names_the_fix_for_server_settings(sink_case, global_var, name, value, expect):
    sink_case.sql("CREATE TABLE t (id INT PRIMARY KEY)")
    config = sink_case.write_sink_config()
    global_var(name, value)
    rc, out = check(config)
    assert rc == 1, out
    lines = [l for l in out.splitlines() if expect in l]
    assert len(lines) == 1, out
    assert lines[0].startswith(f"{config}: MySQL setting "), out


def test_check_finds_a_table_without_key(sink_case):
    sink_case.sql("CREATE TABLE keyless (a INT, b INT)")
    rc, out = check(sink_case.write_sink_config())
    assert rc == 1, out
    assert f"table {sink_case.db}.keyless has no primary key" in out, out
    assert "key_columns" in out, out


def test_check_finds_a_schema_the_registry_would_refuse(sink_case):
    """A column whose type changed since the source registered the table's
    schema (int → string cannot be read under BACKWARD): check names the
    table and subject before the source stops on it."""
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    config = case.write_sink_config()
    src = case.start_source_role(config)
    case.sql("INSERT INTO t VALUES (1, 1)")
    wait_for_count(case.topic("t"), 1, 60, src)
    src.stop()
    rc, out = check(config)
    assert rc == 0, out
    case.sql("ALTER TABLE t MODIFY a VARCHAR(10)")
    rc, out = check(config)
    assert rc == 1, out
    line = [l for l in out.splitlines() if "incompatible" in l]
    assert len(line) == 1, out
    assert f"table {case.db}.t" in line[0] and f"{case.topic('t')}-value" in line[0], out


def test_check_finds_a_purged_stored_position(sink_case):
    """The stored position names a binlog the server no longer has."""
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY)")
    config = case.write_sink_config()
    from confluent_kafka import Producer
    from source_harness import BROKERS

    case.start_source_role(config).stop()  # creates {name}.offsets
    p = Producer({"bootstrap.servers": BROKERS})
    stored = {"file": "mysql-bin.000000", "pos": 4, "source_ts_ms": 0, "written_ts_ms": 0}
    p.produce(f"{case.name}.offsets", key=case.name.encode(), value=json.dumps(stored).encode(), partition=0)
    assert p.flush(30) == 0
    rc, out = check(config)
    assert rc == 1, out
    assert "mysql-bin.000000 was purged" in out and "binlog_expire_logs_seconds" in out, out


def test_secrets_are_never_printed(sink_case):
    """A wrong MySQL password and registry credentials from the environment:
    `check`, `verify` and `run` (debug logs) fail or retry, and none of them
    prints a secret."""
    case = sink_case
    case.sql("CREATE TABLE t (id INT PRIMARY KEY)")
    config = case.write_sink_config()
    secrets = {"BINLAKE_MYSQL_PASSWORD": "wrong-Zq81-mysql", "BINLAKE_REGISTRY_PASSWORD": "reg-Xy77-registry"}
    env = {**os.environ, **secrets, "BINLAKE_REGISTRY_USER": "ops", "RUST_LOG": "debug"}

    def run(*args, timeout=120):
        return subprocess.run([str(binlake_bin()), *args], capture_output=True, text=True, timeout=timeout, env=env)

    out = run("check", str(config))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Access denied" in out.stdout + out.stderr, out.stdout + out.stderr
    texts = [out.stdout + out.stderr]
    out = run("verify", str(config))
    assert out.returncode != 0
    texts.append(out.stdout + out.stderr)
    proc = subprocess.Popen([str(binlake_bin()), "run", str(config), "--role", "all"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        texts.append(proc.communicate(timeout=8)[0])
    except subprocess.TimeoutExpired:
        proc.terminate()
        texts.append(proc.communicate(timeout=30)[0])
    assert "Access denied" in texts[-1] or "access denied" in texts[-1].lower(), texts[-1][-3000:]
    for text in texts:
        for name, secret in secrets.items():
            assert secret not in text, f"{name} printed: {text[-2000:]}"
