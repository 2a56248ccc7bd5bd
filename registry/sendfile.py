"""Zero-copy file bodies: ``os.sendfile`` from the blob file to the client's socket.

The registry runs under uvicorn, whose ASGI interface would copy every byte through Python (read
into ``bytes``, join in h11, buffer in the transport). The app keeps the server's own ``send`` in
``scope[RAW_SEND]`` before any middleware wraps it; :class:`BlobBody` then
writes the response headers the ordinary way and, when that ``send`` belongs to uvicorn's h11
protocol over a plain socket transport, hands the byte range to ``loop.sendfile`` (``os.sendfile``
in the kernel) and tells h11 how many bytes went out with a placeholder of that length, the
pattern h11 documents for sendfile. Anything else (another server, TLS, httptools) falls back to
streaming the file in chunks, so the fast path is an optimisation, never a requirement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("nnparts.registry")
RAW_SEND = "nnparts.raw_send"
CHUNK = 4 * 1024 * 1024


class _Placeholder:
    """Stands for ``length`` bytes in h11's Content-Length accounting (never read)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


async def stream_file(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    """The byte range read in :data:`CHUNK` pieces off the event loop (the fallback path)."""
    async with await anyio.open_file(path, "rb") as fh:
        await fh.seek(start)
        left = length
        while left > 0:
            chunk = await fh.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


class BlobBody(Response):
    """A response whose body is ``length`` bytes of ``path`` from ``start`` (headers given)."""

    def __init__(
        self, path: Path, start: int, length: int, *, status_code: int, headers: dict[str, str]
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self.path, self.start, self.length = path, start, length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        fast = _h11_sendfile(scope.get(RAW_SEND)) if self.length > 0 else None
        if fast is not None:
            if await fast(self.path, self.start, self.length):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        async for chunk in stream_file(self.path, self.start, self.length):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _h11_sendfile(raw_send: Any) -> Callable[[Path, int, int], Any] | None:
    """A sendfile coroutine for uvicorn's h11 cycle behind ``raw_send``, or ``None``."""
    try:
        import h11
    except ImportError:  # pragma: no cover - uvicorn without h11
        return None
    cycle = getattr(raw_send, "__self__", None)
    conn = getattr(cycle, "conn", None)
    transport = getattr(cycle, "transport", None)
    flow = getattr(cycle, "flow", None)
    if not isinstance(conn, h11.Connection) or not isinstance(transport, asyncio.Transport) or flow is None:
        return None
    if transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("socket") is None:
        return None

    async def run(path: Path, start: int, length: int) -> bool:
        """True once the bytes are out; False if the client went away (the transport is closed)."""
        if getattr(cycle, "disconnected", False):
            return False
        if flow.write_paused:
            await flow.drain()
        conn.send_with_data_passthrough(h11.Data(data=_Placeholder(length)))  # type: ignore[arg-type]
        try:
            with open(path, "rb") as fh:
                sent = await asyncio.get_running_loop().sendfile(transport, fh, start, length)
        except (OSError, RuntimeError) as err:
            log.info("download interrupted: %s", err)
            transport.close()
            return False
        if sent != length:
            transport.close()
            return False
        return True

    return run
