"""Blobs nothing references are collected: a failed commit's at once, a crashed one's on start."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from raw_http import fetch
from web_registry import ThreadedServer

from nnparts.registry import FilesystemStorage, ServerConfig
from nnparts.registry.storage import CommitOp, CommitRequest, RepoKey

KEY = RepoKey("model", "alice", "gc")


def test_a_crashed_commits_blobs_are_collected_on_the_next_start(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    store.create_repo(KEY, private=False, author="alice")
    kept = store.put_blob(b"committed")
    store.commit(CommitRequest(KEY, "main", "t", "", "alice", (CommitOp("add", "k.txt", blob=kept),)))
    lost = store.put_blob(b"stored, then the process died before its commit")
    store.close()
    young = FilesystemStorage(tmp_path, gc_min_age_s=3600)  # too young: maybe another process's
    assert young.blobs.path(lost.sha256).is_file()
    young.close()
    report = FilesystemStorage(tmp_path, gc_min_age_s=0).collect_garbage(min_age_s=0)
    assert report.blobs == 0  # the start-up collection already removed it
    again = FilesystemStorage(tmp_path)
    assert not again.blobs.path(lost.sha256).exists()
    assert again.blobs.path(kept.sha256).is_file()
    commit = again.resolve(KEY, "main")
    assert again.get_file(KEY, commit, "k.txt").sha256 == kept.sha256


@pytest.mark.network
def test_a_failed_commits_blobs_are_removed_at_once(tmp_path: Path) -> None:
    server = ThreadedServer(ServerConfig(root=tmp_path / "root", port=0))
    try:
        HfApi(endpoint=server.endpoint, token=False).create_repo("alice/gc")
        good = b"a file the commit stored before failing"
        lines = [
            {"key": "header", "value": {"summary": "s"}},
            {"key": "file", "value": {"path": "good.txt", "content": base64.b64encode(good).decode()}},
            {"key": "file", "value": {"path": "bad.txt", "content": "%%% not base64"}},
        ]
        status, headers, _ = fetch(
            f"{server.endpoint}/api/models/alice/gc/commit/main",
            method="POST",
            data=b"\n".join(json.dumps(x).encode() for x in lines),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert (status, headers["X-Error-Code"]) == (400, "BadRequest")
        sha = hashlib.sha256(good).hexdigest()
        assert not (tmp_path / "root" / "blobs" / sha[:2] / sha[2:4] / sha).exists()
    finally:
        server.stop()
