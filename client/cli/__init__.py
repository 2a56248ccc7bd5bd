"""The ``nnparts`` command line: a click group whose commands are imported only when run."""

from __future__ import annotations

from nnparts.client.cli._main import main

__all__ = ["main"]
