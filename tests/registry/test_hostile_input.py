"""Anonymous hostile input gets a 4xx with an X-Error-Code, never a 500; other clients go on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from raw_http import fetch
from web_registry import ThreadedServer

from nnparts.registry import ServerConfig

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
DEEP = b"[" * 100_000 + b"]" * 100_000
DATA = bytes(range(256)) * 4  # 1024 bytes, regular file
HUGE = "9" * 5000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    srv = ThreadedServer(ServerConfig(root=tmp_path_factory.mktemp("hostile"), port=0))
    api = HfApi(endpoint=srv.endpoint, token=False)
    api.create_repo("eve/target")
    ops = [CommitOperationAdd("data.dat", DATA)]
    ops += [CommitOperationAdd(f"dir{i % 50}/sub/f{i}.txt", b"x") for i in range(2000)]
    api.create_commit("eve/target", operations=ops, commit_message="files")
    yield srv
    srv.stop()


def is_wire_error(status: int, headers: object, body: bytes, expected: int) -> None:
    assert status == expected, body[:300]
    assert headers["X-Error-Code"]  # type: ignore[index]
    assert "error" in json.loads(body)


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "/api/repos/create", "application/json"),
        ("DELETE", "/api/repos/delete", "application/json"),
        ("POST", "/api/validate-yaml", "application/json"),
        ("POST", "/api/models/eve/target/preupload/main", "application/json"),
        ("POST", "/api/models/eve/target/commit/main", "application/x-ndjson"),
        ("POST", "/api/models/eve/target/paths-info/main", "application/json"),
        ("POST", "/api/models/eve/target/branch/b1", "application/json"),
        ("POST", "/api/models/eve/target/tag/main", "application/json"),
        ("POST", "/eve/target.git/info/lfs/objects/batch", "application/vnd.git-lfs+json"),
        ("POST", "/eve/target.git/info/lfs/objects/verify", "application/vnd.git-lfs+json"),
        ("POST", "/api/repos/move", "application/json"),
        ("PUT", "/api/models/eve/target/settings", "application/json"),
        ("POST", "/api/models/eve/target/super-squash/main", "application/json"),
        ("POST", "/api/models/eve/target/lfs-files/batch", "application/json"),
        ("POST", "/api/models/eve/target/discussions", "application/json"),
        ("POST", "/api/models/eve/target/discussions/1/comment", "application/json"),
        ("POST", "/api/models/eve/target/discussions/1/merge", "application/json"),
    ],
)
def test_deeply_nested_json_is_a_400(
    server: ThreadedServer, method: str, path: str, content_type: str
) -> None:
    status, headers, body = fetch(
        server.endpoint + path, method=method, data=DEEP, headers={"Content-Type": content_type}
    )
    is_wire_error(status, headers, body, 400)


def get_range(server: ThreadedServer, spec: str) -> tuple[int, object, bytes]:
    return fetch(f"{server.endpoint}/eve/target/resolve/main/data.dat", headers={"Range": spec})


@pytest.mark.parametrize(
    ("spec", "status", "content"),
    [
        (f"bytes=0-{HUGE}", 206, DATA),  # a last position beyond any file is the end
        (f"bytes=-{HUGE}", 206, DATA),  # so is a suffix longer than the file
        ("bytes=10-19", 206, DATA[10:20]),
        ("bytes=-5", 206, DATA[-5:]),
        ("BYTES=1000-", 206, DATA[1000:]),
        ("items=0-5", 200, DATA),  # unknown unit: ignored
        ("bytes=5-2", 200, DATA),  # invalid range: ignored
        ("bytes=abc", 200, DATA),
        ("bytes=0-1,x", 200, DATA),
        (f"bytes={HUGE}9-{HUGE}", 200, DATA),  # last < first: invalid, ignored
        ("bytes=0-1," * 40 + "0-1", 200, DATA),  # too many ranges: ignored
        ("bytes=0-3, 2-9", 206, DATA[0:10]),  # overlapping: coalesced into one
    ],
)
def test_range_follows_rfc_9110(server: ThreadedServer, spec: str, status: int, content: bytes) -> None:
    got_status, headers, body = get_range(server, spec)
    assert (got_status, body) == (status, content)
    assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]


@pytest.mark.parametrize(
    "spec", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}9", "bytes=1024-", "bytes=5000-6000, 2000-"]
)
def test_unsatisfiable_ranges_are_416(server: ThreadedServer, spec: str) -> None:
    status, headers, body = get_range(server, spec)
    is_wire_error(status, headers, body, 416)
    assert headers["Content-Range"] == "bytes */1024"  # type: ignore[index]


def test_multi_range_is_multipart_byteranges(server: ThreadedServer) -> None:
    status, headers, body = get_range(server, "bytes=0-1, 100-103, -2")
    assert status == 206
    content_type = headers["Content-Type"]  # type: ignore[index]
    assert content_type.startswith("multipart/byteranges; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    assert int(headers["Content-Length"]) == len(body)  # type: ignore[index]
    parts = body.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n"
    found = []
    for part in parts[1:-1]:
        head, _, payload = part.strip(b"\r\n").partition(b"\r\n\r\n")
        found.append((head.split(b"Content-Range: ", 1)[1].decode(), payload))
    assert found == [
        ("bytes 0-1/1024", DATA[0:2]),
        ("bytes 100-103/1024", DATA[100:104]),
        ("bytes 1022-1023/1024", DATA[1022:]),
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/api/models?" + urlencode([("filter", f"t{i}") for i in range(1200)]),
        "/api/models?" + urlencode([("filter", "x" * 5000)]),
        f"/api/models/eve/target/commits/main?p={2**70}",
        f"/api/models/eve/target/commits/main?p={HUGE}",
        "/api/models/eve/target/commits/main?p=-1",
        "/api/models/eve/target/commits/main?p=%D9%A3",  # an Arabic-Indic digit is no digit here
        f"/api/models/eve/target/tree/main?cursor={2**70}",
        "/api/models?sort=lastModified&cursor=" + "x" * 5000,
        "/api/models?sort=lastModified&cursor=no-separator",
        "/api/models?sort=" + "x" * 5000,
        "/api/models?" + urlencode([("expand", "sha")] * 100),
        "/api/models?expand=%00",
        f"/api/models/eve/target/discussions?p={2**70}",
        "/api/models/eve/target/discussions?status=" + "x" * 500,
        "/api/models/eve/target/lfs-files?cursor=not-a-sha",
        f"/api/organizations/eve/settings/repositories?cursor={2**70}",
    ],
)
def test_hostile_query_parameters_are_a_400(server: ThreadedServer, path: str) -> None:
    is_wire_error(*fetch(server.endpoint + path), 400)


def test_non_ascii_signature_is_a_403(server: ThreadedServer) -> None:
    query = urlencode({"size": "3", "repo": "model:eve/target", "exp": "99999999999", "sig": "é" * 64})
    status, headers, body = fetch(
        f"{server.endpoint}/api/_lfs/upload/{'ab' * 32}?{query}", method="PUT", data=b"abc"
    )
    is_wire_error(status, headers, body, 403)
    query = urlencode({"size": "٣", "repo": "model:eve/target", "exp": "1", "sig": "a" * 64})
    is_wire_error(
        *fetch(f"{server.endpoint}/api/_lfs/upload/{'ab' * 32}?{query}", method="PUT", data=b"abc"), 403
    )


def test_boolean_sizes_are_refused(server: ThreadedServer) -> None:
    lfs = {"Content-Type": "application/vnd.git-lfs+json"}
    obj = {"oid": "ab" * 32, "size": True}
    batch = json.dumps({"operation": "upload", "objects": [obj]}).encode()
    is_wire_error(
        *fetch(
            f"{server.endpoint}/eve/target.git/info/lfs/objects/batch", method="POST", data=batch, headers=lfs
        ),
        400,
    )
    is_wire_error(
        *fetch(
            f"{server.endpoint}/eve/target.git/info/lfs/objects/verify",
            method="POST",
            data=json.dumps(obj).encode(),
            headers=lfs,
        ),
        400,
    )
    pre = json.dumps({"files": [{"path": "a.bin", "size": True, "sample": ""}]}).encode()
    is_wire_error(
        *fetch(
            f"{server.endpoint}/api/models/eve/target/preupload/main",
            method="POST",
            data=pre,
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    lines = [
        {"key": "header", "value": {"summary": "s"}},
        {"key": "lfsFile", "value": {"path": "a.bin", "algo": "sha256", **obj}},
    ]
    ndjson = b"\n".join(json.dumps(x).encode() for x in lines)
    is_wire_error(
        *fetch(
            f"{server.endpoint}/api/models/eve/target/commit/main",
            method="POST",
            data=ndjson,
            headers={"Content-Type": "application/x-ndjson"},
        ),
        400,
    )


def test_downloads_are_nosniff(server: ThreadedServer) -> None:
    for method in ("GET", "HEAD"):
        status, headers, _ = fetch(f"{server.endpoint}/eve/target/resolve/main/data.dat", method=method)
        assert status == 200
        assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
        assert headers["Content-Type"] == "application/octet-stream"  # type: ignore[index]


def paths_info(server: ThreadedServer, paths: list[str]) -> tuple[int, object, bytes]:
    form = urlencode([("paths", p) for p in paths]).encode()
    return fetch(
        f"{server.endpoint}/api/models/eve/target/paths-info/main",
        method="POST",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_paths_info_is_bounded(server: ThreadedServer) -> None:
    is_wire_error(*paths_info(server, [f"nope/{i}" for i in range(20_000)]), 400)


def test_paths_info_is_linear_and_stalls_no_other_client(server: ThreadedServer) -> None:
    paths = [f"unknown/{i}" for i in range(9_990)] + [
        "data.dat",
        "dir1",
        "dir1/sub",
        "dir7/sub/f7.txt",
        "nope",
    ]
    latencies: list[float] = []
    stop = threading.Event()

    def other_client() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            fetch(f"{server.endpoint}/api/whoami-v2")
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)

    thread = threading.Thread(target=other_client)
    thread.start()
    start = time.perf_counter()
    status, _, body = paths_info(server, paths)
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join()
    assert status == 200
    items = {item["path"]: item for item in json.loads(body)}
    assert sorted(items) == ["data.dat", "dir1", "dir1/sub", "dir7/sub/f7.txt"]
    assert items["dir1"]["type"] == "directory" and items["data.dat"]["size"] == len(DATA)
    assert elapsed < 5.0, f"paths-info took {elapsed:.2f}s"
    assert latencies and max(latencies) < 1.0, f"another client waited {max(latencies):.2f}s"
