"""Hub behaviours the 2.4 client relies on beyond the basics (issue 14, item 10), with the real client."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    hf_hub_download,
)
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from raw_http import fetch

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
_ids = itertools.count()


def fresh(api: HfApi) -> str:
    repo = f"compat{next(_ids)}/r"
    api.create_repo(repo)
    return repo


def test_copying_an_lfs_file_sends_no_size(hub: Any, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    repo = fresh(api)
    big = os.urandom(3000)
    api.upload_file(path_or_fileobj=big, path_in_repo="a/w.bin", repo_id=repo)
    api.create_commit(repo, operations=[CommitOperationCopy("a/w.bin", "b/w.bin")], commit_message="copy")
    got = hf_hub_download(repo, "b/w.bin", endpoint=hub.endpoint, token=False, cache_dir=tmp_path)
    assert Path(got).read_bytes() == big


def test_expanded_tree_and_paths_info_carry_last_commit(hub: Any) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    repo = fresh(api)
    first = api.upload_file(path_or_fileobj=b"one", path_in_repo="d/one.txt", repo_id=repo)
    second = api.upload_file(path_or_fileobj=b"two", path_in_repo="two.txt", repo_id=repo)
    tree = {i.path: i for i in api.list_repo_tree(repo, recursive=True, expand=True)}
    assert tree["d/one.txt"].last_commit.oid == first.oid
    assert tree["two.txt"].last_commit.oid == second.oid
    assert tree["d"].last_commit.oid == first.oid
    assert tree[".gitattributes"].last_commit.title == "initial commit"
    info = api.get_paths_info(repo, ["d", "two.txt"], expand=True)
    assert [p.last_commit.oid for p in info] == [first.oid, second.oid]
    fs = HfFileSystem(endpoint=hub.endpoint, token=False)
    commit = api.list_repo_commits(repo)[0]
    assert fs.modified(f"{repo}/two.txt") == commit.created_at


def test_short_shas_resolve(hub: Any, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    repo = fresh(api)
    done = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id=repo)
    assert api.model_info(repo, revision=done.oid[:7]).sha == done.oid
    got = hf_hub_download(
        repo, "f.txt", revision=done.oid[:10], endpoint=hub.endpoint, token=False, cache_dir=tmp_path
    )
    assert Path(got).read_bytes() == b"v1"


def test_ids_without_namespace_are_repo_not_found(hub: Any) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    assert api.repo_exists("gpt2") is False
    assert api.file_exists("gpt2", "config.json") is False
    assert api.repo_exists("gpt2", repo_type="dataset") is False
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_files("gpt2")
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_refs("gpt2")


def test_deleting_a_folder_without_trailing_slash(hub: Any) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    repo = fresh(api)
    api.create_commit(
        repo,
        operations=[CommitOperationAdd("ckpt/a.txt", b"a"), CommitOperationAdd("ckpt/sub/b.txt", b"b")],
        commit_message="add",
    )
    api.create_commit(repo, operations=[CommitOperationDelete("ckpt")], commit_message="rm")
    assert api.list_repo_files(repo) == [".gitattributes"]


def test_validate_yaml_reports_errors(hub: Any) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    repo = fresh(api)
    with pytest.raises(ValueError, match=r"Invalid metadata in README\.md") as err:
        api.upload_file(
            path_or_fileobj=b"---\ntags: [a, b\nlicense: mit\n---\n# x\n",
            path_in_repo="README.md",
            repo_id=repo,
        )
    assert "flow list" in str(err.value)
    with pytest.raises(ValueError, match="duplicate key"):
        api.upload_file(path_or_fileobj=b"---\na: 1\na: 2\n---\n", path_in_repo="README.md", repo_id=repo)
    api.upload_file(
        path_or_fileobj=b"---\ntags:\n- ok\n---\n# fine\n", path_in_repo="README.md", repo_id=repo
    )
    assert api.model_info(repo).tags == ["ok"]


def test_list_models_sort_full_and_expand(hub: Any) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    names = [f"sorted/m{i}" for i in range(7)]
    for name in names:
        api.create_repo(name)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="sorted/m2")  # newest now
    by_date = [m.id for m in api.list_models(author="sorted", sort="last_modified")]  # pages of 5
    assert by_date[0] == "sorted/m2" and sorted(by_date) == names and len(by_date) == 7
    created = [m.id for m in api.list_models(author="sorted", sort="created_at")]
    assert created == names[::-1]
    full = {m.id: m for m in api.list_models(author="sorted", full=True)}
    assert [s.rfilename for s in full["sorted/m2"].siblings] == [".gitattributes", "x.txt"]
    only = next(iter(api.list_models(author="sorted", expand=["sha"])))
    assert only.sha is not None and only.tags is None and only.private is None
    info = api.model_info("sorted/m2", expand=["siblings"])
    assert [s.rfilename for s in info.siblings] == [".gitattributes", "x.txt"] and info.tags is None
    with pytest.raises(HfHubHTTPError) as err:
        list(api.list_models(sort="nonsense"))
    assert err.value.response.status_code == 400


def test_every_response_has_a_request_id(hub: Any) -> None:
    _, headers, _ = fetch(f"{hub.endpoint}/api/models?limit=1")
    assert len(headers["X-Request-Id"]) == 32
    _, headers, _ = fetch(f"{hub.endpoint}/api/models/nobody/none", headers={"X-Request-Id": "trace-42"})
    assert headers["X-Request-Id"] == "trace-42" and headers["X-Error-Code"] == "RepoNotFound"
    _, headers, _ = fetch(f"{hub.endpoint}/", headers={"X-Request-Id": "bad id\x01"})
    assert headers["X-Request-Id"] != "bad id\x01" and len(headers["X-Request-Id"]) == 32
    with pytest.raises(RepositoryNotFoundError) as err:
        HfApi(endpoint=hub.endpoint, token=False).model_info("nobody/none")
    assert "Request ID:" in str(err.value)
