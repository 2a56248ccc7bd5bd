"""Downloads go out with ``os.sendfile`` under uvicorn, byte-exact, with keep-alive intact; the
chunked fallback gives the same bytes."""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi, hf_hub_download
from web_registry import ThreadedServer

import nnparts.registry.sendfile as sendfile
from nnparts.registry import ServerConfig

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
DATA = os.urandom(9 * 1024 * 1024 + 7)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = ThreadedServer(ServerConfig(root=tmp_path / "root", port=0))
    api = HfApi(endpoint=srv.endpoint, token=False)
    api.create_repo("big/file")
    api.upload_file(path_or_fileobj=DATA, path_in_repo="w.bin", repo_id="big/file")
    api.upload_file(path_or_fileobj=b"small", path_in_repo="s.txt", repo_id="big/file")
    yield srv
    srv.stop()


def get_twice(server: ThreadedServer) -> list[tuple[int, bytes]]:
    """Two requests on one keep-alive connection: a whole file, then a range of it."""
    host, port = server.endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    out = []
    for headers in ({}, {"Range": "bytes=1000-2000999"}):
        conn.request("GET", "/big/file/resolve/main/w.bin", headers=headers)
        resp = conn.getresponse()
        out.append((resp.status, resp.read()))
    conn.request("GET", "/big/file/resolve/main/s.txt")
    resp = conn.getresponse()
    out.append((resp.status, resp.read()))
    conn.close()
    return out


@pytest.mark.parametrize("fast", [True, False])
def test_downloads_are_byte_exact(
    server: ThreadedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    calls: list[Any] = []
    real = sendfile._h11_sendfile

    def spy(raw_send: Any) -> Any:
        found = real(raw_send) if fast else None
        calls.append(found)
        return found

    monkeypatch.setattr(sendfile, "_h11_sendfile", spy)
    assert get_twice(server) == [(200, DATA), (206, DATA[1000:2001000]), (200, b"small")]
    got = hf_hub_download("big/file", "w.bin", endpoint=server.endpoint, token=False, cache_dir=tmp_path)
    assert hashlib.sha256(Path(got).read_bytes()).digest() == hashlib.sha256(DATA).digest()
    assert len(calls) == 4 and all((c is not None) is fast for c in calls)


def test_a_client_that_hangs_up_mid_download_harms_no_one(server: ThreadedServer) -> None:
    host, port = server.endpoint.removeprefix("http://").split(":")
    for _ in range(3):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", "/big/file/resolve/main/w.bin")
        resp = conn.getresponse()
        assert resp.read(1000) == DATA[:1000]
        conn.sock.close()  # type: ignore[union-attr]
        conn.close()
    assert get_twice(server)[2] == (200, b"small")
