"""Units of nnparts.registry without a server: names, cards, signing, auth, storage."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from nnparts.registry import FilesystemStorage, ServerConfig
from nnparts.registry.auth import Authorizer
from nnparts.registry.blobstore import BlobInfo
from nnparts.registry.cardmeta import parse_card
from nnparts.registry.errors import (
    AlreadyExists,
    BadRequest,
    EntryNotFound,
    Forbidden,
    LfsObjectMissing,
    RepoNotFound,
    StaleParent,
    Unauthenticated,
)
from nnparts.registry.names import check_name, check_path, check_revision
from nnparts.registry.signing import UrlSigner
from nnparts.registry.storage import CommitOp, CommitRequest, RepoImport, RepoKey, RepoQuery
from nnparts.schemas.errors import UsageError


@pytest.mark.parametrize(
    "path", ["../x", "a/../b", "/abs", "a\\b", "a\0b", "", "a//b", "./a", ".git/config", "x" * 2000]
)
def test_bad_paths_rejected(path: str) -> None:
    with pytest.raises(BadRequest):
        check_path(path)


def test_good_names_paths_revisions() -> None:
    assert check_path("dir/sub/file.safetensors") == "dir/sub/file.safetensors"
    assert check_name("my-model_v1.2") == "my-model_v1.2"
    assert check_revision("refs/pr/1") == "refs/pr/1"
    for bad in ("-x", "a--b", "a..b", "x.git", "a/b", "é"):
        with pytest.raises(BadRequest):
            check_name(bad)
    with pytest.raises(BadRequest):
        check_name("api", what="namespace")
    for bad in ("a..b", "", "a b", "x\n"):
        with pytest.raises(BadRequest):
            check_revision(bad)


def test_card_parser() -> None:
    text = (
        "---\nlicense: mit  # comment\ntags:\n  - a\n  - 'b:c'\nlibrary_name: nnparts\n"
        "flow: [x, 2, true]\nmodel-index:\n  - name: m\n    results: []\nempty: []\n---\nbody"
    )
    meta = parse_card(text)
    assert meta.card_data == {
        "license": "mit",
        "tags": ["a", "b:c"],
        "library_name": "nnparts",
        "flow": ["x", 2, True],
        "empty": [],
    }
    assert meta.tags == ("a", "b:c", "nnparts")
    assert parse_card("no front matter").tags == ()
    assert parse_card("---\ntags: [x\n").tags == ()  # unterminated: ignored


def test_signer() -> None:
    signer = UrlSigner(ttl_s=60)
    params = dict(p.split("=") for p in signer.query("a" * 64, 10, "model:x/y", now=1000).split("&"))
    params["repo"] = "model:x/y"
    assert signer.check("a" * 64, params, now=1000).size == 10
    with pytest.raises(Forbidden):
        signer.check("a" * 64, params, now=2000)  # expired
    with pytest.raises(Forbidden):
        signer.check("a" * 64, {**params, "size": "11"}, now=1000)  # tampered
    with pytest.raises(Forbidden):
        signer.check("b" * 64, params, now=1000)


def test_authorizer(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {"token": "ta", "user": "alice", "scopes": {"alice": "write", "*": "read"}},
                    {"token": "tb", "user": "bob", "scopes": {"bob": "write"}},
                ]
            }
        )
    )
    auth = Authorizer.from_file(tokens)
    alice, bob = auth.identify("Bearer ta"), auth.identify("Bearer tb")
    assert auth.identify(None) is None
    with pytest.raises(Unauthenticated):
        auth.identify("Bearer nope")
    auth.require_write(alice, "alice")
    with pytest.raises(Forbidden):
        auth.require_write(bob, "alice")
    with pytest.raises(Unauthenticated):
        auth.require_write(None, "alice")
    assert auth.can_read(alice, "bob", private=True) and not auth.can_read(bob, "alice", private=True)
    assert auth.visible_private(alice) is None and auth.visible_private(bob) == frozenset({"bob"})
    tokens.write_text('{"tokens": [{"token": "t", "user": "u", "scopes": {"x": "admin"}}]}')
    with pytest.raises(UsageError):
        Authorizer.from_file(tokens)
    assert Authorizer.from_file(None).open


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        ServerConfig(root=tmp_path, port=70000)
    with pytest.raises(UsageError):
        ServerConfig.from_args(tmp_path, tokens=tmp_path / "missing.json")
    config = ServerConfig.from_args(tmp_path, max_body_mb=1, lfs_threshold_bytes=5)
    assert (config.max_body_bytes, config.lfs_threshold_bytes) == (1024 * 1024, 5)


def test_storage_commit_is_atomic_and_checks_parent(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    key = RepoKey("model", "ns", "repo")
    store.create_repo(key, private=False, author="t")
    with pytest.raises(AlreadyExists):
        store.create_repo(RepoKey("model", "NS", "Repo"), private=False, author="t")
    head = store.resolve(key, "main")
    blob = store.put_blob(b"data")
    first = store.commit(
        CommitRequest(key, "main", "one", "", "t", (CommitOp("add", "a.txt", blob),), head.sha)
    )
    with pytest.raises(StaleParent):
        store.commit(CommitRequest(key, "main", "two", "", "t", (), parent=head.sha))
    missing = CommitOp("add", "big.bin", blob=BlobInfo("f" * 64, 3, ""), lfs=True)
    with pytest.raises(LfsObjectMissing):  # the whole commit is rejected, nothing half-applied
        store.commit(CommitRequest(key, "main", "three", "", "t", (CommitOp("add", "b.txt", blob), missing)))
    with pytest.raises(EntryNotFound):
        store.commit(CommitRequest(key, "main", "rm", "", "t", (CommitOp("delete_file", "zz"),)))
    now = store.resolve(key, "main")
    assert now.sha == first.sha
    assert [f.path for f in store.list_files(key, now)] == ["a.txt"]
    assert [c.title for c in store.history(key, now, offset=0, limit=10)] == ["one", "initial commit"]
    store.delete_repo(key)
    with pytest.raises(RepoNotFound):
        store.get_repo(key)
    store.close()


def test_storage_threads_and_listing(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    keys = [RepoKey("model", f"ns{i % 3}", f"r{i}") for i in range(30)]
    threads = [
        threading.Thread(target=store.create_repo, args=(k,), kwargs={"private": False, "author": "t"})
        for k in keys
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.import_repos([RepoImport(RepoKey("model", "ns9", "x"), tags=("a", "b"))]) == 1
    query = RepoQuery(type="model", visible_private=None)
    assert len(store.list_repos(query)) == 31
    assert [r.key.id for r in store.list_repos(RepoQuery("model", tags=("a", "b")))] == ["ns9/x"]
    assert len(store.list_repos(RepoQuery("model", author="NS1"))) == 10
    page = store.list_repos(RepoQuery("model", search="ns0/", limit=4))
    assert [r.key.id for r in page] == ["ns0/r0", "ns0/r12", "ns0/r15", "ns0/r18"]
    store.close()
