"""``move_repo``, ``list_user_repos`` (``hf repos ls``), ``super_squash_history``,
``list_lfs_files`` / ``permanently_delete_lfs_files``: the real huggingface_hub client, several tenants."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_package import manifest_doc
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from raw_http import raw_commit
from web_registry import ThreadedServer, token_server

from nnparts.registry.blobstore import BlobStore
from nnparts.schemas.integrity import pretty_json

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
TOKENS = {
    "tokens": [
        {"token": "alice-token", "user": "alice", "scopes": {"alice": "write", "team": "write"}},
        {"token": "bob-token", "user": "bob", "scopes": {"bob": "write"}},
        {"token": "reader-token", "user": "reader", "scopes": {"*": "read"}},
    ]
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = token_server(tmp_path, TOKENS, lfs_threshold_bytes=100)
    yield srv
    srv.stop()


def api(srv: ThreadedServer, token: str | bool) -> HfApi:
    return HfApi(endpoint=srv.endpoint, token=token)


def blob_exists(srv: ThreadedServer, data: bytes) -> bool:
    return BlobStore(srv.config.root).path(hashlib.sha256(data).hexdigest()).is_file()


def status_of(err: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    return err.value.response.status_code


def test_move_repo_follows_with_history_and_frees_the_old_id(server: ThreadedServer, tmp_path: Path) -> None:
    alice = api(server, "alice-token")
    alice.create_repo("alice/mods", private=True)
    weights = os.urandom(3000)
    doc = pretty_json(manifest_doc(module_id="alice/cat", classes=(("cat", ()),)))
    alice.create_commit(
        "alice/mods",
        operations=[CommitOperationAdd("cat/manifest.json", doc), CommitOperationAdd("w.bin", weights)],
        commit_message="m",
    )
    before = [c.commit_id for c in alice.list_repo_commits("alice/mods")]
    assert server.get("/modules/alice/cat", headers={"Authorization": "Bearer alice-token"}).status == 200

    alice.move_repo("alice/mods", "alice/renamed")
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info("alice/mods")
    assert [c.commit_id for c in alice.list_repo_commits("alice/renamed")] == before
    got = hf_hub_download("alice/renamed", "w.bin", endpoint=server.endpoint, token="alice-token")
    assert Path(got).read_bytes() == weights
    assert alice.model_info("alice/renamed").private is True

    # the old id is free, and nothing of the moved repo is reachable through it
    alice.create_repo("alice/mods")
    assert alice.list_repo_files("alice/mods") == [".gitattributes"]
    oid = hashlib.sha256(weights).hexdigest()
    lfs = {"path": "stolen.bin", "algo": "sha256", "oid": oid, "size": 3000}
    status, headers, _ = raw_commit(
        server.endpoint, "alice/mods", {"key": "lfsFile", "value": lfs}, token="alice-token"
    )
    assert status == 422 and headers["X-Error-Code"] == "LfsObjectMissing"

    # a transfer needs write scope on both namespaces; module ids must match the new namespace
    bob = api(server, "bob-token")
    with pytest.raises(HfHubHTTPError) as err:
        alice.move_repo("alice/renamed", "bob/taken")
    assert status_of(err) == 403
    bob.create_repo("bob/own")
    with pytest.raises(HfHubHTTPError) as err:
        bob.move_repo("alice/renamed", "bob/stolen")
    assert status_of(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        alice.move_repo("alice/renamed", "alice/mods")
    assert status_of(err) == 409
    alice.move_repo("alice/renamed", "team/mods")
    assert server.get("/modules/alice/cat", headers={"Authorization": "Bearer alice-token"}).status == 404
    assert alice.list_repo_files("team/mods") == [".gitattributes", "cat/manifest.json", "w.bin"]


def test_list_user_repos_and_hf_repos_ls(server: ThreadedServer, tmp_path: Path) -> None:
    alice = api(server, "alice-token")
    alice.create_repo("alice/big", private=True)
    alice.upload_file(path_or_fileobj=os.urandom(5000), path_in_repo="w.bin", repo_id="alice/big")
    alice.create_repo("alice/data", repo_type="dataset")
    alice.create_repo("team/shared")
    api(server, "bob-token").create_repo("bob/other")

    repos = {(r.id, r.type): r for r in alice.list_user_repos()}
    assert set(repos) == {("alice/big", "model"), ("alice/data", "dataset")}
    big = repos["alice/big", "model"]
    assert big.visibility == "private" and big.storage >= 5000
    assert sum(r.storage_percent for r in repos.values()) == pytest.approx(100, abs=0.1)
    assert [r.id for r in alice.list_user_repos(namespace="team")] == ["team/shared"]
    with pytest.raises(HfHubHTTPError) as err:
        list(api(server, "bob-token").list_user_repos(namespace="alice"))
    assert status_of(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        list(api(server, False).list_user_repos())
    assert status_of(err) == 401

    env = {**os.environ, "HF_ENDPOINT": server.endpoint, "HF_TOKEN": "alice-token", "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-c", "from huggingface_hub.cli.hf import main; main()", "repos", "ls"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    assert "alice/big" in out and "alice/data" in out and "bob/other" not in out


def test_super_squash_history(server: ThreadedServer) -> None:
    alice = api(server, "alice-token")
    alice.create_repo("alice/sq")
    first, second = os.urandom(2000), os.urandom(2000)
    alice.upload_file(path_or_fileobj=first, path_in_repo="w.bin", repo_id="alice/sq")
    tagged = alice.upload_file(path_or_fileobj=b"v1", path_in_repo="a.txt", repo_id="alice/sq").oid
    alice.create_tag("alice/sq", tag="v1", revision=tagged)
    alice.upload_file(path_or_fileobj=second, path_in_repo="w.bin", repo_id="alice/sq")
    old = [c.commit_id for c in alice.list_repo_commits("alice/sq")]
    assert len(old) == 4

    alice.super_squash_history("alice/sq", commit_message="squashed")
    commits = alice.list_repo_commits("alice/sq")
    assert [c.title for c in commits] == ["squashed"]
    assert sorted(alice.list_repo_files("alice/sq")) == [".gitattributes", "a.txt", "w.bin"]
    with pytest.raises(RevisionNotFoundError):
        alice.model_info("alice/sq", revision=old[0])
    # the tag keeps its commit (and what it needs); nothing else of the old history stays
    assert alice.model_info("alice/sq", revision="v1").sha == tagged
    assert blob_exists(server, first) and blob_exists(server, second)
    alice.delete_tag("alice/sq", tag="v1")
    alice.super_squash_history("alice/sq")
    assert not blob_exists(server, first) and blob_exists(server, second)

    with pytest.raises(HfHubHTTPError) as err:
        alice.create_tag("alice/sq", tag="t")
        alice.super_squash_history("alice/sq", branch="t")
    assert status_of(err) == 400
    with pytest.raises(RevisionNotFoundError):
        alice.super_squash_history("alice/sq", branch="nope")
    with pytest.raises(HfHubHTTPError) as err:
        api(server, "reader-token").super_squash_history("alice/sq")
    assert status_of(err) == 403


def test_list_and_permanently_delete_lfs_files(server: ThreadedServer) -> None:
    alice, bob = api(server, "alice-token"), api(server, "bob-token")
    alice.create_repo("alice/lfs", private=True)
    keep, drop = os.urandom(3000), os.urandom(4000)
    alice.create_commit(
        "alice/lfs",
        operations=[CommitOperationAdd("keep.bin", keep), CommitOperationAdd("ckpt/drop.bin", drop)],
        commit_message="two",
    )
    alice.upload_file(path_or_fileobj=b"note", path_in_repo="n.txt", repo_id="alice/lfs")
    bob.create_repo("bob/same")
    bob.upload_file(path_or_fileobj=drop, path_in_repo="mine.bin", repo_id="bob/same")

    files = {f.filename: f for f in alice.list_lfs_files("alice/lfs")}
    assert set(files) == {"keep.bin", "ckpt/drop.bin"}
    assert (
        files["ckpt/drop.bin"].size == 4000
        and files["ckpt/drop.bin"].file_oid == hashlib.sha256(drop).hexdigest()
    )
    with pytest.raises(HfHubHTTPError) as err:
        list(bob.list_lfs_files("alice/lfs"))
    assert status_of(err) == 403

    alice.permanently_delete_lfs_files(
        "alice/lfs", [f for f in files.values() if f.filename.startswith("ckpt/")]
    )
    assert [f.filename for f in alice.list_lfs_files("alice/lfs")] == ["keep.bin"]
    assert sorted(alice.list_repo_files("alice/lfs")) == [".gitattributes", "keep.bin", "n.txt"]
    commits = alice.list_repo_commits("alice/lfs")
    assert [c.title for c in commits][:2] == ["Upload n.txt with huggingface_hub", "two"]
    for c in commits:
        assert "ckpt/drop.bin" not in alice.list_repo_files("alice/lfs", revision=c.commit_id)
    # bob's copy of the same bytes is his own: untouched
    got = hf_hub_download("bob/same", "mine.bin", endpoint=server.endpoint, token="bob-token")
    assert Path(got).read_bytes() == drop
    bob.delete_repo("bob/same")
    assert not blob_exists(server, drop) and blob_exists(server, keep)

    alice.create_repo("alice/public")
    alice.upload_file(path_or_fileobj=keep, path_in_repo="k.bin", repo_id="alice/public")
    with pytest.raises(HfHubHTTPError) as err:
        bob.permanently_delete_lfs_files("alice/public", list(alice.list_lfs_files("alice/public")))
    assert status_of(err) == 403
    with pytest.raises(HfHubHTTPError) as err:
        alice.permanently_delete_lfs_files(
            "alice/public", list(alice.list_lfs_files("alice/public")), rewrite_history=False
        )
    assert status_of(err) == 400
