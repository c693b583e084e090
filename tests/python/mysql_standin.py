"""A MySQL-protocol stand-in that answers binlake's queries as MySQL 8.0,
8.4 (or 5.7, to be refused) answer them, for tests on a machine where no
MySQL server can be installed.

It is a simulation, not MySQL: the wire protocol, the handshake and the
prepared statements come from mysql-mimic (a Python implementation of the
server side of the protocol); the answers are written here from MySQL's
reference manual, per version:

- `SELECT VERSION()`, `SELECT @@[GLOBAL.]name` (error 1193 for a variable the
  version does not have), `SHOW GLOBAL VARIABLES WHERE Variable_name IN (...)`
  and `... LIKE '...'`;
- `SHOW MASTER STATUS` (5 columns up to 8.3; error 1064 on 8.4+, which
  removed it), `SHOW BINARY LOG STATUS` (8.2+; error 1064 before),
  `SHOW BINARY LOGS` (3 columns since 8.0.14, 2 before);
  `Executed_Gtid_Set` and `@@GLOBAL.gtid_executed` wrapped over lines as
  MySQL prints them;
- `SHOW GRANTS`, and information_schema TABLES, COLUMNS, KEY_COLUMN_USAGE and
  CHECK_CONSTRAINTS queries over a small table model;
- `SET`, transaction statements: OK.

It has no binlog: COM_REGISTER_SLAVE / COM_BINLOG_DUMP[_GTID] get mysql-mimic's
"Unsupported Command" error, and no table holds rows. Authentication is
mysql_native_password only (8.4's default caching_sha2_password is not
simulated). Every statement is recorded in `statements`; those it does not
model are answered with an error and recorded in `unknown`, so a test sees
what binlake sent that the stand-in cannot vouch for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from mysql_mimic import MysqlServer, ResultColumn, Session, packets
from mysql_mimic.connection import Connection
from mysql_mimic.auth import IdentityProvider, NativePasswordAuthPlugin, User
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.types import ColumnType
from mysql_mimic.variables import SYSTEM_VARIABLES, GlobalVariables, SessionVariables

# mysql-mimic logs every error it sends; the stand-in records statements itself.
logging.getLogger("mysql_mimic").setLevel(logging.CRITICAL)

SERVER_UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
OTHER_UUID = "4e11fa47-71ca-11e1-9e33-c80aa9429562"

# Errors as the real server sends them.
ER_PARSE_ERROR = ErrorCode.PARSE_ERROR  # 1064
ER_UNKNOWN_SYSTEM_VARIABLE = ErrorCode.UNKNOWN_SYSTEM_VARIABLE  # 1193


def version_tuple(version: str) -> tuple[int, int, int]:
    nums = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    assert nums, version
    return tuple(int(n) for n in nums.groups())  # type: ignore[return-value]


def syntax_error(near: str) -> MysqlError:
    return MysqlError(
        "You have an error in your SQL syntax; check the manual that corresponds to your "
        f"MySQL server version for the right syntax to use near '{near}' at line 1",
        ER_PARSE_ERROR,
    )


@dataclass
class Column:
    name: str
    data_type: str
    column_type: str
    nullable: bool = True
    key: bool = False


@dataclass
class Profile:
    """What one simulated server holds; tests change it between statements."""

    version: str
    variables: dict[str, Any]
    binlogs: list[tuple[str, int]]
    gtid_executed: str
    tables: dict[tuple[str, str], list[Column]] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)

    @property
    def v(self) -> tuple[int, int, int]:
        return version_tuple(self.version)

    def status_row(self) -> tuple[list, list]:
        file, size = self.binlogs[-1]
        cols = [text_col("File"), int_col("Position"), text_col("Binlog_Do_DB"),
                text_col("Binlog_Ignore_DB"), text_col("Executed_Gtid_Set")]
        return [[file, size, "", "", self.gtid_text()]], cols

    def gtid_text(self) -> str:
        # MySQL separates the UUIDs of a GTID set with ",\n".
        return self.gtid_executed.replace(",", ",\n")


def mysql_profile(version: str = "8.4.3", user: str = "cdc", **variables: Any) -> Profile:
    """A MySQL server configured as binlake needs, one table `shop.orders`;
    `variables` override or (value None) remove settings."""
    v = version_tuple(version)
    base: dict[str, Any] = {
        "log_bin": "ON",
        "binlog_format": "ROW",
        "binlog_row_image": "FULL",
        "binlog_checksum": "CRC32",
        "gtid_mode": "ON",
        "enforce_gtid_consistency": "ON",
        "binlog_expire_logs_seconds": 2592000,
        "gtid_executed": "",  # read from the profile's gtid_executed
        "server_id": 1,
        "server_uuid": SERVER_UUID,
        "log_bin_basename": "/var/lib/mysql/binlog",
        "max_allowed_packet": 67108864,
        "wait_timeout": 28800,
        "time_zone": "SYSTEM",
        "version": version,
        "version_comment": "MySQL Community Server - GPL",
    }
    if v >= (8, 0, 1):
        base["binlog_row_metadata"] = "FULL"  # the server default is MINIMAL
    if v >= (8, 0, 3):
        base["binlog_row_value_options"] = ""
    if v >= (8, 0, 20):
        base["binlog_transaction_compression"] = "OFF"
    for name, value in variables.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return Profile(
        version=version,
        variables=base,
        binlogs=[("binlog.000001", 180), ("binlog.000002", 4711)],
        gtid_executed=f"{SERVER_UUID}:1-27,{OTHER_UUID}:1-5",
        tables={
            ("shop", "orders"): [
                Column("id", "bigint", "bigint unsigned", nullable=False, key=True),
                Column("note", "varchar", "varchar(40)"),
            ]
        },
        grants=[
            f"GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `{user}`@`%`",
        ],
    )


def text_col(name: str) -> ResultColumn:
    return ResultColumn(name, ColumnType.VAR_STRING)


def int_col(name: str) -> ResultColumn:
    return ResultColumn(name, ColumnType.LONGLONG)


def columns_for(names: list[str], rows: list[list]) -> list[ResultColumn]:
    """Integer columns as LONGLONG, the rest as strings."""
    cols = []
    for i, n in enumerate(names):
        values = [r[i] for r in rows if r[i] is not None]
        is_int = values and all(isinstance(v, int) for v in values)
        cols.append(int_col(n) if is_int else text_col(n))
    return cols


class Standin:
    """Runs the stand-in on a free loopback port in a background thread."""

    def __init__(self, profile: Profile, user: str = "cdc", password: str = "cdc-secret"):
        self.profile = profile
        self.user = user
        self.password = password
        self.statements: list[str] = []
        self.unknown: list[str] = []
        self.port = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._server: Optional[MysqlServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle
    def start(self) -> "Standin":
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_quiet_disconnects)
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = MysqlServer(
                    session_factory=lambda: StandinSession(self),
                    identity_provider=_Identity(self.user, self.password),
                )
                loop.run_until_complete(self._server.start_server(host="127.0.0.1", port=0))
                self.port = self._server.sockets()[0].getsockname()[1]
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            # Close the listener and every client connection still open.
            self._server.close()
            loop.set_exception_handler(lambda _loop, _ctx: None)  # cancelled clients
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in tasks:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="mysql-standin", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        assert self.port, "the stand-in did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "Standin":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- queries
    def answer(self, sql: str) -> Any:
        stmt = " ".join(sql.strip().rstrip(";").split())
        self.statements.append(stmt)
        p = self.profile
        up = stmt.upper()
        v = p.v

        if up in ("SELECT VERSION()", "SELECT @@VERSION"):
            return [[p.version]], [text_col("VERSION()")]
        if up.startswith("SET ") or up in ("START TRANSACTION", "BEGIN", "COMMIT", "ROLLBACK"):
            return None
        if up.startswith("START TRANSACTION") or up.startswith("SET TRANSACTION"):
            return None
        m = re.fullmatch(r"SELECT (@@\S+(?:\s*,\s*@@\S+)*)", stmt, re.I)
        if m:
            names = [n.strip() for n in m.group(1).split(",")]
            row = [self.variable(n) for n in names]
            return [row], columns_for(names, [row])
        if up == "SHOW MASTER STATUS":
            if v >= (8, 4, 0):
                raise syntax_error("MASTER STATUS")
            return p.status_row()
        if up == "SHOW BINARY LOG STATUS":
            if v < (8, 2, 0):
                raise syntax_error("LOG STATUS")
            return p.status_row()
        if up in ("SHOW BINARY LOGS", "SHOW MASTER LOGS"):
            if up == "SHOW MASTER LOGS" and v >= (8, 4, 0):
                raise syntax_error("MASTER LOGS")
            if v >= (8, 0, 14):
                rows = [[f, s, "No"] for f, s in p.binlogs]
                return rows, [text_col("Log_name"), int_col("File_size"), text_col("Encrypted")]
            return [[f, s] for f, s in p.binlogs], [text_col("Log_name"), int_col("File_size")]
        m = re.fullmatch(r"SHOW (?:GLOBAL )?VARIABLES WHERE Variable_name IN \((.*)\)", stmt, re.I)
        if m:
            wanted = [w.lower() for w in re.findall(r"'([^']*)'", m.group(1))]
            rows = [[n, self.show_value(p.variables[n])] for n in wanted if n in p.variables]
            return rows, [text_col("Variable_name"), text_col("Value")]
        m = re.fullmatch(r"SHOW (?:GLOBAL )?VARIABLES LIKE '([^']*)'", stmt, re.I)
        if m:
            pattern = re.compile(
                "^" + re.escape(m.group(1).lower()).replace("%", ".*").replace("_", ".") + "$"
            )
            rows = [[n, self.show_value(val)] for n, val in sorted(p.variables.items()) if pattern.match(n)]
            return rows, [text_col("Variable_name"), text_col("Value")]
        if up == "SHOW GRANTS":
            return [[g] for g in p.grants], [text_col(f"Grants for {self.user}@%")]
        if "INFORMATION_SCHEMA." in up:
            result = self.information_schema(stmt)
            if result is not None:
                return result
        self.unknown.append(stmt)
        raise MysqlError(f"the MySQL stand-in does not model this statement: {stmt}", ErrorCode.NOT_SUPPORTED_YET)

    def variable(self, ref: str) -> Any:
        name = re.sub(r"^@@(?:global\.|session\.|local\.)?", "", ref, flags=re.I).lower()
        if name not in self.profile.variables:
            raise MysqlError(f"Unknown system variable '{name}'", ER_UNKNOWN_SYSTEM_VARIABLE)
        if name == "gtid_executed":
            return self.profile.gtid_text()
        return self.profile.variables[name]

    @staticmethod
    def show_value(value: Any) -> str:
        return str(value)

    def information_schema(self, stmt: str) -> Any:
        m = re.fullmatch(
            r"SELECT (?P<cols>.+?) FROM information_schema\.(?P<table>\w+)"
            r"(?: WHERE (?P<where>.+?))?(?: ORDER BY .+)?",
            stmt,
            re.I,
        )
        if not m:
            return None
        names = [c.strip() for c in m.group("cols").split(",")]
        table = m.group("table").upper()
        rows = self.info_rows(table)
        if rows is None:
            return None
        for col, value in re.findall(r"(\w+) = '([^']*)'", m.group("where") or ""):
            rows = [r for r in rows if str(r.get(col.upper())) == value]
        try:
            out = [[r[n.upper()] for n in names] for r in rows]
        except KeyError:
            return None
        return out, columns_for(names, out)

    def info_rows(self, table: str) -> Optional[list[dict]]:
        rows: list[dict] = []
        for (db, name), columns in sorted(self.profile.tables.items()):
            if table == "TABLES":
                rows.append({
                    "TABLE_SCHEMA": db, "TABLE_NAME": name, "TABLE_TYPE": "BASE TABLE",
                    "TABLE_ROWS": 0,  # the stand-in holds no rows
                })
                continue
            for i, c in enumerate(columns, 1):
                if table == "COLUMNS":
                    numeric = c.data_type in ("tinyint", "smallint", "int", "bigint", "decimal")
                    rows.append({
                        "TABLE_SCHEMA": db, "TABLE_NAME": name, "COLUMN_NAME": c.name,
                        "ORDINAL_POSITION": i, "DATA_TYPE": c.data_type, "COLUMN_TYPE": c.column_type,
                        "IS_NULLABLE": "YES" if c.nullable else "NO",
                        "NUMERIC_PRECISION": 20 if numeric else None,
                        "NUMERIC_SCALE": 0 if numeric else None,
                        "COLUMN_KEY": "PRI" if c.key else "",
                        "COLUMN_DEFAULT": None, "EXTRA": "",
                        "CHARACTER_MAXIMUM_LENGTH": None if numeric else 40,
                        "CHARACTER_SET_NAME": None if numeric else "utf8mb4",
                        "COLLATION_NAME": None if numeric else "utf8mb4_0900_ai_ci",
                        "DATETIME_PRECISION": None,
                    })
                elif table == "KEY_COLUMN_USAGE" and c.key:
                    rows.append({
                        "TABLE_SCHEMA": db, "TABLE_NAME": name, "COLUMN_NAME": c.name,
                        "CONSTRAINT_NAME": "PRIMARY", "ORDINAL_POSITION": i,
                    })
        if table == "CHECK_CONSTRAINTS":
            return []
        if table not in ("TABLES", "COLUMNS", "KEY_COLUMN_USAGE"):
            return None
        return rows


def _prepare_response(self: Connection, statement: Any) -> Iterator[bytes]:
    """COM_STMT_PREPARE's answer as MySQL sends it: mysql-mimic 3.0 ends the
    parameter definitions with an EOF packet even when the client asked for
    CLIENT_DEPRECATE_EOF, which desynchronises mysql_async (the next command
    reads that EOF as its answer)."""
    yield packets.make_com_stmt_prepare_ok(statement)
    for _ in range(statement.num_params):
        yield packets.make_column_definition_41(server_charset=self.server_charset, name="?")
    if statement.num_params and not self.deprecate_eof():
        yield self.eof()


Connection.com_stmt_prepare_response = _prepare_response  # type: ignore[method-assign]


def _quiet_disconnects(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A client that hangs up mid-answer is normal here, not an error."""
    if isinstance(context.get("exception"), (ConnectionError, BrokenPipeError)):
        return
    loop.default_exception_handler(context)


class StandinSession(Session):
    """Answers every statement from the stand-in's profile, bypassing
    mysql-mimic's own SQL handling."""

    def __init__(self, standin: Standin):
        schema = dict(SYSTEM_VARIABLES)
        schema["version"] = (str, standin.profile.version, False)
        schema["version_comment"] = (str, "MySQL Community Server - GPL", False)
        super().__init__(SessionVariables(GlobalVariables(schema)))
        self.standin = standin

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> Any:
        return self.standin.answer(sql)


class _Identity(IdentityProvider):
    def __init__(self, user: str, password: str):
        self.user = user
        self.auth_string = NativePasswordAuthPlugin.create_auth_string(password)

    async def get_user(self, username: str) -> Optional[User]:
        if username != self.user:
            return None
        return User(name=username, auth_string=self.auth_string, auth_plugin=NativePasswordAuthPlugin.name)


if __name__ == "__main__":  # a quick manual run: python3 mysql_standin.py [VERSION]
    import sys
    import time

    s = Standin(mysql_profile(sys.argv[1] if len(sys.argv) > 1 else "8.4.3")).start()
    print(f"MySQL stand-in {s.profile.version} on 127.0.0.1:{s.port} (user cdc, password cdc-secret)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        s.stop()
