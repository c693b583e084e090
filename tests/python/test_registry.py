"""`binlake registry` driven by confluent-kafka's SchemaRegistryClient: an
independent Confluent client against the real binary (see conftest.py)."""

import json
import signal

import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    ServerConfig,
    ConfigCompatibilityLevel,
)


def record(*fields):
    """An Avro record schema `t.Row`; a field is (name, type) or (name, type, default)."""
    out = []
    for f in fields:
        field = {"name": f[0], "type": f[1]}
        if len(f) == 3:
            field["default"] = f[2]
        out.append(field)
    return Schema(json.dumps({"type": "record", "name": "Row", "namespace": "t", "fields": out}), "AVRO")


V1 = record(("id", "long"))
V2_DEFAULT = record(("id", "long"), ("note", "string", ""))
V2_REQUIRED = record(("id", "long"), ("note", "string"))


def client(registry):
    return SchemaRegistryClient({"url": registry.url})


def sr_error(fn, *args, **kwargs) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as info:
        fn(*args, **kwargs)
    return info.value


def test_register_get_and_lookup(registry):
    sr = client(registry)
    sid = sr.register_schema("orders-value", V1)
    assert sr.register_schema("orders-value", V1) == sid
    # A fresh client skips its cache: the server itself must be idempotent.
    assert client(registry).register_schema("orders-value", V1) == sid
    assert client(registry).register_schema("other-value", V1) == sid

    got = client(registry).get_schema(sid)
    assert json.loads(got.schema_str) == json.loads(V1.schema_str)
    assert got.schema_type == "AVRO"

    found = client(registry).lookup_schema("orders-value", V1)
    assert (found.schema_id, found.version, found.subject) == (sid, 1, "orders-value")

    sid2 = sr.register_schema("orders-value", V2_DEFAULT)
    assert sid2 > sid
    assert sr.get_versions("orders-value") == [1, 2]
    latest = sr.get_latest_version("orders-value")
    assert (latest.schema_id, latest.version) == (sid2, 2)
    assert json.loads(latest.schema.schema_str) == json.loads(V2_DEFAULT.schema_str)
    assert sr.get_version("orders-value", 1).schema_id == sid
    assert sorted(sr.get_subjects()) == ["orders-value", "other-value"]
    assert sr.get_schema_types() == ["AVRO"]

    err = sr_error(client(registry).lookup_schema, "orders-value", V2_REQUIRED)
    assert (err.http_status_code, err.error_code) == (404, 40403)
    err = sr_error(sr.get_latest_version, "nope")
    assert (err.http_status_code, err.error_code) == (404, 40401)
    err = sr_error(sr.register_schema, "x", Schema('{"type": "nope"}', "AVRO"))
    assert err.error_code == 42201
    err = sr_error(sr.register_schema, "x", Schema('{"type": "object"}', "JSON"))
    assert err.error_code == 42201 and "AVRO" in err.error_message


def test_compatibility(registry):
    sr = client(registry)
    sr.register_schema("s", V1)
    assert sr.test_compatibility("s", V2_REQUIRED) is False
    assert sr.test_compatibility("s", V2_DEFAULT) is True
    assert sr.test_compatibility("s", V2_DEFAULT, version=1) is True
    assert sr.test_compatibility_all_versions("s", V2_REQUIRED) is False
    err = sr_error(sr.register_schema, "s", V2_REQUIRED)
    assert (err.http_status_code, err.error_code) == (409, 409)

    # FORWARD on this subject: now the required field is fine.
    sr.set_compatibility("s", "FORWARD")
    assert sr.get_compatibility("s") == "FORWARD"
    assert sr.test_compatibility("s", V2_REQUIRED) is True
    assert sr.register_schema("s", V2_REQUIRED) > 0


def test_config_per_subject(registry):
    sr = client(registry)
    assert sr.get_config().compatibility_level == ConfigCompatibilityLevel.BACKWARD
    err = sr_error(sr.get_config, "s")
    assert err.error_code == 40408
    result = sr.set_config("s", ServerConfig(compatibility=ConfigCompatibilityLevel.FULL))
    assert result == {"compatibility": "FULL"}
    assert sr.get_config("s").compatibility_level == ConfigCompatibilityLevel.FULL
    sr.set_config("s", ServerConfig(compatibility_level=ConfigCompatibilityLevel.NONE))
    assert sr.get_config("s").compatibility_level == ConfigCompatibilityLevel.NONE
    assert sr.get_config().compatibility_level == ConfigCompatibilityLevel.BACKWARD
    assert sr.delete_config("s").compatibility_level == ConfigCompatibilityLevel.NONE
    assert sr_error(sr.get_config, "s").error_code == 40408
    err = sr_error(sr.set_compatibility, "s", "SIDEWAYS")
    assert err.error_code == 42203


def test_delete_subject_and_versions(registry):
    sr = client(registry)
    sr.register_schema("s", V1)
    sr.register_schema("s", V2_DEFAULT)
    assert sr_error(sr.delete_subject, "s", permanent=True).error_code == 40405
    assert sr.delete_subject("s") == [1, 2]
    assert "s" not in sr.get_subjects()
    assert "s" in sr.get_subjects(deleted=True)
    assert sr_error(sr.delete_subject, "s").error_code == 40404
    assert sr.delete_subject("s", permanent=True) == [1, 2]
    assert "s" not in sr.get_subjects(deleted=True)

    sr.register_schema("v", V1)
    sr.register_schema("v", V2_DEFAULT)
    assert sr.delete_version("v", 1) == 1
    assert sr_error(sr.delete_version, "v", 1).error_code == 40406
    assert sr_error(sr.delete_version, "v", 2, permanent=True).error_code == 40407
    assert sr.delete_version("v", 1, permanent=True) == 1
    assert sr.get_versions("v") == [2]
    assert sr_error(sr.delete_version, "v", 9).error_code == 40402


def test_read_only_mode(registry):
    sr = client(registry)
    sr.register_schema("s", V1)
    assert sr.update_mode("s", "READONLY") == "READONLY"
    assert sr.get_mode("s") == "READONLY"
    err = sr_error(sr.register_schema, "s", V2_DEFAULT)
    assert (err.http_status_code, err.error_code) == (422, 42205)
    assert sr.get_global_mode() == "READWRITE"
    assert sr.delete_mode("s") == "READONLY"
    assert sr.register_schema("s", V2_DEFAULT) > 0


def test_restart_keeps_ids_and_versions(registry):
    sr = client(registry)
    sid1 = sr.register_schema("s", V1)
    sid2 = sr.register_schema("s", V2_DEFAULT)
    sr.set_compatibility("s", "FULL")

    registry.kill(signal.SIGKILL)  # no chance to flush anything
    registry.start()

    sr = client(registry)
    assert json.loads(sr.get_schema(sid1).schema_str) == json.loads(V1.schema_str)
    latest = sr.get_latest_version("s")
    assert (latest.schema_id, latest.version) == (sid2, 2)
    assert sr.get_compatibility("s") == "FULL"
    assert sr.register_schema("s", V2_DEFAULT) == sid2
    sid3 = sr.register_schema("t", record(("other", "int")))
    assert sid3 == sid2 + 1


def test_sigterm_stops_cleanly(registry):
    client(registry).register_schema("s", V1)
    assert registry.kill(signal.SIGTERM) == 0
