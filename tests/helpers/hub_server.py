"""``nnparts serve`` in a subprocess for tests: started on a free port, waited for, stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HUB_READY = "nnparts registry listening on http://"


class HubServer:
    """``nnparts serve --root ROOT --port 0 [ARGS]`` in a subprocess; ``endpoint`` once it is ready."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        cmd = [sys.executable, "-c", "from nnparts.client.cli import main; main()", "serve"]
        cmd += ["--root", str(root), "--port", "0", *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        self.endpoint = self._wait_ready(cmd)

    def _wait_ready(self, cmd: list[str], timeout: float = 20.0) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(HUB_READY):
                return line.strip().split(" on ", 1)[1]
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"nnparts serve did not start: {cmd}")

    def blob_file(self, sha256: str) -> Path:
        """Where the server keeps the blob with this sha256 (``registry.blobstore`` layout)."""
        return self.root / "blobs" / sha256[:2] / sha256[2:4] / sha256

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
