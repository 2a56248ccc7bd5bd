"""One HTTP request with urllib, for tests that speak raw HTTP beside the Hub client."""

from __future__ import annotations

import urllib.error
import urllib.request
from email.message import Message


def fetch(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, Message, bytes]:
    """Status, headers and body of one request (4xx/5xx included), closing everything."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


def raw_commit(
    endpoint: str, repo: str, *lines: dict, token: str | None = None, revision: str = "main"
) -> tuple[int, Message, bytes]:
    """POST an NDJSON commit (a ``header`` line first, then ``lines``) to a model repo."""
    import json

    header = {"key": "header", "value": {"summary": "raw commit"}}
    body = b"\n".join(json.dumps(x).encode() for x in (header, *lines))
    headers = {"Content-Type": "application/x-ndjson"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return fetch(f"{endpoint}/api/models/{repo}/commit/{revision}", method="POST", headers=headers, data=body)
