"""A real ``nnparts serve`` process with the real huggingface_hub client: concurrency, crash
safety, the auth matrix and hostile requests."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from raw_http import fetch

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
Factory = Callable[..., Any]


def assert_wire_error(status: int, headers: Message, body: bytes, expected: int) -> None:
    assert status == expected
    assert headers["X-Error-Code"]
    assert "error" in json.loads(body)


def test_cli_serves_and_reports_port(serve_factory: Factory, tmp_path: Path) -> None:
    server = serve_factory()
    port = urlparse(server.endpoint).port
    assert port and port > 0
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("alice/cli")
    api.upload_file(path_or_fileobj=b"x" * 10, path_in_repo="f.bin", repo_id="alice/cli")
    path = hf_hub_download(
        "alice/cli", "f.bin", endpoint=server.endpoint, token=False, cache_dir=tmp_path / "c"
    )
    assert Path(path).read_bytes() == b"x" * 10


def test_eight_concurrent_publishers(serve_factory: Factory) -> None:
    server = serve_factory()
    HfApi(endpoint=server.endpoint, token=False).create_repo("org/index", repo_type="dataset")
    conflicts: list[int] = []
    failures: list[BaseException] = []

    def publish(i: int) -> None:
        api = HfApi(endpoint=server.endpoint, token=False)
        for _ in range(50):
            head = api.dataset_info("org/index").sha
            try:
                api.create_commit(
                    "org/index",
                    repo_type="dataset",
                    operations=[CommitOperationAdd(f"entries/{i}.json", json.dumps({"i": i}).encode())],
                    commit_message=f"entry {i}",
                    parent_commit=head,
                )
                return
            except HfHubHTTPError as err:
                if err.response.status_code != 412:
                    failures.append(err)
                    return
                conflicts.append(i)
        failures.append(RuntimeError(f"publisher {i} never won"))

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    api = HfApi(endpoint=server.endpoint, token=False)
    files = api.list_repo_files("org/index", repo_type="dataset")
    assert sorted(files) == sorted([".gitattributes", *(f"entries/{i}.json" for i in range(8))])
    assert len(api.list_repo_commits("org/index", repo_type="dataset")) == 9  # + initial commit


def _start_partial_upload(endpoint: str, path: str, declared: int, headers: dict[str, str]) -> Any:
    """Send headers and the first MiB of a body announced as ``declared`` bytes; leave it open."""
    parsed = urlparse(endpoint)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.putrequest("POST" if "commit" in path else "PUT", path)
    for name, value in {**headers, "Content-Length": str(declared)}.items():
        conn.putheader(name, value)
    conn.endheaders()
    return conn


def test_kill_mid_commit_and_restart(serve_factory: Factory, tmp_path: Path) -> None:
    root = tmp_path / "crash-root"
    server = serve_factory("--lfs-threshold-bytes", "1000", root=root)
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("alice/crash")
    done = api.create_commit(
        "alice/crash",
        operations=[CommitOperationAdd("kept.txt", b"kept"), CommitOperationAdd("w.bin", os.urandom(4000))],
        commit_message="before the crash",
    )
    # 1) A regular-mode commit whose NDJSON body is cut by the crash.
    header = json.dumps({"key": "header", "value": {"summary": "doomed", "parentCommit": done.oid}})
    first = header.encode() + b'\n{"key": "file", "value": {"path": "lost.txt", "content": "'
    conn = _start_partial_upload(
        server.endpoint,
        "/api/models/alice/crash/commit/main",
        20 * 1024 * 1024,
        {"Content-Type": "application/x-ndjson"},
    )
    conn.send(first + b"QUFB" * (256 * 1024))
    # 2) An LFS PUT cut by the crash.
    batch = fetch(
        f"{server.endpoint}/alice/crash.git/info/lfs/objects/batch",
        method="POST",
        data=json.dumps({"operation": "upload", "objects": [{"oid": "ab" * 32, "size": 5_000_000}]}).encode(),
        headers={"Content-Type": "application/vnd.git-lfs+json"},
    )
    href = json.loads(batch[2])["objects"][0]["actions"]["upload"]["href"]
    put = _start_partial_upload(server.endpoint, href[len(server.endpoint) :], 5_000_000, {})
    put.send(b"\0" * (1024 * 1024))
    time.sleep(0.3)
    server.kill()
    conn.close()
    put.close()
    restarted = serve_factory("--lfs-threshold-bytes", "1000", root=root)
    api = HfApi(endpoint=restarted.endpoint, token=False)
    assert api.model_info("alice/crash").sha == done.oid
    assert sorted(api.list_repo_files("alice/crash")) == [".gitattributes", "kept.txt", "w.bin"]
    assert api.list_repo_commits("alice/crash")[0].title == "before the crash"
    assert list((root / "tmp").iterdir()) == []  # partial blobs cleaned on start
    assert not (root / "blobs" / "ab" / "ab" / ("ab" * 32)).exists()
    cached = hf_hub_download(
        "alice/crash", "kept.txt", endpoint=restarted.endpoint, token=False, cache_dir=tmp_path / "c"
    )
    assert Path(cached).read_bytes() == b"kept"


def test_auth_matrix(serve_factory: Factory, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {"token": "tok-alice", "user": "alice", "scopes": {"alice": "write"}},
                    {"token": "tok-bob", "user": "bob", "scopes": {"bob": "write", "*": "read"}},
                    {"token": "tok-carol", "user": "carol", "scopes": {"alice": "read"}},
                ]
            }
        )
    )
    server = serve_factory("--tokens", str(tokens))
    ep = server.endpoint
    alice = HfApi(endpoint=ep, token="tok-alice")
    bob = HfApi(endpoint=ep, token="tok-bob")
    carol = HfApi(endpoint=ep, token="tok-carol")
    anon = HfApi(endpoint=ep, token=False)
    alice.create_repo("alice/pub")
    alice.upload_file(path_or_fileobj=b"public", path_in_repo="p.txt", repo_id="alice/pub")
    alice.create_repo("alice/secret", private=True)
    alice.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id="alice/secret")
    # anonymous read of a public repo works
    path = hf_hub_download("alice/pub", "p.txt", endpoint=ep, token=False, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == b"public"
    # anonymous write -> 401
    for call in (
        lambda: anon.create_repo("alice/other"),
        lambda: anon.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id="alice/pub"),
    ):
        with pytest.raises(HfHubHTTPError) as err:
            call()
        assert err.value.response.status_code == 401
        assert err.value.response.headers["X-Error-Code"] == "Unauthenticated"
    # token for another namespace -> 403
    with pytest.raises(HfHubHTTPError) as err:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id="alice/pub")
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as err:
        carol.create_repo("alice/carols")  # read scope is not enough
    assert err.value.response.status_code == 403
    # a private repo is hidden without read scope on its namespace
    with pytest.raises(RepositoryNotFoundError):
        anon.model_info("alice/secret")
    status, headers, _ = fetch(f"{ep}/alice/secret/resolve/main/s.txt")
    assert status == 404 and headers["X-Error-Code"] == "RepoNotFound"
    assert "alice/secret" not in [m.id for m in anon.list_models(author="alice")]
    assert "alice/secret" in [m.id for m in alice.list_models(author="alice")]
    assert "alice/secret" in [m.id for m in bob.list_models(author="alice")]  # "*": read
    assert carol.model_info("alice/secret").private is True
    # an unknown token is refused
    status, headers, _ = fetch(f"{ep}/api/models/alice/pub", headers={"Authorization": "Bearer nope"})
    assert status == 401
    assert anon.model_info("alice/pub").sha is not None


def test_hostile_requests_get_4xx_and_server_survives(serve_factory: Factory) -> None:
    server = serve_factory("--max-commit-mb", "1", "--max-body-mb", "1", "--lfs-threshold-bytes", "100")
    ep = server.endpoint
    api = HfApi(endpoint=ep, token=False)
    api.create_repo("alice/target")
    commit_url = f"{ep}/api/models/alice/target/commit/main"
    ndjson = {"Content-Type": "application/x-ndjson"}
    header = b'{"key": "header", "value": {"summary": "x"}}\n'
    cases = [
        (commit_url, b"{not json\n", 400),
        (commit_url, header + b'{"key": "file", "value": "nope"}\n', 400),
        (commit_url, b'{"key": "file", "value": {"path": "a", "content": ""}}\n', 400),
        (commit_url, header + b'{"key": "mystery", "value": {}}\n', 400),
        (commit_url, header + b'{"key": "file", "value": {"path": "../etc/passwd", "content": "eA=="}}\n', 400),
        (commit_url, header + b'{"key": "file", "value": {"path": "/abs", "content": "eA=="}}\n', 400),
        (commit_url, header + b'{"key": "file", "value": {"path": "a\\\\b", "content": "eA=="}}\n', 400),
        (commit_url, header + b'{"key": "file", "value": {"path": "ok", "content": "!!"}}\n', 400),
        (commit_url, header + b'{"key": "lfsFile", "value": {"path": "w", "algo": "sha256", "oid": "'
         + b"c" * 64 + b'", "size": 3}}\n', 422),
        (f"{ep}/api/repos/create", b'{"name": "../x", "organization": "alice"}', 400),
        (f"{ep}/api/repos/create", b"[1, 2]", 400),
        (f"{ep}/api/models/alice/target/preupload/main", b'{"files": [{"path": "a/../b", "size": 1}]}', 400),
    ]  # fmt: skip
    for url, body, expected in cases:
        status, headers, reply = fetch(url, method="POST", data=body, headers=ndjson)
        assert_wire_error(status, headers, reply, expected)
    status, headers, reply = _post_oversize(commit_url, header + b"A" * (2 * 1024 * 1024))
    assert_wire_error(status, headers, reply, 413)
    for path in ("/alice/target/resolve/main/../../etc/passwd", "/alice/target/resolve/main/a%5Cb"):
        status, headers, reply = fetch(ep + path)
        assert_wire_error(status, headers, reply, 400)
    status, headers, reply = fetch(f"{ep}/api/models/alice/..%2F..%2Fx")
    assert_wire_error(status, headers, reply, 400)
    batch = json.dumps({"operation": "upload", "objects": [{"oid": "d" * 64, "size": 5 * 1024 * 1024}]})
    status, _, reply = fetch(
        f"{ep}/alice/target.git/info/lfs/objects/batch", method="POST", data=batch.encode()
    )
    assert status == 200 and json.loads(reply)["objects"][0]["error"]["code"] == 413
    status, headers, reply = fetch(
        f"{ep}/api/_lfs/upload/{'e' * 64}?size=1&repo=x&exp=9999999999&sig=00", method="PUT", data=b"x"
    )
    assert_wire_error(status, headers, reply, 403)
    # still serving, nothing was committed
    info = api.model_info("alice/target")
    assert [c.title for c in api.list_repo_commits("alice/target")] == ["initial commit"]
    api.upload_file(path_or_fileobj=b"fine", path_in_repo="ok.txt", repo_id="alice/target")
    assert api.model_info("alice/target").sha != info.sha


def _post_oversize(url: str, body: bytes) -> tuple[int, Message, bytes]:
    """POST a body the server refuses part-way: it may answer 413 and close while we still send, so
    a broken pipe on our side is expected; the answer is read from what the server sent."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Type", "application/x-ndjson")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            for start in range(0, len(body), 64 * 1024):
                conn.send(body[start : start + 64 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        return resp.status, resp.msg, resp.read()
    finally:
        conn.close()
