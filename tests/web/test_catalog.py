"""The catalogue follows the stored repos: privacy, restarts, deletions, changed manifests, yanks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_package import manifest_doc
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from web_registry import ThreadedServer

from nnparts.registry import FilesystemStorage, ServerConfig
from nnparts.registry.blobstore import BlobInfo
from nnparts.registry.storage import CommitOp, CommitRequest, RepoKey
from nnparts.schemas.integrity import pretty_json

pytestmark = pytest.mark.network
TOKENS = {
    "tokens": [
        {"token": "alice-token", "user": "alice", "scopes": {"alice": "write"}},
        {"token": "bob-token", "user": "bob", "scopes": {"bob": "write"}},
    ]
}


def manifest(module_id: str, cls: str, **kw: object) -> bytes:
    return pretty_json(manifest_doc(module_id=module_id, classes=((cls, ()),), **kw))  # type: ignore[arg-type]


def ids(text: str) -> list[str]:
    return re.findall(r'class="module-link" href="[^"]+">([^<]+)</a>', text)


def count(text: str) -> int:
    return int(re.search(r'id="count-modules">(\d+)<', text)[1])  # type: ignore[index]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = ThreadedServer(ServerConfig(root=tmp_path / "root", port=0))
    yield srv
    srv.stop()


def test_private_modules_need_a_read_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    srv = ThreadedServer(ServerConfig(root=tmp_path / "root", port=0, tokens_file=tokens))
    try:
        api = HfApi(endpoint=srv.endpoint, token="alice-token")
        api.create_repo("alice/secret", private=True)
        api.create_repo("alice/open")
        add = CommitOperationAdd
        api.create_commit(
            "alice/secret",
            operations=[add("owl/manifest.json", manifest("alice/owl", "owl"))],
            commit_message="m",
        )
        api.create_commit(
            "alice/open",
            operations=[add("fox/manifest.json", manifest("alice/fox", "fox"))],
            commit_message="m",
        )
        alice = {"Authorization": "Bearer alice-token"}
        bob = {"Authorization": "Bearer bob-token"}
        assert count(srv.get("/").text) == 1 and count(srv.get("/", headers=alice).text) == 2
        assert count(srv.get("/", headers=bob).text) == 1
        anonymous = srv.get("/search?q=ow")
        assert 'id="unknown"' in anonymous.text and "owl" not in anonymous.text  # not even suggested
        assert ids(srv.get("/search?q=owl", headers=alice).text) == ["alice/owl"]
        assert srv.get("/m/alice/secret/owl").status == 404
        assert srv.get("/m/alice/secret/owl", headers=bob).status == 404
        assert srv.get("/modules/alice/owl").status == 404
        page = srv.get("/modules/alice/owl", headers=alice)
        assert page.status == 200 and 'class="badge private"' in page.text
        assert srv.get("/origins/resnet20-cifar10").text.count("alice/owl") == 0
        bad = srv.get("/", headers={"Authorization": "Bearer forged"})
        assert bad.status == 401 and "Unknown token" in bad.text
    finally:
        srv.stop()


def test_commits_update_and_remove_modules(server: ThreadedServer) -> None:
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("acme/cnn")
    add = CommitOperationAdd
    api.create_commit(
        "acme/cnn",
        operations=[
            add("a/manifest.json", manifest("acme/a", "cat", accuracy=0.6)),
            add("b/manifest.json", manifest("acme/b", "dog")),
        ],
        commit_message="two",
    )
    assert sorted(ids(server.get("/search").text)) == ["acme/a", "acme/b"]
    api.create_commit(
        "acme/cnn",
        operations=[add("a/manifest.json", manifest("acme/a", "cat", accuracy=0.8))],
        commit_message="better",
    )
    assert "80.0%" in server.get("/search?q=cat").text
    api.create_commit("acme/cnn", operations=[CommitOperationDelete("b/")], commit_message="drop b")
    assert ids(server.get("/search").text) == ["acme/a"]
    api.create_commit("acme/cnn", operations=[add("a/manifest.json", b"{}")], commit_message="broken")
    assert ids(server.get("/search").text) == []  # an invalid manifest replaces the row by nothing
    api.create_branch("acme/cnn", branch="dev")
    api.create_commit(
        "acme/cnn",
        revision="dev",
        operations=[add("c/manifest.json", manifest("acme/c", "cat"))],
        commit_message="dev",
    )
    assert ids(server.get("/search").text) == []  # the catalogue follows main only
    api.create_repo("acme/other")
    api.create_commit(
        "acme/other", operations=[add("manifest.json", manifest("acme/root", "ship"))], commit_message="m"
    )
    assert server.get("/m/acme/other/").status == 200  # a manifest at the repo root
    api.delete_repo("acme/other")
    assert server.get("/m/acme/other/").status == 404 and count(server.get("/").text) == 0


def test_yanks_from_any_index_dataset_shape(server: ThreadedServer) -> None:
    api = HfApi(endpoint=server.endpoint, token=False)
    add = CommitOperationAdd
    api.create_repo("acme/cnn")
    api.create_commit(
        "acme/cnn", operations=[add("a/manifest.json", manifest("acme/a", "cat"))], commit_message="m"
    )
    api.create_repo("acme/my-index", repo_type="dataset")
    listing = [{"id": "acme/a", "version": "1.0.0", "yanked": True, "yank_reason": "broken"}]
    api.create_commit(
        "acme/my-index",
        repo_type="dataset",
        operations=[add("list.json", json.dumps(listing).encode()), add("junk.json", b"[not json")],
        commit_message="y",
    )
    assert ids(server.get("/search?q=cat").text) == []
    page = server.get("/modules/acme/a")
    assert page.status == 200 and 'id="yanked"' in page.text and "broken" in page.text
    api.create_repo("other/index", repo_type="dataset")  # another namespace cannot yank acme's modules
    api.create_commit(
        "other/index",
        repo_type="dataset",
        operations=[add("x.json", json.dumps(listing).encode())],
        commit_message="y",
    )
    api.create_commit(
        "acme/my-index",
        repo_type="dataset",
        operations=[CommitOperationDelete("list.json")],
        commit_message="unyank",
    )
    assert ids(server.get("/search?q=cat").text) == ["acme/a"]


def test_restart_backfills_what_changed_while_down(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = ThreadedServer(ServerConfig(root=root, port=0))
    api = HfApi(endpoint=first.endpoint, token=False)
    api.create_repo("acme/cnn")
    api.create_commit(
        "acme/cnn",
        operations=[CommitOperationAdd("a/manifest.json", manifest("acme/a", "cat"))],
        commit_message="m",
    )
    first.stop()
    storage = FilesystemStorage(root)  # a commit the catalogue never heard of
    data = manifest("acme/b", "dog")
    blob: BlobInfo = storage.put_blob(data)
    storage.commit(
        CommitRequest(
            RepoKey("model", "acme", "cnn"),
            "main",
            "offline",
            "",
            "admin",
            (CommitOp("add", "b/manifest.json", blob=blob),),
        )
    )
    storage.close()
    second = ThreadedServer(ServerConfig(root=root, port=0))
    try:
        assert sorted(ids(second.get("/search").text)) == ["acme/a", "acme/b"]
    finally:
        second.stop()
    (root / "catalog.sqlite3").unlink()  # a lost catalogue is rebuilt from storage
    for suffix in ("-wal", "-shm"):
        (root / f"catalog.sqlite3{suffix}").unlink(missing_ok=True)
    third = ThreadedServer(ServerConfig(root=root, port=0))
    try:
        assert sorted(ids(third.get("/search").text)) == ["acme/a", "acme/b"]
        assert "dog" in third.get("/m/acme/cnn/b").text
    finally:
        third.stop()
