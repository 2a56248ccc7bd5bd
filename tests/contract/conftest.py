"""Fixtures: an isolated Hub client environment and an in-process registry (uvicorn in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from hf_env import isolate_hf

from nnparts.registry import ServerConfig, create_app


@pytest.fixture(autouse=True)
def isolated_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, no Xet, no token, a private HF_HOME for every test."""
    isolate_hf(tmp_path, monkeypatch)


class ThreadedServer:
    """``create_app(config)`` served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, config: ServerConfig) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.app = create_app(config)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("in-process registry did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """An open registry: LFS above 1 KB, pages of 5 items (to exercise ``Link`` pagination)."""
    config = ServerConfig(
        root=tmp_path_factory.mktemp("registry"), port=0, lfs_threshold_bytes=1024, page_size=5
    )
    server = ThreadedServer(config)
    yield server
    server.stop()
