"""Fixtures: isolated Hub client environment and real ``nnparts serve`` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hf_env import isolate_hf

READY = "nnparts registry listening on http://"


@pytest.fixture(autouse=True)
def isolated_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, no Xet, no token, a private HF_HOME for every test."""
    isolate_hf(tmp_path, monkeypatch)


class ServeProcess:
    """``nnparts serve --port 0`` in a subprocess; ``endpoint`` is known once it printed READY."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self, timeout: float = 20.0) -> ServeProcess:
        cmd = [sys.executable, "-c", "from nnparts.client.cli import main; main()", "serve"]
        cmd += ["--root", str(self.root), "--port", "0", *self.args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(READY):
                self.endpoint = line.strip().split(" on ", 1)[1]
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"nnparts serve did not start: {cmd}")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start servers with extra CLI args (root defaults to a fresh folder); all stop at teardown."""
    started: list[ServeProcess] = []

    def start(*args: str, root: Path | None = None) -> ServeProcess:
        server = ServeProcess(root or tmp_path / f"root{len(started)}", *args).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
