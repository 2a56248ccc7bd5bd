"""``X-Request-Id`` on every response: the caller's own id when it sent a sane one, else a new one.

The Hub client quotes this header in its error messages, so a user's report names the request and
the server's log line for it (the router logs unhandled errors with the id).
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_SAFE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestId:
    """ASGI middleware: puts the id in ``scope["state"]["request_id"]`` and on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(HEADER, b"")
        value = sent if _SAFE.fullmatch(sent) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = value.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, value)]}
            await send(message)

        await self.app(scope, receive, send_with_id)
