"""Fixtures for the web pages: an in-process registry with published modules (``web_registry``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_registry import Published, ThreadedServer, bulk_commit, publish_all

from nnparts.registry import ServerConfig


@pytest.fixture(autouse=True)
def isolated_hf(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry and no Xet for the Hub client (set at runtime: constants are read at import)."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """An open registry holding five HubIndex publishes (one yanked) and the bulk commit."""
    root = tmp_path_factory.mktemp("web-registry")
    server = ThreadedServer(ServerConfig(root=root / "server", port=0))
    with pytest.MonkeyPatch.context() as mp:
        import huggingface_hub.constants as constants

        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        mp.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        mp.setenv("NNPARTS_HOME", str(root / "home"))
        mp.setenv("HF_HOME", str(root / "hf"))
        mp.setenv("HF_TOKEN", "")
        try:
            manifests = publish_all(server.endpoint, root / "packages")
            bulk_commit(server.endpoint)
        except BaseException:
            server.stop()
            raise
    yield Published(server, manifests)
    server.stop()
