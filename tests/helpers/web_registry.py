"""A registry for web tests: uvicorn in a thread, plus the standard set of published modules.

Modules reach the server the way they do in production: through ``HubIndex`` (the real
``huggingface_hub`` client), plus one raw ``create_commit`` holding many manifests in a folder
layout HubIndex never writes (the catalogue must not depend on HubIndex's layout).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import uvicorn
from fake_package import manifest_doc, rewrite_manifest, write_package

from nnparts.registry import ServerConfig, create_app
from nnparts.schemas.integrity import pretty_json

NS = "toy"
BULK_REPO = "bulk/many-modules"
BULK_COUNT = 30
PER_CLASS = {"cat": {"accuracy": 0.95, "recall": 0.8}}


class ThreadedServer:
    """``create_app(config)`` served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("in-process registry did not start")
            time.sleep(0.01)

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> Page:
        """``GET path`` with urllib (no redirects are involved)."""
        request = urllib.request.Request(self.endpoint + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request) as resp:
                return Page(resp.status, resp.headers, resp.read().decode())
        except urllib.error.HTTPError as err:
            with err:
                return Page(err.code, err.headers, err.read().decode())

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass(frozen=True)
class Page:
    status: int
    headers: Message
    text: str


@dataclass(frozen=True)
class Published:
    """The server and what was published to it (manifests by ``id@version``)."""

    server: ThreadedServer
    manifests: dict[str, dict[str, Any]]


def publish_all(endpoint: str, work: Path) -> dict[str, dict[str, Any]]:
    """Publish the standard set through HubIndex; returns each manifest by ``id@version``."""
    from nnparts.index.hub import HubIndex

    index = HubIndex(f"{endpoint}#{NS}")
    made: dict[str, dict[str, Any]] = {}

    def publish(folder: str, *, origin: dict[str, Any] | None = None, method: str = "", **kw: Any) -> None:
        package = write_package(work / folder, **kw)
        changes: dict[str, Any] = {}
        if origin is not None:
            changes["origin"] = origin
        if method:
            changes["method"] = {"name": method, "params": {"threshold": 0.1}}
        if folder == "cat1":
            changes["metrics"] = {
                "split": "test",
                "samples": 200,
                "overall": {"accuracy": 0.93},
                "per_class": PER_CLASS,
            }
            changes["description"] = "Cat detector <b>not bold</b>."
        if changes:
            rewrite_manifest(package, **changes)
        doc = json.loads((package / "manifest.json").read_text())
        index.publish(package)
        made[f"{doc['id']}@{doc['version']}"] = doc

    publish("cat1", module_id="toy/cat", classes=(("cat", ("kitty",)),), accuracy=0.93, density=0.5)
    publish("cat2", module_id="toy/cat", version="1.1.0", accuracy=0.91, density=0.4, seed=2)
    publish("dog", module_id="toy/dog", classes=(("dog", ("puppy",)),), accuracy=0.88, density=0.3, seed=1)
    publish("ship", module_id="toy/ship", classes=(("ship", ()),), accuracy=0.97, density=0.6, seed=3)
    digits = dict(manifest_doc()["origin"], name="digits-cnn", dataset="digits", accuracy=0.98)
    publish(
        "seven",
        module_id="toy/seven",
        classes=(("seven", ("7",)),),
        accuracy=0.99,
        density=0.2,
        seed=4,
        origin=digits,
        method="activation",
    )
    index.yank("toy/cat", "1.1.0", "accuracy regression")
    return made


def bulk_commit(endpoint: str) -> None:
    """BULK_COUNT manifests (class ``bird``) in ONE commit, in a layout HubIndex never writes."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=endpoint, token=False)
    api.create_repo(BULK_REPO, exist_ok=True)
    ops = [
        CommitOperationAdd(
            f"pkg-{i:02d}/manifest.json",
            pretty_json(
                manifest_doc(
                    module_id=f"bulk/bird-{i:02d}",
                    classes=(("bird", ("birdie",)),),
                    accuracy=0.5 + i / 100,
                    density=round(0.9 - i / 100, 2),
                )
            ),
        )
        for i in range(BULK_COUNT)
    ]
    ops.append(CommitOperationAdd("broken/manifest.json", b'{"id": "not a manifest"}'))
    api.create_commit(BULK_REPO, operations=ops, commit_message="many modules")


def token_server(folder: Path, tokens: dict[str, Any], **config: Any) -> ThreadedServer:
    """A :class:`ThreadedServer` in ``folder`` that checks the bearer ``tokens`` table."""
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "tokens.json"
    table.write_text(json.dumps(tokens))
    return ThreadedServer(ServerConfig(root=folder / "root", port=0, tokens_file=table, **config))
