"""ServerConfig: everything ``create_app`` and ``serve`` need, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from nnparts.schemas.errors import UsageError

MB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Settings of one registry server.

    Attributes:
        root: directory holding the SQLite database and the blobs (created if missing).
        host: interface to bind; keep ``127.0.0.1`` unless a reverse proxy fronts the server.
        port: TCP port; ``0`` picks a free one.
        tokens_file: JSON token table (see :mod:`nnparts.registry.auth`). ``None`` = open server:
            anyone may read and write every repository, and ``private`` is recorded but not enforced.
        max_body_bytes: largest LFS blob accepted by a signed ``PUT``.
        max_commit_bytes: largest NDJSON commit body (regular files travel base64 inside it).
        max_json_bytes: largest body of every other JSON or form request.
        lfs_threshold_bytes: files larger than this are answered ``uploadMode: "lfs"`` by preupload.
        page_size: items per page of listings, tree and commit history (``Link`` pagination).
        upload_url_ttl_s: lifetime of a signed LFS upload URL.
        public_url: base URL put into returned links; ``None`` = derived from each request.
        gc_min_age_s: at start, blobs that nothing references and that are older than this are
            removed (leftovers of commits interrupted by a crash); younger ones may belong to
            another process's commit in progress.
    """

    root: Path
    host: str = "127.0.0.1"
    port: int = 8080
    tokens_file: Path | None = None
    max_body_bytes: int = 512 * MB
    max_commit_bytes: int = 256 * MB
    max_json_bytes: int = 16 * MB
    lfs_threshold_bytes: int = 10 * 1000 * 1000
    page_size: int = 1000
    upload_url_ttl_s: int = 3600
    public_url: str | None = None
    gc_min_age_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UsageError(f"port must be in 0..65535, got {self.port}")
        for name in ("max_body_bytes", "max_commit_bytes", "max_json_bytes", "page_size"):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name} must be positive, got {getattr(self, name)}")
        if self.gc_min_age_s < 0:
            raise UsageError(f"gc_min_age_s must be >= 0, got {self.gc_min_age_s}")
        if self.lfs_threshold_bytes < 0:
            raise UsageError(f"lfs_threshold_bytes must be >= 0, got {self.lfs_threshold_bytes}")
        if self.tokens_file is not None and not self.tokens_file.is_file():
            raise UsageError(f"tokens file not found: {self.tokens_file}", hint="check --tokens")

    @classmethod
    def from_args(
        cls,
        root: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        tokens: str | Path | None = None,
        max_body_mb: float | None = None,
        max_commit_mb: float | None = None,
        lfs_threshold_bytes: int | None = None,
    ) -> ServerConfig:
        """Build a config from command-line values (``None`` keeps a default)."""
        defaults = cls(root=Path(root).expanduser().resolve(), host=host, port=port)
        return replace(
            defaults,
            tokens_file=Path(tokens).expanduser() if tokens is not None else None,
            max_body_bytes=int(max_body_mb * MB) if max_body_mb is not None else defaults.max_body_bytes,
            max_commit_bytes=(
                int(max_commit_mb * MB) if max_commit_mb is not None else defaults.max_commit_bytes
            ),
            lfs_threshold_bytes=(
                lfs_threshold_bytes if lfs_threshold_bytes is not None else defaults.lfs_threshold_bytes
            ),
        )
