"""Starts `binlake registry` as a real process for the Python client tests.

The binary comes from $BINLAKE_BIN, else $CARGO_TARGET_DIR/debug/binlake
(CARGO_TARGET_DIR defaulting to ~/.cache/binlake/target).
"""

import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest


def binlake_bin() -> pathlib.Path:
    explicit = os.environ.get("BINLAKE_BIN")
    if explicit:
        return pathlib.Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/binlake/target"))
    return pathlib.Path(target) / "debug" / "binlake"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryProcess:
    """One registry process on a fixed port and data dir; restartable."""

    def __init__(self, data_dir: pathlib.Path, log_path: pathlib.Path):
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout: float = 30.0) -> None:
        binary = binlake_bin()
        if not binary.exists():
            pytest.fail(f"registry binary {binary} not found: build it (cargo build) or set BINLAKE_BIN")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(binary), "registry", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"registry exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/subjects", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"registry not ready after {timeout}s:\n{self.log_path.read_text()}")

    def kill(self, sig: int = signal.SIGKILL):
        """Sends `sig` and waits; returns the exit code (None if not running)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(f"registry ignored signal {sig}:\n{self.log_path.read_text()}")
        return proc.returncode


@pytest.fixture
def registry(tmp_path):
    reg = RegistryProcess(tmp_path / "data", tmp_path / "registry.out")
    reg.start()
    try:
        yield reg
    finally:
        reg.kill(signal.SIGTERM)
