"""Recognising a full disk among the exceptions storage raises, so that it becomes a 507."""

from __future__ import annotations

import sqlite3

from nnparts.registry.errors import InsufficientStorage
from nnparts.schemas.errors import FULL_DISK_ERRNOS

_SQLITE_FULL = 13


def as_storage_full(err: BaseException) -> InsufficientStorage | None:
    """An :class:`InsufficientStorage` for a full-disk error (also found in ``__cause__`` or
    ``__context__``), else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_full(current):
            return InsufficientStorage(
                "the registry's disk is full; nothing of this request was stored",
                hint="free space on the server (or raise its quota) and retry",
            )
        current = current.__cause__ or current.__context__
    return None


def _is_full(err: BaseException) -> bool:
    if isinstance(err, OSError):
        return err.errno in FULL_DISK_ERRNOS
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorcode", None)
        return (isinstance(code, int) and code & 0xFF == _SQLITE_FULL) or "disk is full" in str(err)
    return False
