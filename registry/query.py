"""Query-string values, parsed strictly: bad ones are a ``BadRequest``, never an exception."""

from __future__ import annotations

import re

from starlette.requests import Request

from nnparts.registry.errors import BadRequest

#: The largest number any integer parameter may carry (far below SQLite's 64-bit limit).
MAX_INT = 10**12
_INT = re.compile(r"[0-9]{1,13}")
TRUE = ("1", "true", "True")


def int_param(request: Request, name: str, default: int, *, maximum: int = MAX_INT) -> int:
    """``?name=`` as an integer in ``0..maximum`` (ASCII digits only); ``default`` if absent or empty."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not _INT.fullmatch(value) or int(value) > maximum:
        raise BadRequest(f"query parameter {name!r} must be an integer in 0..{maximum}, got {value[:40]!r}")
    return int(value)


def flag(request: Request, name: str) -> bool:
    """``?name=1`` / ``true`` / ``True``."""
    return request.query_params.get(name) in TRUE
