"""One verified GET of a pinned file straight into place: nnparts' own download path for module files.

``hf_hub_download`` moves a body through its Python HTTP client at a fraction of what loopback and the
disk allow (``bench/registry.py``). A module file is pinned: its manifest, itself pinned by the index
entry, gives its size and sha256 before a byte is read. So one plain ``GET`` of the ``/resolve/`` URL
is enough, read with the kernel doing the copying, hashed by a second thread as the bytes land::

    socket ──splice──▶ pipe ──splice──▶ .<name>.<pid>-XXXX.part     (TLS, or no os.splice:
                                              │                        recv_into + write)
                                    mmap ─────┘
                       hasher thread: sha256 of what landed, at most one step behind
    size and sha256 equal the pins ──▶ os.replace(part, dest);  anything else ──▶ part removed

Never more bytes than the pin are read, and nothing unverified ever carries the destination's name.
The token goes only to the origin (scheme, host, port) it belongs to; a redirect is followed only
within that origin.

Outcomes of :func:`get_pinned`:

- it returns: ``dest`` holds exactly the pinned bytes;
- :class:`NotPlain`: the server answered something this path does not handle (not 200 after
  same-origin redirects, no ``Content-Length``, a transfer or content encoding, a redirect to another
  origin, no connection); nothing was written and the caller uses its general client;
- :class:`IntegrityError`: the declared length differs from the pin, the body ends short, or the
  sha256 differs;
- :class:`RemoteError`: the transfer stalled or broke after the headers;
- :class:`RegistryError`: the destination's file system has no room for the pinned size (checked
  before the body is read); nothing left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import os
import queue
import socket
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from nnparts.schemas.errors import FULL_DISK_ERRNOS, IntegrityError, RegistryError, RemoteError
from nnparts.schemas.integrity import shareable

STEP = 4 * 1024 * 1024  # bytes per splice / hash hand-over
MAX_HEAD = 64 * 1024  # response headers larger than this are not a plain file answer
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)


class NotPlain(Exception):  # a signal to the caller, never shown to a user
    """The server's answer is not a plain 200 with a length; nothing was written. Use another client."""


@dataclass(frozen=True)
class Origin:
    """``scheme://host:port`` of a URL: where a token may go."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise NotPlain(f"not an http(s) URL: {url!r}")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise NotPlain(f"bad port in {url!r}") from exc
        return cls(scheme, parts.hostname.lower(), port)


@dataclass(frozen=True)
class _Head:
    status: int
    headers: dict[str, str]
    rest: bytes  # body bytes that arrived with the headers


def get_pinned(
    url: str,
    dest: Path,
    *,
    size: int,
    sha256: str,
    token: str | None = None,
    token_origin: str = "",
    what: str = "",
    timeout: float = 60.0,
) -> None:
    """Download ``url`` to ``dest`` if and only if it is exactly ``size`` bytes with this ``sha256``.

    Args:
        url: an ``http(s)`` URL answering ``GET`` with the file (a Hub ``/resolve/`` URL).
        dest: the final path; its folder must exist. Written by ``os.replace`` of a verified temp file.
        size: the pinned length in bytes.
        sha256: the pinned lowercase hex digest.
        token: sent as ``Authorization: Bearer`` only to ``token_origin``.
        token_origin: the URL (any path) whose origin owns ``token``.
        what: names the file in error messages (default: ``dest``'s name).
        timeout: seconds for connecting and for each read.

    Raises:
        NotPlain: not a plain answer (see the module docstring); nothing written.
        IntegrityError: wrong declared length, short body or wrong sha256; nothing left behind.
        RemoteError: the transfer failed after the headers; nothing left behind.
        RegistryError: no room for ``size`` bytes beside ``dest``; nothing left behind.
    """
    owner = Origin.of(token_origin) if token is not None and token_origin else None
    what = what or dest.name
    for _ in range(MAX_REDIRECTS + 1):
        origin = Origin.of(url)
        bearer = token if owner == origin else None
        conn, head = _request(origin, url, bearer, timeout)
        with conn:
            if head.status in REDIRECTS and "location" in head.headers:
                target = urljoin(url, head.headers["location"])
                if Origin.of(target) != origin:
                    raise NotPlain(f"{url} redirects to another origin ({Origin.of(target).host})")
                url = target
                continue
            declared = _plain_length(url, head)
            if declared != size:
                raise IntegrityError(
                    f"{what} from {url}: the registry declares {declared} bytes, the manifest pins {size}",
                    path=str(dest),
                )
            _receive(conn, head.rest, f"{what} from {url}", dest, size=size, sha256=sha256, timeout=timeout)
            return
    raise NotPlain(f"{url}: more than {MAX_REDIRECTS} redirects")


def _request(origin: Origin, url: str, bearer: str | None, timeout: float) -> tuple[socket.socket, _Head]:
    """Connect, send the GET, read the status line and headers (bounded)."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if origin.scheme == "https" else 80
    host = origin.host if ":" not in origin.host else f"[{origin.host}]"
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}" + ("" if origin.port == default else f":{origin.port}"),
        "Accept-Encoding: identity",
        "Connection: close",
        "User-Agent: nnparts",
    ]
    if bearer is not None:
        lines.append(f"Authorization: Bearer {bearer}")
    try:
        conn = socket.create_connection((origin.host, origin.port), timeout=timeout)
    except OSError as exc:
        raise NotPlain(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc
    try:
        if origin.scheme == "https":
            conn = ssl.create_default_context().wrap_socket(conn, server_hostname=origin.host)
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data or len(buf) > MAX_HEAD:
                raise NotPlain(f"{url}: no complete response head")
            buf += data
    except NotPlain:
        conn.close()
        raise
    except OSError as exc:
        conn.close()
        raise NotPlain(f"{url}: {exc}") from exc
    raw, rest = buf.split(b"\r\n\r\n", 1)
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not fields[1].isdigit():
        conn.close()
        raise NotPlain(f"{url}: not an HTTP/1 response ({status_line[:60]!r})")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return conn, _Head(int(fields[1]), headers, rest)


def _plain_length(url: str, head: _Head) -> int:
    """The body length of a plain 200 answer, else :class:`NotPlain`."""
    if head.status != 200:
        raise NotPlain(f"{url}: HTTP {head.status}")
    if (
        head.headers.get("transfer-encoding")
        or head.headers.get("content-encoding", "identity") != "identity"
    ):
        raise NotPlain(f"{url}: encoded body")
    length = head.headers.get("content-length", "")
    if not length.isdigit():
        raise NotPlain(f"{url}: no Content-Length")
    return int(length)


def _receive(
    conn: socket.socket, first: bytes, label: str, dest: Path, *, size: int, sha256: str, timeout: float
) -> None:
    """Body -> temp file beside ``dest`` -> verified -> ``os.replace``; the temp file never outlives it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}-", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "r+b", buffering=0) as fh:
            shareable(tmp, folder=False)
            digest = _fill(conn, first[:size], fh.fileno(), label, size, timeout)
        if digest != sha256:
            raise IntegrityError(
                f"{label}: sha256 {digest[:12]}..., the manifest pins {sha256[:12]}...", path=str(dest)
            )
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fill(conn: socket.socket, first: bytes, fd: int, label: str, size: int, timeout: float) -> str:
    """Write exactly ``size`` body bytes to ``fd`` (``first`` already arrived); return their sha256."""
    if size == 0:
        return hashlib.sha256().hexdigest()
    _reserve(fd, size, label)
    with mmap.mmap(fd, size) as mapped, _Hasher(mapped) as hasher:
        with contextlib.suppress(AttributeError, OSError):  # read once, front to back
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        got = _write_all(fd, memoryview(first))
        hasher.landed(got)
        plain = hasattr(os, "splice") and not isinstance(conn, ssl.SSLSocket)
        try:
            if plain:
                conn.settimeout(None)  # blocking for splice; SO_RCVTIMEO bounds each read instead
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(timeout))
                got = _splice(conn, fd, got, size, hasher)
            got = _recv(conn, fd, got, size, hasher)
        except OSError as exc:
            raise RemoteError(
                f"{label}: the download broke after {hasher.written} of {size} bytes ({exc})",
                hint="retry the command",
            ) from exc
        if got < size:
            raise IntegrityError(f"{label}: the body ended after {got} of {size} bytes")
        return hasher.hexdigest()


def _reserve(fd: int, size: int, label: str) -> None:
    """Give the empty temp file its length, its blocks allocated up front where the file system can
    (``posix_fallocate``: about a tenth off the pull's time on ext4, ``bench/registry.py --pull``),
    else sparse (``ftruncate``). A file that cannot fit fails here, before a byte is read."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in FULL_DISK_ERRNOS:
            raise RegistryError(
                f"{label}: no room for its {size} bytes ({exc.strerror})", hint="free disk space and retry"
            ) from exc
        os.ftruncate(fd, size)


def _splice(conn: socket.socket, fd: int, got: int, size: int, hasher: _Hasher) -> int:
    """socket -> pipe -> file in the kernel. Returns the bytes written; stops early at EOF or when
    this socket or file cannot splice (then :func:`_recv` goes on from there)."""
    r, w = os.pipe()
    try:
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: 1 MiB in flight per splice
        while got < size:
            try:
                moved = os.splice(conn.fileno(), w, min(1 << 20, size - got))
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    return got
                raise _stalled(exc) from exc
            if moved == 0:
                return got
            left = moved
            while left:
                try:
                    left -= os.splice(r, fd, left)
                except OSError as exc:
                    if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                        raise
                    while left:  # this file cannot take a splice: copy what the pipe holds, then recv
                        left -= _write_all(fd, memoryview(os.read(r, left)))
                    hasher.landed(got + moved)
                    return got + moved
            got += moved
            hasher.landed(got)
        return got
    finally:
        os.close(r)
        os.close(w)


def _recv(conn: socket.socket, fd: int, got: int, size: int, hasher: _Hasher) -> int:
    """recv_into a buffer, write to the file (TLS, or where splice is unavailable)."""
    if got >= size:
        return got
    buf = memoryview(bytearray(min(STEP, size - got)))
    while got < size:
        try:
            n = conn.recv_into(buf, min(len(buf), size - got))
        except (BlockingIOError, TimeoutError) as exc:
            raise _stalled(exc) from exc
        if n == 0:
            return got
        got += _write_all(fd, buf[:n])
        hasher.landed(got)
    return got


def _write_all(fd: int, data: memoryview) -> int:
    done = 0
    while done < len(data):
        done += os.write(fd, data[done:])
    return done


def _stalled(exc: OSError) -> OSError:
    if isinstance(exc, BlockingIOError | TimeoutError) or exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
        return TimeoutError("no data within the timeout")
    return exc


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


class _Hasher:
    """sha256 of a growing file through its mmap, in a thread (hashlib releases the GIL on big
    buffers, so it runs beside the kernel copy). ``landed(n)``: the first ``n`` bytes are written."""

    def __init__(self, mapped: mmap.mmap) -> None:
        self._view = memoryview(mapped)
        self._digest = hashlib.sha256()
        self._marks: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._sent = self._done = self.written = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nnparts-sha256", daemon=True)

    def __enter__(self) -> _Hasher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._marks.put(None)
        self._thread.join()
        self._view.release()

    def landed(self, upto: int) -> None:
        self.written = upto
        if upto - self._sent >= STEP or upto == len(self._view):
            self._marks.put(upto)
            self._sent = upto

    def hexdigest(self) -> str:
        self._marks.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def _run(self) -> None:
        try:
            while (upto := self._marks.get()) is not None:
                self._digest.update(self._view[self._done : upto])
                self._done = upto
        except BaseException as exc:  # re-raised in hexdigest
            self._error = exc
