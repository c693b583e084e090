"""Independent check of binlake's Avro messages: fastavro and confluent-kafka's
AvroDeserializer decode the framed keys and values that tests/it/avro_roundtrip.rs
writes (test `fixtures_for_the_python_check`), against expectations written
here from the same event literals, not derived from the Rust code.

Fixtures come from $BINLAKE_AVRO_FIXTURE_DIR if it holds them, else this
module runs that cargo test once to write them into a temporary directory.
"""

import io
import json
import os
import pathlib
import shutil
import struct
import subprocess
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import fastavro
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HANDLED_TS = 1_700_000_999_000
HUGE = "-123456789012345678901234567890123456789012345.6789"
TOPIC = "shop.inventory.every-type"

FULL = {
    "id": 42,
    "flag": True,
    "small": -7,
    "f": 1.5,
    "d": -2.25,
    "price": Decimal("-123.45"),
    "huge": HUGE,
    "day": date(1970, 1, 1) + timedelta(days=19_000),
    "created": datetime(1970, 1, 1) + timedelta(microseconds=1_700_000_000_123_456),
    "updated": datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=1_700_000_000_654_321),
    "dur": -3_600_000_001,
    "first_name": "Zoë €",
    "blob": b"\x00\x01\xff\x00",
    "ubig": Decimal(2**64 - 1),
    "_2fa": False,
    "tenant": 3,
}
NULLS = {
    "id": 43,
    "flag": False,
    "small": 0,
    "f": 0.0,
    "d": 0.0,
    "price": Decimal("0.00"),
    **{k: None for k in ["huge", "day", "created", "updated", "dur", "first_name", "blob", "ubig", "_2fa"]},
    "tenant": -(2**31),
}


def source(snapshot, streamed, version):
    return {
        "version": version,
        "connector": "mysql",
        "name": "shop",
        "ts_ms": 1_700_000_000_000,
        "snapshot": snapshot,
        "db": "inventory",
        "table": "every-type",
        "server_id": 5401,
        "gtid": "0-1-42" if streamed else None,
        "file": "mysql-bin.000003",
        "pos": 4_294_967_300,
        "row": 2,
        "thread": 77 if streamed else None,
        "query": "UPDATE t SET x = 1" if streamed else None,
    }


def tx(n):
    return {"id": "0-1-42", "total_order": n, "data_collection_order": n + 100}


def expected(version):
    """Case name → (key, value) as a Debezium consumer would see them."""
    key_full = {"tenant": 3, "id": 42}
    key_nulls = {"tenant": -(2**31), "id": 43}

    def env(op, before, after, snapshot, streamed, transaction):
        return {
            "before": before,
            "after": after,
            "source": source(snapshot, streamed, version),
            "op": op,
            "ts_ms": HANDLED_TS,
            "transaction": transaction,
        }

    return {
        "create": (key_full, env("c", None, FULL, "false", True, None)),
        "update_tx": (key_full, env("u", NULLS, FULL, "false", True, tx(1))),
        "delete_tx": (key_full, env("d", FULL, None, "false", True, tx(2))),
        "read": (key_nulls, env("r", None, NULLS, "true", False, None)),
        "read_last": (key_nulls, env("r", None, NULLS, "last", False, None)),
    }


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    given = os.environ.get("BINLAKE_AVRO_FIXTURE_DIR")
    if given and (pathlib.Path(given) / "cases.json").exists():
        return pathlib.Path(given)
    if shutil.which("cargo") is None:
        pytest.skip("no cargo to write the fixtures and BINLAKE_AVRO_FIXTURE_DIR unset")
    out = tmp_path_factory.mktemp("avro_fixtures")
    env = dict(os.environ, BINLAKE_AVRO_FIXTURE_DIR=str(out))
    env.setdefault("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/binlake/target"))
    run = subprocess.run(
        ["cargo", "test", "--test", "it", "--", "--exact", "avro_roundtrip::fixtures_for_the_python_check"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (out / "cases.json").exists(), "the cargo test wrote no fixtures"
    return out


def load(fixtures):
    meta = json.loads((fixtures / "cases.json").read_text())
    key_schema = fastavro.parse_schema(json.loads((fixtures / "key.avsc").read_text()))
    value_schema = fastavro.parse_schema(json.loads((fixtures / "value.avsc").read_text()))
    return meta, key_schema, value_schema


def unframe(message, schema_id):
    magic, got_id = struct.unpack(">bI", message[:5])
    assert magic == 0
    assert got_id == schema_id
    return message[5:]


def read_all(datum, schema):
    buf = io.BytesIO(datum)
    value = fastavro.schemaless_reader(buf, schema)
    assert buf.tell() == len(datum), "bytes left after the datum"
    return value


def test_schema_names_and_layout(fixtures):
    value = json.loads((fixtures / "value.avsc").read_text())
    key = json.loads((fixtures / "key.avsc").read_text())
    assert (key["namespace"], key["name"]) == ("shop.inventory.every_type", "Key")
    assert [f["name"] for f in key["fields"]] == ["tenant", "id"]
    assert (value["namespace"], value["name"]) == ("shop.inventory.every_type", "Envelope")
    assert [f["name"] for f in value["fields"]] == ["before", "after", "source", "op", "ts_ms", "transaction"]
    source_type = value["fields"][2]["type"]
    assert (source_type["namespace"], source_type["name"]) == ("io.debezium.connector.mysql", "Source")


def test_fastavro_decodes_every_case(fixtures):
    meta, key_schema, value_schema = load(fixtures)
    want = expected(meta["version"])
    assert sorted(meta["cases"]) == sorted(want)
    for name in meta["cases"]:
        want_key, want_value = want[name]
        key = (fixtures / f"{name}.key.bin").read_bytes()
        value = (fixtures / f"{name}.value.bin").read_bytes()
        assert read_all(unframe(key, meta["key_schema_id"]), key_schema) == want_key, name
        assert read_all(unframe(value, meta["value_schema_id"]), value_schema) == want_value, name


def test_confluent_deserializer_with_the_registry(fixtures, registry):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    meta, _, _ = load(fixtures)
    topic = meta["topic"]
    assert topic == TOPIC
    client = SchemaRegistryClient({"url": registry.url})
    ids = {}
    for part in ("key", "value"):
        text = (fixtures / f"{part}.avsc").read_text()
        ids[part] = client.register_schema(f"{topic}-{part}", Schema(text, "AVRO"))
    deserializer = AvroDeserializer(client)
    want = expected(meta["version"])
    for name in meta["cases"]:
        for index, part, field in ((0, "key", MessageField.KEY), (1, "value", MessageField.VALUE)):
            framed = (fixtures / f"{name}.{part}.bin").read_bytes()
            # The fixtures carry fixed ids; point them at the registry's.
            framed = b"\x00" + struct.pack(">I", ids[part]) + framed[5:]
            got = deserializer(framed, SerializationContext(topic, field))
            assert got == want[name][index], (name, part)
