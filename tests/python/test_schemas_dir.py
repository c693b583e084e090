"""`schemas/` in git: `binlake schemas write` writes one file per subject
from the live tables, equal to what the source registers; `binlake schemas
check` (CI, offline) rejects a change the subject's compatibility level would
reject and accepts a compatible one; `binlake check` reports drift between
the live tables and `schemas/`; the shipped shop schemas pass the CI check."""

import json
import os
import pathlib
import shutil
import subprocess

from source_harness import binlake_bin, case, registry_get, subject_schema, wait_for_count, wait_until  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parents[2]


def binlake(*args, cwd=None):
    out = subprocess.run(
        [str(binlake_bin()), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env=dict(os.environ),
    )
    return out.returncode, out.stdout + out.stderr


def git(repo, *args):
    out = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"git {args}: {out.stderr}"
    return out.stdout


def avsc_files(d):
    return sorted(p.name for p in pathlib.Path(d).glob("*.avsc"))


def test_write_makes_one_file_per_subject_equal_to_what_the_source_registers(case):
    # `snap` is registered by the initial snapshot, `streamed` by the binlog
    # stream: the files must equal both paths' registrations.
    case.sql(
        "CREATE TABLE snap (id BIGINT UNSIGNED PRIMARY KEY, price DECIMAL(12,2) NOT NULL DEFAULT 1.50, "
        "status ENUM('a','b') NOT NULL DEFAULT 'b', note VARCHAR(20) DEFAULT 'x', seen DATETIME(3) NULL, "
        "attrs JSON NULL, big BIGINT UNSIGNED NOT NULL DEFAULT 7)"
    )
    case.sql("INSERT INTO snap (id) VALUES (1)")
    case.sql(
        "CREATE TABLE streamed (tenant INT NOT NULL, id INT NOT NULL, flag BIT(1) NOT NULL DEFAULT b'1', "
        "t TIME(6) NULL, raw VARBINARY(8) NOT NULL DEFAULT 'ab', f FLOAT NULL, d DATE NOT NULL DEFAULT '2020-01-02', "
        "PRIMARY KEY (tenant, id))"
    )
    config = case.write_config(snapshot="initial")
    src = case.start_source(config)
    wait_for_count(case.topic("snap"), 1, 60, src)
    case.sql("INSERT INTO streamed (tenant, id) VALUES (1, 2)")
    wait_for_count(case.topic("streamed"), 1, 60, src)
    src.stop()

    out_dir = case.tmp_path / "schemas"
    rc, out = binlake("schemas", "write", config, "--dir", out_dir)
    assert rc == 0, out
    subjects = [f"{case.topic(t)}-{k}" for t in ("snap", "streamed") for k in ("key", "value")]
    assert avsc_files(out_dir) == sorted(f"{s}.avsc" for s in subjects), out
    for s in subjects:
        registered = json.loads(subject_schema(s)["schema"])
        assert json.loads((out_dir / f"{s}.avsc").read_text()) == registered, s
    assert [f["name"] for f in json.loads((out_dir / f"{case.topic('streamed')}-key.avsc").read_text())["fields"]] == [
        "tenant",
        "id",
    ]
    # Writing again changes nothing.
    before = {n: (out_dir / n).read_text() for n in avsc_files(out_dir)}
    rc, out = binlake("schemas", "write", config, "--dir", out_dir)
    assert rc == 0 and "0 written, 4 unchanged, 0 removed" in out, out
    assert {n: (out_dir / n).read_text() for n in avsc_files(out_dir)} == before
    # A table no longer captured loses its files.
    case.sql("DROP TABLE streamed")
    rc, out = binlake("schemas", "write", config, "--dir", out_dir)
    assert rc == 0 and "2 removed" in out, out
    assert avsc_files(out_dir) == sorted(f"{case.topic('snap')}-{k}.avsc" for k in ("key", "value"))


def _repo_with_schemas(case, config):
    """A git repository whose first commit holds the written schemas/."""
    repo = case.tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    git(repo, "init", "-q")
    rc, out = binlake("schemas", "write", config, "--dir", repo / "schemas")
    assert rc == 0, out
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "schemas")
    return repo


def ci_check(repo, *connectors, against="HEAD"):
    args = ["schemas", "check", "--against", against, "--dir", repo / "schemas"]
    for c in connectors:
        args += ["--connector", c]
    return binlake(*args)


def test_ci_check_accepts_a_compatible_change_and_rejects_incompatible_ones(case):
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, qty BIGINT NOT NULL)")
    config = case.write_config()
    repo = _repo_with_schemas(case, config)
    value = f"{case.topic('t')}-value"
    value_file = repo / "schemas" / f"{value}.avsc"

    rc, out = ci_check(repo, config)
    assert rc == 0, out
    assert f"ok: {value}: unchanged" in out, out

    # A column added with a default: BACKWARD-compatible.
    case.sql("ALTER TABLE t ADD COLUMN note VARCHAR(10) NOT NULL DEFAULT 'n'")
    rc, out = binlake("schemas", "write", config, "--dir", repo / "schemas")
    assert rc == 0, out
    rc, out = ci_check(repo, config)
    assert rc == 0, out
    assert f"ok: {value}: compatible change (BACKWARD, from {config})" in out, out
    git(repo, "commit", "-qam", "note")

    # A field without a default (as a hand edit would add it): rejected,
    # naming the file, the subject, the level and the field.
    doc = json.loads(value_file.read_text())
    doc["fields"][0]["type"][1]["fields"].append({"name": "extra", "type": "string"})
    value_file.write_text(json.dumps(doc, indent=2))
    rc, out = ci_check(repo, config)
    assert rc == 1, out
    rejected = [l for l in out.splitlines() if l.startswith("rejected:")]
    assert len(rejected) == 1, out
    assert rejected[0].startswith(f"rejected: {value_file}: subject {value} (level BACKWARD from {config}): "), out
    assert "extra" in rejected[0] and "default" in rejected[0], out
    assert out.rstrip().endswith("1 rejected"), out

    # A type narrowed in MySQL (BIGINT → INT), written by binlake: rejected.
    git(repo, "checkout", "-q", "--", ".")
    case.sql("ALTER TABLE t MODIFY qty INT NOT NULL")
    rc, out = binlake("schemas", "write", config, "--dir", repo / "schemas")
    assert rc == 0, out
    rc, out = ci_check(repo, config)
    assert rc == 1, out
    rejected = [l for l in out.splitlines() if l.startswith("rejected:")]
    assert len(rejected) == 1 and f"subject {value} (level BACKWARD" in rejected[0], out
    assert "'qty'" in rejected[0], out
    # The key did not change.
    assert f"ok: {case.topic('t')}-key: unchanged" in out, out

    # The same change is accepted where the connector relaxes the subject.
    relaxed = case.tmp_path / "relaxed.toml"
    relaxed.write_text(
        config.read_text().replace(
            "[registry]\n", f'[registry]\nsubject_compatibility = {{ "{value}" = "NONE" }}\n'
        )
    )
    rc, out = ci_check(repo, relaxed)
    assert rc == 0, out
    assert f"ok: {value}: compatible change (NONE, from {relaxed})" in out, out

    # A base that is not a commit is a clear error, not a pass.
    rc, out = ci_check(repo, config, against="no-such-branch")
    assert rc == 1 and "no-such-branch is not a commit" in out, out


def test_check_reports_drift_after_alter_table_and_is_clean_once_refreshed(case):
    case.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT NOT NULL)")
    config = case.write_config()
    schemas = case.tmp_path / "schemas"
    rc, out = binlake("schemas", "write", config, "--dir", schemas)
    assert rc == 0, out
    rc, out = binlake("check", config, "--schemas", schemas)
    assert rc == 0 and out.startswith("ok: "), out

    case.sql("ALTER TABLE t ADD COLUMN b VARCHAR(5) NULL, MODIFY a BIGINT NOT NULL")
    rc, out = binlake("check", config, "--schemas", schemas)
    assert rc == 1, out
    lines = [l for l in out.splitlines() if "differs from" in l]
    assert len(lines) == 1, out
    line = lines[0]
    assert line.startswith(f"{config}: table {case.db}.t: the live table differs from {schemas}/{case.topic('t')}-value.avsc ("), out
    assert "added `b`" in line and "changed `a` from \"int\"" in line, out
    assert f"run `binlake schemas write {config}`" in line, out

    # A new table without files is drift too.
    case.sql("CREATE TABLE u (id INT PRIMARY KEY)")
    rc, out = binlake("check", config, "--schemas", schemas)
    assert rc == 1 and f"{case.topic('u')}-key.avsc is missing" in out, out

    rc, out = binlake("schemas", "write", config, "--dir", schemas)
    assert rc == 0, out
    rc, out = binlake("check", config, "--schemas", schemas)
    assert rc == 0 and out.startswith("ok: "), out

    # A table whose schema cannot be built is named, and loses no file.
    case.sql("CREATE TABLE keyless (a INT)")
    rc, out = binlake("schemas", "write", config, "--dir", schemas)
    assert rc == 1 and f"table {case.db}.keyless" in out and "key_columns" in out, out
    assert len(avsc_files(schemas)) == 4 and not any("keyless" in n for n in avsc_files(schemas)), out


def test_shipped_shop_schemas_are_written_by_binlake_and_pass_the_ci_check(tmp_path):
    # The demo's database, loaded the way scripts/demo.sh loads it.
    sql = (ROOT / "scripts/sample/shop.sql").read_text()
    subprocess.run(
        [
            "mariadb", "--no-defaults", "-h127.0.0.1", f"-P{os.environ.get('BINLAKE_MYSQL_PORT', '3307')}",
            "-ubinlake_admin", f"-p{os.environ.get('BINLAKE_ADMIN_PASSWORD', 'admin-secret')}",
            "--default-character-set=utf8mb4",
        ],
        input=sql, text=True, check=True, timeout=60,
    )
    written = tmp_path / "schemas"
    rc, out = binlake("schemas", "write", ROOT / "connectors/shop.toml", "--dir", written)
    assert rc == 0, out
    shipped = ROOT / "schemas"
    assert avsc_files(written) == avsc_files(shipped) and len(avsc_files(shipped)) == 6
    for name in avsc_files(shipped):
        assert (written / name).read_text() == (shipped / name).read_text(), name

    # CI's step on a clean checkout of this commit, without any server.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(ROOT), str(clone))
    env = dict(os.environ, BINLAKE_BIN=str(binlake_bin()), BINLAKE_MYSQL_PORT="1", BINLAKE_TEST_REGISTRY="http://127.0.0.1:1")
    out = subprocess.run(
        ["bash", "scripts/schemas_check.sh"], cwd=clone, capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 subjects in schemas checked against" in out.stdout and ": 0 rejected" in out.stdout, out.stdout
