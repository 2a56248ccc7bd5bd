"""``$NNPARTS_HOME``: the one place that says where nnparts keeps its local state (read at call time).

Layout::

    $NNPARTS_HOME/            default ~/.cache/nnparts; a leading ``~`` is expanded
    ├── installed/<sha256>/   verified packages by manifest sha256 (modules and trunks)
    └── ...                   the embedded local registry and caches
"""

from __future__ import annotations

from pathlib import Path

from nnparts.index._home import default_home as nnparts_home

__all__ = ["installed_root", "nnparts_home"]


def installed_root() -> Path:
    return nnparts_home() / "installed"
