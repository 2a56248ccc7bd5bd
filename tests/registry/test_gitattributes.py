"""New repos start with the Hub's default ``.gitattributes``; LFS follows its patterns as well as
size; preupload honours ``.gitignore`` (sent with the request or stored in the repo)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from raw_http import fetch, raw_commit
from web_registry import ThreadedServer

from nnparts.registry import ServerConfig
from nnparts.registry.gitpatterns import IgnoreRules, LfsRules, default_gitattributes

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = ThreadedServer(ServerConfig(root=tmp_path / "root", port=0))
    yield srv
    srv.stop()


def test_new_repos_hold_the_default_gitattributes(server: ThreadedServer, tmp_path: Path) -> None:
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("alice/m")
    api.create_repo("alice/d", repo_type="dataset")
    assert api.list_repo_files("alice/m") == [".gitattributes"]
    model = Path(hf_hub_download("alice/m", ".gitattributes", endpoint=server.endpoint, token=False))
    assert model.read_bytes() == default_gitattributes("model")
    assert "*.safetensors filter=lfs diff=lfs merge=lfs -text" in model.read_text()
    data = hf_hub_download(
        "alice/d", ".gitattributes", repo_type="dataset", endpoint=server.endpoint, token=False
    )
    assert "*.png filter=lfs" in Path(data).read_text()
    assert len(api.list_repo_commits("alice/m")) == 1


def test_lfs_by_pattern_and_by_size(server: ThreadedServer) -> None:
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("alice/p")
    api.create_commit(
        "alice/p",
        operations=[
            CommitOperationAdd("tiny.bin", b"7 bytes"),
            CommitOperationAdd("w/model.safetensors", b"{}"),
            CommitOperationAdd("notes.txt", b"plain"),
            CommitOperationAdd("empty.bin", b""),
        ],
        commit_message="mixed",
    )
    info = {s.rfilename: s for s in api.model_info("alice/p", files_metadata=True).siblings}
    assert (
        info["tiny.bin"].lfs is not None
        and info["tiny.bin"].lfs.sha256 == hashlib.sha256(b"7 bytes").hexdigest()
    )
    assert info["w/model.safetensors"].lfs is not None
    assert info["notes.txt"].lfs is None and info["empty.bin"].lfs is None
    got = hf_hub_download("alice/p", "tiny.bin", endpoint=server.endpoint, token=False)
    assert Path(got).read_bytes() == b"7 bytes"

    # the repo's own rules count: a new pattern in .gitattributes applies to the next uploads
    api.upload_file(
        path_or_fileobj=b"*.txt filter=lfs diff=lfs merge=lfs -text\n",
        path_in_repo=".gitattributes",
        repo_id="alice/p",
    )
    api.upload_file(path_or_fileobj=b"now lfs", path_in_repo="more.txt", repo_id="alice/p")
    assert api.get_paths_info("alice/p", ["more.txt"])[0].lfs is not None
    # a raw commit of a regular file that the rules mark LFS is stored as LFS all the same
    status, _, _ = raw_commit(
        server.endpoint,
        "alice/p",
        {"key": "file", "value": {"path": "raw.txt", "content": "aGk=", "encoding": "base64"}},
    )
    assert status == 200
    raw = api.get_paths_info("alice/p", ["raw.txt"])[0]
    assert raw.lfs is not None and raw.lfs.sha256 == hashlib.sha256(b"hi").hexdigest()


def test_preupload_honours_gitignore(server: ThreadedServer) -> None:
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("alice/ign")
    # in the payload: the client sends the .gitignore it commits
    api.create_commit(
        "alice/ign",
        operations=[
            CommitOperationAdd(".gitignore", b"*.log\nbuild/\n!keep.log\n"),
            CommitOperationAdd("a.log", b"noise"),
            CommitOperationAdd("keep.log", b"kept"),
            CommitOperationAdd("build/out.o", b"obj"),
            CommitOperationAdd("src/main.py", b"print()"),
        ],
        commit_message="with ignore",
    )
    files = set(api.list_repo_files("alice/ign"))
    assert files == {".gitattributes", ".gitignore", "keep.log", "src/main.py"}
    # in the repo: later uploads follow the stored .gitignore
    api.create_commit(
        "alice/ign",
        operations=[CommitOperationAdd("x/b.log", b"noise"), CommitOperationAdd("x/ok.py", b"1")],
        commit_message="later",
    )
    assert "x/b.log" not in api.list_repo_files("alice/ign") and "x/ok.py" in api.list_repo_files("alice/ign")
    status, _, raw = fetch(
        f"{server.endpoint}/api/models/alice/ign/preupload/main",
        method="POST",
        data=json.dumps(
            {"files": [{"path": "a.tmp", "size": 1}, {"path": "a.log", "size": 1}], "gitIgnore": "*.tmp"}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200
    assert [f["shouldIgnore"] for f in json.loads(raw)["files"]] == [True, False]


@pytest.mark.parametrize(
    ("path", "lfs"),
    [
        ("a.bin", True),
        ("deep/x/model.safetensors", True),
        ("saved_model/variables/v.data", True),
        ("run/events.out.tfevents.123", True),
        ("a.tar.gz", True),
        ("README.md", False),
        ("manifest.json", False),
    ],
)
def test_default_lfs_patterns(path: str, lfs: bool) -> None:
    assert LfsRules(default_gitattributes("model").decode()).is_lfs(path) is lfs


def test_lfs_rules_last_line_wins() -> None:
    rules = LfsRules("*.bin filter=lfs\nsmall/*.bin -filter\n# *.txt filter=lfs\n")
    assert rules.is_lfs("big.bin") and not rules.is_lfs("small/a.bin") and not rules.is_lfs("a.txt")


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("a.log", True),
        ("x/keep.log", False),
        ("build/a.o", True),
        ("x/build/b.o", True),
        ("build", False),  # a file named like the folder pattern
        ("top.txt", True),
        ("x/top.txt", False),
        ("docs/a/b.tmp", True),
        ("docs/b.tmp", True),
        ("logs/keep.log", True),  # below an ignored folder nothing is re-included
        ("src/a.py", False),
    ],
)
def test_gitignore_rules(path: str, ignored: bool) -> None:
    rules = IgnoreRules("# comment\n*.log\n!keep.log\nbuild/\n/top.txt\ndocs/**/*.tmp\nlogs/\n")
    assert rules.ignored(path) is ignored
