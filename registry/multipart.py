"""``multipart/byteranges`` bodies (RFC 9110 section 14.6) for a request with several ranges."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from nnparts.registry.ranges import ByteRange

Reader = Callable[[Path, int, int], AsyncIterator[bytes]]


@dataclass(frozen=True)
class Multipart:
    """The parts of ``ranges`` of a ``size``-byte file of media type ``part_type``; the length is
    known before streaming, so the response carries a ``Content-Length``."""

    ranges: tuple[ByteRange, ...]
    size: int
    part_type: str
    boundary: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def content_type(self) -> str:
        return f"multipart/byteranges; boundary={self.boundary}"

    def _head(self, r: ByteRange, first: bool) -> bytes:
        lead = "" if first else "\r\n"
        return (
            f"{lead}--{self.boundary}\r\nContent-Type: {self.part_type}\r\n"
            f"Content-Range: {r.content_range(self.size)}\r\n\r\n"
        ).encode()

    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        heads = sum(len(self._head(r, i == 0)) for i, r in enumerate(self.ranges))
        return heads + sum(r.length for r in self.ranges) + len(self._tail())

    async def stream(self, path: Path, read: Reader) -> AsyncIterator[bytes]:
        """The body: each part's headers, then its bytes read by ``read(path, start, length)``."""
        for i, r in enumerate(self.ranges):
            yield self._head(r, i == 0)
            async for chunk in read(path, r.start, r.length):
                yield chunk
        yield self._tail()
