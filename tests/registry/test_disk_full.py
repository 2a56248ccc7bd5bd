"""A full disk: ``nnparts serve`` on a 6 MiB tmpfs (a private mount namespace, no root needed).

Every failure is a 507 with an X-Error-Code, the temporary ``.part`` file is gone at once, the
blobs of a failed commit are removed, and the server keeps serving once space is free again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError
from raw_http import fetch

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
READY = "nnparts registry listening on http://"
MOUNT = 'mount -t tmpfs -o size=6m tmpfs "$0" && exec "$@"'


def can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT, str(where), "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


class SmallDiskServer:
    """``nnparts serve`` whose root is a 6 MiB tmpfs; ``view(path)`` sees into its mount."""

    def __init__(self, root: Path) -> None:
        root.mkdir()
        self.root = root
        serve = [sys.executable, "-c", "from nnparts.client.cli import main; main()", "serve"]
        serve += ["--root", str(root), "--port", "0", "--lfs-threshold-bytes", "1000000000"]
        cmd = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT, str(root), *serve]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = ""
        for line in self.proc.stdout:
            if line.startswith(READY):
                break
        self.endpoint = line.strip().split(" on ", 1)[1]

    def view(self, relative: str) -> Path:
        """A path inside the server's tmpfs, through ``/proc/<pid>/root``."""
        return Path(f"/proc/{self.proc.pid}/root") / str(self.root).lstrip("/") / relative

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDiskServer]:
    if not can_mount_tmpfs(tmp_path):
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    server = SmallDiskServer(tmp_path / "root")
    yield server
    server.stop()


def test_full_disk_is_507_and_leaves_nothing_behind(small_disk: SmallDiskServer) -> None:
    api = HfApi(endpoint=small_disk.endpoint, token=False)
    api.create_repo("alice/full")
    assert small_disk.view("tmp").is_dir()
    kept = os.urandom(1000)
    big = os.urandom(8 * 1024 * 1024)
    # a regular-mode commit: the first file fits, the second fills the disk
    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(
            "alice/full",
            operations=[CommitOperationAdd("small.dat", kept), CommitOperationAdd("big.dat", big)],
            commit_message="too big",
        )
    assert err.value.response.status_code == 507
    assert err.value.response.headers["X-Error-Code"] == "InsufficientStorage"
    assert list(small_disk.view("tmp").iterdir()) == []  # the .part file went at once
    small_sha = hashlib.sha256(kept).hexdigest()
    small_blob = small_disk.view(f"blobs/{small_sha[:2]}/{small_sha[2:4]}/{small_sha}")
    assert not small_blob.exists()  # the failed commit's other blob was collected too
    # an LFS PUT that does not fit
    oid = hashlib.sha256(big).hexdigest()
    lfs = {"Content-Type": "application/vnd.git-lfs+json"}
    batch = {"operation": "upload", "objects": [{"oid": oid, "size": len(big)}]}
    status, _, body = fetch(
        f"{small_disk.endpoint}/alice/full.git/info/lfs/objects/batch",
        method="POST",
        data=json.dumps(batch).encode(),
        headers=lfs,
    )
    href = json.loads(body)["objects"][0]["actions"]["upload"]["href"]
    status, headers, body = fetch(href, method="PUT", data=big)
    assert (status, headers["X-Error-Code"]) == (507, "InsufficientStorage")
    assert "error" in json.loads(body)
    assert list(small_disk.view("tmp").iterdir()) == []
    # space is free again: the server goes on
    api.upload_file(path_or_fileobj=kept, path_in_repo="small.dat", repo_id="alice/full")
    assert api.list_repo_files("alice/full") == [".gitattributes", "small.dat"]
    assert small_blob.is_file()
