"""Whether to draw progress bars: the one rule every command and :class:`~nnparts.client.Client` follow."""

from __future__ import annotations

import sys


def progress_wanted(quiet: bool = False) -> bool:
    """Not ``quiet``, and stderr is a terminal: a log file or pipe gets no bars (tqdm would redraw
    into it hundreds of times)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not quiet and bool(isatty and isatty())
