"""``$NNPARTS_HOME``: the one place that says where nnparts keeps its local state (read at call time).

Layout::

    $NNPARTS_HOME/            default ~/.cache/nnparts; a leading ``~`` is expanded
    ├── installed/<sha256>/   verified packages by manifest sha256 (modules and trunks)
    └── ...                   the embedded local registry and caches
"""

from __future__ import annotations

import os
from pathlib import Path


def nnparts_home() -> Path:
    return Path(os.environ.get("NNPARTS_HOME") or Path.home() / ".cache" / "nnparts").expanduser()


def installed_root() -> Path:
    return nnparts_home() / "installed"
