"""Content-addressed blob files: ``blobs/<aa>/<bb>/<sha256>``, written atomically.

A blob is streamed into ``tmp/<random>`` while its sha256 and git blob sha1 are computed, then moved
into place with ``os.replace``; a crash leaves at most a stray temporary file (removed on start) or
an unreferenced blob (collected by :mod:`blob_gc`), never a truncated blob under its final name.
Any failure while writing (a full disk included) removes the temporary file at once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nnparts.registry.errors import BadRequest


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob: ``sha256`` names the file, ``git_oid`` is git's blob sha1 of the content."""

    sha256: str
    size: int
    git_oid: str


def git_blob_oid(data: bytes) -> str:
    """Git's blob id of ``data``: sha1 over ``b"blob <size>\\0" + data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class BlobWriter:
    """Streams one blob of a size declared up front into a temporary file.

    Call :meth:`write` for each chunk, then :meth:`finish` (verifies the size and optionally the
    sha256, then moves the file into place) or :meth:`abort`. Not thread-safe; one writer per upload.
    """

    def __init__(self, store: BlobStore, size: int) -> None:
        self._store = store
        self._size = size
        self._seen = 0
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
        self._tmp = store.tmp_dir / f"{os.getpid()}-{secrets.token_hex(8)}.part"
        self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in finish/abort

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; more bytes than declared raise ``BadRequest``. On any error the
        temporary file is gone when this returns."""
        self._seen += len(chunk)
        if self._seen > self._size:
            self.abort()
            raise BadRequest(f"blob is longer than its declared size {self._size}")
        self._sha256.update(chunk)
        self._sha1.update(chunk)
        try:
            self._fh.write(chunk)
        except BaseException:
            self.abort()
            raise

    def finish(self, expected_sha256: str | None = None) -> BlobInfo:
        """Check size (and sha256 if given), fsync, and move the blob to its final name."""
        if self._seen != self._size:
            self.abort()
            raise BadRequest(f"blob has {self._seen} bytes, {self._size} were declared")
        digest = self._sha256.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            self.abort()
            raise BadRequest(f"blob sha256 is {digest}, expected {expected_sha256}")
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            final = self._store.path(digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, final)
        except BaseException:
            self.abort()
            raise
        return BlobInfo(sha256=digest, size=self._size, git_oid=self._sha1.hexdigest())

    def abort(self) -> None:
        """Drop the temporary file (idempotent)."""
        try:
            if not self._fh.closed:
                self._fh.close()  # may raise again when buffered bytes cannot be written
        except OSError:
            pass
        finally:
            self._tmp.unlink(missing_ok=True)


class BlobStore:
    """The ``blobs/`` and ``tmp/`` folders of a registry root."""

    def __init__(self, root: Path) -> None:
        self.blob_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def clean_tmp(self) -> int:
        """Remove leftovers of interrupted uploads; return how many files were removed."""
        removed = 0
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def path(self, sha256: str) -> Path:
        """Where the blob with this sha256 lives (whether or not it exists)."""
        return self.blob_dir / sha256[:2] / sha256[2:4] / sha256

    def writer(self, size: int) -> BlobWriter:
        """A writer for a blob of exactly ``size`` bytes."""
        return BlobWriter(self, size)

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store ``data`` (skips the write when the blob already exists)."""
        digest = hashlib.sha256(data).hexdigest()
        if self.path(digest).is_file():
            return BlobInfo(sha256=digest, size=len(data), git_oid=git_blob_oid(data))
        writer = self.writer(len(data))
        writer.write(data)  # both remove the temporary file if they fail
        return writer.finish()
