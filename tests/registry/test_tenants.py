"""Tenant isolation of blobs and refs, with the real huggingface_hub client and raw HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationCopy, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from raw_http import fetch
from web_registry import ThreadedServer, token_server

from nnparts.registry.blobstore import BlobStore

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
TOKENS = {
    "tokens": [
        {"token": "alice-token", "user": "alice", "scopes": {"alice": "write"}},
        {"token": "bob-token", "user": "bob", "scopes": {"bob": "write", "*": "read"}},
    ]
}
LFS = {"Content-Type": "application/vnd.git-lfs+json"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = token_server(tmp_path, TOKENS, lfs_threshold_bytes=100)
    yield srv
    srv.stop()


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def lfs_call(srv: ThreadedServer, repo: str, what: str, body: object, token: str) -> tuple[int, dict]:
    status, _, raw = fetch(
        f"{srv.endpoint}/{repo}.git/info/lfs/objects/{what}",
        method="POST",
        data=json.dumps(body).encode(),
        headers=auth(token, **LFS),
    )
    return status, json.loads(raw)


def raw_commit(srv: ThreadedServer, repo: str, token: str, *lines: dict) -> tuple[int, dict]:
    header = {"key": "header", "value": {"summary": "s"}}
    body = b"\n".join(json.dumps(x).encode() for x in (header, *lines))
    status, headers, raw = fetch(
        f"{srv.endpoint}/api/models/{repo}/commit/main",
        method="POST",
        data=body,
        headers=auth(token, **{"Content-Type": "application/x-ndjson"}),
    )
    return status, {"code": headers["X-Error-Code"], **json.loads(raw)}


def test_a_known_sha256_does_not_give_access_to_another_tenants_blob(server: ThreadedServer) -> None:
    secret = os.urandom(5000)
    oid, size = hashlib.sha256(secret).hexdigest(), len(secret)
    alice = HfApi(endpoint=server.endpoint, token="alice-token")
    alice.create_repo("alice/secret", private=True)
    alice.upload_file(path_or_fileobj=secret, path_in_repo="w.bin", repo_id="alice/secret")
    siblings = alice.model_info("alice/secret", files_metadata=True).siblings
    assert next(s for s in siblings if s.rfilename == "w.bin").lfs.sha256 == oid
    bob = HfApi(endpoint=server.endpoint, token="bob-token")
    bob.create_repo("bob/pub")
    obj = {"oid": oid, "size": size}
    # batch answers for bob's repo alone: the object is "missing", with an upload action
    status, body = lfs_call(
        server, "bob/pub", "batch", {"operation": "upload", "objects": [obj]}, "bob-token"
    )
    assert status == 200 and "upload" in body["objects"][0]["actions"]
    status, body = lfs_call(server, "bob/pub", "verify", obj, "bob-token")
    assert status == 404
    status, body = raw_commit(
        server,
        "bob/pub",
        "bob-token",
        {"key": "lfsFile", "value": {"path": "stolen.bin", "algo": "sha256", **obj}},
    )
    assert (status, body["code"]) == (422, "LfsObjectMissing")
    assert "stolen.bin" not in bob.list_repo_files("bob/pub")
    # alice's own repo still sees it; a copy inside her repo works without re-uploading
    status, _ = lfs_call(server, "alice/secret", "verify", obj, "alice-token")
    assert status == 200
    alice.create_commit(
        "alice/secret",
        operations=[CommitOperationCopy(src_path_in_repo="w.bin", path_in_repo="copy.bin")],
        commit_message="copy",
    )
    copy = hf_hub_download("alice/secret", "copy.bin", endpoint=server.endpoint, token="alice-token")
    assert Path(copy).read_bytes() == secret
    # deleting the repo removes the blob itself: nothing else references it
    blob = BlobStore(server.config.root).path(oid)
    assert blob.is_file()
    alice.delete_repo("alice/secret")
    assert not blob.exists()


def test_the_bytes_themselves_grant_the_blob(server: ThreadedServer) -> None:
    data = os.urandom(3000)
    alice = HfApi(endpoint=server.endpoint, token="alice-token")
    alice.create_repo("alice/a")
    alice.upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id="alice/a")
    bob = HfApi(endpoint=server.endpoint, token="bob-token")
    bob.create_repo("bob/b")
    bob.upload_file(path_or_fileobj=data, path_in_repo="same.bin", repo_id="bob/b")  # uploads the bytes
    path = hf_hub_download("bob/b", "same.bin", endpoint=server.endpoint, token="bob-token")
    assert Path(path).read_bytes() == data
    alice.delete_repo("alice/a")  # bob's copy survives the deletion of alice's repo
    assert BlobStore(server.config.root).path(hashlib.sha256(data).hexdigest()).is_file()
    fresh = hf_hub_download(
        "bob/b", "same.bin", endpoint=server.endpoint, token="bob-token", cache_dir=server.config.root / "c2"
    )
    assert Path(fresh).read_bytes() == data


@pytest.mark.parametrize(
    "name", ["a" * 40, "0123456789ABCDEF0123456789abcdef01234567", "refs/heads/main", "refs/x"]
)
def test_ref_names_that_shadow_shas_or_refs_are_refused(server: ThreadedServer, name: str) -> None:
    alice = HfApi(endpoint=server.endpoint, token="alice-token")
    alice.create_repo("alice/refs", exist_ok=True)
    for create in (alice.create_branch, alice.create_tag):
        with pytest.raises(HfHubHTTPError) as err:
            create("alice/refs", **({"branch": name} if create == alice.create_branch else {"tag": name}))
        assert err.value.response.status_code == 400
        assert err.value.response.headers["X-Error-Code"] == "BadRequest"


def test_a_full_sha_resolves_to_its_commit(server: ThreadedServer) -> None:
    alice = HfApi(endpoint=server.endpoint, token="alice-token")
    alice.create_repo("alice/pin")
    first = alice.upload_file(path_or_fileobj=b"one", path_in_repo="f.txt", repo_id="alice/pin").oid
    alice.upload_file(path_or_fileobj=b"two", path_in_repo="f.txt", repo_id="alice/pin")
    assert alice.model_info("alice/pin", revision=first).sha == first
    path = hf_hub_download(
        "alice/pin", "f.txt", revision=first, endpoint=server.endpoint, token="alice-token"
    )
    assert Path(path).read_bytes() == b"one"
