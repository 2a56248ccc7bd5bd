"""``serve(config)``: run the registry with uvicorn (one worker), blocking until stopped."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from nnparts.registry.app import create_app
from nnparts.registry.config import ServerConfig
from nnparts.schemas.errors import UsageError


def serve(config: ServerConfig, *, on_ready: Callable[[str, int], None] | None = None) -> None:
    """Bind ``config.host:config.port``, call ``on_ready(host, port)`` once the socket listens
    (with port 0 it carries the port picked), then serve until SIGINT/SIGTERM.

    Raises:
        UsageError: the address cannot be bound or the tokens file is unreadable.
    """
    app = create_app(config)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay on keep-alive
    try:
        sock.bind((config.host, config.port))
    except OSError as err:
        sock.close()
        raise UsageError(
            f"cannot listen on {config.host}:{config.port}: {err.strerror}",
            hint="pick another --port (0 = any free port)",
        ) from err
    sock.listen(2048)
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            workers=1,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
            lifespan="on",
        )
    )
    if on_ready is not None:
        on_ready(config.host, port)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
