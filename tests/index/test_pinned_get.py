"""The verified single-GET download of module files (:mod:`nnparts.index._pinned_get`) against a real
``nnparts serve`` on 127.0.0.1: exact bytes, refusals that leave nothing behind, and a token that never
leaves its origin. The two recording listeners stand for *other hosts* (a foreign server, a redirect
target), which the registry itself never is."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
from fake_package import flip_byte
from hub_server import HubServer
from huggingface_hub import HfApi

from nnparts.index._pinned_get import NotPlain, get_pinned
from nnparts.index.hub import HubIndex
from nnparts.schemas.errors import IntegrityError, NnpartsError, RegistryError
from nnparts.schemas.integrity import sha256_file
from nnparts.schemas.package import read_manifest, verify_package

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),  # the hub's LFS upload
]


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)  # uploads below go by LFS


DATA = os.urandom(3 * 1024 * 1024 + 17)  # several splice steps and an odd tail
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def served(hub_server: HubServer, hub_url: str) -> str:
    """The ``/resolve/`` URL of :data:`DATA` in a repo of this test's own namespace."""
    repo = f"{hub_url.split('#', 1)[1]}/pinned"
    api = HfApi(endpoint=hub_server.endpoint, token=False)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=DATA, path_in_repo="w.bin", repo_id=repo)
    return f"{hub_server.endpoint}/{repo}/resolve/main/w.bin"


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _refused(exc: pytest.ExceptionInfo[NnpartsError], *words: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and all(w in text for w in words), text


def test_exact_bytes(served: str, tmp_path: Path) -> None:
    get_pinned(served, tmp_path / "w.bin", size=len(DATA), sha256=SHA)
    assert (tmp_path / "w.bin").read_bytes() == DATA and _left(tmp_path) == ["w.bin"]
    get_pinned(served, tmp_path / "w.bin", size=len(DATA), sha256=SHA)  # replaces in place
    assert (tmp_path / "w.bin").read_bytes() == DATA


def test_a_tampered_body_is_refused(
    served: str, hub_server: HubServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blob = hub_server.blob_file(SHA)
    flip_byte(blob, 1024 * 1024 + 5)
    request.addfinalizer(lambda: flip_byte(blob, 1024 * 1024 + 5))
    with pytest.raises(IntegrityError) as exc:
        get_pinned(served, tmp_path / "w.bin", size=len(DATA), sha256=SHA, what="zoo/a@1 w.bin")
    _refused(exc, "zoo/a@1 w.bin", "sha256", SHA[:12])
    assert _left(tmp_path) == []


def test_a_short_body_is_refused(
    served: str, hub_server: HubServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blob = hub_server.blob_file(SHA)
    blob.write_bytes(DATA[:-1000])  # the server still declares the recorded size
    request.addfinalizer(lambda: blob.write_bytes(DATA))
    with pytest.raises(IntegrityError) as exc:
        get_pinned(served, tmp_path / "w.bin", size=len(DATA), sha256=SHA)
    _refused(exc, f"ended after {len(DATA) - 1000} of {len(DATA)} bytes")
    assert _left(tmp_path) == []


@pytest.mark.parametrize("pin", [len(DATA) - 1, len(DATA) + 1])
def test_a_length_other_than_the_pin_is_refused_before_reading(served: str, tmp_path: Path, pin: int) -> None:
    with pytest.raises(IntegrityError) as exc:
        get_pinned(served, tmp_path / "w.bin", size=pin, sha256=SHA)
    _refused(exc, f"declares {len(DATA)} bytes, the manifest pins {pin}")
    assert _left(tmp_path) == []


def test_a_file_that_cannot_fit_is_refused_before_reading(served: str, tmp_path: Path) -> None:
    """The temp file's blocks are reserved up front, so a file-size limit (as a full disk) stops the
    download at once, with one line and nothing left behind."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, hard))
    try:
        with pytest.raises(RegistryError) as exc:
            get_pinned(served, tmp_path / "w.bin", size=len(DATA), sha256=SHA, what="zoo/a@1 w.bin")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    _refused(exc, "zoo/a@1 w.bin", f"no room for its {len(DATA)} bytes", "free disk space")
    assert _left(tmp_path) == []


def test_what_is_not_a_plain_answer_is_left_to_the_general_client(served: str, tmp_path: Path) -> None:
    with pytest.raises(NotPlain, match="HTTP 404"):
        get_pinned(served.replace("w.bin", "none.bin"), tmp_path / "w.bin", size=1, sha256=SHA)
    with pytest.raises(NotPlain, match="cannot connect"):
        get_pinned("http://127.0.0.1:1/x", tmp_path / "w.bin", size=1, sha256=SHA)
    assert _left(tmp_path) == []


def test_hub_fetch_takes_module_files_by_the_verified_get(
    hub_url: str, hub_server: HubServer, make_package: Callable[..., Path], tmp_path: Path
) -> None:
    package = make_package(module_id="zoo/pinned", seed=4)
    entry = HubIndex(hub_url, cache_dir=tmp_path / "writer").publish(package)
    reader = HubIndex(hub_url, cache_dir=tmp_path / "reader")
    got = reader.fetch(entry, tmp_path / "out")
    verify_package(got)
    for f in read_manifest(package).files:
        assert (got / f.path).read_bytes() == (package / f.path).read_bytes()
    cached = [p.name for p in reader.cache_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    assert cached and not any(sha256_file(package / f.path) in cached for f in read_manifest(package).files)
    assert not list(tmp_path.glob(".out.*"))


# -- tokens ---------------------------------------------------------------------------------------


class Recorder:
    """Another host: records each request head; answers with ``reply(n)`` (the n-th request)."""

    def __init__(self, reply: Callable[[int], bytes]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.heads: list[str] = []
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while b"\r\n\r\n" not in buf and (data := conn.recv(65536)):
                    buf += data
                self.heads.append(buf.decode("latin-1").lower())
                conn.sendall(self.reply(len(self.heads)))

    def close(self) -> None:
        self.sock.close()


def _ok(body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def _redirect(to: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n".encode()


def _get_x(url: str, dest: Path, *, token: str, token_origin: str) -> None:
    """The one-byte body ``x`` that the recorders answer with."""
    get_pinned(
        url, dest, size=1, sha256=hashlib.sha256(b"x").hexdigest(), token=token, token_origin=token_origin
    )


@pytest.fixture
def recorders() -> Iterator[list[Recorder]]:
    made: list[Recorder] = []
    yield made
    for r in made:
        r.close()


def test_the_token_goes_to_its_own_registry_only(
    hub_env: Path, tmp_path: Path, recorders: list[Recorder]
) -> None:
    tokens = tmp_path / "server-tokens.json"
    rows = [{"token": "np-secret", "user": "w", "scopes": {"*": "write"}}]
    tokens.write_text(json.dumps({"tokens": rows}))
    server = HubServer(tmp_path / "auth-root", "--tokens", str(tokens))
    try:
        api = HfApi(endpoint=server.endpoint, token="np-secret")
        api.create_repo("team/private", private=True)
        api.upload_file(path_or_fileobj=DATA, path_in_repo="w.bin", repo_id="team/private")
        url = f"{server.endpoint}/team/private/resolve/main/w.bin"
        get_pinned(url, tmp_path / "w.bin", size=len(DATA), sha256=SHA, token="np-secret", token_origin=url)
        assert (tmp_path / "w.bin").read_bytes() == DATA
        with pytest.raises(NotPlain, match="HTTP 404"):  # a token of another origin is not sent
            get_pinned(
                url,
                tmp_path / "x",
                size=len(DATA),
                sha256=SHA,
                token="np-secret",
                token_origin="http://a.test",
            )

        foreign = Recorder(lambda n: _ok(b"x"))
        recorders.append(foreign)
        _get_x(f"{foreign.url}/f", tmp_path / "f", token="np-secret", token_origin=server.endpoint)
        assert len(foreign.heads) == 1 and "np-secret" not in foreign.heads[0]
        assert "authorization" not in foreign.heads[0]

        target = Recorder(lambda n: _ok(b"x"))
        recorders.append(target)
        home = Recorder(lambda n: _redirect(f"{target.url}/elsewhere"))
        recorders.append(home)
        with pytest.raises(NotPlain, match="another origin"):
            get_pinned(f"{home.url}/f", tmp_path / "r", size=1, sha256=SHA, token="tk", token_origin=home.url)
        assert target.heads == [] and "authorization: bearer tk" in home.heads[0]

        same = Recorder(lambda n: _redirect("/moved") if n == 1 else _ok(b"x"))
        recorders.append(same)
        _get_x(f"{same.url}/f", tmp_path / "s", token="tk", token_origin=same.url)
        assert [h.split("\r\n", 1)[0] for h in same.heads] == ["get /f http/1.1", "get /moved http/1.1"]
        assert all("authorization: bearer tk" in h for h in same.heads)
        assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".json" and p.is_file()) == [
            "f",
            "s",
            "w.bin",
        ]
    finally:
        server.stop()
