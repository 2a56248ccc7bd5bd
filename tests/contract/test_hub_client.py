"""The unmodified huggingface_hub client against an in-process nnparts registry."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from raw_http import fetch

pytestmark = [
    pytest.mark.network,
    # huggingface_hub 2.4.0 PUTs LFS blobs with httpx2's deprecated ``data=`` (not ours to fix).
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
_ids = itertools.count()

README = b"""---
library_name: nnparts
tags:
- dnn-module
- class:cat   # a comment
- "origin:acme/cnn"
license: apache-2.0
---
# A module
"""


def fresh_repo(api: HfApi, repo_type: str = "model") -> str:
    repo_id = f"ns{next(_ids)}/repo-{next(_ids)}"
    api.create_repo(repo_id, repo_type=repo_type)
    return repo_id


def api_for(hub: Any) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=False)


def test_create_repo_and_exist_ok(hub: Any) -> None:
    api = api_for(hub)
    url = api.create_repo("alice/first")
    assert url == f"{hub.endpoint}/alice/first"
    assert api.create_repo("alice/first", exist_ok=True).repo_id == "alice/first"
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo("alice/first")
    assert err.value.response.status_code == 409
    assert err.value.response.headers["X-Error-Code"] == "AlreadyExists"
    assert api.repo_exists("alice/first") and not api.repo_exists("alice/nope")


def test_upload_download_snapshot(hub: Any, tmp_path: Path) -> None:
    api = api_for(hub)
    repo = fresh_repo(api)
    first = api.upload_file(path_or_fileobj=b"hello", path_in_repo="a/b.txt", repo_id=repo)
    assert len(first.oid) == 40 and first.oid == first.oid.lower()
    big = os.urandom(3000)  # above the 1 KB threshold: goes through the LFS batch API
    second = api.create_commit(
        repo,
        operations=[
            CommitOperationAdd("README.md", README),
            CommitOperationAdd("weights/big.bin", big),
            CommitOperationAdd("c.txt", b"c"),
        ],
        commit_message="three files",
        parent_commit=first.oid,
    )
    assert api.list_repo_files(repo) == [".gitattributes", "README.md", "a/b.txt", "c.txt", "weights/big.bin"]
    cache = tmp_path / "cache"
    path = hf_hub_download(repo, "weights/big.bin", endpoint=hub.endpoint, token=False, cache_dir=cache)
    assert Path(path).read_bytes() == big
    assert f"snapshots/{second.oid}/" in path
    snap = snapshot_download(repo, endpoint=hub.endpoint, token=False, cache_dir=cache)
    assert (Path(snap) / "a" / "b.txt").read_bytes() == b"hello"
    assert sorted(p.name for p in Path(snap).rglob("*") if p.is_file()) == [
        ".gitattributes",
        "README.md",
        "b.txt",
        "big.bin",
        "c.txt",
    ]
    old = hf_hub_download(
        repo, "a/b.txt", revision=first.oid, endpoint=hub.endpoint, token=False, cache_dir=cache
    )
    assert Path(old).read_bytes() == b"hello"
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(repo, "missing.txt", endpoint=hub.endpoint, token=False, cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            repo, "c.txt", revision="nobranch", endpoint=hub.endpoint, token=False, cache_dir=cache
        )
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/none", "c.txt", endpoint=hub.endpoint, token=False, cache_dir=cache)


def test_lfs_tree_info_and_paths_info(hub: Any) -> None:
    api = api_for(hub)
    repo = fresh_repo(api)
    big = os.urandom(5000)
    api.upload_file(path_or_fileobj=big, path_in_repo="m/w.bin", repo_id=repo)
    api.upload_file(path_or_fileobj=b"small", path_in_repo="m/s.txt", repo_id=repo)
    tree = {item.path: item for item in api.list_repo_tree(repo, recursive=True)}
    assert set(tree) == {".gitattributes", "m", "m/w.bin", "m/s.txt"}
    lfs_file = tree["m/w.bin"]
    assert lfs_file.size == 5000 and lfs_file.lfs.sha256 == hashlib.sha256(big).hexdigest()
    assert tree["m/s.txt"].lfs is None
    git = hashlib.sha1(b"blob 5\0small").hexdigest()
    assert tree["m/s.txt"].blob_id == git
    top = [item.path for item in api.list_repo_tree(repo)]
    assert top == ["m", ".gitattributes"]  # folders first
    info = api.model_info(repo, files_metadata=True)
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes == {".gitattributes": sizes[".gitattributes"], "m/w.bin": 5000, "m/s.txt": 5}
    paths = api.get_paths_info(repo, ["m", "m/s.txt", "nope"])
    assert [(type(p).__name__, p.path) for p in paths] == [("RepoFolder", "m"), ("RepoFile", "m/s.txt")]
    # Uploading identical content again is a no-op on the client side (oid from preupload).
    again = api.upload_file(path_or_fileobj=big, path_in_repo="m/w.bin", repo_id=repo)
    assert again.oid == info.sha


def test_branches_tags_commits_refs(hub: Any) -> None:
    api = api_for(hub)
    repo = fresh_repo(api)
    c1 = api.upload_file(path_or_fileobj=b"1", path_in_repo="f.txt", repo_id=repo)
    api.create_branch(repo, branch="dev")
    api.create_tag(repo, tag="v1", tag_message="first")
    with pytest.raises(HfHubHTTPError) as err:
        api.create_branch(repo, branch="dev")
    assert err.value.response.status_code == 409
    c2 = api.upload_file(path_or_fileobj=b"2", path_in_repo="f.txt", repo_id=repo, revision="dev")
    refs = api.list_repo_refs(repo)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": c1.oid, "dev": c2.oid}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": c1.oid}
    commits = api.list_repo_commits(repo, revision="dev")
    assert [c.commit_id for c in commits[:2]] == [c2.oid, c1.oid]
    assert commits[-1].title == "initial commit"
    for rev, content in (("v1", b"1"), ("dev", b"2"), ("main", b"1"), (c2.oid, b"2")):
        assert fetch(f"{hub.endpoint}/{repo}/resolve/{rev}/f.txt")[2] == content
    api.delete_tag(repo, tag="v1")
    api.delete_branch(repo, branch="dev")
    assert [b.name for b in api.list_repo_refs(repo).branches] == ["main"]


def test_delete_operations_and_repo_delete(hub: Any) -> None:
    api = api_for(hub)
    repo = fresh_repo(api)
    api.create_commit(
        repo,
        operations=[CommitOperationAdd(f"d/{i}.txt", str(i).encode()) for i in range(3)]
        + [CommitOperationAdd("keep.txt", b"k")],
        commit_message="add",
    )
    api.create_commit(repo, operations=[CommitOperationDelete("d/")], commit_message="rm folder")
    assert api.list_repo_files(repo) == [".gitattributes", "keep.txt"]
    with pytest.raises(RemoteEntryNotFoundError):
        api.create_commit(repo, operations=[CommitOperationDelete("gone.txt")], commit_message="x")
    api.delete_repo(repo)
    assert not api.repo_exists(repo)


def test_list_models_search_author_filter_pagination(hub: Any) -> None:
    api = api_for(hub)
    for i in range(7):
        repo = f"zoo/cnn-{i}"
        api.create_repo(repo)
        tags = "\n".join(f"- {t}" for t in ("dnn-module", f"class:c{i % 2}"))
        card = f"---\ntags:\n{tags}\n---\n".encode()
        api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo)
    everything = [m.id for m in api.list_models(author="zoo")]  # page size 5: follows Link
    assert everything == [f"zoo/cnn-{i}" for i in range(7)]
    assert [m.id for m in api.list_models(search="CNN-3")] == ["zoo/cnn-3"]
    odd = [m.id for m in api.list_models(filter="class:c1", author="zoo")]
    assert odd == ["zoo/cnn-1", "zoo/cnn-3", "zoo/cnn-5"]
    both = [m.id for m in api.list_models(filter=["class:c0", "dnn-module"], search="zoo/")]
    assert both == ["zoo/cnn-0", "zoo/cnn-2", "zoo/cnn-4", "zoo/cnn-6"]
    assert len(list(api.list_models(author="zoo", limit=2))) == 2
    model = next(iter(api.list_models(search="zoo/cnn-1", full=True)))
    assert model.tags == ["dnn-module", "class:c1"] and model.sha is not None


def test_model_card_data(hub: Any) -> None:
    api = api_for(hub)
    repo = fresh_repo(api)
    api.upload_file(path_or_fileobj=README, path_in_repo="README.md", repo_id=repo)
    info = api.model_info(repo)
    assert info.tags == ["dnn-module", "class:cat", "origin:acme/cnn", "nnparts"]
    assert info.card_data.to_dict()["license"] == "apache-2.0"
    assert info.library_name == "nnparts"
    assert repo in [m.id for m in api.list_models(filter="origin:acme/cnn")]
    assert [m.id for m in api.list_models(filter="origin:acme/cnn", search=repo)] == [repo]


def test_datasets(hub: Any, tmp_path: Path) -> None:
    api = api_for(hub)
    repo = fresh_repo(api, "dataset")
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="shards/cat.json", repo_id=repo, repo_type="dataset")
    path = hf_hub_download(
        repo, "shards/cat.json", repo_type="dataset", endpoint=hub.endpoint, token=False, cache_dir=tmp_path
    )
    assert Path(path).read_bytes() == b"{}"
    assert repo in [d.id for d in api.list_datasets(author=repo.split("/")[0])]
    assert api.dataset_info(repo).sha is not None
    assert not api.repo_exists(repo)  # not a model


def test_resolve_headers_and_ranges(hub: Any) -> None:
    api = api_for(hub)
    repo = fresh_repo(api)
    data = bytes(range(256)) * 8
    info = api.upload_file(path_or_fileobj=data, path_in_repo="r.bin", repo_id=repo)
    url = f"{hub.endpoint}/{repo}/resolve/main/r.bin"
    status, head, body = fetch(url, method="HEAD")
    assert status == 200 and body == b""
    assert head["X-Repo-Commit"] == info.oid
    assert head["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'  # LFS: sha256
    assert head["Content-Length"] == str(len(data))
    assert head["Accept-Ranges"] == "bytes"
    assert "X-Xet-Hash" not in head
    status, part_headers, part = fetch(url, headers={"Range": "bytes=2-5"})
    assert status == 206 and part == data[2:6]
    assert part_headers["Content-Range"] == f"bytes 2-5/{len(data)}"
    assert fetch(url, headers={"Range": "bytes=-3"})[2] == data[-3:]
    status, bad, _ = fetch(url, headers={"Range": "bytes=99999-"})
    assert status == 416 and bad["X-Error-Code"] == "RangeNotSatisfiable"


def test_misc_endpoints(hub: Any) -> None:
    for path in ("/api/agent-harnesses", "/api/whoami-v2"):
        status, headers, _ = fetch(hub.endpoint + path)
        assert status == 200 and headers["content-type"] == "application/json"
    status, _, body = fetch(
        hub.endpoint + "/api/validate-yaml",
        method="POST",
        data=b'{"content": "---\\n---", "repoType": "model"}',
        headers={"Content-Type": "application/json"},
    )
    assert (status, body) == (200, b'{"errors":[],"warnings":[]}')
    status, headers, body = fetch(hub.endpoint + "/no/such/route/here/at/all")
    assert status == 404 and headers["x-error-code"] == "NotFound" and b'"error"' in body
