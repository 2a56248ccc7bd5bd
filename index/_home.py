"""``$NNPARTS_HOME``: where nnparts keeps its local state, read at call time (one definition).

``$NNPARTS_HOME`` when set and non-empty (a leading ``~`` expanded), else ``~/.cache/nnparts``.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "NNPARTS_HOME"


def default_home() -> Path:
    """``$NNPARTS_HOME`` when set and non-empty, else ``~/.cache/nnparts``; ``~`` is expanded."""
    env = os.environ.get(HOME_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nnparts"
