"""A private MariaDB primary and GTID replica, and a TCP proxy that puts
either behind one address: the setup of a database failover, for tests.

Each server gets its own data directory under the test's tmp_path and a free
loopback port. The replica replicates from the primary by GTID with
`log_slave_updates`, so its binlog holds the primary's GTIDs under its own,
lower-numbered file names, as a promoted replica's does in production.
"""

from __future__ import annotations

import os
import pathlib
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from typing import Optional

import pymysql

from conftest import free_port

ADMIN_PASSWORD = os.environ.get("BINLAKE_ADMIN_PASSWORD", "admin-secret")
CDC_PASSWORD = os.environ.get("BINLAKE_MYSQL_PASSWORD", "cdc-secret")


class MariaServer:
    """One mariadbd with the binlog on (ROW, FULL, FULL) and GTIDs."""

    def __init__(self, root: pathlib.Path, server_id: int):
        self.dir = root / f"mariadb-{server_id}"
        self.server_id = server_id
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None

    def install(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "install.log", "wb") as log:
            subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--user={os.getenv('USER') or 'root'}",
                    f"--datadir={self.dir / 'data'}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )

    def start(self) -> None:
        log = open(self.dir / "mariadbd.log", "ab")
        self.proc = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--user={os.getenv('USER') or 'root'}",
                f"--datadir={self.dir / 'data'}",
                f"--socket={self.dir / 'sock'}",
                f"--pid-file={self.dir / 'pid'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--log-bin=mysql-bin",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL",
                "--log-slave-updates",
                f"--server-id={self.server_id}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--performance-schema=OFF",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mariadbd {self.server_id} exited:\n{(self.dir / 'mariadbd.log').read_text()[-3000:]}")
            try:
                pymysql.connect(unix_socket=str(self.dir / "sock"), user="root", password="").close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        raise AssertionError(f"mariadbd {self.server_id} did not start")

    def root(self) -> pymysql.connections.Connection:
        return pymysql.connect(unix_socket=str(self.dir / "sock"), user="root", password="", autocommit=True)

    def admin(self, db: Optional[str] = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="binlake_admin", password=ADMIN_PASSWORD,
            database=db, autocommit=True, charset="utf8mb4",
        )

    def sql(self, stmt: str, db: Optional[str] = None) -> list[tuple]:
        with self.admin(db) as c, c.cursor() as cur:
            cur.execute(stmt)
            return list(cur.fetchall())

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


class MariaPair:
    """A primary and a GTID replica of it."""

    def __init__(self, root: pathlib.Path, base_id: int = 11):
        self.primary = MariaServer(root, base_id)
        self.replica = MariaServer(root, base_id + 1)

    def start(self) -> "MariaPair":
        for s in (self.primary, self.replica):
            s.install()
            s.start()
        with self.primary.root() as c, c.cursor() as cur:
            for stmt in (
                "DROP USER IF EXISTS ''@'localhost'",
                f"CREATE USER 'binlake_admin'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'",
                "GRANT ALL PRIVILEGES ON *.* TO 'binlake_admin'@'%' WITH GRANT OPTION",
                f"CREATE USER 'cdc'@'%' IDENTIFIED BY '{CDC_PASSWORD}'",
                "GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, RELOAD ON *.* TO 'cdc'@'%'",
            ):
                cur.execute(stmt)
        # The replica reads everything from the primary's first GTID on,
        # users included, as a replica built from an empty start would.
        with self.replica.root() as c, c.cursor() as cur:
            cur.execute("DROP USER IF EXISTS ''@'localhost'")
            cur.execute("RESET MASTER")
            cur.execute("SET GLOBAL gtid_slave_pos = ''")
            cur.execute(
                f"CHANGE MASTER TO master_host='127.0.0.1', master_port={self.primary.port}, "
                f"master_user='binlake_admin', master_password='{ADMIN_PASSWORD}', master_use_gtid=slave_pos"
            )
            cur.execute("START SLAVE")
        self.wait_replica_caught_up()
        return self

    def wait_replica_caught_up(self, timeout: float = 60.0) -> str:
        """Waits until the replica has applied every GTID the primary wrote."""
        deadline = time.monotonic() + timeout
        want = ""
        while time.monotonic() < deadline:
            want = self.primary.sql("SELECT @@GLOBAL.gtid_binlog_pos")[0][0]
            got = self.replica.sql("SELECT @@GLOBAL.gtid_slave_pos")[0][0]
            if want and got == want:
                return want
            status = self.replica.sql("SHOW SLAVE STATUS")
            time.sleep(0.1)
        raise AssertionError(f"replica not caught up with {want} after {timeout}s: {status}")

    def promote_replica(self) -> None:
        with self.replica.root() as c, c.cursor() as cur:
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
            cur.execute("SET GLOBAL read_only = 0")

    def stop(self) -> None:
        for s in (self.primary, self.replica):
            s.stop()
        for s in (self.primary, self.replica):
            shutil.rmtree(s.dir / "data", ignore_errors=True)


class TcpProxy:
    """Forwards a loopback port to a target port; `switch` moves it to
    another target and cuts every open connection, as a virtual IP or a DNS
    change behind a failover does."""

    def __init__(self, target: int):
        self.port = free_port()
        self.target = target
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def switch(self, target: int) -> None:
        with self._lock:
            self.target = target
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        self.switch(self.target)
