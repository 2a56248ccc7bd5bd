"""Turn a ``--registry`` value into an :class:`IndexBackend`: a folder, ``file://``, or a Hub URL."""

from __future__ import annotations

import os
from pathlib import Path

from nnparts.index._home import default_home as default_home
from nnparts.index.base import IndexBackend
from nnparts.index.local import DirectoryIndex
from nnparts.schemas.errors import UsageError


def open_index(
    spec: str | os.PathLike[str] | None = None,
    *,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> IndexBackend:
    """Open the registry named by ``spec``. Cheap: nothing is read until the first query.

    Args:
        spec: ``None`` for :func:`default_home`; a folder path or ``file://`` URL for a
            :class:`DirectoryIndex`; an ``http(s)://`` URL for ``nnparts.index.hub.HubIndex``.
        token: access token for a Hub registry (ignored by folders).
        cache_dir: download cache for a Hub registry (ignored by folders).

    Raises:
        UsageError: an unsupported URL scheme or an empty path.
    """
    if spec is None:
        return _folder(default_home(), "$NNPARTS_HOME")
    text = os.fspath(spec)
    if isinstance(spec, str) and "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme == "file":
            return _folder(Path(text[len("file://") :]), text)
        if scheme in ("http", "https"):
            return _hub_index(text, token=token, cache_dir=cache_dir)
        raise UsageError(
            f"unsupported registry URL {text!r}", hint="use a folder path, file://, http:// or https://"
        )
    if not text.strip():
        raise UsageError("empty registry path", hint="pass a folder or a URL, or unset --registry")
    return _folder(Path(text), text)


def _folder(path: Path, given: str) -> DirectoryIndex:
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"registry {given!r} is a file, not a folder",
            hint="pass a registry folder (or a new path) or a URL",
        )
    return DirectoryIndex(path)


def _hub_index(url: str, *, token: str | None, cache_dir: str | os.PathLike[str] | None) -> IndexBackend:
    # imported here: nnparts.index.hub is the only module that loads huggingface_hub
    from nnparts.index.hub import HubIndex

    return HubIndex(url, token=token, cache_dir=None if cache_dir is None else Path(cache_dir))
