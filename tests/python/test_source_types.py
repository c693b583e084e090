"""Every type of docs/contract.md, end to end: rows written to MariaDB while the source
streams, read back from Kafka with an independent Avro decoder
(confluent-kafka + fastavro), compared field by field with what a SELECT of
the same row returns."""

import datetime as dt
import decimal
import json
import struct

from source_harness import case, read_topic, subject_schema, subject_versions, wait_for_count  # noqa: F401

UTC = dt.timezone.utc

# (column, DDL, how the SELECT value is read, expected Avro type of the non-null branch)
DEC20 = {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}
COLS = [
    ("id", "INT NOT NULL PRIMARY KEY", "int", "int"),
    ("ti", "TINYINT", "int", "int"),
    ("tiu", "TINYINT UNSIGNED", "int", "int"),
    ("si", "SMALLINT", "int", "int"),
    ("siu", "SMALLINT UNSIGNED", "int", "int"),
    ("mi", "MEDIUMINT", "int", "int"),
    ("miu", "MEDIUMINT UNSIGNED", "int", "int"),
    ("i", "INT NOT NULL", "int", "int"),
    ("iu", "INT UNSIGNED", "int", "long"),
    ("bi", "BIGINT", "int", "long"),
    ("biu", "BIGINT UNSIGNED", "biguns", DEC20),
    ("d65", "DECIMAL(65,30)", "decstr", "string"),
    ("d38", "DECIMAL(38,10)", "dec", {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 10}),
    ("d10u", "DECIMAL(10,2) UNSIGNED", "dec", {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}),
    ("f", "FLOAT", "f32", "float"),
    ("dbl", "DOUBLE", "f64", "double"),
    ("b1", "BIT(1)", "bool", "boolean"),
    ("b13", "BIT(13)", "bytes", "bytes"),
    ("yr", "YEAR", "int", "int"),
    ("dte", "DATE", "date", {"type": "int", "logicalType": "date"}),
    ("dtm", "DATETIME(6)", "datetime", {"type": "long", "logicalType": "local-timestamp-micros"}),
    ("dtm0", "DATETIME", "datetime", {"type": "long", "logicalType": "local-timestamp-micros"}),
    ("ts", "TIMESTAMP(6) NULL DEFAULT NULL", "timestamp", {"type": "long", "logicalType": "timestamp-micros"}),
    ("ts2", "TIMESTAMP(2) NULL DEFAULT NULL", "timestamp", {"type": "long", "logicalType": "timestamp-micros"}),
    ("tm", "TIME(6)", "time", "long"),
    ("tm0", "TIME", "time", "long"),
    ("c", "CHAR(10) CHARACTER SET utf8mb4", "text", "string"),
    ("vc", "VARCHAR(300) CHARACTER SET utf8mb4", "text", "string"),
    ("tx", "TEXT CHARACTER SET utf8mb4", "text", "string"),
    ("lat", "VARCHAR(10) CHARACTER SET latin1", "text", "string"),
    ("latc", "CHAR(5) CHARACTER SET latin1", "text", "string"),
    ("u2", "VARCHAR(5) CHARACTER SET ucs2", "text", "string"),
    ("cp", "VARCHAR(5) CHARACTER SET cp1251", "text", "string"),
    ("sj", "CHAR(4) CHARACTER SET sjis", "text", "string"),
    ("bin", "BINARY(16)", "bytes", "bytes"),
    ("vb", "VARBINARY(20)", "bytes", "bytes"),
    ("bl", "BLOB", "bytes", "bytes"),
    ("en", "ENUM('a','b','ç') CHARACTER SET utf8mb4", "text", "string"),
    ("st", "SET('x','y','z')", "text", "string"),
    ("js", "JSON", "text", "string"),
    ("geo", "GEOMETRY", "wkb", "bytes"),
    ("pt", "POINT", "wkb", "bytes"),
]
NAMES = [c[0] for c in COLS]

D65_MAX = "99999999999999999999999999999999999.999999999999999999999999999999"
D38_MAX = "9999999999999999999999999999.9999999999"

ROWS = {
    # maxima
    1: (
        "1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, "
        "9223372036854775807, 18446744073709551615, "
        f"'{D65_MAX}', '{D38_MAX}', 99999999.99, 3.4028234e38, 1.7976931348623157e308, "
        "b'1', b'1111111111111', 2155, '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59', "
        "'2038-01-19 03:14:07.999999', '2038-01-19 03:14:07.99', '838:59:59.999999', '838:59:59', "
        "'😀ab', REPEAT('€', 300), 'text ü 😀 𝄞', X'80E9', X'8080', 'Ωa', X'C6E6', 'ｱｲ', "
        "X'01020300', X'DEADBEEF00', X'00FF0000', 'ç', 'x,z', '{\"a\": [1, 2.5, \"x\"], \"b\": null}', "
        "ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 2))'), POINT(1.5, -2)"
    ),
    # minima
    2: (
        "2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, "
        "-9223372036854775808, 0, "
        f"'-{D65_MAX}', '-{D38_MAX}', 0, -1.17549435e-38, -2.2250738585072014e-308, "
        "b'0', b'0', 1901, '1000-01-01', '1000-01-01 00:00:00.000000', '1000-01-01 00:00:00', "
        "'1970-01-01 00:00:01.000000', '1970-01-01 00:00:01.01', '-838:59:59.000000', '-838:59:59', "
        "'', '', '', '', '', '', '', '', "
        "X'', X'', X'', 'a', '', '[]', "
        "ST_GeomFromText('POINT(0 0)'), POINT(0, 0)"
    ),
    # odd values: zero dates, negative MEDIUMINT, YEAR 0, fractions, tiny decimals
    3: (
        "3, -1, 1, -1, 1, -1234567, 1, -1, 1, -1, 1, "
        "'-123.45', '0.0000000001', 0.01, 1e-3, 0.1, "
        "b'1', b'0000000000001', 0, '0000-00-00', '0000-00-00 00:00:00.000000', '2020-00-15 00:00:00', "
        "'0000-00-00 00:00:00', '2024-02-29 12:34:56.5', '-00:00:00.000001', '-00:00:01', "
        "'a  ', 'tab\\there', REPEAT('x', 70000), 'é', 'x', 'é', 'ж', 'ab', "
        "X'00000000000000000000000000000000', X'00', X'00', 'b', 'y', '\"s\"', "
        "ST_GeomFromText('LINESTRING(0 0,1 1,-1.25 3e10)'), POINT(-0.0, 1e-300)"
    ),
    # every nullable column NULL
    4: "4, " + ", ".join("0" if n == "i" else "NULL" for n in NAMES[1:]),
    # values around the epoch and DST-free local times
    5: (
        "5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
        "'0.000000000000000000000000000001', '-0.0000000001', 0.00, 0, -0.0, "
        "b'0', b'1000000000000', 1970, '1970-01-01', '1969-12-31 23:59:59.999999', '1970-01-01 00:00:00', "
        "'1970-01-01 00:00:00.000001', '2000-02-29 23:59:59.99', '00:00:00.000001', '24:00:00', "
        "'\\0nul', 'quote\\'s', 'ß', 'ÿ', '€', '𝄞', 'ё', '', "
        "X'FF', X'0000', X'00', 'ç', 'x,y,z', '{}', "
        "ST_GeomFromText('MULTIPOINT(1 1,2 2)'), POINT(180, -90)"
    ),
}


def select_expr(name, kind):
    if kind == "wkb":
        return f"ST_AsBinary(`{name}`)"
    if kind == "decstr":
        return f"CAST(`{name}` AS CHAR)"
    if kind == "f32":
        # The text protocol prints FLOAT with 6 digits; as DOUBLE it is exact.
        return f"CAST(`{name}` AS DOUBLE)"
    return f"`{name}`"


def expected(kind, v):
    """The Python value a decoded Avro field must equal, from a SELECT value."""
    if v is None:
        return None
    if kind == "int":
        return int(v)
    if kind == "biguns":
        return decimal.Decimal(int(v))
    if kind == "decstr":
        return v
    if kind == "dec":
        return v  # decimal.Decimal
    if kind == "f32":
        return struct.unpack("<f", struct.pack("<f", v))[0]
    if kind == "f64":
        return float(v)
    if kind == "bool":
        return int.from_bytes(v, "big") != 0
    if kind in ("bytes", "wkb"):
        return bytes(v)
    if kind == "date":
        return None if isinstance(v, str) else v  # pymysql returns zero dates as text
    if kind == "datetime":
        return None if isinstance(v, str) else v
    if kind == "timestamp":
        return None if isinstance(v, str) else v.replace(tzinfo=UTC)
    if kind == "time":
        return (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
    if kind == "text":
        return v if isinstance(v, str) else v.decode()
    raise AssertionError(kind)


def same(kind, got, want):
    if want is None or got is None:
        return got is None and want is None
    if kind == "f32":
        return isinstance(got, float) and got == want
    if kind == "f64":
        return isinstance(got, float) and got == want
    if kind == "dec":
        return isinstance(got, decimal.Decimal) and got == want
    if kind == "biguns":
        return isinstance(got, decimal.Decimal) and got == want
    if kind == "bool":
        return got is want
    if kind == "int":
        return type(got) is int and got == want
    if kind == "datetime":
        return isinstance(got, dt.datetime) and got.tzinfo is None and got == want
    if kind == "timestamp":
        return isinstance(got, dt.datetime) and got.tzinfo is not None and got == want
    if kind == "date":
        return type(got) is dt.date and got == want
    return type(got) is type(want) and got == want


def test_every_type_round_trips(case):
    ddl = ",\n  ".join(f"`{n}` {t}" for n, t, _, _ in COLS)
    case.sql(f"CREATE TABLE alltypes (\n  {ddl}\n) CHARACTER SET utf8mb4")
    # A process time zone far from UTC: DATETIME must not shift, TIMESTAMP
    # must be UTC whatever the zone of the process or of the writing session.
    src = case.source()
    src.env = {"TZ": "Asia/Kolkata"}
    src.start().wait_streaming()

    case.sql("SET SESSION sql_mode = ''")
    case.sql("SET SESSION time_zone = '+00:00'")
    for rid, values in ROWS.items():
        case.sql(f"INSERT INTO alltypes VALUES ({values})")
        warnings = case.sql("SHOW WARNINGS")
        assert not [w for w in warnings if w[0] == "Error"], (rid, warnings)
    # Written from a +05:30 session: TIMESTAMP is stored (and sent) as UTC.
    case.sql("SET SESSION time_zone = '+05:30'")
    case.sql(
        "INSERT INTO alltypes (id, i, dtm, ts) "
        "VALUES (6, 6, '2020-06-01 12:00:00.123456', '2020-06-01 12:00:00.123456')"
    )
    case.sql("SET SESSION time_zone = '+00:00'")
    n_rows = len(ROWS) + 1

    topic = case.topic("alltypes")
    wait_for_count(topic, n_rows, 60, src)
    records = read_topic(topic)
    assert len(records) == n_rows, [r.key for r in records]

    select = ", ".join(select_expr(n, k) for n, _, k, _ in COLS)
    db_rows = {row[0]: row for row in case.sql(f"SELECT {select} FROM alltypes ORDER BY id")}
    assert sorted(db_rows) == sorted([*ROWS, 6])

    mismatches = []
    for rec in records:
        assert rec.key is not None and set(rec.key) == {"id"}
        env = rec.value
        assert env["op"] == "c" and env["before"] is None
        after = env["after"]
        rid = rec.key["id"]
        assert after["id"] == rid
        assert list(after) == NAMES, "fields are the table's columns in table order"
        for (name, _, kind, _), raw in zip(COLS, db_rows[rid]):
            want = expected(kind, raw)
            got = after[name]
            if not same(kind, got, want):
                mismatches.append(f"row {rid} column {name}: kafka {got!r} != mysql {want!r}")
    assert not mismatches, "\n".join(mismatches)

    # Spot checks that do not depend on the SELECT conversions above.
    by_id = {r.key["id"]: r.value["after"] for r in records}
    assert by_id[1]["biu"] == decimal.Decimal(18446744073709551615)
    assert by_id[1]["d65"] == D65_MAX and by_id[2]["d65"] == "-" + D65_MAX
    assert by_id[3]["d65"] == "-123.450000000000000000000000000000"
    assert by_id[1]["d38"] == decimal.Decimal(D38_MAX)
    assert by_id[1]["d38"].as_tuple().exponent == -10
    assert by_id[1]["f"] == struct.unpack("<f", struct.pack("<f", 3.4028234e38))[0]
    assert by_id[3]["f"] == struct.unpack("<f", struct.pack("<f", 1e-3))[0]
    assert by_id[2]["mi"] == -8388608 and by_id[3]["mi"] == -1234567
    assert by_id[1]["iu"] == 4294967295 and by_id[2]["bi"] == -(2**63)
    assert by_id[2]["tm"] == -((838 * 3600 + 59 * 60 + 59) * 1_000_000)
    assert by_id[1]["tm"] == (838 * 3600 + 59 * 60 + 59) * 1_000_000 + 999_999
    assert by_id[3]["tm"] == -1
    assert by_id[1]["dtm"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert by_id[5]["dtm"] == dt.datetime(1969, 12, 31, 23, 59, 59, 999999)
    assert by_id[1]["ts"] == dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC)
    assert by_id[2]["ts2"] == dt.datetime(1970, 1, 1, 0, 0, 1, 10000, tzinfo=UTC)
    assert by_id[6]["ts"] == dt.datetime(2020, 6, 1, 6, 30, 0, 123456, tzinfo=UTC)
    assert by_id[6]["dtm"] == dt.datetime(2020, 6, 1, 12, 0, 0, 123456)
    for zero in ("dte", "dtm", "dtm0", "ts"):
        assert by_id[3][zero] is None, f"zero date in {zero} must be null"
    assert by_id[1]["lat"] == "€é" and by_id[1]["latc"] == "€€"
    assert by_id[1]["c"] == "😀ab" and by_id[1]["tx"] == "text ü 😀 𝄞"
    assert by_id[1]["bin"] == bytes([1, 2, 3]) + bytes(13), "BINARY keeps its trailing zero bytes"
    assert by_id[3]["bin"] == bytes(16)
    assert by_id[1]["vb"] == bytes.fromhex("DEADBEEF00")
    assert by_id[1]["b1"] is True and by_id[2]["b1"] is False
    assert by_id[1]["b13"] == bytes([0x1F, 0xFF]) and by_id[5]["b13"] == bytes([0x10, 0x00])
    assert by_id[1]["st"] == "x,z" and by_id[5]["st"] == "x,y,z" and by_id[1]["en"] == "ç"
    assert json.loads(by_id[1]["js"]) == {"a": [1, 2.5, "x"], "b": None}
    assert by_id[3]["yr"] == 0 and by_id[1]["yr"] == 2155
    assert by_id[1]["pt"] == bytes.fromhex("0101000000") + struct.pack("<dd", 1.5, -2.0), "WKB without SRID"
    for name in NAMES[1:]:
        if name != "i":
            assert by_id[4][name] is None, f"NULL in {name}"

    # Registry: TopicNameStrategy subjects and Debezium record names.
    assert subject_versions(f"{topic}-key") == [1]
    assert subject_versions(f"{topic}-value") == [1]
    ns = f"{case.name}.{case.db}.alltypes"
    key_schema = json.loads(subject_schema(f"{topic}-key")["schema"])
    assert (key_schema.get("namespace"), key_schema["name"]) in ((ns, "Key"), (None, f"{ns}.Key"))
    assert [f["name"] for f in key_schema["fields"]] == ["id"]
    value_schema = json.loads(subject_schema(f"{topic}-value")["schema"])
    assert (value_schema.get("namespace"), value_schema["name"]) in ((ns, "Envelope"), (None, f"{ns}.Envelope"))
    fields = {f["name"]: f for f in value_schema["fields"]}
    assert list(fields) == ["before", "after", "source", "op", "ts_ms", "transaction"]
    row = fields["before"]["type"][1]
    assert (row.get("namespace", ns), row["name"].split(".")[-1]) == (ns, "Value")
    assert fields["after"]["type"] == ["null", f"{ns}.Value"]
    assert fields["source"]["type"]["name"] in ("Source", "io.debezium.connector.mysql.Source")
    # Column types as the contract's table says; nullable columns are ["null", T] default null.
    types = {f["name"]: f for f in row["fields"]}
    wrong = []
    for name, ddl, _, avro in COLS:
        f = types[name]
        if "NOT NULL" in ddl:
            if f["type"] != avro:
                wrong.append(f"{name}: {f['type']} != {avro}")
        elif f["type"] != ["null", avro] or "default" not in f or f["default"] is not None:
            wrong.append(f"{name}: {f} is not ['null', {avro}] default null")
    assert not wrong, "\n".join(wrong)


def test_snapshot_reads_every_type_as_the_stream_does(case):
    """The same stored values, once read by the snapshot (op r) and once
    streamed from the binlog (op c), give identical Avro fields under the
    same registered schema."""
    ddl = ",\n  ".join(f"`{n}` {t}" for n, t, _, _ in COLS)
    case.sql(f"CREATE TABLE alltypes (\n  {ddl}\n) CHARACTER SET utf8mb4")
    case.sql("SET SESSION sql_mode = ''")
    case.sql("SET SESSION time_zone = '+00:00'")
    for rid, values in ROWS.items():
        case.sql(f"INSERT INTO alltypes VALUES ({values})")
    src = case.source(case.write_config(snapshot="initial", extra_source="snapshot_chunk_rows = 2"))
    src.env = {"TZ": "Asia/Kolkata"}
    src.start().wait_streaming()
    topic = case.topic("alltypes")
    wait_for_count(topic, len(ROWS), 60, src)
    # The same values again, under other keys, through the binlog.
    for rid, values in ROWS.items():
        first, rest = values.split(",", 1)
        assert int(first) == rid
        case.sql(f"INSERT INTO alltypes VALUES ({rid + 100},{rest})")
    wait_for_count(topic, 2 * len(ROWS), 60, src)
    records = read_topic(topic)
    read = {r.key["id"]: r for r in records if r.value["op"] == "r"}
    streamed = {r.key["id"] - 100: r for r in records if r.value["op"] == "c"}
    assert sorted(read) == sorted(ROWS) and sorted(streamed) == sorted(ROWS)
    for rid in ROWS:
        r, c = read[rid], streamed[rid]
        assert r.schema_id == c.schema_id, "snapshot and stream must share one schema"
        a, b = dict(r.value["after"]), dict(c.value["after"])
        a.pop("id"), b.pop("id")
        diffs = [f"{k}: snapshot {a[k]!r} != stream {b[k]!r}" for k in a if a[k] != b[k] and not (a[k] != a[k] and b[k] != b[k])]
        assert not diffs, f"row {rid}:\n" + "\n".join(diffs)
        assert r.value["source"]["snapshot"] in ("true", "last")
    assert read[max(ROWS)].value["source"]["snapshot"] == "last"
