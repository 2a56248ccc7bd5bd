"""Reading request bodies under a size limit, enforced while streaming (413 past the limit)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from nnparts.registry.errors import BadRequest, BodyTooLarge


def declared_length(request: Request) -> int | None:
    """The ``Content-Length`` header as an int, or ``None`` (chunked or absent)."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError as err:
        raise BadRequest(f"invalid Content-Length {value!r}") from err
    if length < 0:
        raise BadRequest(f"invalid Content-Length {value!r}")
    return length


async def iter_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """Yield body chunks; raise ``BodyTooLarge`` as soon as more than ``limit`` bytes are seen."""
    length = declared_length(request)
    if length is not None and length > limit:
        raise BodyTooLarge(limit)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge(limit)
        if chunk:
            yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes."""
    return b"".join([chunk async for chunk in iter_body(request, limit)])


#: Bodies up to this size are parsed on the event loop; larger ones in the thread pool.
INLINE_PARSE_BYTES = 64 * 1024


def parse_json(raw: bytes | str, *, what: str = "body") -> Any:
    """``json.loads`` whose every failure, a nesting too deep for the parser included, is a
    ``BadRequest`` (``RecursionError`` is not a ``ValueError``)."""
    try:
        return json.loads(raw)
    except RecursionError as err:
        raise BadRequest(f"{what} is nested too deeply to parse") from err
    except ValueError as err:
        raise BadRequest(f"{what} is not valid JSON: {err}") from err


async def parse_json_async(raw: bytes, *, what: str = "body") -> Any:
    """:func:`parse_json`, off the event loop when ``raw`` is large."""
    if len(raw) <= INLINE_PARSE_BYTES:
        return parse_json(raw, what=what)
    return await run_in_threadpool(parse_json, raw, what=what)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``); anything else is a ``BadRequest``."""
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    doc = await parse_json_async(raw)
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object")
    return doc


def non_negative_int(value: Any, what: str) -> int:
    """``value`` if it is a JSON integer >= 0; ``true``/``false`` are refused (``bool`` is an
    ``int`` in Python, not in JSON)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{what} must be a non-negative integer, got {json.dumps(value)[:40]}")
    return value


async def read_form_or_json(request: Request, limit: int) -> dict[str, list[str]]:
    """A url-encoded form (or a JSON object of strings/lists) as ``name -> values``."""
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        doc = await read_json(request, limit)
        return {k: [str(x) for x in v] if isinstance(v, list) else [str(v)] for k, v in doc.items()}
    raw = await read_body(request, limit)
    if len(raw) <= INLINE_PARSE_BYTES:
        return _parse_form(raw)
    return await run_in_threadpool(_parse_form, raw)


def _parse_form(raw: bytes) -> dict[str, list[str]]:
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as err:
        raise BadRequest("form body is not UTF-8") from err


async def iter_lines(request: Request, limit: int) -> AsyncIterator[bytes]:
    """Yield the non-empty lines of an NDJSON body as they arrive (memory: the longest line)."""
    pending: list[bytes] = []
    async for chunk in iter_body(request, limit):
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            pending.append(chunk[start:end])
            line = b"".join(pending)
            pending.clear()
            if line.strip():
                yield line
            start = end + 1
        if start < len(chunk):
            pending.append(chunk[start:])
    tail = b"".join(pending)
    if tail.strip():
        yield tail
